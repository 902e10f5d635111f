"""Frequency parsing, quantity and daily dose arithmetic, plain-language instructions."""

from __future__ import annotations

from decimal import Decimal

import pytest

from clinic_app.errors import AppError
from clinic_app.services import dosing


@pytest.mark.parametrize(
    ("dose", "unit", "form", "strength", "frequency", "max_per_day", "days", "expected"),
    [
        ("500", "mg", "capsule", "500 mg", "1-1-1", None, 7, (21, "capsule")),
        ("1", "tablet", "tablet", "500 mg", "1-0-1", None, 10, (20, "tablet")),
        ("250", "mg", "tablet", "500 mg", "q12h", None, 5, (5, "tablet")),  # half tablets
        ("2", "tablet", "tablet", "5 mg", "2-0-1", None, 3, (18, "tablet")),
        ("250", "mg", "oral suspension", "250 mg/5 mL", "q8h", None, 7, (105, "mL")),
        ("5", "mL", "syrup", "5 mg/5 mL", "0-0-1", None, 14, (70, "mL")),
        ("400", "mg", "tablet", "400 mg", "prn", 3, 5, (15, "tablet")),
        ("1", "g", "tablet", "500 mg", "q6h", None, 2, (16, "tablet")),
        ("1", "tablet", "tablet", "150 mg", "weekly", None, 28, (4, "tablet")),
        ("2", "g", "tablet", "500 mg", "stat", None, 1, (4, "tablet")),
        ("2", "puff", "inhaler", "100 mcg/dose", "1-0-1", None, 30, (1, "pack")),
        ("1", "application", "cream", "1%", "1-0-1", None, 7, (1, "pack")),
    ],
)
def test_quantity_table(
    dose: str,
    unit: str,
    form: str,
    strength: str,
    frequency: str,
    max_per_day: int | None,
    days: int,
    expected: tuple[int, str],
) -> None:
    parsed = dosing.parse_frequency(frequency, max_per_day=max_per_day)
    got = dosing.quantity(
        dose=Decimal(dose),
        dose_unit=unit,
        form=form,
        strength=strength,
        frequency=parsed,
        duration_days=days,
    )
    assert got == expected


@pytest.mark.parametrize(
    ("code", "max_per_day", "message"),
    [
        ("prn", None, "maximum number of doses"),
        ("q5h", None, "divide a day"),
        ("thrice", None, "pattern like 1-0-1"),
        ("0-0-0", None, "no dose"),
    ],
)
def test_bad_frequencies_are_explained(code: str, max_per_day: int | None, message: str) -> None:
    with pytest.raises(AppError) as error:
        dosing.parse_frequency(code, max_per_day=max_per_day)
    assert error.value.code == "VALIDATION" and message in error.value.message


def test_daily_dose_in_mg_from_tablets_liquids_and_mass() -> None:
    tid = dosing.parse_frequency("1-1-1")
    assert dosing.daily_dose(
        dose=Decimal(2), dose_unit="tablet", form="tablet", strength="500 mg", frequency=tid
    ) == (Decimal(3000), "mg")
    assert dosing.daily_dose(
        dose=Decimal(10), dose_unit="mL", form="syrup", strength="250 mg/5 mL", frequency=tid
    ) == (Decimal(1500), "mg")
    assert dosing.daily_dose(
        dose=Decimal(1), dose_unit="g", form="tablet", strength="500 mg", frequency=tid
    ) == (Decimal(3000), "mg")
    assert dosing.to_mg(4, "g") == (Decimal(4000), "mg")


def test_plain_instructions_in_the_patients_language() -> None:
    tid = dosing.parse_frequency("1-1-1")
    assert (
        dosing.plain_instructions(
            language="en",
            route="oral",
            dose=Decimal(1),
            dose_unit="capsule",
            frequency=tid,
            duration_days=7,
        )
        == "Take 1 capsule by mouth three times a day for 7 days."
    )
    spanish = dosing.plain_instructions(
        language="es",
        route="oral",
        dose=Decimal(2),
        dose_unit="tablet",
        frequency=dosing.parse_frequency("prn", max_per_day=3),
        duration_days=5,
    )
    assert spanish == (
        "Tome 2 comprimidos por vía oral si es necesario, como máximo 3 veces al día "
        "durante 5 días."
    )
    assert dosing.instruction_language("fr-CA") == "fr"
    assert dosing.instruction_language("tlh") == "en"
