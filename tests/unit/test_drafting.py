"""Drafting a known transcript: the sections a template asks for, each sentence with its
evidence; the verifier catching each kind of planted fact; utterances and speaker roles."""

from __future__ import annotations

import pytest

from clinic_app.ai import drafting, fabrications, verifier
from clinic_app.ai.local_drafter import LocalDrafter
from clinic_app.services.report_templates import BUILTINS, parse_sections

DRUGS = frozenset(
    {"lisinopril", "atorvastatin", "metformin", "sitagliptin", "penicillin", "amoxicillin",
     "azithromycin", "ibuprofen", "warfarin", "methotrexate", "digoxin"}
)  # fmt: skip
DIALOGUE = """Doctor: Good morning. What brings you in today?
Patient: I have had a cough for two weeks and I take lisinopril 10 milligrams every day.
Doctor: Any fever? Do you still take atorvastatin 20 milligrams at night?
Patient: No fever. Yes, I take atorvastatin every night.
Patient: I am allergic to penicillin. I get a rash.
Patient: My left knee hurts when I climb stairs.
Doctor: Your blood pressure is 150 over 90 today. The lungs sound clear.
Doctor: This is acute bronchitis.
Doctor: I will prescribe azithromycin 500 milligrams once a day for three days.
Doctor: Then no amoxicillin. We will order a chest x-ray.
Doctor: Come back in two weeks."""


def _draft(template: str = "soap") -> list[drafting.DraftedSection]:
    utterances = drafting.split_utterances(drafting.dialogue_segments(DIALOGUE))
    sections = parse_sections(BUILTINS[template]["sections"])
    drafter = LocalDrafter(drug_names=DRUGS, siblings=list(drafting.leaf_sections(sections)))
    return drafting.draft_report(sections, utterances, drafter, drug_names=DRUGS)


def _texts(section: drafting.DraftedSection) -> list[str]:
    return [s.text for s in section.sentences]


def test_a_known_transcript_drafts_the_soap_sections_with_evidence() -> None:
    drafted = {s.id: s for s in _draft()}
    assert list(drafted) == ["subjective", "objective", "assessment", "plan"]
    assert _texts(drafted["subjective"]) == [
        "Cough for two weeks.",
        "Denies fever.",
        "Left knee pain.",
        "Takes lisinopril 10 mg every day.",
        "Takes atorvastatin 20 mg at night.",
        "Allergy to penicillin (rash).",
    ]
    assert "Blood pressure 150/90." in _texts(drafted["objective"])
    assert _texts(drafted["assessment"]) == ["Acute bronchitis."]
    assert _texts(drafted["plan"]) == [
        "Start azithromycin 500 mg once a day.",
        "No amoxicillin.",
        "Order chest x-ray.",
        "Follow up in two weeks.",
    ]
    for section in drafted.values():
        for sentence in section.sentences:
            assert sentence.evidence, sentence
            assert sentence.status == "supported", (sentence.text, sentence.reasons)
    assert drafting.scores(list(drafted.values())) == {"completeness": 1.0, "support": 1.0}


def test_a_required_section_nothing_supports_is_marked_missing_not_invented() -> None:
    utterances = drafting.split_utterances(
        drafting.dialogue_segments("Doctor: Hello.\nPatient: I have a headache since yesterday.")
    )
    sections = parse_sections(BUILTINS["soap"]["sections"])
    drafted = drafting.draft_report(sections, utterances, LocalDrafter(siblings=sections))
    by_id = {s.id: s for s in drafted}
    assert _texts(by_id["subjective"]) == ["Headache since yesterday."]
    assert by_id["assessment"].missing and by_id["plan"].missing
    assert drafting.scores(drafted)["completeness"] == pytest.approx(1 / 3, abs=0.01)


@pytest.mark.parametrize("kind", fabrications.KINDS)
def test_the_verifier_catches_each_planted_fact(kind: str) -> None:
    utterances = drafting.split_utterances(drafting.dialogue_segments(DIALOGUE))
    by_id = {u.id: u for u in utterances}
    planted = 0
    for section in _draft():
        for sentence in section.sentences:
            fake = fabrications.plant(kind, sentence.text, drug_names=DRUGS)
            if fake is None or fake == sentence.text:
                continue
            evidence = [by_id[i] for i in sentence.evidence]
            assert verifier.check(fake, evidence, drug_names=DRUGS), (kind, fake)
            planted += 1
    assert planted >= 3


def test_verifier_reasons_name_what_is_missing() -> None:
    evidence = drafting.split_utterances(
        drafting.dialogue_segments(
            "Doctor: Any chest pain?\nPatient: No.\n"
            "Patient: I take metformin five hundred milligrams twice a day."
        )
    )
    assert verifier.check("Denies chest pain.", evidence[:2]) == []
    assert (
        verifier.check("Takes metformin 500 mg twice a day.", evidence[2:], drug_names=DRUGS) == []
    )
    assert verifier.check("Takes metformin 850 mg.", evidence[2:], drug_names=DRUGS) == [
        "the number 850 is not in the evidence"
    ]
    assert verifier.check("Reports chest pain.", evidence[:2]) == [
        "'chest' is affirmed here but not in the evidence",
        "'pain' is affirmed here but not in the evidence",
    ]
    assert verifier.check("Takes warfarin.", evidence[2:], drug_names=DRUGS) == [
        "the drug 'warfarin' is not in the evidence"
    ]
    assert verifier.check("Right knee pain.", []) == ["no evidence cited"]


def test_utterances_keep_their_span_in_the_segment_and_roles_follow_questions() -> None:
    segments = [
        {"id": 0, "text": "How are you? Any pain?", "speaker": "A"},
        {"id": 1, "text": "Fine. No pain at all.", "speaker": "B"},
    ]
    utterances = drafting.split_utterances(segments)
    assert [(u.segment, u.text, u.role) for u in utterances] == [
        (0, "How are you?", "doctor"), (0, "Any pain?", "doctor"),
        (1, "Fine.", "patient"), (1, "No pain at all.", "patient"),
    ]  # fmt: skip
    last = utterances[-1]
    assert segments[1]["text"][last.start : last.end] == "No pain at all."
    renamed = [{"id": 0, "text": "Hello.", "speaker": "Patient"},
               {"id": 1, "text": "What is wrong?", "speaker": "Dr Silva"}]  # fmt: skip
    assert drafting.infer_roles(renamed) == {"Patient": "patient", "Dr Silva": "doctor"}
