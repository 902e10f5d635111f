"""Safety checks a prescription passes before signing: allergies, duplicates, maximum dose.

Pure functions on plain facts (the prescriptions service gathers them from the chart and the
catalog), so every rule is tested on its own. A warning does not block signing: the doctor
acknowledges it with a reason, which is stored on the prescription and audited. ``key`` is
stable for the same problem so an acknowledgement given in the dialog matches at signing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from clinic_app.services.dosing import format_number

# Words patients and clinicians write for a class, mapped to the catalog's class names.
_SYNONYMS = {
    "pcn": "penicillin",
    "penicillins": "penicillin",
    "sulfa": "sulfonamide",
    "sulpha": "sulfonamide",
    "sulfa drugs": "sulfonamide",
    "sulfonamides": "sulfonamide",
    "sulphonamide": "sulfonamide",
    "nsaids": "nsaid",
    "non-steroidal anti-inflammatory drugs": "nsaid",
    "cephalosporins": "cephalosporin",
    "macrolides": "macrolide",
    "quinolones": "fluoroquinolone",
    "fluoroquinolones": "fluoroquinolone",
    "tetracyclines": "tetracycline",
    "opioids": "opioid",
    "opiates": "opioid",
    "statins": "statin",
    "ace inhibitors": "ace inhibitor",
    "benzodiazepines": "benzodiazepine",
    "acetylsalicylic acid": "aspirin",
    "asa": "aspirin",
    "acetaminophen": "paracetamol",
}
# Groups too broad to warn about on their own: two items sharing only these are not a
# duplicate, and an allergy to one member says nothing about the others (beta-lactam: a
# penicillin allergy does not flag a cephalosporin; the specific classes still match).
BROAD_CLASSES = frozenset(
    {
        "antibacterial",
        "analgesic",
        "antihypertensive",
        "antidiabetic",
        "antidepressant",
        "antiepileptic",
        "beta-lactam",
        "anticholinergic",
        "antimuscarinic",
        "lipid-lowering agent",
        "diuretic",
        "anxiolytic",
        "bronchodilator",
        "antifungal",
        "antiviral",
        "antiarrhythmic",
        "antiparkinson agent",
        "antiemetic",
        "antianginal",
        "vasodilator",
        "mood stabiliser",
        "neuropathic pain agent",
        "corticosteroid",
        "glucocorticoid",
        "hormone replacement",
        "thyroid agent",
        "bph agent",
        "antiglaucoma agent",
        "cardiovascular",
        "vitamin",
        "b vitamin",
        "mineral supplement",
        "nutritional supplement",
        "supplement",
    }
)
# The catalog spells paracetamol either way; compare on one spelling.
_SAME_INGREDIENT = {"acetaminophen": "paracetamol", "acetylsalicylic acid": "aspirin"}


def normalise_term(text: str) -> str:
    """``Penicillins `` → ``penicillin``; ``Sulfa drugs`` → ``sulfonamide``."""
    term = re.sub(r"\s+", " ", re.sub(r"\b(allergy|allergic to|intolerance)\b", "", text.lower()))
    term = term.strip(" .,;:-")
    term = _SYNONYMS.get(term, term)
    return _SAME_INGREDIENT.get(term, term)


def _ingredient(text: str) -> str:
    term = text.strip().lower()
    return _SAME_INGREDIENT.get(term, term)


@dataclass(frozen=True)
class ItemFacts:
    """What the checks need to know about one item (new or already prescribed)."""

    name: str
    ingredients: tuple[str, ...]
    classes: tuple[str, ...]
    daily_dose: tuple[Decimal, str] | None = None
    max_daily: tuple[Decimal, str] | None = None
    source: str = ""  # "" for this prescription's items; e.g. "RX-2026-00004" for another


@dataclass(frozen=True)
class AllergyFacts:
    substance: str
    reaction: str = ""
    severity: str = ""
    coded: str = ""
    # The catalog classes of the substance when it is an ingredient (amoxicillin → penicillin …).
    substance_classes: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class SafetyWarning:
    code: str  # ALLERGY | ALLERGY_CLASS | DUPLICATE_INGREDIENT | DUPLICATE_CLASS | MAX_DAILY_DOSE
    item: int
    message: str
    key: str


def _specific(classes: tuple[str, ...]) -> list[str]:
    """The classes worth matching on, most specific first."""
    return [name.lower() for name in classes if name.lower() not in BROAD_CLASSES]


def _first_shared(mine: list[str], theirs: list[str]) -> str | None:
    return next((name for name in mine if name in theirs), None)


def _matches(term: str, candidates: tuple[str, ...]) -> str | None:
    """The candidate the allergy term names: equal, or the term as its leading word(s)."""
    for candidate in candidates:
        if term == candidate or candidate.startswith(term + " "):
            return candidate
    return None


def allergy_warnings(items: list[ItemFacts], allergies: list[AllergyFacts]) -> list[SafetyWarning]:
    warnings: list[SafetyWarning] = []
    for index, item in enumerate(items):
        ingredients = tuple(_ingredient(i) for i in item.ingredients) + (_ingredient(item.name),)
        classes = tuple(c.lower() for c in item.classes)
        for allergy in allergies:
            term = normalise_term(allergy.coded or allergy.substance)
            if not term:
                continue
            about = f"{allergy.substance}" + (f" ({allergy.reaction})" if allergy.reaction else "")
            hit = _matches(term, ingredients)
            if hit:
                warnings.append(
                    SafetyWarning(
                        "ALLERGY",
                        index,
                        f"Allergy: the patient is allergic to {about}; {item.name} contains {hit}.",
                        f"ALLERGY:{index}:{term}",
                    )
                )
                continue
            shared = _matches(term, classes) or _first_shared(
                _specific(classes), _specific(allergy.substance_classes)
            )
            if shared:
                warnings.append(
                    SafetyWarning(
                        "ALLERGY_CLASS",
                        index,
                        f"Allergy (class): the patient is allergic to {about}; {item.name} is a "
                        f"{shared} — cross-reaction possible.",
                        f"ALLERGY_CLASS:{index}:{term}",
                    )
                )
    return warnings


def duplicate_warnings(items: list[ItemFacts], others: list[ItemFacts]) -> list[SafetyWarning]:
    """The same ingredient, or the same specific class, twice (here or in an active Rx)."""
    warnings: list[SafetyWarning] = []
    for index, item in enumerate(items):
        mine = {_ingredient(i) for i in item.ingredients}
        my_classes = _specific(item.classes)
        earlier = [(f"item {n + 1} ({items[n].name})", items[n]) for n in range(index)]
        active = [(f"{o.name} on {o.source}", o) for o in others]
        for label, other in earlier + active:
            common = mine & {_ingredient(i) for i in other.ingredients}
            if common:
                warnings.append(
                    SafetyWarning(
                        "DUPLICATE_INGREDIENT",
                        index,
                        f"Duplicate: {item.name} and {label} both contain "
                        f"{', '.join(sorted(common))}.",
                        f"DUPLICATE_INGREDIENT:{index}:{'+'.join(sorted(common))}:{label}",
                    )
                )
            elif shared := _first_shared(my_classes, _specific(other.classes)):
                warnings.append(
                    SafetyWarning(
                        "DUPLICATE_CLASS",
                        index,
                        f"Same class: {item.name} and {label} are both {shared} medicines.",
                        f"DUPLICATE_CLASS:{index}:{shared}:{label}",
                    )
                )
    return warnings


def dose_warnings(items: list[ItemFacts]) -> list[SafetyWarning]:
    warnings = []
    for index, item in enumerate(items):
        if item.daily_dose is None or item.max_daily is None:
            continue
        (amount, unit), (limit, limit_unit) = item.daily_dose, item.max_daily
        if unit == limit_unit and amount > limit:
            warnings.append(
                SafetyWarning(
                    "MAX_DAILY_DOSE",
                    index,
                    f"Dose: {item.name} up to {format_number(amount)} {unit} a day is above the "
                    f"usual adult maximum of {format_number(limit)} {limit_unit}.",
                    f"MAX_DAILY_DOSE:{index}",
                )
            )
    return warnings


def check(
    items: list[ItemFacts], *, allergies: list[AllergyFacts], others: list[ItemFacts]
) -> list[SafetyWarning]:
    """Every warning for the items, in item order."""
    found = allergy_warnings(items, allergies) + duplicate_warnings(items, others)
    found += dose_warnings(items)
    return sorted(found, key=lambda w: (w.item, w.code))
