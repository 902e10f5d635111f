"""Facts a clinical note needs, found in a transcript's utterances with their evidence.

Rules over a small clinical lexicon: complaints with durations and sides, medicines matched
to the catalog with dose/route/frequency (taken now, or started/changed/stopped by the
doctor), allergies with reactions, vitals, tests ordered, diagnoses stated, known conditions,
examination findings and follow-up. Negation ("no fever") and questions answered by the other
speaker ("Any fever?" — "No.") are read as a clinician would. Each fact is written as one
sentence in clinical style from the words of its evidence, so the verifier can check it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from clinic_app.ai.drafting import Utterance
from clinic_app.ai.verifier import NEGATIVE_ANSWERS, POSITIVE_ANSWERS, UNITS, numbers, tokens

SYMPTOMS = (
    "shortness of breath", "chest pain", "abdominal pain", "stomach pain", "back pain",
    "sore throat", "runny nose", "weight loss", "weight gain", "low mood", "night sweats",
    "blurred vision", "cough", "fever", "headache", "migraine", "pain", "rash", "nausea",
    "vomiting", "diarrhea", "diarrhoea", "dizziness", "fatigue", "tiredness", "itching",
    "swelling", "chills", "palpitations", "constipation", "insomnia", "anxiety", "wheezing",
    "congestion", "numbness", "tingling", "bleeding", "burning", "cramps", "sputum",
    "phlegm", "heartburn", "dizzy", "tired", "breathless",
)  # fmt: skip
BODY_PARTS = (
    "knee", "back", "head", "chest", "stomach", "belly", "throat", "ear", "eye", "shoulder",
    "hip", "neck", "ankle", "wrist", "elbow", "foot", "feet", "hand", "leg", "arm", "tooth",
    "joints", "joint", "skin",
)  # fmt: skip
CONDITIONS = (
    "type 2 diabetes", "type 1 diabetes", "diabetes", "high blood pressure", "hypertension",
    "asthma", "copd", "depression", "anxiety", "hypothyroidism", "hyperthyroidism",
    "thyroid", "arthritis", "osteoarthritis", "migraine", "eczema", "psoriasis", "reflux",
    "gerd", "heart failure", "atrial fibrillation", "high cholesterol", "epilepsy",
    "kidney disease", "neuropathy", "gout", "obesity", "sleep apnea", "bronchitis",
    "pneumonia", "sinusitis", "urinary tract infection", "infection", "dermatitis",
    "tendinitis", "sprain", "strain", "cellulitis",
)  # fmt: skip
TESTS = (
    "chest x-ray", "x-ray", "xray", "blood test", "blood tests", "blood work", "bloodwork",
    "ecg", "ekg", "mri", "ct scan", "ultrasound", "urine test", "urinalysis", "hba1c", "a1c",
    "cholesterol test", "lipid panel", "thyroid test", "tsh", "cbc", "full blood count",
    "culture", "swab", "biopsy", "spirometry", "echocardiogram", "colonoscopy",
    "kidney function", "liver function",
)  # fmt: skip
REACTIONS = ("rash", "hives", "swelling", "anaphylaxis", "itching", "nausea", "vomiting")
START_WORDS = ("prescribe", "start", "add", "give you", "try", "begin", "put you on")
CHANGE_WORDS = {
    "increase": "Increase", "raise": "Increase", "reduce": "Reduce", "decrease": "Reduce",
    "lower": "Reduce", "stop": "Stop", "switch": "Switch to", "continue": "Continue",
    "keep taking": "Continue", "keep using": "Continue",
}  # fmt: skip
TAKE_WORDS = ("i take", "i'm taking", "i am taking", "i use", "i used", "i've been taking",
              "i have been taking", "helps", "i started", "i'm on", "i am on")  # fmt: skip
FREQUENCIES = (
    r"once a day", r"once daily", r"twice a day", r"twice daily", r"three times a day",
    r"four times a day", r"every day", r"every morning", r"every night", r"every evening",
    r"at night", r"in the morning", r"at bedtime", r"every \w+ hours", r"as needed",
    r"when needed", r"a few times a week", r"once a week", r"weekly", r"daily",
    r"for \w+ days", r"for \w+ weeks",
)  # fmt: skip
ROUTES = {"cream": "topical", "ointment": "topical", "inhaler": "inhaled", "puffs": "inhaled",
          "injection": "injection", "drops": "drops", "patch": "patch"}  # fmt: skip
FOLLOW_UP = re.compile(
    r"\b(?:come back|follow up|follow-up|see you|return|recheck|check again|review you)\b"
    r"[^.?!]*?\b(in (?:a|an|one|two|three|four|five|six|\d+) (?:days?|weeks?|months?)"
    r"|next (?:week|month)|tomorrow)",
    re.IGNORECASE,
)
DURATION = re.compile(
    r"\b(?:for|since|over the (?:past|last)|in the (?:past|last))\s+"
    r"((?:a|an|one|two|three|four|five|six|seven|eight|nine|ten|\d+|a few|several|couple of)"
    r"\s+(?:days?|weeks?|months?|years?|hours?)|yesterday|last \w+)"
    r"|\b((?:a|one|two|three|four|five|six|seven|\d+)\s+(?:days?|weeks?|months?) ago)",
    re.IGNORECASE,
)
DIAGNOSIS = re.compile(
    r"\b(?:you have|you've got|this is|it is|it's|looks like|sounds like|seems like|"
    r"consistent with|diagnosis is|diagnosed with|i think (?:it's|you have))\s+"
    r"(?:an?\s+|the\s+|some\s+)?([a-z][a-z0-9 -]{2,40}?)(?=[.,;!?]|$| so\b| and\b| because\b)",
    re.IGNORECASE,
)
VITALS = (
    (re.compile(r"blood pressure (?:is|was|of)?\s*(\d{2,3})\s*(?:over|/)\s*(\d{2,3})", re.I),
     "Blood pressure {0}/{1}."),
    (re.compile(r"(?:heart rate|pulse)(?: is| was| of)?\s*(\d{2,3})", re.I), "Heart rate {0}."),
    (re.compile(r"temperature(?: is| was| of)?\s*(\d{2}(?:\.\d)?)", re.I), "Temperature {0}."),
    (re.compile(r"(?:oxygen|saturation|sats)[a-z ]*?(?: is| was| of)?\s*(\d{2,3})\s*(?:percent|%)",
                re.I), "Oxygen saturation {0}%."),
    (re.compile(r"weigh(?:t is|s|t was)?\s*(\d{2,3}(?:\.\d)?)\s*(kilos?|kilograms?|kg|pounds|lbs?)",
                re.I), "Weight {0} {1}."),
    (re.compile(r"(?:blood sugar|glucose|sugar)(?: is| was| of)?\s*(\d{2,3}(?:\.\d)?)", re.I),
     "Blood glucose {0}."),
)  # fmt: skip
QUALITATIVE_VITAL = re.compile(
    r"\b(blood pressure|sugar|blood sugar|temperature|heart rate|pulse|weight|cholesterol)"
    r" (?:is|was|looks|seems|has been)( (?:a (?:bit|little) |very |quite |still )?"
    r"(?:high|low|normal|raised|elevated|fine|good|ok))",
    re.IGNORECASE,
)
EXAM_WORDS = re.compile(
    r"\b(looks?|appears?|sounds?|is|are)\b[^.?!]*\b(inflamed|swollen|tender|red|clear|normal|"
    r"infected|healing|irritated|enlarged|bruised|stable|dry|warm)\b",
    re.IGNORECASE,
)
UNIT_LABEL = {"mg": "mg", "mcg": "mcg", "g": "g", "ml": "mL", "unit": "units", "puff": "puffs"}


@dataclass(frozen=True)
class Fact:
    kind: str  # complaint | medication | plan_medication | allergy | vital | test | diagnosis
    #           | condition | exam | follow_up
    sentence: str
    evidence: tuple[int, ...]
    negated: bool = False


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![a-z]){re.escape(phrase)}(?![a-z])", text) is not None


def _negated(text: str, phrase: str) -> bool:
    """Is ``phrase`` under a negation cue in ``text`` (within five words before it)?"""
    words = tokens(text)
    target = tokens(phrase)
    for i in range(len(words)):
        if words[i : i + len(target)] == target:
            window = words[max(0, i - 5) : i]
            if any(w in ("no", "not", "denies", "without", "never", "none") for w in window):
                return True
    return False


def _answer(utterances: Sequence[Utterance], n: int) -> Utterance | None:
    """The other speaker's reply to the question at index ``n``: in the reply turn after the
    question, the sentence sharing a word with the question, else the turn's first sentence
    ("Any fever? Do you take X?" — "No fever. Yes, I take X.")."""
    asker = utterances[n].speaker
    at = n + 1
    while at < len(utterances) and utterances[at].speaker == asker:
        at += 1
    turn = []
    while at < len(utterances) and utterances[at].speaker != asker:
        turn.append(utterances[at])
        at += 1
    if not turn:
        return None
    asked = {w for w in tokens(utterances[n].text) if len(w) > 3}
    return next((u for u in turn if asked & set(tokens(u.text))), turn[0])


def _answer_polarity(answer: Utterance) -> bool | None:
    """True: yes, False: no, None: neither."""
    text = answer.text.strip().lower()
    if text.startswith(NEGATIVE_ANSWERS):
        return False
    if text.startswith(POSITIVE_ANSWERS):
        return True
    return None


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _dose(text: str, after: int) -> str:
    """The first "number unit" after character ``after`` ("500 mg"), as written for a note."""
    words = tokens(text[after:])
    for index, value in numbers(words)[:2]:
        if index + 1 < len(words) and words[index + 1] in UNITS:
            unit = UNITS[words[index + 1]]
            if unit in UNIT_LABEL:
                return f"{value:g} {UNIT_LABEL[unit]}"
    return ""


def _frequency(text: str) -> str:
    lowered = text.lower()
    for pattern in FREQUENCIES:
        found = re.search(rf"\b{pattern}\b", lowered)
        if found:
            return found.group(0)
    return ""


def _route(text: str) -> str:
    lowered = text.lower()
    return next((route for word, route in ROUTES.items() if _has(lowered, word)), "")


def _medicine_phrase(name: str, text: str, at: int) -> str:
    parts = [name, _dose(text, at), _route(text[at:]), _frequency(text[at:])]
    return " ".join(p for p in parts if p)


def _complaints(utterances: Sequence[Utterance], skip: set[int]) -> list[Fact]:
    """``skip``: utterances already read as something else (an allergy's reaction)."""
    facts: list[Fact] = []
    seen: set[str] = set()
    for n, u in enumerate(utterances):
        lowered = u.text.lower()
        if u.id in skip:
            continue
        evidence: tuple[int, ...] = (u.id,)
        found = [s for s in SYMPTOMS if _has(lowered, s)]
        found = [s for s in found if not any(s != o and s in o for o in found)]
        pain = re.search(
            rf"\bmy ((?:left|right) )?({'|'.join(BODY_PARTS)}) (?:hurts|is sore|aches|is painful)",
            lowered,
        )
        if pain:
            found = [f for f in found if f != "pain"] + [
                f"{pain.group(1) or ''}{pain.group(2)} pain"
            ]
        if not found:
            continue
        if u.role == "doctor":
            answer = _answer(utterances, n) if lowered.rstrip().endswith("?") else None
            polarity = _answer_polarity(answer) if answer else None
            if answer is None or polarity is None:
                continue
            evidence = (u.id, answer.id)
            negated_all = not polarity
        else:
            negated_all = False
        duration = DURATION.search(u.text)
        for symptom in found:
            key = symptom.replace("left ", "").replace("right ", "")
            if key in seen:
                continue
            seen.add(key)
            negated = negated_all or (u.role != "doctor" and _negated(lowered, symptom.split()[-1]))
            if negated:
                facts.append(Fact("complaint", f"Denies {symptom}.", evidence, negated=True))
                continue
            span = duration.group(0).lower() if duration else ""
            sentence = f"{_cap(symptom)} {span}".strip() + "."
            facts.append(Fact("complaint", sentence, evidence))
    return facts


def _medicines(utterances: Sequence[Utterance], drug_names: frozenset[str]) -> list[Fact]:
    facts: list[Fact] = []
    seen: set[tuple[str, str]] = set()
    for n, u in enumerate(utterances):
        lowered = u.text.lower()
        names = [w for w in dict.fromkeys(tokens(lowered)) if w in drug_names]
        for name in names:
            if re.search(rf"allerg\w* (?:to )?(?:\w+ )?{name}", lowered):
                continue  # an allergy, not a medicine
            at = lowered.find(name)
            phrase = _medicine_phrase(name, u.text, at)
            before = lowered[:at]
            kind, sentence = "", ""
            evidence: tuple[int, ...] = (u.id,)
            if u.role == "doctor" and lowered.rstrip().endswith("?"):
                answer = _answer(utterances, n)
                if answer is not None and _answer_polarity(answer) is True:
                    kind, sentence, evidence = "medication", f"Takes {phrase}.", (u.id, answer.id)
                elif answer is not None and _answer_polarity(answer) is False:
                    kind, sentence = "medication", f"Not taking {name}."
                    evidence = (u.id, answer.id)
            elif u.role == "doctor":
                change = next((v for k, v in CHANGE_WORDS.items() if _has(before, k)), None)
                if _negated(lowered, name):
                    kind, sentence = "plan_medication", f"No {name}."
                elif change in ("Increase", "Reduce"):
                    dose = _dose(u.text, at)
                    target = f" to {dose}" if dose else ""
                    kind, sentence = "plan_medication", f"{change} {name}{target}."
                elif change:
                    kind, sentence = "plan_medication", f"{change} {phrase}."
                elif any(_has(before, w) for w in START_WORDS) or " instead" in lowered:
                    kind, sentence = "plan_medication", f"Start {phrase}."
            elif any(_has(before, w) or _has(lowered, w) for w in TAKE_WORDS):
                kind, sentence = "medication", f"Takes {phrase}."
                if "did not help" in lowered or "didn't help" in lowered:
                    sentence = f"Used {phrase}, which did not help."
            if kind and (kind, name) not in seen:
                seen.add((kind, name))
                facts.append(
                    Fact(kind, sentence, evidence, negated=sentence.startswith(("No ", "Not ")))
                )
    return facts


def _allergies(utterances: Sequence[Utterance]) -> list[Fact]:
    facts: list[Fact] = []
    for n, u in enumerate(utterances):
        lowered = u.text.lower()
        if (
            re.search(r"\b(?:no|not|any) (?:known )?(?:drug )?allerg", lowered)
            and u.role != "doctor"
        ):
            if re.search(r"\b(?:no|not)\b", lowered):
                facts.append(Fact("allergy", "No known allergies.", (u.id,), negated=True))
            continue
        found = re.search(r"allergic to ([a-z][a-z -]{1,30}?)(?=[.,;!?]|$| and\b| but\b)", lowered)
        found = found or re.search(r"\b([a-z]{4,20}) allergy\b", lowered)
        if not found or u.role == "doctor":
            continue
        substance = found.group(1).strip()
        evidence = [u.id]
        reaction = next((r for r in REACTIONS if _has(lowered, r)), None)
        if reaction is None and n + 1 < len(utterances) and utterances[n + 1].speaker == u.speaker:
            following = utterances[n + 1].text.lower()
            reaction = next((r for r in REACTIONS if _has(following, r)), None)
            if reaction:
                evidence.append(utterances[n + 1].id)
        detail = f" ({reaction})" if reaction else ""
        facts.append(Fact("allergy", f"Allergy to {substance}{detail}.", tuple(evidence)))
    return facts


def _vitals(utterances: Sequence[Utterance]) -> list[Fact]:
    facts: list[Fact] = []
    for u in utterances:
        for pattern, template in VITALS:
            found = pattern.search(u.text)
            if found:
                facts.append(Fact("vital", template.format(*found.groups()), (u.id,)))
        quality = QUALITATIVE_VITAL.search(u.text)
        if quality and u.role == "doctor" and not u.text.rstrip().endswith("?"):
            what, how = quality.group(1).lower(), quality.group(2).strip()
            facts.append(Fact("vital", f"{_cap(what)} {how}.", (u.id,)))
    return facts


def _doctor_statements(utterances: Sequence[Utterance]) -> list[Fact]:
    """Tests ordered, diagnoses stated, exam findings and follow-up, all said by the doctor."""
    facts: list[Fact] = []
    for u in utterances:
        lowered = u.text.lower()
        if u.role != "doctor" or lowered.rstrip().endswith("?"):
            continue
        tests = [t for t in TESTS if _has(lowered, t)]
        tests = [t for t in tests if not any(t != o and t in o for o in tests)]
        for test in tests:
            if re.search(r"\b(came back|results?|showed|shows)\b", lowered):
                facts.append(Fact("exam", _cap(u.text.strip()), (u.id,)))
            else:
                facts.append(Fact("test", f"Order {test}.", (u.id,)))
        for found in DIAGNOSIS.finditer(u.text):
            what = found.group(1).strip().lower()
            if any(_has(what, c) for c in CONDITIONS) or what.endswith(("itis", "osis", "emia")):
                facts.append(Fact("diagnosis", f"{_cap(what)}.", (u.id,)))
        if EXAM_WORDS.search(u.text) and not tests:
            facts.append(Fact("exam", _cap(u.text.strip()), (u.id,)))
        follow = FOLLOW_UP.search(u.text)
        if follow:
            facts.append(Fact("follow_up", f"Follow up {follow.group(1).lower()}.", (u.id,)))
    return facts


def _conditions(utterances: Sequence[Utterance], stated: set[str]) -> list[Fact]:
    """Known conditions mentioned by anyone ("How is your diabetes?" — "My sugar is high")."""
    facts: list[Fact] = []
    seen = set(stated)
    for u in utterances:
        lowered = u.text.lower()
        for condition in CONDITIONS:
            if condition in seen or not _has(lowered, condition) or _negated(lowered, condition):
                continue
            if any(condition in s for s in seen):
                continue
            if u.role == "doctor" and not re.search(r"\byour\b", lowered):
                continue
            seen.add(condition)
            facts.append(Fact("condition", f"History of {condition}.", (u.id,)))
    return facts


def extract(utterances: Sequence[Utterance], *, drug_names: frozenset[str]) -> list[Fact]:
    """All facts, in the order a note reads them."""
    statements = _doctor_statements(utterances)
    stated = {f.sentence.rstrip(".").lower() for f in statements if f.kind == "diagnosis"}
    allergies = _allergies(utterances)
    return [
        *_complaints(utterances, {i for f in allergies for i in f.evidence}),
        *_conditions(utterances, stated),
        *_medicines(utterances, drug_names),
        *allergies,
        *_vitals(utterances),
        *statements,
    ]


def reported(utterance: Utterance) -> str:
    """A patient's own sentence as reported speech, for narrative sections."""
    text = utterance.text.strip()
    swaps = ((r"\bI'm\b", "they are"), (r"\bI am\b", "they are"), (r"\bI've\b", "they have"),
             (r"\bI'd\b", "they would"), (r"\bI\b", "they"), (r"\bmy\b", "their"),
             (r"\bMy\b", "their"), (r"\bme\b", "them"), (r"\bmyself\b", "themselves"))  # fmt: skip
    for pattern, replacement in swaps:
        text = re.sub(pattern, replacement, text)
    text = text.rstrip(".!") + "."
    lead = "Patient reports that" if utterance.role == "patient" else "Discussed:"
    return f"{lead} {text[:1].lower() + text[1:] if utterance.role == 'patient' else text}"
