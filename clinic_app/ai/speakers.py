"""Who spoke each segment (speaker A/B), offline, from the signal alone.

Method (documented because it is simple, not learned): for each segment, the median pitch of
its voiced 40 ms frames (autocorrelation peak between 70 and 400 Hz) and its mean spectral
centroid; the segments are split in two groups by 2-means on those standardised features.
Speaker A is whoever speaks first (usually the doctor greeting the patient). Two voices of
clearly different pitch separate well; similar voices may come out as one speaker, and the
transcript editor lets the doctor swap or rename speakers.
"""

from __future__ import annotations

import numpy as np

from clinic_app.ai.speech import SAMPLE_RATE

FRAME = int(0.04 * SAMPLE_RATE)


def _pitch(frame: np.ndarray) -> float | None:
    frame = frame - frame.mean()
    energy = float(np.dot(frame, frame))
    if energy < 1e-4:
        return None
    corr = np.correlate(frame, frame, mode="full")[len(frame) - 1 :]
    low, high = SAMPLE_RATE // 400, SAMPLE_RATE // 70
    lag = low + int(np.argmax(corr[low:high]))
    if corr[lag] < 0.3 * corr[0]:
        return None  # unvoiced
    return SAMPLE_RATE / lag


def _features(audio: np.ndarray, start_ms: int, end_ms: int) -> tuple[float, float] | None:
    piece = audio[start_ms * SAMPLE_RATE // 1000 : end_ms * SAMPLE_RATE // 1000]
    frames = [piece[i : i + FRAME] for i in range(0, len(piece) - FRAME, FRAME)]
    pitches = [p for p in (_pitch(f) for f in frames[:200]) if p]
    if not pitches:
        return None
    spectrum = np.abs(np.fft.rfft(piece[: SAMPLE_RATE * 10]))
    freqs = np.fft.rfftfreq(min(len(piece), SAMPLE_RATE * 10), 1 / SAMPLE_RATE)
    centroid = float((spectrum * freqs).sum() / max(spectrum.sum(), 1e-9))
    return float(np.median(pitches)), centroid


def label(audio: np.ndarray, spans: list[tuple[int, int]]) -> list[str]:
    """ "A" or "B" per span (segments without voiced frames take their neighbour's label)."""
    feats = [_features(audio, s, e) for s, e in spans]
    known = [(i, f) for i, f in enumerate(feats) if f is not None]
    labels = ["A"] * len(spans)
    if len(known) < 2:
        return labels
    matrix = np.array([f for _, f in known])
    matrix = (matrix - matrix.mean(axis=0)) / (matrix.std(axis=0) + 1e-9)
    centres = np.array(
        [matrix[0], matrix[int(np.argmax(np.linalg.norm(matrix - matrix[0], axis=1)))]]
    )
    for _ in range(20):
        groups = np.argmin(np.linalg.norm(matrix[:, None, :] - centres[None], axis=2), axis=1)
        for g in (0, 1):
            if np.any(groups == g):
                centres[g] = matrix[groups == g].mean(axis=0)
    # Too close to call: one speaker rather than an arbitrary split.
    if np.linalg.norm(centres[0] - centres[1]) < 1.0:
        return labels
    first = groups[0]
    for (index, _), group in zip(known, groups, strict=True):
        labels[index] = "A" if group == first else "B"
    for index, f in enumerate(feats):
        if f is None and index > 0:
            labels[index] = labels[index - 1]
    return labels
