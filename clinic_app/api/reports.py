"""HTTP routes of drafted reports (``clinic_app/services/reports.py``), for integrations and
scripts; the review page uses the same services through Reflex events.

    GET  /api/reports/{report_id}           → the report (an audited read)
    POST /api/reports/{report_id}/review    {"version", "section", "sentence", "action",
                                             "text", "note"} → the report after the change
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from clinic_app.api.responses import error_response, new_correlation_id
from clinic_app.api.staff_requests import read_json, run_as_staff
from clinic_app.errors import AppError
from clinic_app.services import reports


async def get_report(request: Request) -> Response:
    report_id = request.path_params["report_id"]
    return run_as_staff(
        request,
        lambda session, actor: reports.view(session, actor=actor, report_id=report_id),
        write=False,
    )


async def review(request: Request) -> Response:
    report_id = request.path_params["report_id"]
    try:
        body = await read_json(request)
        version = int(body.get("version") or 0)
    except (AppError, ValueError, TypeError):
        return error_response(
            "VALIDATION",
            "Send the change as JSON with the report's version.",
            status_code=400,
            correlation_id=new_correlation_id(),
        )
    return run_as_staff(
        request,
        lambda session, actor: reports.as_view(
            session,
            reports.change_sentence(
                session,
                actor=actor,
                report_id=report_id,
                version=version,
                section_id=str(body.get("section") or ""),
                sentence_id=str(body.get("sentence") or "") or None,
                action=str(body.get("action") or ""),
                text=str(body.get("text") or ""),
                note=str(body.get("note") or ""),
            ),
        ),
        write=True,
    )
