"""Planted errors for testing the verifier: a drafted sentence with one fact made up.

The four kinds a reviewer fears most in a scribe's note: a wrong dose, a drug never
mentioned, a flipped negation and the wrong side. ``plant`` returns the altered sentence, or
None when the sentence has nothing of that kind to alter.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from clinic_app.ai.verifier import tokens

KINDS = ("wrong_dose", "new_drug", "flipped_negation", "wrong_side")
PLANTED_DRUGS = ("warfarin", "methotrexate", "digoxin", "clozapine", "tramadol", "prednisolone")
BODY = r"(knee|ankle|foot|hand|arm|leg|shoulder|hip|eye|ear|wrist|elbow|breast|lung|kidney|chest)s?"


def _wrong_dose(sentence: str) -> str | None:
    found = re.search(r"\b\d+(?:\.\d+)?\b", sentence)
    if found is None:
        return None
    value = float(found.group(0))
    wrong = value * 2 if value >= 5 else value + 3
    return sentence[: found.start()] + f"{wrong:g}" + sentence[found.end() :]


def _new_drug(sentence: str, known: Iterable[str]) -> str | None:
    words = set(tokens(sentence))
    present = [d for d in known if d in words]
    planted = next(d for d in PLANTED_DRUGS if d not in words)
    if present:
        return re.sub(rf"\b{present[0]}\b", planted, sentence, count=1, flags=re.IGNORECASE)
    return f"{sentence.rstrip('.')}; also takes {planted}."


def _flipped_negation(sentence: str) -> str | None:
    swaps = ((r"^Denies\b", "Reports"), (r"^No\s+", ""), (r"^Not taking\b", "Takes"),
             (r"\bdoes not\s+", ""), (r"\bdid not\s+", ""), (r"\bnot\s+", ""))  # fmt: skip
    for pattern, replacement in swaps:
        if re.search(pattern, sentence, flags=re.IGNORECASE):
            flipped = re.sub(pattern, replacement, sentence, count=1, flags=re.IGNORECASE)
            return flipped[:1].upper() + flipped[1:]
    if re.match(r"^(Takes|Reports|Has)\b", sentence):
        return re.sub(r"^(Takes|Reports|Has)\b", lambda m: f"Does not {m.group(1)[:-1].lower()}"
                      if m.group(1) != "Has" else "Does not have", sentence, count=1)  # fmt: skip
    return f"No {sentence[:1].lower()}{sentence[1:]}"


def _wrong_side(sentence: str) -> str | None:
    other = {"left": "right", "right": "left"}

    def swap(match: re.Match[str]) -> str:
        word = other[match.group(0).lower()]
        return word.capitalize() if match.group(0)[0].isupper() else word

    if re.search(r"\b(left|right)\b", sentence, flags=re.IGNORECASE):
        return re.sub(r"\b(left|right)\b", swap, sentence, count=1, flags=re.IGNORECASE)
    found = re.search(rf"\b{BODY}\b", sentence, flags=re.IGNORECASE)
    if found is None:
        return None
    side = "Left " if found.start() == 0 else "left "
    rest = sentence[found.start() :]
    return (
        sentence[: found.start()]
        + side
        + (rest[:1].lower() + rest[1:] if not found.start() else rest)
    )


def plant(kind: str, sentence: str, *, drug_names: Iterable[str] = ()) -> str | None:
    """``sentence`` with one fabricated fact of ``kind``, or None if it has nothing to alter."""
    if kind == "wrong_dose":
        return _wrong_dose(sentence)
    if kind == "new_drug":
        return _new_drug(sentence, drug_names)
    if kind == "flipped_negation":
        return _flipped_negation(sentence)
    if kind == "wrong_side":
        return _wrong_side(sentence)
    raise ValueError(f"unknown fabrication kind {kind!r}")
