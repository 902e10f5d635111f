"""The scribe evaluation harness: ROUGE on hand-checked examples, the public sample files in
their published layouts, and the planted-fact counts on both a scripted and the real drafter."""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Sequence
from pathlib import Path

import pytest

from clinic_app.ai import drafting, evaluation, fabrications
from clinic_app.ai.drafting import DraftSentence, SectionRequest, TemplateSection
from clinic_app.ai.local_drafter import LocalDrafter

DATA = Path(__file__).resolve().parent.parent / "data" / "scribe_eval"
MTS = DATA / "mts_dialog_sample.csv"
ACI = DATA / "aci_bench_sample.csv"


# --- ROUGE ------------------------------------------------------------------------------------


def test_identical_texts_score_one_and_disjoint_or_empty_texts_zero() -> None:
    text = "Takes lisinopril 10 mg every day. Denies fever."
    assert evaluation.rouge_n(text, text, 1) == 1.0
    assert evaluation.rouge_n(text, text, 2) == 1.0
    assert evaluation.rouge_l(text, text) == 1.0
    assert evaluation.rouge_n("left knee pain", "cough for two weeks", 1) == 0.0
    assert evaluation.rouge_l("left knee pain", "") == 0.0
    assert evaluation.rouge_n("", "left knee pain", 2) == 0.0


def test_rouge_one_word_changed() -> None:
    # ref:  the cat sat on the mat   hyp: the cat lay on the mat  (6 tokens each)
    # unigrams shared: the×2, cat, on, mat = 5 → P = R = 5/6
    # bigrams: ref {the cat, cat sat, sat on, on the, the mat}; shared: the cat, on the,
    # the mat = 3 of 5 each → 0.6;  LCS "the cat on the mat" = 5 → 5/6
    ref, hyp = "The cat sat on the mat.", "the cat LAY on the mat"
    assert evaluation.rouge_n(ref, hyp, 1) == pytest.approx(5 / 6)
    assert evaluation.rouge_n(ref, hyp, 2) == pytest.approx(0.6)
    assert evaluation.rouge_l(ref, hyp) == pytest.approx(5 / 6)


def test_rouge_unequal_lengths_and_word_order() -> None:
    # ref a b c d, hyp a c: unigrams P = 2/2, R = 2/4 → F1 = 2/3; no shared bigram;
    # LCS "a c" = 2 → 2/3
    assert evaluation.rouge_n("a b c d", "a c", 1) == pytest.approx(2 / 3)
    assert evaluation.rouge_n("a b c d", "a c", 2) == 0.0
    assert evaluation.rouge_l("a b c d", "a c") == pytest.approx(2 / 3)
    # Same words reversed: every unigram shared, but the longest in-order run is one word.
    assert evaluation.rouge_n("a b c d e", "e d c b a", 1) == 1.0
    assert evaluation.rouge_l("a b c d e", "e d c b a") == pytest.approx(0.2)
    # Clipped counts: "the the the" shares one "the" with "the cat" → P 1/3, R 1/2 → 0.4
    assert evaluation.rouge_n("the cat", "the the the", 1) == pytest.approx(0.4)


def test_lcs_by_dynamic_programming() -> None:
    assert evaluation.lcs_length(list("ABCBDAB"), list("BDCABA")) == 4
    assert evaluation.lcs_length([], ["a"]) == 0


# --- Datasets ---------------------------------------------------------------------------------


def test_mts_dialog_sample_loads_in_its_published_layout() -> None:
    cases = evaluation.load_dataset(MTS)
    assert len(cases) == 20
    assert [c.id for c in cases[:3]] == ["0", "1", "2"]
    assert cases[0].section_hint == "GENHX"
    assert cases[0].reference.startswith("The patient is a 26-year-old female")
    for case in cases:
        assert case.dialogue.strip() and case.reference.strip()
        assert case.source == "mts_dialog_sample.csv"
        speakers = {s["speaker"] for s in drafting.dialogue_segments(case.dialogue)}
        assert "Doctor" in speakers


def test_aci_bench_sample_tags_become_doctor_and_patient_lines() -> None:
    with ACI.open(newline="", encoding="utf-8") as handle:
        raw = {r["encounter_id"]: r["dialogue"] for r in csv.DictReader(handle)}
    cases = evaluation.load_dataset(ACI)
    assert [c.id for c in cases] == ["D2N068", "D2N069", "D2N076", "D2N078", "D2N079"]
    for case in cases:
        assert case.dialogue.strip() and case.reference.strip()
        assert "[doctor]" not in case.dialogue and "[patient" not in case.dialogue
        lines = case.dialogue.splitlines()
        assert all(re.match(r"^(Doctor|Patient|Patient Guest): \S", line) for line in lines)
        segments = drafting.dialogue_segments(case.dialogue)
        assert len(segments) == len(re.findall(r"\[[a-z_]+\]", raw[case.id]))
    first = drafting.dialogue_segments(cases[0].dialogue)
    assert first[0] == {"id": 0, "text": "hi , brian . how are you ?", "speaker": "Doctor"}
    assert first[1]["speaker"] == "Patient"
    guest = drafting.split_utterances(drafting.dialogue_segments(cases[2].dialogue))
    assert {u.role for u in guest} == {"doctor", "patient"}


def test_several_aci_turns_on_one_line_are_split() -> None:
    one_line = "[doctor] how is the knee ? [patient] it hurts .  [doctor] okay .\n"
    assert evaluation.aci_dialogue(one_line) == (
        "Doctor: how is the knee ?\nPatient: it hurts .\nDoctor: okay ."
    )


def test_json_layouts_and_directories_load(tmp_path: Path) -> None:
    (tmp_path / "aci.json").write_text(
        json.dumps(
            {
                "data": [
                    {
                        "src": "[doctor] hi .\n[patient] hello .",
                        "tgt": "Note.",
                        "file": "D2N001-aci",
                    }
                ]
            }
        ),  # fmt: skip
        encoding="utf-8",
    )
    (tmp_path / "plain.json").write_text(
        json.dumps([{"dialogue": "Doctor: Any fever?\nPatient: No.", "note": "Denies fever."}]),
        encoding="utf-8",
    )
    (tmp_path / "valid_metadata.csv").write_text("dataset,encounter_id,id\naci,D2N001,X\n")
    (tmp_path / "README.md").write_text("not data")
    cases = evaluation.load_dataset(tmp_path)
    assert [(c.id, c.dialogue, c.reference) for c in cases] == [
        ("D2N001-aci", "Doctor: hi .\nPatient: hello .", "Note."),
        ("0", "Doctor: Any fever?\nPatient: No.", "Denies fever."),
    ]
    assert len(evaluation.load_dataset(DATA)) == 25


def test_unknown_layouts_raise_naming_the_file(tmp_path: Path) -> None:
    odd = tmp_path / "odd.csv"
    odd.write_text("question,answer\nwhy,because\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"odd\.csv.*unknown dataset layout"):
        evaluation.load_dataset(odd)
    bad_json = tmp_path / "odd.json"
    bad_json.write_text(json.dumps({"rows": []}), encoding="utf-8")
    with pytest.raises(ValueError, match=r"odd\.json"):
        evaluation.load_dataset(bad_json)
    with pytest.raises(ValueError, match=r"odd\.csv"):
        evaluation.load_dataset(tmp_path)
    assert evaluation.main(["--dataset", str(odd)]) == 2


def test_catalog_drug_names_come_from_the_shipped_csv() -> None:
    names = evaluation.catalog_drug_names()
    assert {"amoxicillin", "lisinopril", "ibuprofen", "clavulanate"} <= names
    assert not {w for w in names if len(w) <= 3 or w != w.lower() or " " in w}
    assert "sodium" not in names


# --- Evaluation -------------------------------------------------------------------------------


class EchoDrafter:
    """Writes every utterance back as a sentence citing itself (or nothing)."""

    name = "echo"
    model = "echo"
    prompt_version = "test"

    def __init__(self, cite: bool = True) -> None:
        self.cite = cite

    def draft_section(self, request: SectionRequest) -> list[DraftSentence]:
        return [DraftSentence(u.text, [u.id] if self.cite else []) for u in request.utterances]


ONE_SECTION = [TemplateSection("note", "Note", required=True)]
CASE = evaluation.EvalCase(
    id="x",
    dialogue="Doctor: Take ibuprofen 400 mg for the left knee.\nPatient: I do not have a fever.",
    reference="Take ibuprofen 400 mg for the left knee. I do not have a fever.",
    source="hand.csv",
)
DRUGS = frozenset({"ibuprofen", "warfarin", "methotrexate"})


def _echo(cite: bool) -> evaluation.DrafterFactory:
    def factory(
        *, drug_names: frozenset[str], sections: Sequence[TemplateSection]
    ) -> drafting.ReportDrafter:
        return EchoDrafter(cite)

    return factory


def test_scripted_drafter_counts_planted_facts_by_hand() -> None:
    # Sentence 1 takes a wrong dose (400 → 800), a new drug (ibuprofen → warfarin), a flipped
    # negation ("No take …") and the wrong side (left → right); sentence 2 (no number, side
    # or body part) takes only a new drug and a flipped negation: 6 plants, all caught.
    report = evaluation.evaluate(
        [CASE], drafter_factory=_echo(True), sections=ONE_SECTION, drug_names=DRUGS, inject=True
    )
    (result,) = report.cases
    assert result.rouge1 == result.rouge2 == result.rougeL == 1.0
    assert (result.completeness, result.support, result.unsupported_rate) == (1.0, 1.0, 0.0)
    stats = report.injection
    assert stats is not None
    assert stats.planted == {"wrong_dose": 1, "new_drug": 2, "flipped_negation": 2,
                             "wrong_side": 1}  # fmt: skip
    assert stats.caught == stats.planted
    assert (stats.unaltered, stats.flagged_unaltered) == (2, 0)
    assert (stats.recall, stats.precision) == (1.0, 1.0)


def test_flagged_unaltered_sentences_lower_precision() -> None:
    # No evidence cited: both unaltered sentences are flagged → precision 6 / (6 + 2).
    report = evaluation.evaluate(
        [CASE], drafter_factory=_echo(False), sections=ONE_SECTION, drug_names=DRUGS, inject=True
    )
    stats = report.injection
    assert stats is not None
    assert (stats.total_planted, stats.total_caught, stats.flagged_unaltered) == (6, 6, 2)
    assert stats.planted_on_flagged == 6
    assert stats.precision == pytest.approx(0.75)
    assert report.cases[0].unsupported_rate == 1.0 and report.cases[0].support == 0.0


def _local(
    *, drug_names: frozenset[str], sections: Sequence[TemplateSection]
) -> drafting.ReportDrafter:
    return LocalDrafter(drug_names=drug_names, siblings=sections)


def test_local_drafter_on_three_sample_cases_with_planted_facts() -> None:
    cases = [c for c in evaluation.load_dataset(ACI) if c.id in ("D2N068", "D2N069", "D2N078")]
    report = evaluation.evaluate(
        cases, drafter_factory=_local, drug_names=evaluation.catalog_drug_names(), inject=True
    )
    assert len(report.cases) == 3
    assert report.engine.startswith("local")
    for result in report.cases:
        assert result.sentences > 0 and result.hypothesis
        for value in (result.rouge1, result.rouge2, result.rougeL, result.unsupported_rate):
            assert 0.0 <= value <= 1.0
        assert 0.0 < result.rouge1 < 1.0
        assert result.seconds > 0
    stats = report.injection
    assert stats is not None
    assert sum(1 for k in fabrications.KINDS if stats.planted[k] > 0) >= 3
    assert stats.total_planted > 0 and stats.unaltered == sum(r.sentences for r in report.cases)
    assert all(stats.caught[k] <= stats.planted[k] for k in fabrications.KINDS)
    assert 0.0 < stats.recall <= 1.0
    assert 0.0 < stats.precision <= 1.0

    text = evaluation.format_report(report)
    for name in ("aci_bench_sample.csv", "ROUGE-1", "ROUGE-2", "ROUGE-L", "completeness",
                 "support", "unsupported rate", "s/note", "engine: local", "overall recall",
                 "precision", *fabrications.KINDS):  # fmt: skip
        assert name in text, name


def test_report_without_injection_has_no_recall_table() -> None:
    report = evaluation.evaluate([CASE], drafter_factory=_echo(True), sections=ONE_SECTION)
    text = evaluation.format_report(report)
    assert "ROUGE-L" in text and "hand.csv" in text
    assert "recall" not in text


def test_main_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert evaluation.main(["--dataset", str(MTS), "--limit", "2", "--inject"]) == 0
    out = capsys.readouterr().out
    assert "mts_dialog_sample.csv      2" in out
    assert "ROUGE-1" in out and "overall recall" in out


def test_clinic_eval_scribe_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    from clinic_app.cli import main as clinic

    data = Path(__file__).resolve().parent.parent / "data" / "scribe_eval"
    assert clinic(["eval", "scribe", "--dataset", str(data), "--limit", "1", "--inject"]) == 0
    out = capsys.readouterr().out
    assert "ROUGE-1" in out and "aci_bench_sample.csv" in out and "overall recall" in out
