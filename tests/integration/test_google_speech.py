"""The Google Speech engine through the real client library against a local fake gRPC server."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from clinic_app.ai import speech
from clinic_app.errors import AppError
from tests.conftest import clear_app_caches
from tests.fake_google_speech import FakeSpeech, fake_google_speech


@pytest.fixture
def google(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeSpeech]:
    fake = FakeSpeech()
    with fake_google_speech(fake) as endpoint:
        monkeypatch.setenv("CLINIC_SPEECH_ENGINE", "google")
        monkeypatch.setenv("CLINIC_GOOGLE_SPEECH_ENDPOINT", endpoint)
        monkeypatch.setenv("CLINIC_GOOGLE_SPEECH_INSECURE", "true")
        monkeypatch.setenv("CLINIC_GOOGLE_SPEECH_TIMEOUT_SECONDS", "3")
        clear_app_caches()
        yield fake
    clear_app_caches()


def _audio(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * speech.SAMPLE_RATE)) / speech.SAMPLE_RATE
    return (0.2 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)


def test_windows_phrase_hints_and_word_times(google: FakeSpeech) -> None:
    engine = speech.get_engine()
    assert engine.name == "google"
    result = engine.transcribe(
        _audio(70), language="en", prompt="Medications: metformin, lisinopril. Allergies: latex."
    )
    # 70 s of audio → two synchronous requests (55 s + 15 s), offsets carried over.
    assert len(google.requests) == 2
    config = google.requests[0].config
    assert config.language_code == "en-US" and config.sample_rate_hertz == 16000
    assert config.enable_word_time_offsets
    assert list(config.speech_contexts[0].phrases) == [
        "Medications", "metformin", "lisinopril", "Allergies", "latex",
    ]  # fmt: skip
    assert len(google.requests[0].audio.content) == 55 * 16000 * 2
    first, second = result.segments
    assert first.text == "I take metformin twice a day." and first.confidence == 0.91
    assert first.start_ms == 0 and first.end_ms == 55_000
    assert second.start_ms == 55_000 and second.end_ms == 70_000
    assert second.words[0]["s"] == 55_000 and second.words[-1]["e"] <= 70_000


def test_transient_errors_are_retried(google: FakeSpeech) -> None:
    google.failures = 2
    result = speech.get_engine().transcribe(_audio(5), language="en", prompt="")
    assert len(google.requests) == 3 and result.segments[0].text.startswith("I take")


def test_a_server_that_stays_down_or_slow_fails_clearly(google: FakeSpeech) -> None:
    google.failures = 1000
    with pytest.raises(AppError) as down:
        speech.get_engine().transcribe(_audio(5), language="en", prompt="")
    assert down.value.code == "SPEECH_ENGINE_FAILED"
    google.failures, google.delay = 0, 4.0
    with pytest.raises(AppError) as slow:
        speech.get_engine().transcribe(_audio(5), language="en", prompt="")
    assert slow.value.code == "SPEECH_ENGINE_FAILED" and "try again" in slow.value.message
