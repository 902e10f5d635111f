"""The drafter the settings choose: ``local`` (default, offline) or ``openai``."""

from __future__ import annotations

from collections.abc import Sequence

from clinic_app.ai.drafting import ReportDrafter, TemplateSection
from clinic_app.ai.local_drafter import LocalDrafter
from clinic_app.settings import get_settings


def get_drafter(
    *, drug_names: frozenset[str], sections: Sequence[TemplateSection]
) -> ReportDrafter:
    if get_settings().draft_engine == "openai":
        from clinic_app.ai.openai_drafter import OpenAIDrafter

        return OpenAIDrafter.from_settings()
    return LocalDrafter(drug_names=drug_names, siblings=sections)
