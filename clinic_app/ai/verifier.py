"""The verifier: is every checkable fact of a drafted sentence in the evidence it cites?

Run on every draft from every engine. A sentence is ``unsupported`` when one of these is in
the sentence but not in its evidence: a number (digits or words: "five hundred" = 500), a unit
(mg = milligrams), a dose (number with its unit), a drug name from the catalog, a side
(left/right/bilateral), or when a finding is negated in one and affirmed in the other ("no
fever" against "I have a fever"; a question answered "no" negates it). Rules, not a model, so
a reason can always be shown to the doctor.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from clinic_app.ai.drafting import Utterance

_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-zµ°%]+(?:'[a-z]+)?")
ONES = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7,
    "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12, "thirteen": 13,
    "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17, "eighteen": 18,
    "nineteen": 19,
}  # fmt: skip
TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50, "sixty": 60, "seventy": 70,
    "eighty": 80, "ninety": 90,
}  # fmt: skip
UNITS = {
    "mg": "mg", "milligram": "mg", "milligrams": "mg", "mgs": "mg",
    "mcg": "mcg", "µg": "mcg", "ug": "mcg", "microgram": "mcg", "micrograms": "mcg",
    "g": "g", "gram": "g", "grams": "g", "gm": "g",
    "ml": "ml", "milliliter": "ml", "milliliters": "ml", "millilitre": "ml", "millilitres": "ml",
    "unit": "unit", "units": "unit", "iu": "unit",
    "mmhg": "mmhg", "bpm": "bpm", "kg": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg",
    "kilograms": "kg", "lb": "lb", "lbs": "lb", "pound": "lb", "pounds": "lb", "cm": "cm",
    "%": "%", "percent": "%", "degree": "deg", "degrees": "deg", "°": "deg",
    "hour": "hour", "hours": "hour", "hr": "hour", "hrs": "hour", "day": "day", "days": "day",
    "week": "week", "weeks": "week", "wk": "week", "month": "month", "months": "month",
    "year": "year", "years": "year", "yr": "year", "minute": "minute", "minutes": "minute",
    "puff": "puff", "puffs": "puff", "tablet": "tablet", "tablets": "tablet",
    "capsule": "capsule", "capsules": "capsule",
}  # fmt: skip
SIDES = {"left": "left", "right": "right", "bilateral": "bilateral", "bilaterally": "bilateral"}
NEGATIONS = {
    "no", "not", "denies", "denied", "deny", "denying", "without", "never", "negative", "none",
    "nor", "neither", "free",
}  # fmt: skip
NEGATIVE_ANSWERS = ("no", "nope", "not really", "never", "none", "i don't", "i do not", "no,")
POSITIVE_ANSWERS = ("yes", "yeah", "yep", "i do", "sometimes", "a little", "correct")
_SCOPE = 5  # a negation covers the next five words
STOPWORDS = {
    "the", "and", "for", "with", "that", "this", "have", "has", "had", "you", "your", "they",
    "their", "them", "she", "her", "his", "him", "patient", "reports", "reported", "states",
    "stated", "any", "some", "take", "takes", "taking", "was", "were", "are", "been", "being",
    "from", "about", "into", "also", "still", "today", "does", "did", "doing", "daily",
    "every", "times", "time", "there", "here", "what", "when", "which", "would", "could",
    "should", "will", "shall", "then", "than", "more", "less", "very", "just", "like", "well",
    "feel", "feels", "feeling", "felt", "get", "gets", "getting", "since", "ago", "per",
    "once", "twice", "night", "morning", "evening", "week", "weeks", "days", "day", "month",
    "months", "year", "years", "doctor", "plan", "follow", "continue", "advised", "noted",
}  # fmt: skip


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers; "n't" splits off as "not" so "doesn't" negates."""
    lowered = text.lower().replace("’", "'").replace("n't", " not")
    return _TOKEN.findall(lowered)


def numbers(words: Sequence[str]) -> list[tuple[int, float]]:
    """(index of the number's last word, value) for digits and English number words."""
    found: list[tuple[int, float]] = []
    i = 0
    while i < len(words):
        word = words[i]
        if re.fullmatch(r"\d+(?:\.\d+)?", word):
            found.append((i, float(word)))
            i += 1
            continue
        if word in ONES or word in TENS:
            value, last = 0.0, i
            current = ONES.get(word, TENS.get(word, 0))
            j = i + 1
            while j < len(words):
                nxt = words[j]
                if nxt in ONES and current % 10 == 0 and current >= 20:
                    current += ONES[nxt]
                elif nxt == "hundred":
                    current = max(current, 1) * 100
                elif nxt == "thousand":
                    value += max(current, 1) * 1000
                    current = 0
                elif (
                    nxt == "and"
                    and j + 1 < len(words)
                    and (words[j + 1] in ONES or words[j + 1] in TENS)
                ):
                    pass
                elif nxt in TENS and current >= 100 and current % 100 == 0:
                    current += TENS[nxt]
                else:
                    break
                last = j
                j += 1
            found.append((last, value + current))
            i = last + 1
            continue
        i += 1
    return found


def doses(words: Sequence[str]) -> set[tuple[float, str]]:
    """A number directly followed by a unit: (500.0, "mg")."""
    return {
        (value, UNITS[words[index + 1]])
        for index, value in numbers(words)
        if index + 1 < len(words) and words[index + 1] in UNITS
    }


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 4 and word.endswith("s") and not word.endswith("ss") else word


def _negated_terms(words: Sequence[str]) -> dict[str, bool]:
    """Content word → is it under a negation (within five words after a cue)?"""
    polarity: dict[str, bool] = {}
    since_cue = _SCOPE + 1
    for word in words:
        if word in NEGATIONS:
            since_cue = 0
            continue
        since_cue += 1
        if word in ("but", "however", "although"):
            since_cue = _SCOPE + 1
        if len(word) < 4 or word in STOPWORDS or not word.isalpha():
            continue
        polarity.setdefault(_stem(word), since_cue <= _SCOPE)
    return polarity


def _evidence_polarity(evidence: Sequence[Utterance]) -> dict[str, set[bool]]:
    """Each term's polarities across the evidence; a question takes its answer's polarity."""
    states: dict[str, set[bool]] = {}
    for n, utterance in enumerate(evidence):
        terms = _negated_terms(tokens(utterance.text))
        if utterance.text.rstrip().endswith("?") and n + 1 < len(evidence):
            answer = evidence[n + 1].text.strip().lower()
            if answer.startswith(NEGATIVE_ANSWERS):
                terms = {t: True for t in terms}
            elif answer.startswith(POSITIVE_ANSWERS):
                terms = {t: False for t in terms}
        for term, negated in terms.items():
            states.setdefault(term, set()).add(negated)
    return states


def _any_negation(evidence: Sequence[Utterance]) -> bool:
    for utterance in evidence:
        if NEGATIONS & set(tokens(utterance.text)):
            return True
        if utterance.text.strip().lower().startswith(NEGATIVE_ANSWERS):
            return True
    return False


def check(
    sentence: str, evidence: Sequence[Utterance], *, drug_names: frozenset[str] = frozenset()
) -> list[str]:
    """Reasons the sentence is not supported by ``evidence`` (empty list: supported)."""
    if not evidence:
        return ["no evidence cited"]
    said = tokens(sentence)
    heard = [w for u in evidence for w in tokens(u.text)]
    heard_set = set(heard)
    reasons: list[str] = []
    heard_numbers = {value for _, value in numbers(heard)}
    for _, value in numbers(said):
        if value not in heard_numbers:
            reasons.append(f"the number {value:g} is not in the evidence")
    heard_doses = doses(heard)
    for value, unit in sorted(doses(said)):
        if value in heard_numbers and (value, unit) not in heard_doses:
            reasons.append(f"the dose {value:g} {unit} is not in the evidence")
    heard_units = {UNITS[w] for w in heard if w in UNITS}
    for unit in sorted({UNITS[w] for w in said if w in UNITS} - heard_units):
        reasons.append(f"the unit '{unit}' is not in the evidence")
    for drug in sorted({w for w in said if w in drug_names} - heard_set):
        reasons.append(f"the drug '{drug}' is not in the evidence")
    heard_sides = {SIDES[w] for w in heard if w in SIDES}
    for side in sorted({SIDES[w] for w in said if w in SIDES} - heard_sides):
        reasons.append(f"the side '{side}' is not in the evidence")
    if NEGATIONS & set(said) and not _any_negation(evidence):
        reasons.append("the negation is not in the evidence")
    evidence_states = _evidence_polarity(evidence)
    for term, negated in _negated_terms(said).items():
        states = evidence_states.get(term)
        if states and negated not in states:
            said_as = "negated" if negated else "affirmed"
            reasons.append(f"'{term}' is {said_as} here but not in the evidence")
    return reasons
