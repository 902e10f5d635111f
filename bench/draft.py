"""Report drafting: time per 15-minute consultation, verifier recall/precision, DOCX cost.

* Draft time: real ACI-BENCH dialogues from the sample (``tests/data/scribe_eval``) joined to
  about 2,000 words (a 15-minute consultation), drafted with the default local engine and the
  general-consultation template on this machine's CPUs. Goal ≤ 20 s.
* Verifier: every drafted sentence of the sample gets each planted fact (wrong dose, new drug,
  flipped negation, wrong side); recall = caught / planted, precision = caught / all flagged.
  Goal recall ≥ 0.95 at precision ≥ 0.8.
* DOCX: ``render_docx`` against a bare python-docx document of the same words
  (``render_bare_docx``), median of 20 each. Goal ≤ 1.5×.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

DATA = Path(__file__).resolve().parent.parent / "tests" / "data" / "scribe_eval"
WORDS = 2000


def _long_dialogue() -> str:
    from clinic_app.ai import evaluation

    cases = evaluation.load_dataset(DATA / "aci_bench_sample.csv")
    lines: list[str] = []
    for case in sorted(cases, key=lambda c: -len(c.dialogue)):
        for line in case.dialogue.splitlines():
            lines.append(line)
            if sum(len(x.split()) for x in lines) >= WORDS:
                return "\n".join(lines)
    return "\n".join(lines)


def main() -> int:
    from clinic_app.ai import drafting, evaluation
    from clinic_app.ai.local_drafter import LocalDrafter
    from clinic_app.services import report_documents as documents
    from clinic_app.services.report_templates import BUILTINS, parse_sections

    names = evaluation.catalog_drug_names()
    dialogue = _long_dialogue()
    sections = parse_sections(BUILTINS["general"]["sections"])
    leaves = list(drafting.leaf_sections(sections))
    # Warm the embedding model once: a worker keeps it loaded between jobs.
    LocalDrafter(drug_names=names, siblings=leaves)._assign(
        drafting.split_utterances(drafting.dialogue_segments("Patient: I feel fine today.")), leaves
    )
    started = time.perf_counter()
    utterances = drafting.split_utterances(drafting.dialogue_segments(dialogue))
    drafted = drafting.draft_report(
        sections, utterances, LocalDrafter(drug_names=names, siblings=leaves), drug_names=names
    )
    draft_s = time.perf_counter() - started
    sentences = sum(len(s.sentences) for s in drafted)
    print("draft: local engine, general consultation template")
    print(
        f"  {len(dialogue.split()):,} words, {len(utterances)} utterances → {sentences} sentences"
        f" in {draft_s:.2f} s (goal ≤ 20 s: {draft_s / 20:.2f} of the budget)"
    )

    report = evaluation.evaluate(evaluation.load_dataset(DATA), inject=True, drug_names=names)
    stats = report.injection
    assert stats is not None
    print(
        f"  verifier on {len(report.cases)} sample notes: recall {stats.recall:.3f}"
        f" (goal ≥ 0.95), precision {stats.precision:.3f} (goal ≥ 0.8),"
        f" {stats.total_planted} facts planted"
    )

    document = documents.ReportDocument(
        clinic_name="Demo Clinic", clinic_address="1 Main Street", clinic_phone="+1 555 0100",
        title="Consultation note — General consultation", report_number="SESS-2026000001 v1",
        patient_name="Maria Lopez", patient_mrn="PAT-2026-00001", patient_dob="1980-04-02",
        visit_line="1 Dec 2026 09:30 · Dr Ana Silva", status="signed",
        sections=[
            documents.ReportSection(s.title, s.type, [x.text for x in s.sentences] or ["—"])
            for s in drafted
        ],
        signed_by="Dr Ana Silva (MED-2011-48213)", signed_at="1 Dec 2026 10:02",
        content_sha256="0" * 64, template_line="Template: General consultation v1",
    )  # fmt: skip

    def median_ms(render: object) -> float:
        times = []
        for _ in range(20):
            t = time.perf_counter()
            render(document)  # type: ignore[operator]
            times.append((time.perf_counter() - t) * 1000)
        return statistics.median(times)

    documents.render_docx(document)  # first render builds the base document once
    full, bare = median_ms(documents.render_docx), median_ms(documents.render_bare_docx)
    print(
        f"  DOCX export {full:.1f} ms vs bare python-docx {bare:.1f} ms:"
        f" {full / bare:.2f}× (goal ≤ 1.5×)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
