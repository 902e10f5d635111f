"""Context biasing for speech engines: the words a consultation is likely to contain.

Two uses of the same list of medicine and allergen names:

* ``SpeechContext.prompt()`` — the text an engine is primed with (Whisper hotwords, Google
  phrase hints);
* ``correct()`` — after the engine, a word that is *almost* one of those names and is not a
  name itself is replaced by it ("adorvastatin" → "atorvastatin": espeak's American voice flaps
  the t and Whisper base spells what it hears). Only close, unambiguous matches of long words
  are changed, the replaced word is kept on the segment's word list (``was``), and the
  transcript editor shows the result like any other text the doctor can correct.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from clinic_app.ai.speech import Segment

MIN_LENGTH = 6  # shorter words are too often ordinary English words one letter away
MIN_SIMILARITY = 0.85  # difflib ratio; "pravastatin" vs "atorvastatin" is 0.78 and stays
_WORD = re.compile(r"[A-Za-z][A-Za-z-]*")


@dataclass(frozen=True)
class SpeechContext:
    medications: Sequence[str] = ()
    allergies: Sequence[str] = ()
    common: Sequence[str] = ()

    def prompt(self, limit: int = 700) -> str:
        """The patient's own medicines and allergies first, then common generics while they fit
        (Whisper keeps at most 223 prompt tokens, about 700 characters of names)."""
        parts = []
        if self.medications:
            parts.append("Medications: " + ", ".join(self.medications[:30]) + ".")
        if self.allergies:
            parts.append("Allergies: " + ", ".join(self.allergies[:20]) + ".")
        prompt = " ".join(parts)
        words: list[str] = []
        for name in self.common:
            candidate = f"{prompt} Other medicines: {', '.join([*words, name])}."
            if len(candidate) > limit:
                break
            words.append(name)
        if words:
            prompt = f"{prompt} Other medicines: {', '.join(words)}.".strip()
        return prompt[:limit]

    def terms(self) -> set[str]:
        """Single lower-case words of every name ("insulin glargine" → both words)."""
        names = [*self.medications, *self.allergies, *self.common]
        return {w.lower() for name in names for w in _WORD.findall(name) if len(w) >= MIN_LENGTH}


def nearest_term(word: str, terms: set[str]) -> str | None:
    """The one term ``word`` is a near miss of, or None (exact, too short, or ambiguous)."""
    lowered = word.lower()
    if len(lowered) < MIN_LENGTH or lowered in terms:
        return None
    scored = sorted(
        ((difflib.SequenceMatcher(None, lowered, t).ratio(), t) for t in terms), reverse=True
    )
    if not scored or scored[0][0] < MIN_SIMILARITY:
        return None
    if len(scored) > 1 and scored[1][0] >= MIN_SIMILARITY:
        return None  # two names fit: leave it for the doctor
    return scored[0][1]


def _cased(term: str, like: str) -> str:
    return term.capitalize() if like[:1].isupper() else term


def correct(segments: Sequence[Segment], terms: set[str]) -> list[Segment]:
    """Segments with near-miss medicine names replaced (their words keep ``was``)."""
    if not terms:
        return list(segments)
    fixed: list[Segment] = []
    for seg in segments:
        changes: dict[str, str] = {}

        def swap(match: re.Match[str], changes: dict[str, str] = changes) -> str:
            found = nearest_term(match.group(0), terms)
            if found is None:
                return match.group(0)
            changes[match.group(0).lower()] = found
            return _cased(found, match.group(0))

        text = _WORD.sub(swap, seg.text)
        if not changes:
            fixed.append(seg)
            continue
        words = []
        for w in seg.words:
            bare = re.sub(r"[^A-Za-z-]", "", str(w.get("w", ""))).lower()
            if bare in changes:
                new = str(w["w"]).lower().replace(bare, changes[bare])
                w = {**w, "w": _cased(new, str(w["w"])), "was": w["w"]}
            words.append(w)
        fixed.append(replace(seg, text=text, words=words))
    return fixed
