"""The default drafter: offline, on the CPU, evidence first.

1. Facts are extracted from the utterances with their spans (``clinic_app.ai.facts``).
2. Each template section takes the fact kinds its id/title/prompt names (rules below): a SOAP
   "Subjective" takes complaints, history, medicines and allergies unless the template has
   sections of its own for those; "Plan" takes started/changed medicines, tests and follow-up.
3. A section no rule claims (family history, mood, sleep …) takes the utterances closest to
   its title and prompt by sentence embedding (all-MiniLM-L6-v2 from a PyPI package), written
   as reported speech.
Every sentence is written from its evidence's own words, so it cites what it rests on.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from clinic_app.ai import facts as fact_rules
from clinic_app.ai.drafting import DraftSentence, SectionRequest, TemplateSection, Utterance

PROMPT_VERSION = "local-rules-2026.12.1"
SIMILARITY_FLOOR = 0.3  # below this an utterance is not about the section at all
WORD_BONUS = 0.2  # per word shared with the section's title or prompt (at most two)
NARRATIVE_LIMIT = 4

# Sections told in the patient's words: assigned utterances, not extracted facts.
NARRATIVE = re.compile(
    r"mood|affect|sleep|appetite|risk|social|family|mental|substance|alcohol|smok|psych"
    r"|interval history|history of present|hpi|progress|lifestyle|occupation|functional"
)
KIND_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    (r"allerg", ("allergy",)),
    (r"medication|medicines|drugs|prescri", ("medication",)),
    (r"vital", ("vital",)),
    (r"follow", ("follow_up",)),
    (r"past medical|relevant history|medical history|past history|background", ("condition",)),
    (r"subjective|presenting|complaint|reason for|symptom|history", ("complaint", "condition")),
    (r"objective|exam|physical|findings|result|investigation", ("exam",)),
    (r"assessment|impression|diagnos|problem|formulation", ("diagnosis", "condition")),
    (r"plan|treatment|management|recommend|request|next steps|orders",
     ("plan_medication", "test", "follow_up")),
)  # fmt: skip
# Kinds a broad section also takes when the template has no section of their own.
FALLBACK = {"complaint": ("medication", "allergy"), "exam": ("vital",)}
STORY = re.compile(r"history of present|hpi|interval history|progress")
# History-like sections with no facts fall back to the patient's own words.
NARRATIVE_FALLBACK = {"complaint", "condition"}
_WORD = re.compile(r"[a-z]{4,}")
_COMMON = {"patient", "describes", "their", "about", "with", "what", "from", "that", "this"}


def kinds_for(section: TemplateSection, siblings: Sequence[TemplateSection]) -> tuple[str, ...]:
    title = f"{section.id} {section.title}".lower().replace("_", " ")
    if NARRATIVE.search(title):
        return ()
    kinds: list[str] = []
    # The title decides; the prompt only when the title names nothing the rules know.
    for text in (title, section.prompt.lower()):
        for pattern, claimed in KIND_RULES:
            if re.search(pattern, text):
                kinds.extend(k for k in claimed if k not in kinds)
                break
        if kinds:
            break
    claimed_elsewhere = {
        k
        for other in siblings
        if other.id != section.id
        for pattern, owned in KIND_RULES[:4]
        if re.search(pattern, f"{other.id} {other.title}".lower())
        for k in owned
    }
    for kind in list(kinds):
        kinds.extend(
            k for k in FALLBACK.get(kind, ()) if k not in claimed_elsewhere and k not in kinds
        )
    return tuple(kinds)


@dataclass
class LocalDrafter:
    """Drafts sections from one transcript; facts and embeddings are computed once."""

    drug_names: frozenset[str] = frozenset()
    siblings: Sequence[TemplateSection] = ()
    name: str = "local"
    model: str = "rules+all-MiniLM-L6-v2"
    prompt_version: str = PROMPT_VERSION
    _facts: dict[int, list[fact_rules.Fact]] = field(default_factory=dict, repr=False)
    _used: set[int] = field(default_factory=set, repr=False)
    _assigned: dict[Any, dict[str, list[tuple[float, Utterance]]]] = field(
        default_factory=dict, repr=False
    )

    def _facts_of(self, utterances: Sequence[Utterance]) -> list[fact_rules.Fact]:
        key = id(utterances)
        if key not in self._facts:
            self._facts = {key: fact_rules.extract(utterances, drug_names=self.drug_names)}
            self._used = {i for f in self._facts[key] for i in f.evidence}
        return self._facts[key]

    def draft_section(self, request: SectionRequest) -> list[DraftSentence]:
        found = self._facts_of(request.utterances)
        kinds = kinds_for(request.section, self.siblings or [request.section])
        if kinds:
            if "diagnosis" in kinds and any(f.kind == "diagnosis" for f in found):
                kinds = tuple(k for k in kinds if k != "condition")  # stated beats known
            chosen = [f for kind in kinds for f in found if f.kind == kind]
            if chosen or not NARRATIVE_FALLBACK & set(kinds):
                return [DraftSentence(f.sentence, list(f.evidence)) for f in _unique(chosen)]
        return self._narrative(request)

    def _narrative(self, request: SectionRequest) -> list[DraftSentence]:
        """The patient's sentences that fit this section better than any other narrative
        section: embedding similarity to the title and prompt, plus shared words."""
        leaves = [
            s for s in (self.siblings or [request.section]) if not kinds_for(s, self.siblings)
        ]
        if request.section.id not in {s.id for s in leaves}:
            leaves.append(request.section)
        assigned = self._assign(request.utterances, leaves)
        chosen = sorted(assigned.get(request.section.id, []), key=lambda p: -p[0])
        best = [u for _, u in chosen[:NARRATIVE_LIMIT]]
        if STORY.search(request.section.title.lower()):  # the complaints, as the patient told them
            told = {i for f in self._facts_of(request.utterances) if f.kind == "complaint"
                    for i in f.evidence}  # fmt: skip
            best += [u for u in request.utterances if u.id in told and u.role == "patient"]
        best = sorted({u.id: u for u in best}.values(), key=lambda u: u.id)
        return [DraftSentence(fact_rules.reported(u), [u.id]) for u in best]

    def _assign(
        self, utterances: Sequence[Utterance], leaves: list[TemplateSection]
    ) -> dict[str, list[tuple[float, Utterance]]]:
        from clinic_app.ai import embeddings

        key = (id(utterances), tuple(s.id for s in leaves))
        if key in self._assigned:
            return self._assigned[key]
        candidates = [
            u for u in utterances
            if u.role == "patient" and len(u.text.split()) >= 4 and not u.text.endswith("?")
        ]  # fmt: skip
        result: dict[str, list[tuple[float, Utterance]]] = {}
        if candidates and leaves:
            topics = [f"{s.title}. {s.prompt}".strip() for s in leaves]
            vectors = embeddings.embed([*topics, *[u.text for u in candidates]])
            scores = embeddings.similarity(vectors[: len(topics)], vectors[len(topics) :])
            topic_words = [_stems(t) for t in topics]
            for j, u in enumerate(candidates):
                words = _stems(u.text)
                totals = [
                    float(scores[i, j]) + WORD_BONUS * min(2, len(words & topic_words[i]))
                    for i in range(len(leaves))
                ]
                i = max(range(len(leaves)), key=lambda k: totals[k])
                if totals[i] >= SIMILARITY_FLOOR:
                    result.setdefault(leaves[i].id, []).append((totals[i], u))
        self._assigned = {key: result}
        return result


def _stems(text: str) -> set[str]:
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in _COMMON}


def _unique(chosen: list[fact_rules.Fact]) -> list[fact_rules.Fact]:
    seen: set[str] = set()
    out = []
    for f in chosen:
        if f.sentence.lower() not in seen:
            seen.add(f.sentence.lower())
            out.append(f)
    return out
