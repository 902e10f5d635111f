"""Speech clips for tests and benchmarks, made on the spot with Debian's espeak-ng and sox."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

CONSULTATION = (
    "Good morning. I have had a headache for three days. I take metformin five hundred "
    "milligrams twice a day. I am allergic to penicillin."
)


def speech_wav(path: Path, text: str = CONSULTATION, voice: str = "en-us") -> Path:
    """A 16-bit mono WAV of ``text`` (fails the test with the install hint when tools lack)."""
    if shutil.which("espeak-ng") is None:
        pytest.fail("espeak-ng is missing: run `bash scripts/install.sh`", pytrace=False)
    subprocess.run(
        ["espeak-ng", "-v", voice, "-s", "150", "-w", str(path), text], check=True, timeout=60
    )
    return path


def silence_wav(path: Path, seconds: float = 3.0) -> Path:
    if shutil.which("sox") is None:
        pytest.fail("sox is missing: run `bash scripts/install.sh`", pytrace=False)
    subprocess.run(
        ["sox", "-n", "-r", "16000", "-c", "1", "-b", "16", str(path), "trim", "0", str(seconds)],
        check=True,
        timeout=60,
    )
    return path
