"""Allergy (substance and class), duplicate (ingredient and class) and maximum-dose warnings."""

from __future__ import annotations

from decimal import Decimal

from clinic_app.services.prescription_safety import (
    AllergyFacts,
    ItemFacts,
    check,
    normalise_term,
)

AMOXICILLIN = ItemFacts(
    "amoxicillin 500 mg", ("amoxicillin",), ("penicillin", "beta-lactam", "antibacterial")
)
CEFALEXIN = ItemFacts(
    "cefalexin 500 mg", ("cefalexin",), ("cephalosporin", "beta-lactam", "antibacterial")
)
AZITHROMYCIN = ItemFacts("azithromycin 250 mg", ("azithromycin",), ("macrolide", "antibacterial"))
IBUPROFEN = ItemFacts(
    "ibuprofen 400 mg",
    ("ibuprofen",),
    ("nsaid", "analgesic"),
    daily_dose=(Decimal(1200), "mg"),
    max_daily=(Decimal(3200), "mg"),
)
NAPROXEN = ItemFacts("naproxen 500 mg", ("naproxen",), ("nsaid", "analgesic"))
CO_AMOXICLAV = ItemFacts(
    "amoxicillin / clavulanate", ("amoxicillin", "clavulanic acid"), ("penicillin", "beta-lactam")
)
PARACETAMOL = ItemFacts(
    "paracetamol 500 mg",
    ("paracetamol",),
    ("analgesic",),
    daily_dose=(Decimal(6000), "mg"),
    max_daily=(Decimal(4000), "mg"),
)


def codes(warnings: list) -> list[tuple[str, int]]:
    return [(w.code, w.item) for w in warnings]


def test_penicillin_allergy_warns_on_amoxicillin_by_class() -> None:
    found = check([AMOXICILLIN], allergies=[AllergyFacts("Penicillins", "rash")], others=[])
    assert codes(found) == [("ALLERGY_CLASS", 0)]
    assert "penicillin" in found[0].message and "rash" in found[0].message


def test_substance_allergy_warns_on_the_ingredient_and_on_combinations() -> None:
    found = check([AZITHROMYCIN, CO_AMOXICLAV], allergies=[AllergyFacts("Amoxicillin")], others=[])
    assert codes(found) == [("ALLERGY", 1)]


def test_allergy_to_an_ingredient_warns_on_other_members_of_its_class() -> None:
    allergy = AllergyFacts("amoxicillin", substance_classes=("penicillin", "beta-lactam"))
    ampicillin = ItemFacts("ampicillin", ("ampicillin",), ("penicillin", "beta-lactam"))
    assert codes(check([ampicillin], allergies=[allergy], others=[])) == [("ALLERGY_CLASS", 0)]
    # A cephalosporin shares only the broad beta-lactam group: no warning.
    assert check([CEFALEXIN], allergies=[allergy], others=[]) == []


def test_no_allergy_warning_for_unrelated_medicines() -> None:
    assert check([AZITHROMYCIN], allergies=[AllergyFacts("Penicillin")], others=[]) == []
    assert check([IBUPROFEN], allergies=[AllergyFacts("latex")], others=[]) == []


def test_synonyms_sulfa_and_nsaids() -> None:
    assert normalise_term("Sulfa drugs") == "sulfonamide"
    assert normalise_term(" NSAIDs allergy ") == "nsaid"
    assert codes(check([NAPROXEN], allergies=[AllergyFacts("NSAIDs")], others=[])) == [
        ("ALLERGY_CLASS", 0)
    ]


def test_duplicate_ingredient_and_class_within_and_across_prescriptions() -> None:
    found = check([AMOXICILLIN, CO_AMOXICLAV, IBUPROFEN, NAPROXEN], allergies=[], others=[])
    assert codes(found) == [("DUPLICATE_INGREDIENT", 1), ("DUPLICATE_CLASS", 3)]
    active = ItemFacts("ibuprofen 200 mg", ("ibuprofen",), ("nsaid",), source="RX-2026-00007")
    across = check([IBUPROFEN], allergies=[], others=[active])
    assert codes(across) == [("DUPLICATE_INGREDIENT", 0)]
    assert "RX-2026-00007" in across[0].message
    # Two antibacterials of different classes are not duplicates.
    assert check([AMOXICILLIN, AZITHROMYCIN], allergies=[], others=[]) == []


def test_classes_match_on_any_specific_class_not_on_broad_ones() -> None:
    diclofenac = ItemFacts("diclofenac", ("diclofenac",), ("acetic acid derivative", "nsaid"))
    propionic = ItemFacts("ibuprofen", ("ibuprofen",), ("propionic acid derivative", "nsaid"))
    assert codes(check([propionic, diclofenac], allergies=[], others=[])) == [
        ("DUPLICATE_CLASS", 1)
    ]
    allergy = AllergyFacts("ibuprofen", substance_classes=("propionic acid derivative", "nsaid"))
    assert codes(check([diclofenac], allergies=[allergy], others=[])) == [("ALLERGY_CLASS", 0)]
    sertraline = ItemFacts("sertraline", ("sertraline",), ("ssri", "antidepressant"))
    amitriptyline = ItemFacts(
        "amitriptyline", ("amitriptyline",), ("tricyclic antidepressant", "antidepressant")
    )
    assert check([sertraline, amitriptyline], allergies=[], others=[]) == []


def test_maximum_daily_dose() -> None:
    found = check([PARACETAMOL, IBUPROFEN], allergies=[], others=[])
    assert codes(found) == [("MAX_DAILY_DOSE", 0)]
    assert "6000 mg" in found[0].message and "4000 mg" in found[0].message


def test_keys_are_stable_for_the_same_problem() -> None:
    first = check([AMOXICILLIN], allergies=[AllergyFacts("penicillin")], others=[])
    again = check([AMOXICILLIN], allergies=[AllergyFacts("Penicillin ")], others=[])
    assert [w.key for w in first] == [w.key for w in again]
