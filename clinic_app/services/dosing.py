"""Dose arithmetic for prescription items: frequency, quantity, daily dose, plain-language text.

Pure functions on plain values, so the builder, the safety checks and the printed copy all
compute the same numbers. Frequencies are structured codes:

* ``1-0-1`` style (morning-midday-evening[-night]): how many doses at each time of day;
* ``q8h`` style: every N hours;
* ``weekly``, ``stat`` (a single dose), and PRN (as needed) with a maximum number per day.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from clinic_app.errors import AppError

COUNTABLE_FORMS = {
    "tablet",
    "capsule",
    "chewable tablet",
    "extended-release tablet",
    "extended-release capsule",
    "orally disintegrating tablet",
    "sublingual tablet",
    "suppository",
    "pessary",
    "lozenge",
    "patch",
}
LIQUID_FORMS = {"oral suspension", "oral solution", "syrup", "solution", "nebuliser solution"}
MASS_UNITS = {"mcg": Decimal("0.001"), "mg": Decimal(1), "g": Decimal(1000)}
DOSE_UNITS = (
    "mg",
    "mcg",
    "g",
    "mL",
    "units",
    "tablet",
    "capsule",
    "puff",
    "drop",
    "application",
    "patch",
    "suppository",
    "sachet",
    "lozenge",
)
FREQUENCY_CHOICES: list[tuple[str, str]] = [
    ("1-0-0", "Once a day (morning)"),
    ("0-0-1", "Once a day (evening)"),
    ("1-0-1", "Twice a day (morning, evening)"),
    ("1-1-1", "Three times a day"),
    ("1-1-1-1", "Four times a day"),
    ("q4h", "Every 4 hours"),
    ("q6h", "Every 6 hours"),
    ("q8h", "Every 8 hours"),
    ("q12h", "Every 12 hours"),
    ("q24h", "Every 24 hours"),
    ("weekly", "Once a week"),
    ("stat", "Single dose now"),
    ("prn", "When needed (PRN)"),
]
_PATTERN = re.compile(r"^\d+(\.\d+)?(-\d+(\.\d+)?){2,3}$")
_EVERY = re.compile(r"^q(\d{1,2})h$")
_STRENGTH = re.compile(
    r"^\s*(?P<amount>\d+(?:\.\d+)?)\s*(?P<unit>mcg|mg|g|units?)"
    r"(?:\s*/\s*(?P<per>\d+(?:\.\d+)?)?\s*(?P<per_unit>mL|dose|actuation|puff))?",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Strength:
    """``500 mg`` → (500, mg, None); ``250 mg/5 mL`` → (250, mg, 5 mL)."""

    amount: Decimal
    unit: str
    per_amount: Decimal | None = None
    per_unit: str | None = None


@dataclass(frozen=True)
class Frequency:
    code: str
    doses_per_day: Decimal  # for PRN: the maximum per day
    single: bool = False  # stat: one dose in total


def parse_strength(text: str) -> Strength | None:
    """The first component of a catalog strength, or None (``1%``, ``2.5 mg + 5 mg`` …)."""
    match = _STRENGTH.match(text or "")
    if not match:
        return None
    unit = match["unit"].lower()
    unit = "units" if unit.startswith("unit") else unit
    per_unit = match["per_unit"]
    per_amount = Decimal(match["per"]) if match["per"] else (Decimal(1) if per_unit else None)
    return Strength(Decimal(match["amount"]), unit, per_amount, per_unit and per_unit.lower())


def decimal_from(text: str | float | int | Decimal | None, label: str) -> Decimal:
    """A positive number from user input, or a clear VALIDATION error."""
    try:
        value = Decimal(str(text).strip().replace(",", "."))
    except (InvalidOperation, ValueError):
        raise AppError("VALIDATION", f"{label} must be a number.") from None
    if not value.is_finite() or value <= 0:
        raise AppError("VALIDATION", f"{label} must be more than zero.")
    return value


def parse_frequency(code: str, *, max_per_day: int | None = None) -> Frequency:
    code = (code or "").strip().lower()
    if code == "prn":
        if not max_per_day or max_per_day < 1 or max_per_day > 24:
            raise AppError(
                "VALIDATION", "For 'when needed', give the maximum number of doses a day (1–24)."
            )
        return Frequency(code, Decimal(max_per_day))
    if code == "stat":
        return Frequency(code, Decimal(1), single=True)
    if code == "weekly":
        return Frequency(code, Decimal(1) / Decimal(7))
    every = _EVERY.match(code)
    if every:
        hours = int(every[1])
        if hours < 1 or 24 % hours and hours not in (36, 48, 72):
            raise AppError("VALIDATION", "Every N hours needs N to divide a day (e.g. q6h, q8h).")
        return Frequency(code, Decimal(24) / Decimal(hours))
    if _PATTERN.match(code):
        total = sum((Decimal(part) for part in code.split("-")), Decimal(0))
        if total <= 0:
            raise AppError("VALIDATION", "The dosing pattern gives no dose in a day.")
        return Frequency(code, total)
    raise AppError(
        "VALIDATION", "Frequency must be a pattern like 1-0-1, every N hours (q8h), weekly or PRN."
    )


def units_per_dose(dose: Decimal, dose_unit: str, form: str, strength: str) -> Decimal | None:
    """How many dispensable units (tablets, mL …) one dose is, when the catalog tells us."""
    if dose_unit in {"tablet", "capsule", "suppository", "patch", "lozenge", "mL"}:
        return dose
    parsed = parse_strength(strength)
    if parsed is None or dose_unit not in MASS_UNITS or parsed.unit not in MASS_UNITS:
        return None
    in_strength_unit = dose * MASS_UNITS[dose_unit] / MASS_UNITS[parsed.unit]
    if form in COUNTABLE_FORMS and parsed.per_unit is None:
        return in_strength_unit / parsed.amount
    if form in LIQUID_FORMS and parsed.per_unit == "ml" and parsed.per_amount:
        return in_strength_unit / parsed.amount * parsed.per_amount
    return None


def dispense_unit(form: str, dose_unit: str) -> str:
    if form in LIQUID_FORMS or dose_unit == "mL":
        return "mL"
    if form in COUNTABLE_FORMS:
        return form.split()[-1] if form.split()[-1] in {"tablet", "capsule"} else form
    return "pack"


def quantity(
    *,
    dose: Decimal,
    dose_unit: str,
    form: str,
    strength: str,
    frequency: Frequency,
    duration_days: int,
) -> tuple[int, str]:
    """Units to dispense for the course (rounded up), and their unit; a pack when unknown."""
    per_dose = units_per_dose(dose, dose_unit, form, strength)
    unit = dispense_unit(form, dose_unit)
    if per_dose is None or unit == "pack":
        return 1, "pack"
    doses = Decimal(1) if frequency.single else frequency.doses_per_day * duration_days
    # Rounded to a millionth first: 1/7 a day for 28 days is 4 tablets, not 5.
    return max(1, math.ceil((per_dose * doses).quantize(Decimal("0.000001")))), unit


def daily_dose(
    *, dose: Decimal, dose_unit: str, form: str, strength: str, frequency: Frequency
) -> tuple[Decimal, str] | None:
    """The most the patient takes in a day, in mg (or the strength's own unit), when knowable."""
    parsed = parse_strength(strength)
    per_day = frequency.doses_per_day if not frequency.single else Decimal(1)
    if dose_unit in MASS_UNITS:
        return dose * MASS_UNITS[dose_unit] * per_day, "mg"
    if parsed is None:
        return None
    if dose_unit in {"tablet", "capsule"} and parsed.per_unit is None:
        amount = dose * parsed.amount * per_day
    elif dose_unit == "mL" and parsed.per_unit == "ml" and parsed.per_amount:
        amount = dose / parsed.per_amount * parsed.amount * per_day
    elif dose_unit == "puff" and parsed.per_unit in {"dose", "actuation", "puff"}:
        amount = dose * parsed.amount * per_day
    else:
        return None
    if parsed.unit in MASS_UNITS:
        return amount * MASS_UNITS[parsed.unit], "mg"
    return amount, parsed.unit


def to_mg(amount: float, unit: str | None) -> tuple[Decimal, str]:
    """A catalog maximum in mg when it is a mass, else in its own unit."""
    value = Decimal(str(amount))
    unit = (unit or "").strip()
    if unit in MASS_UNITS:
        return value * MASS_UNITS[unit], "mg"
    return value, unit


def format_number(value: Decimal | float | int) -> str:
    """``1.50`` → ``1.5``; ``2.0`` → ``2``."""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


# ---- plain-language instructions (patient's language when we have a translation) ----------

_ROUTE_VERB = {
    "en": {
        "oral": "Take {dose} by mouth",
        "sublingual": "Let {dose} dissolve under the tongue",
        "inhalation": "Inhale {dose}",
        "topical": "Apply {dose} to the skin",
        "ophthalmic": "Put {dose} in the eye",
        "otic": "Put {dose} in the ear",
        "nasal": "Spray {dose} into the nose",
        "transdermal": "Apply {dose} to the skin",
        "rectal": "Insert {dose} rectally",
        "vaginal": "Insert {dose} vaginally",
        "_": "Use {dose}",
    },
    "es": {
        "oral": "Tome {dose} por vía oral",
        "sublingual": "Deje disolver {dose} bajo la lengua",
        "inhalation": "Inhale {dose}",
        "topical": "Aplique {dose} sobre la piel",
        "ophthalmic": "Aplique {dose} en el ojo",
        "otic": "Aplique {dose} en el oído",
        "nasal": "Aplique {dose} en la nariz",
        "transdermal": "Aplique {dose} sobre la piel",
        "rectal": "Introduzca {dose} por vía rectal",
        "vaginal": "Introduzca {dose} por vía vaginal",
        "_": "Use {dose}",
    },
    "fr": {
        "oral": "Prendre {dose} par la bouche",
        "sublingual": "Laisser fondre {dose} sous la langue",
        "inhalation": "Inhaler {dose}",
        "topical": "Appliquer {dose} sur la peau",
        "ophthalmic": "Mettre {dose} dans l'œil",
        "otic": "Mettre {dose} dans l'oreille",
        "nasal": "Pulvériser {dose} dans le nez",
        "transdermal": "Appliquer {dose} sur la peau",
        "rectal": "Introduire {dose} par voie rectale",
        "vaginal": "Introduire {dose} par voie vaginale",
        "_": "Utiliser {dose}",
    },
}
_UNIT_WORDS = {
    "en": {"tablet": ("tablet", "tablets"), "capsule": ("capsule", "capsules"),
           "puff": ("puff", "puffs"), "drop": ("drop", "drops"),
           "application": ("application", "applications"), "sachet": ("sachet", "sachets")},
    "es": {"tablet": ("comprimido", "comprimidos"), "capsule": ("cápsula", "cápsulas"),
           "puff": ("inhalación", "inhalaciones"), "drop": ("gota", "gotas"),
           "application": ("aplicación", "aplicaciones"), "sachet": ("sobre", "sobres")},
    "fr": {"tablet": ("comprimé", "comprimés"), "capsule": ("gélule", "gélules"),
           "puff": ("bouffée", "bouffées"), "drop": ("goutte", "gouttes"),
           "application": ("application", "applications"), "sachet": ("sachet", "sachets")},
}  # fmt: skip
_FREQUENCY_WORDS = {
    "en": {
        "1-0-0": "once a day in the morning",
        "0-0-1": "once a day in the evening",
        "0-1-0": "once a day at midday",
        "1-0-1": "twice a day (morning and evening)",
        "1-1-1": "three times a day",
        "1-1-1-1": "four times a day",
        "weekly": "once a week",
        "stat": "once, now",
        "every": "every {n} hours",
        "pattern": "{pattern} (morning-midday-evening-night)",
        "prn": "when needed, at most {n} times a day",
        "days": " for {n} days",
    },
    "es": {
        "1-0-0": "una vez al día por la mañana",
        "0-0-1": "una vez al día por la noche",
        "0-1-0": "una vez al día al mediodía",
        "1-0-1": "dos veces al día (mañana y noche)",
        "1-1-1": "tres veces al día",
        "1-1-1-1": "cuatro veces al día",
        "weekly": "una vez por semana",
        "stat": "una sola vez, ahora",
        "every": "cada {n} horas",
        "pattern": "{pattern} (mañana-mediodía-tarde-noche)",
        "prn": "si es necesario, como máximo {n} veces al día",
        "days": " durante {n} días",
    },
    "fr": {
        "1-0-0": "une fois par jour le matin",
        "0-0-1": "une fois par jour le soir",
        "0-1-0": "une fois par jour à midi",
        "1-0-1": "deux fois par jour (matin et soir)",
        "1-1-1": "trois fois par jour",
        "1-1-1-1": "quatre fois par jour",
        "weekly": "une fois par semaine",
        "stat": "une seule fois, maintenant",
        "every": "toutes les {n} heures",
        "pattern": "{pattern} (matin-midi-soir-nuit)",
        "prn": "si besoin, au maximum {n} fois par jour",
        "days": " pendant {n} jours",
    },
}
INSTRUCTION_LANGUAGES = tuple(_ROUTE_VERB)


def instruction_language(preferred: str | None) -> str:
    """The patient's language when we have a translation of the instructions, else English."""
    code = (preferred or "").strip().lower().replace("_", "-").split("-")[0]
    return code if code in _ROUTE_VERB else "en"


def plain_instructions(
    *,
    language: str,
    route: str,
    dose: Decimal,
    dose_unit: str,
    frequency: Frequency,
    duration_days: int,
) -> str:
    """``Take 1 tablet by mouth three times a day for 7 days.`` in en, es or fr."""
    lang = language if language in _ROUTE_VERB else "en"
    words = _UNIT_WORDS[lang].get(dose_unit)
    amount = format_number(dose)
    dose_text = f"{amount} {words[0 if dose == 1 else 1]}" if words else f"{amount} {dose_unit}"
    verb = _ROUTE_VERB[lang].get(route, _ROUTE_VERB[lang]["_"]).format(dose=dose_text)
    table = _FREQUENCY_WORDS[lang]
    code = frequency.code
    if code == "prn":
        how_often = table["prn"].format(n=format_number(frequency.doses_per_day))
    elif code in table:
        how_often = table[code]
    elif code.startswith("q"):
        how_often = table["every"].format(n=code[1:-1])
    else:
        how_often = table["pattern"].format(pattern=code)
    days = "" if frequency.single else table["days"].format(n=duration_days)
    return f"{verb} {how_often}{days}."
