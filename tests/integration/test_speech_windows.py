"""The offline engine transcribes long audio window by window with times on one clock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from clinic_app.ai import speech
from tests.audio import speech_wav


def test_a_recording_longer_than_a_window_keeps_every_word_and_its_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clip = speech.decode_audio(speech_wav(tmp_path / "clip.wav").read_bytes())
    pause = np.zeros(3 * speech.SAMPLE_RATE, dtype=np.float32)
    audio = np.concatenate([clip, pause, clip])
    second_starts_ms = speech.duration_ms(clip) + 3000
    monkeypatch.setattr(speech, "WINDOW_SECONDS", speech.duration_ms(clip) // 1000 + 4)
    assert len(speech.windows(audio, speech.WINDOW_SECONDS)) == 2

    result = speech.LocalWhisper().transcribe(audio, language="en", prompt="metformin")

    text = " ".join(s.text for s in result.segments).lower()
    assert text.count("metformin") == 2 and text.count("penicillin") == 2, text
    starts = [s.start_ms for s in result.segments]
    assert starts == sorted(starts)
    later = [w for s in result.segments for w in s.words if w["s"] >= second_starts_ms - 500]
    assert any("metformin" in w["w"].lower() for w in later), later
    assert result.segments[-1].end_ms <= speech.duration_ms(audio) + 500
