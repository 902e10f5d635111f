"""Scribe evaluation: draft public doctor–patient dialogues and score the notes.

Why: the scribe's quality has to be measured on conversations nobody here wrote. Two public
sets are read in their published layouts — MTS-Dialog (one note section per short dialogue)
and ACI-BENCH (a full visit note per long dialogue) — drafted exactly as the app drafts a
transcript (``drafting.dialogue_segments`` → ``split_utterances`` → ``draft_report``), and
scored with:

* ROUGE-1/2/L F1 against the reference note (written out here: no new dependency; lower-case
  alphanumeric tokens, no stemming, so values run a little below ``rouge-score``'s stemmed
  ones);
* section completeness and support from ``drafting.scores``, the unsupported-sentence rate
  and seconds per note;
* with ``inject``: each drafted sentence gets one planted fact of every kind in
  ``fabrications.KINDS`` and is checked against its own evidence — recall is how many plants
  the verifier catches, precision weighs them against unaltered sentences it flags.

Run: ``python -m clinic_app.ai.evaluation --dataset PATH [--template soap] [--inject]
[--limit N]``. The drafting engine is whatever the settings choose (``get_drafter``).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from clinic_app.ai import drafting, fabrications, verifier
from clinic_app.ai.drafting import ReportDrafter, TemplateSection

SUPPORTED_SUFFIXES = (".csv", ".json")
_MTS_COLUMNS = {"section_header", "section_text", "dialogue"}
_ACI_COLUMNS = {"dialogue", "note"}
# ACI-BENCH speaker tags: [doctor], [patient], and guests such as [patient_guest].
_ACI_TAG = re.compile(r"\[(doctor|patient|nurse|guest[a-z_]*|[a-z]+_guest)\]", re.IGNORECASE)
_ROUGE_TOKEN = re.compile(r"[a-z0-9]+")


# ---------------------------------------------------------------------------------------------
# Datasets


@dataclass(frozen=True)
class EvalCase:
    """One dialogue and the note a clinician wrote for it. ``dialogue`` is always
    "Doctor: …" / "Patient: …" lines, whatever the source layout was."""

    id: str
    dialogue: str
    reference: str
    section_hint: str = ""  # MTS-Dialog's section_header; "" for a full note
    source: str = ""  # the file the case came from, so reports can group by dataset


def aci_dialogue(text: str) -> str:
    """ACI-BENCH ``[doctor] … [patient] …`` → one "Doctor: …" line per turn. Tags are split
    wherever they stand, since the ASR variants put a whole visit on one line."""
    parts = _ACI_TAG.split(text)
    lines: list[str] = []
    lead = " ".join(parts[0].split())
    if lead:
        lines.append(lead)
    for tag, turn in zip(parts[1::2], parts[2::2], strict=True):
        said = " ".join(turn.split())
        if said:
            lines.append(f"{_speaker(tag)}: {said}")
    return "\n".join(lines)


def _speaker(tag: str) -> str:
    tag = tag.lower()
    if tag in ("doctor", "patient"):
        return tag.title()
    return " ".join(tag.split("_")).title()  # patient_guest → "Patient Guest"


def _clean_dialogue(text: str) -> str:
    return "\n".join(line.strip() for line in text.replace("\r\n", "\n").split("\n"))


def _from_rows(rows: Iterable[dict[str, Any]], columns: set[str], path: Path) -> list[EvalCase]:
    """Cases from table-like rows once the layout is known from their columns."""
    cases: list[EvalCase] = []
    if columns >= _MTS_COLUMNS:
        for n, row in enumerate(rows):
            cases.append(
                EvalCase(
                    id=str(row.get("ID") or row.get("id") or n),
                    dialogue=_clean_dialogue(str(row["dialogue"])),
                    reference=str(row["section_text"]).strip(),
                    section_hint=str(row["section_header"]).strip(),
                    source=path.name,
                )
            )
        return cases
    if columns >= _ACI_COLUMNS:
        for n, row in enumerate(rows):
            dialogue = str(row["dialogue"])
            cases.append(
                EvalCase(
                    id=str(row.get("encounter_id") or row.get("id") or n),
                    dialogue=aci_dialogue(dialogue)
                    if _ACI_TAG.search(dialogue)
                    else _clean_dialogue(dialogue),
                    reference=str(row["note"]).strip(),
                    source=path.name,
                )
            )
        return cases
    raise ValueError(
        f"{path}: unknown dataset layout (columns {sorted(columns)}); expected MTS-Dialog "
        "(section_header, section_text, dialogue) or ACI-BENCH (dialogue, note)"
    )


def _load_csv(path: Path) -> list[EvalCase]:
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        rows = list(reader)
        columns = {c.strip() for c in reader.fieldnames or []}
    rows = [{(k or "").strip(): v for k, v in row.items()} for row in rows]
    return _from_rows(rows, columns, path)


def _load_json(path: Path) -> list[EvalCase]:
    data = json.loads(path.read_text(encoding="utf-8-sig"))
    if isinstance(data, dict) and isinstance(data.get("data"), list):
        # ACI-BENCH challenge_data_json: {"data": [{"src", "tgt", "file"}]}
        items = data["data"]
        if all(isinstance(i, dict) and {"src", "tgt"} <= set(i) for i in items):
            rows = [
                {"dialogue": i["src"], "note": i["tgt"], "id": i.get("file", n)}
                for n, i in enumerate(items)
            ]
            return _from_rows(rows, _ACI_COLUMNS, path)
    if isinstance(data, list) and data and all(isinstance(i, dict) for i in data):
        columns = set.intersection(*(set(i) for i in data))
        return _from_rows(data, columns, path)
    raise ValueError(
        f"{path}: unknown dataset layout; expected a JSON list of objects with "
        '"dialogue" and "note", or ACI-BENCH\'s {"data": [{"src", "tgt"}]}'
    )


def load_dataset(path: Path) -> list[EvalCase]:
    """Cases from one file, or from every .csv/.json file of a directory (sorted by name;
    ACI-BENCH's ``*_metadata.csv`` companions hold no dialogue and are passed over)."""
    path = Path(path)
    if path.is_dir():
        files = sorted(
            p
            for p in path.iterdir()
            if p.is_file()
            and p.suffix.lower() in SUPPORTED_SUFFIXES
            and not p.name.endswith("_metadata.csv")
        )
        if not files:
            raise ValueError(f"{path}: no .csv or .json dataset files in this directory")
        return [case for file in files for case in load_dataset(file)]
    if not path.is_file():
        raise ValueError(f"{path}: no such dataset file or directory")
    if path.suffix.lower() == ".csv":
        return _load_csv(path)
    if path.suffix.lower() == ".json":
        return _load_json(path)
    raise ValueError(f"{path}: unsupported file type (expected .csv or .json)")


def catalog_drug_names(path: Path | None = None) -> frozenset[str]:
    """Drug words from the shipped catalog CSV (generic names and ingredients), so the
    harness's verifier knows the same medicines as the app's without a database."""
    from clinic_app.services.medication_catalog import _NOT_DRUG_NAMES, STARTER_CSV

    words: set[str] = set()
    with (path or STARTER_CSV).open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            for name in (row.get("generic_name") or "", *(row.get("ingredients") or "").split("|")):
                words.update(w for w in re.findall(r"[a-z][a-z-]+", name.lower()) if len(w) > 3)
    return frozenset(words - _NOT_DRUG_NAMES)


# ---------------------------------------------------------------------------------------------
# ROUGE


def rouge_tokens(text: str) -> list[str]:
    """Lower-case alphanumeric runs: what ROUGE compares."""
    return _ROUGE_TOKEN.findall(text.lower())


def _f1(overlap: int, hyp_len: int, ref_len: int) -> float:
    if not overlap or not hyp_len or not ref_len:
        return 0.0
    precision, recall = overlap / hyp_len, overlap / ref_len
    return 2 * precision * recall / (precision + recall)


def rouge_n(reference: str, hypothesis: str, n: int) -> float:
    """ROUGE-N F1: shared n-grams, each counted at most as often as the other text has it."""
    ref, hyp = rouge_tokens(reference), rouge_tokens(hypothesis)
    ref_grams = Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1))
    hyp_grams = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
    overlap = sum((ref_grams & hyp_grams).values())
    return _f1(overlap, sum(hyp_grams.values()), sum(ref_grams.values()))


def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Longest common subsequence by dynamic programming, one row at a time."""
    if len(a) < len(b):
        a, b = b, a
    previous = [0] * (len(b) + 1)
    for x in a:
        current = [0]
        for j, y in enumerate(b):
            current.append(previous[j] + 1 if x == y else max(previous[j + 1], current[j]))
        previous = current
    return previous[-1]


def rouge_l(reference: str, hypothesis: str) -> float:
    """ROUGE-L F1: the longest in-order run of shared words, over the whole text."""
    ref, hyp = rouge_tokens(reference), rouge_tokens(hypothesis)
    return _f1(lcs_length(ref, hyp), len(hyp), len(ref))


# ---------------------------------------------------------------------------------------------
# Evaluation


class DrafterFactory(Protocol):
    """Builds a drafter for one case; ``drafters.get_drafter`` is one."""

    def __call__(
        self, *, drug_names: frozenset[str], sections: Sequence[TemplateSection]
    ) -> ReportDrafter: ...


@dataclass
class CaseResult:
    id: str
    source: str
    section_hint: str
    hypothesis: str
    rouge1: float
    rouge2: float
    rougeL: float
    completeness: float
    support: float
    unsupported_rate: float
    seconds: float
    sentences: int


@dataclass
class InjectionStats:
    """Planted-fact counts. ``planted_on_flagged`` plants went into sentences the verifier
    already flagged unaltered, so they are caught whatever the plant was."""

    planted: dict[str, int] = field(default_factory=dict)
    caught: dict[str, int] = field(default_factory=dict)
    unaltered: int = 0
    flagged_unaltered: int = 0
    planted_on_flagged: int = 0

    @property
    def total_planted(self) -> int:
        return sum(self.planted.values())

    @property
    def total_caught(self) -> int:
        return sum(self.caught.values())

    def recall_of(self, kind: str) -> float:
        planted = self.planted.get(kind, 0)
        return self.caught.get(kind, 0) / planted if planted else 0.0

    @property
    def recall(self) -> float:
        return self.total_caught / self.total_planted if self.total_planted else 0.0

    @property
    def precision(self) -> float:
        flagged = self.total_caught + self.flagged_unaltered
        return self.total_caught / flagged if flagged else 0.0


METRICS = (
    "rouge1",
    "rouge2",
    "rougeL",
    "completeness",
    "support",
    "unsupported_rate",
    "seconds",
)


@dataclass
class EvalReport:
    dataset: str
    engine: str
    template: str
    cases: list[CaseResult]
    injection: InjectionStats | None = None

    def averages(self, source: str | None = None) -> dict[str, float]:
        """Mean of every metric over all cases, or over one source file's."""
        rows = [c for c in self.cases if source is None or c.source == source]
        if not rows:
            return dict.fromkeys(METRICS, 0.0)
        return {m: sum(float(getattr(c, m)) for c in rows) / len(rows) for m in METRICS}

    @property
    def sources(self) -> list[str]:
        return list(dict.fromkeys(c.source for c in self.cases))


def soap_sections() -> list[TemplateSection]:
    from clinic_app.services.report_templates import BUILTINS, parse_sections

    return parse_sections(BUILTINS["soap"]["sections"])


def _inject(
    drafted: Sequence[drafting.DraftedSection],
    utterances: Sequence[drafting.Utterance],
    drug_names: frozenset[str],
    stats: InjectionStats,
) -> None:
    """Plant every kind of fact into every drafted sentence and check each against the
    evidence the unaltered sentence cites; check the unaltered sentence too."""
    by_id = {u.id: u for u in utterances}
    for sentence in (x for s in drafted for x in s.sentences):
        evidence = [by_id[i] for i in sentence.evidence if i in by_id]
        flagged = bool(verifier.check(sentence.text, evidence, drug_names=drug_names))
        stats.unaltered += 1
        stats.flagged_unaltered += int(flagged)
        for kind in fabrications.KINDS:
            altered = fabrications.plant(kind, sentence.text, drug_names=sorted(drug_names))
            if altered is None or altered == sentence.text:
                continue
            stats.planted[kind] = stats.planted.get(kind, 0) + 1
            stats.planted_on_flagged += int(flagged)
            if verifier.check(altered, evidence, drug_names=drug_names):
                stats.caught[kind] = stats.caught.get(kind, 0) + 1


def evaluate(
    cases: Sequence[EvalCase],
    *,
    drafter_factory: DrafterFactory | None = None,
    sections: Sequence[TemplateSection] | None = None,
    drug_names: frozenset[str] | None = None,
    inject: bool = False,
    template: str = "soap",
) -> EvalReport:
    """Draft each case with ``sections`` (default: the SOAP built-in) and score it. Defaults:
    the settings' drafter and the catalog's drug names. Seconds per note time the drafting
    only; the first note also pays for loading the embedding model."""
    if drafter_factory is None:
        from clinic_app.ai.drafters import get_drafter

        drafter_factory = get_drafter
    sections = list(sections) if sections is not None else soap_sections()
    names = catalog_drug_names() if drug_names is None else drug_names
    leaves = list(drafting.leaf_sections(sections))
    stats = InjectionStats(
        planted=dict.fromkeys(fabrications.KINDS, 0), caught=dict.fromkeys(fabrications.KINDS, 0)
    )
    results: list[CaseResult] = []
    engine = ""
    for case in cases:
        utterances = drafting.split_utterances(drafting.dialogue_segments(case.dialogue))
        drafter = drafter_factory(drug_names=names, sections=leaves)
        engine = engine or f"{drafter.name} ({drafter.model})"
        started = time.perf_counter()
        drafted = drafting.draft_report(sections, utterances, drafter, drug_names=names)
        seconds = time.perf_counter() - started
        sentences = [x for s in drafted for x in s.sentences]
        hypothesis = "\n".join(x.text for x in sentences)
        score = drafting.scores(drafted)
        unsupported = sum(1 for x in sentences if x.status != "supported")
        results.append(
            CaseResult(
                id=case.id,
                source=case.source,
                section_hint=case.section_hint,
                hypothesis=hypothesis,
                rouge1=rouge_n(case.reference, hypothesis, 1),
                rouge2=rouge_n(case.reference, hypothesis, 2),
                rougeL=rouge_l(case.reference, hypothesis),
                completeness=score["completeness"],
                support=score["support"],
                unsupported_rate=unsupported / len(sentences) if sentences else 0.0,
                seconds=seconds,
                sentences=len(sentences),
            )
        )
        if inject:
            _inject(drafted, utterances, names, stats)
    sources = list(dict.fromkeys(c.source for c in cases))
    return EvalReport(
        dataset=", ".join(sources) or "(none)",
        engine=engine or "(no cases drafted)",
        template=template,
        cases=results,
        injection=stats if inject else None,
    )


# ---------------------------------------------------------------------------------------------
# Report


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        first = f"{cells[0]:<{widths[0]}}"
        return "  ".join(
            [first, *(f"{c:>{w}}" for c, w in zip(cells[1:], widths[1:], strict=True))]
        )

    return [line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)]


def format_report(report: EvalReport) -> str:
    """A plain-text table for the terminal: one row per dataset file (and "all" when there
    are several), then the planted-fact recall and precision when injection ran."""
    header = ["dataset", "cases", "ROUGE-1", "ROUGE-2", "ROUGE-L", "completeness", "support",
              "unsupported rate", "s/note"]  # fmt: skip
    groups: list[tuple[str, str | None]] = [(s or "(unnamed)", s) for s in report.sources]
    if len(groups) > 1:
        groups.append(("all", None))
    rows = []
    for label, source in groups:
        avg = report.averages(source)
        count = sum(1 for c in report.cases if source is None or c.source == source)
        rows.append(
            [label, str(count)]
            + [f"{avg[m]:.3f}" for m in METRICS[:-1]]
            + [f"{avg['seconds']:.2f}"]
        )
    lines = [
        f"Scribe evaluation — engine: {report.engine}; template: {report.template}",
        *_table(header, rows),
    ]
    stats = report.injection
    if stats is not None:
        kind_rows = [
            [kind, str(stats.planted.get(kind, 0)), str(stats.caught.get(kind, 0)),
             f"{stats.recall_of(kind):.3f}"]
            for kind in fabrications.KINDS
        ]  # fmt: skip
        kind_rows.append(
            ["overall", str(stats.total_planted), str(stats.total_caught), f"{stats.recall:.3f}"]
        )
        lines += [
            "",
            "Planted facts (verifier recall per kind)",
            *_table(["kind", "planted", "caught", "recall"], kind_rows),
            "",
            f"overall recall: {stats.recall:.3f}",
            f"precision: {stats.precision:.3f} (unaltered sentences flagged: "
            f"{stats.flagged_unaltered} of {stats.unaltered}; plants into already-flagged "
            f"sentences: {stats.planted_on_flagged})",
        ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m clinic_app.ai.evaluation --dataset PATH [--template soap] [--inject]
    [--limit N]``; prints the table, returns the exit status."""
    from clinic_app.services.report_templates import BUILTINS, parse_sections

    parser = argparse.ArgumentParser(
        prog="python -m clinic_app.ai.evaluation",
        description="Draft public doctor-patient dialogues with the scribe and score the notes.",
    )
    parser.add_argument(
        "--dataset",
        required=True,
        type=Path,
        help="an MTS-Dialog / ACI-BENCH CSV or JSON file, or a directory of them",
    )
    parser.add_argument(
        "--template",
        default="soap",
        choices=sorted(BUILTINS),
        help="built-in template to draft (default: soap)",
    )
    parser.add_argument(
        "--inject",
        action="store_true",
        help="plant facts in every drafted sentence and measure the verifier",
    )
    parser.add_argument(
        "--limit", type=int, default=None, help="at most N cases from each dataset file"
    )
    args = parser.parse_args(argv)
    # Shared CPUs: one BLAS thread (must be set before numpy loads; see ai.embeddings).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    try:
        cases = load_dataset(args.dataset)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.limit is not None:
        taken: Counter[str] = Counter()
        kept = []
        for case in cases:
            if taken[case.source] < args.limit:
                taken[case.source] += 1
                kept.append(case)
        cases = kept
    sections = parse_sections(BUILTINS[args.template]["sections"])
    report = evaluate(cases, sections=sections, inject=args.inject, template=args.template)
    print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
