"""Report drafting: the shapes every drafter shares, and the loop that drafts a template.

A transcript becomes *utterances* (one sentence of one speaker, with its character span in
the transcript segment). A drafter writes each template section as sentences that cite the
utterance ids they rest on; the verifier (``clinic_app.ai.verifier``) then checks every
sentence against its evidence, whichever engine wrote it. Missing required sections are
marked, never invented.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from clinic_app.ai import verifier

SECTION_TYPES = ("text", "structured", "list")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+")


@dataclass(frozen=True)
class TemplateSection:
    id: str
    title: str
    required: bool = False
    type: str = "text"
    prompt: str = ""
    subsections: tuple[TemplateSection, ...] = ()

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TemplateSection:
        return cls(
            id=str(data["id"]),
            title=str(data["title"]),
            required=bool(data.get("required", False)),
            type=str(data.get("type", "text")),
            prompt=str(data.get("prompt", "")),
            subsections=tuple(cls.from_json(s) for s in data.get("subsections") or []),
        )


def leaf_sections(
    sections: Sequence[TemplateSection], parent: str = ""
) -> Iterator[TemplateSection]:
    """Sections that hold text: a section with subsections is only their heading. A leaf's
    title carries its parent's ("Objective › Vitals") so the draft reads on its own."""
    for section in sections:
        title = f"{parent} › {section.title}" if parent else section.title
        if section.subsections:
            yield from leaf_sections(section.subsections, title)
        else:
            yield TemplateSection(
                id=section.id, title=title, required=section.required, type=section.type,
                prompt=section.prompt,
            )  # fmt: skip


@dataclass(frozen=True)
class Utterance:
    id: int
    segment: int  # transcript segment id
    start: int  # character span inside the segment's text
    end: int
    speaker: str  # the transcript's label ("A", "Dr Silva" …)
    role: str  # doctor | patient | unknown
    text: str
    start_ms: int = 0
    end_ms: int = 0


def infer_roles(segments: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Speaker label → doctor/patient. A label the doctor renamed says so itself; otherwise the
    speaker asking more questions is the doctor (ties: whoever spoke first, as a greeting is)."""
    labels: list[str] = []
    questions: dict[str, int] = {}
    for seg in segments:
        label = str(seg.get("speaker") or "A")
        if label not in labels:
            labels.append(label)
        questions[label] = questions.get(label, 0) + str(seg.get("text", "")).count("?")
    roles: dict[str, str] = {}
    for label in labels:
        lowered = label.lower()
        if any(w in lowered for w in ("doctor", "dr", "physician", "nurse", "clinician")):
            roles[label] = "doctor"
        elif any(w in lowered for w in ("patient", "client", "mother", "father", "parent")):
            roles[label] = "patient"
    unnamed = [label for label in labels if label not in roles]
    if unnamed and "doctor" not in roles.values():
        doctor = max(unnamed, key=lambda lab: (questions[lab], -labels.index(lab)))
        roles[doctor] = "doctor"
    for label in unnamed:
        roles.setdefault(label, "patient" if len(labels) > 1 else "unknown")
    return roles


def split_utterances(segments: Sequence[dict[str, Any]]) -> list[Utterance]:
    """Transcript segments (``id``, ``text``, ``speaker``, times) → one utterance per sentence."""
    roles = infer_roles(segments)
    utterances: list[Utterance] = []
    for seg in segments:
        text = str(seg.get("text") or "")
        speaker = str(seg.get("speaker") or "A")
        at = 0
        for piece in _SENTENCE_END.split(text):
            start = text.find(piece, at)
            at = start + len(piece)
            if not piece.strip():
                continue
            utterances.append(
                Utterance(
                    id=len(utterances),
                    segment=int(seg.get("id", 0)),
                    start=start,
                    end=start + len(piece),
                    speaker=speaker,
                    role=roles.get(speaker, "unknown"),
                    text=piece.strip(),
                    start_ms=int(seg.get("start_ms", 0)),
                    end_ms=int(seg.get("end_ms", 0)),
                )
            )
    return utterances


def dialogue_segments(dialogue: str) -> list[dict[str, Any]]:
    """A written dialogue ("Doctor: …" / "Patient: …" lines, as in MTS-Dialog and ACI-BENCH)
    as transcript segments, so the evaluation drafts exactly what the app drafts."""
    segments: list[dict[str, Any]] = []
    speaker = "Doctor"
    for line in dialogue.splitlines():
        line = line.strip()
        if not line:
            continue
        match = re.match(r"^\[?([A-Za-z_ ]{1,20})\]?\s*:\s*(.*)$", line)
        if match:
            raw = match.group(1).strip().lower()
            speaker = (
                "Doctor"
                if raw in ("doctor", "dr", "physician", "clinician")
                else ("Patient" if raw in ("patient", "pt") else match.group(1).strip().title())
            )
            line = match.group(2)
        if line:
            segments.append({"id": len(segments), "text": line, "speaker": speaker})
    return segments


@dataclass
class DraftSentence:
    text: str
    evidence: list[int]  # utterance ids
    status: str = "supported"  # supported | unsupported (set by the verifier)
    reasons: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SectionRequest:
    section: TemplateSection
    template_prompt: str
    utterances: Sequence[Utterance]
    language: str = "en"


class ReportDrafter(Protocol):
    name: str
    model: str
    prompt_version: str

    def draft_section(self, request: SectionRequest) -> list[DraftSentence]: ...


@dataclass
class DraftedSection:
    id: str
    title: str
    type: str
    required: bool
    sentences: list[DraftSentence]

    @property
    def missing(self) -> bool:
        return self.required and not self.sentences


def verify_sentences(
    sentences: list[DraftSentence],
    utterances: Sequence[Utterance],
    *,
    drug_names: frozenset[str],
) -> list[DraftSentence]:
    """Every sentence checked against its own evidence; unknown utterance ids are no evidence."""
    by_id = {u.id: u for u in utterances}
    for sentence in sentences:
        sentence.evidence = [i for i in dict.fromkeys(sentence.evidence) if i in by_id]
        evidence = [by_id[i] for i in sentence.evidence]
        reasons = verifier.check(sentence.text, evidence, drug_names=drug_names)
        sentence.status = "unsupported" if reasons else "supported"
        sentence.reasons = reasons
    return sentences


def draft_report(
    sections: Sequence[TemplateSection],
    utterances: Sequence[Utterance],
    drafter: ReportDrafter,
    *,
    template_prompt: str = "",
    drug_names: frozenset[str] = frozenset(),
    language: str = "en",
    progress: Callable[[int, int, TemplateSection], None] | None = None,
) -> list[DraftedSection]:
    """Draft every leaf section, verify it, and report progress after each."""
    leaves = list(leaf_sections(sections))
    drafted = []
    for n, section in enumerate(leaves):
        request = SectionRequest(section, template_prompt, utterances, language)
        sentences = verify_sentences(
            drafter.draft_section(request), utterances, drug_names=drug_names
        )
        drafted.append(
            DraftedSection(section.id, section.title, section.type, section.required, sentences)
        )
        if progress is not None:
            progress(n + 1, len(leaves), section)
    return drafted


def scores(drafted: Sequence[DraftedSection]) -> dict[str, float]:
    """completeness: share of required sections filled; support: share of sentences with
    evidence that the verifier accepted."""
    required = [s for s in drafted if s.required]
    sentences = [x for s in drafted for x in s.sentences]
    completeness = sum(1 for s in required if s.sentences) / len(required) if required else 1.0
    support = (
        sum(1 for x in sentences if x.evidence and x.status == "supported") / len(sentences)
        if sentences
        else 0.0
    )
    return {"completeness": round(completeness, 3), "support": round(support, 3)}
