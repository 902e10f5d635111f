"""Speech to text on synthetic consultations: accuracy, speakers, speed and memory.

Ten clips of doctor/patient dialogue are spoken by espeak-ng with two voices (doctor en-us,
patient en-gb female) and joined with sox. For each clip the default engine (Whisper base int8,
2 CPU threads) transcribes without and with context biasing (the clip's medicines plus common
generics as hotwords, as ``clinic_app.services.scribe.speech_context`` builds them); the biased
result is also shown after the near-miss correction against those names that the app applies
(``clinic_app.ai.vocabulary.correct``):

* WER: word error rate against the script (numbers as digits, "mg" read as "milligrams");
* drug-name accuracy: share of spoken drug names transcribed exactly;
* speaker error: share of segments whose A/B label (``clinic_app.ai.speakers``) differs from
  the voice speaking most of that segment (best of the two label assignments);
* RTF: processing time / audio time; the same clips through float32 compute for comparison.

Then a long recording (``--long-minutes``, default 60) is decoded, transcribed (in the engine's
five-minute windows) and speaker-labelled in a child process and its peak memory (max RSS) is
reported. Goals: RTF ≤ 0.15, drug names ≥ 0.95 with biasing,
60-minute recording ≤ 1.5 GB.
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import tempfile
import time
import wave
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

DOCTOR, PATIENT = "en-us", "en-gb+f3"
CLIPS: list[list[tuple[str, str]]] = [
    [("D", "Good morning. What brings you in today?"),
     ("P", "I have had a cough for two weeks and I take lisinopril 10 milligrams every day."),
     ("D", "Any fever? Do you still take atorvastatin 20 milligrams at night?"),
     ("P", "No fever. Yes, I take atorvastatin every night.")],
    [("D", "How is your diabetes?"),
     ("P", "My sugar is high. I take metformin 500 milligrams twice a day."),
     ("D", "We will add sitagliptin 100 milligrams once a day.")],
    [("D", "Tell me about the pain."),
     ("P", "My knee hurts. I used ibuprofen 400 milligrams three times a day."),
     ("D", "Ibuprofen can upset the stomach, so I will add omeprazole 20 milligrams.")],
    [("D", "Are you allergic to anything?"),
     ("P", "I am allergic to penicillin. I get a rash."),
     ("D", "Then no amoxicillin. I will prescribe azithromycin for five days.")],
    [("D", "How is your mood?"),
     ("P", "Low. I started sertraline 50 milligrams last month."),
     ("D", "Keep taking sertraline. We can talk about increasing it.")],
    [("D", "Your thyroid test came back."),
     ("P", "I take levothyroxine 75 micrograms every morning."),
     ("D", "We will raise levothyroxine to 88 micrograms.")],
    [("D", "Your blood pressure is high today."),
     ("P", "I take amlodipine 5 milligrams and losartan 50 milligrams."),
     ("D", "Let us increase amlodipine to 10 milligrams.")],
    [("D", "How is your asthma?"),
     ("P", "I use albuterol a few times a week and budesonide twice a day."),
     ("D", "That is fine. Keep using budesonide every day.")],
    [("D", "Where is the nerve pain?"),
     ("P", "In my feet. Gabapentin 300 milligrams helps a little."),
     ("D", "We can try pregabalin 75 milligrams twice a day instead.")],
    [("D", "The rash looks inflamed."),
     ("P", "I used hydrocortisone cream but it did not help."),
     ("D", "I will give you prednisone 40 milligrams for five days.")],
]  # fmt: skip
DRUGS = {
    "lisinopril", "atorvastatin", "metformin", "sitagliptin", "ibuprofen", "omeprazole",
    "penicillin", "amoxicillin", "azithromycin", "sertraline", "levothyroxine", "amlodipine",
    "losartan", "albuterol", "budesonide", "gabapentin", "pregabalin", "hydrocortisone",
    "prednisone",
}  # fmt: skip
COMMON = [
    "levothyroxine", "metformin", "amoxicillin", "albuterol", "budesonide", "prednisone",
    "ibuprofen", "lisinopril", "atorvastatin", "amlodipine", "gabapentin", "sertraline",
]  # fmt: skip
ROUNDS_UNITS = {"mg": "milligrams", "mcg": "micrograms", "µg": "micrograms"}


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.stt")
    parser.add_argument("--long-minutes", type=int, default=60)
    parser.add_argument("--long-only", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def _words(text: str) -> list[str]:
    text = text.lower().replace("-", " ")
    text = re.sub(r"(\d)\s*(mg|mcg|µg)\b", r"\1 \2", text)
    words = re.findall(r"[a-z0-9µ]+", text)
    return [ROUNDS_UNITS.get(w, w) for w in words]


def wer(reference: str, hypothesis: str) -> float:
    ref, hyp = _words(reference), _words(hypothesis)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[len(hyp)] / max(len(ref), 1)


def _speak(text: str, voice: str, path: Path) -> float:
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True)
    with wave.open(str(path)) as source:
        return source.getnframes() / source.getframerate()


def make_clip(turns: list[tuple[str, str]], folder: Path, name: str) -> tuple[Path, list]:
    """The joined clip and its truth: [(speaker, start_s, end_s, text)]."""
    parts, truth, at = [], [], 0.0
    for n, (who, text) in enumerate(turns):
        part = folder / f"{name}-{n}.wav"
        seconds = _speak(text, DOCTOR if who == "D" else PATIENT, part)
        parts.append(str(part))
        truth.append((who, at, at + seconds, text))
        at += seconds
    clip = folder / f"{name}.wav"
    subprocess.run(["sox", *parts, "-r", "16000", "-c", "1", str(clip)], check=True)
    return clip, truth


def speaker_error(segments: list[dict], truth: list) -> float:
    def voice_at(start: float, end: float) -> str:
        overlap = {"D": 0.0, "P": 0.0}
        for who, a, b, _ in truth:
            overlap[who] += max(0.0, min(end, b) - max(start, a))
        return max(overlap, key=lambda k: overlap[k])

    actual = [voice_at(s["start_ms"] / 1000, s["end_ms"] / 1000) for s in segments]
    labels = [s["speaker"] for s in segments]
    one = sum((lab == "A") != (who == "D") for lab, who in zip(labels, actual, strict=True))
    return min(one, len(labels) - one) / max(len(labels), 1)


def _long_run(minutes: int) -> int:
    """Child process: transcribe ``minutes`` of speech, print RTF; the parent reads max RSS."""
    from clinic_app.ai import speakers, speech

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip, _ = make_clip([t for clip in CLIPS for t in clip], folder, "all")
        with wave.open(str(clip)) as source:
            seconds = source.getnframes() / source.getframerate()
        repeats = max(1, int(minutes * 60 / seconds))
        long = folder / "long.wav"
        subprocess.run(["sox", str(clip), str(long), "repeat", str(repeats - 1)], check=True)
        audio = speech.decode_audio(long.read_bytes())
    started = time.perf_counter()
    result = speech.LocalWhisper().transcribe(audio, language="en", prompt="")
    speakers.label(audio, [(s.start_ms, s.end_ms) for s in result.segments])
    elapsed = time.perf_counter() - started
    print(f"{len(audio) / speech.SAMPLE_RATE:.0f} {elapsed:.1f} {len(result.segments)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv if argv is not None else [])
    if args.long_only:
        return _long_run(args.long_minutes)
    import numpy as np

    from clinic_app.ai import speakers, speech
    from clinic_app.ai.vocabulary import SpeechContext, correct

    modes = ("plain", "biased", "corrected")
    rows: dict[str, list[tuple[float, ...]]] = {m: [] for m in (*modes, "float32")}
    drugs_found = {m: [0, 0] for m in modes}
    missed: dict[str, list[str]] = {m: [] for m in modes}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n, turns in enumerate(CLIPS):
            clip, truth = make_clip(turns, folder, f"clip{n}")
            audio = speech.decode_audio(clip.read_bytes())
            seconds = len(audio) / speech.SAMPLE_RATE
            reference = " ".join(text for *_, text in truth)
            spoken = [w for w in _words(reference) if w in DRUGS]
            context = SpeechContext(medications=sorted(set(spoken)), common=COMMON)
            for mode in modes:
                if mode != "corrected":
                    started = time.perf_counter()
                    result = speech.LocalWhisper().transcribe(
                        audio, language="en", prompt=context.prompt() if mode == "biased" else ""
                    )
                    found = result.segments
                    elapsed = time.perf_counter() - started
                else:  # the biased result after the app's near-miss correction
                    started = time.perf_counter()
                    found = correct(result.segments, context.terms())
                    elapsed += time.perf_counter() - started
                hypothesis = " ".join(s.text for s in found)
                labels = speakers.label(audio, [(s.start_ms, s.end_ms) for s in found])
                segments = [
                    {"start_ms": s.start_ms, "end_ms": s.end_ms, "speaker": label}
                    for s, label in zip(found, labels, strict=True)
                ]
                heard = set(_words(hypothesis))
                drugs_found[mode][0] += sum(1 for d in spoken if d in heard)
                missed[mode] += [d for d in spoken if d not in heard]
                drugs_found[mode][1] += len(spoken)
                rows[mode].append(
                    (wer(reference, hypothesis), elapsed / seconds, speaker_error(segments, truth))
                )
            rows["float32"].append(_float32(audio, reference, seconds))
    print(f"stt: {len(CLIPS)} synthetic consultations (espeak-ng, 2 voices), Whisper base, 2 CPUs")
    for mode in modes:
        w, r, d = (float(np.mean([row[i] for row in rows[mode]])) for i in range(3))
        hit, total = drugs_found[mode]
        print(
            f"  int8 {mode:<9} WER {w:5.3f}  drug names {hit}/{total} = {hit / total:4.2f}"
            f"  speaker error {d:4.2f}  RTF {r:5.3f}"
        )
        if mode != "plain" and missed[mode]:
            print(f"    drug names missed: {', '.join(sorted(missed[mode]))}")
    w32 = float(np.mean([row[0] for row in rows["float32"]]))
    r32 = float(np.mean([row[1] for row in rows["float32"]]))
    print(f"  float32 plain  WER {w32:5.3f}  RTF {r32:5.3f}  (same model, other compute type)")
    child = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.stt",
            "--long-only",
            "--long-minutes",
            str(args.long_minutes),
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    audio_s, elapsed_s, count = (float(v) for v in child.stdout.split()[-3:])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"  long recording {audio_s / 60:.0f} min: RTF {elapsed_s / audio_s:5.3f},"
        f" {count:.0f} segments, peak memory {peak_mb:,.0f} MB (goal ≤ 1,536)"
    )
    return 0


@lru_cache(maxsize=1)
def _float32_model() -> Any:
    from faster_whisper import WhisperModel

    from clinic_app.ai import speech

    path = str(speech.whisper_model_dir())
    return WhisperModel(path, device="cpu", compute_type="float32", cpu_threads=2)


def _float32(audio: Any, reference: str, seconds: float) -> tuple[float, float]:
    started = time.perf_counter()
    segments, _ = _float32_model().transcribe(audio, language="en", beam_size=5)
    text = " ".join(s.text for s in segments)
    return wer(reference, text), (time.perf_counter() - started) / seconds


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
