"""The patient's confirm/cancel page, opened from a reminder's signed link.

GET shows the appointment (no login: the signed token is the credential) with two buttons;
POST performs the answer. A GET never changes anything, so mail scanners that follow links
cannot confirm or cancel. The page is plain server-rendered HTML (works on any phone browser).
"""

from __future__ import annotations

import html
import logging

from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request
from starlette.responses import HTMLResponse

from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.services.reminders import LinkView, link_view, respond

logger = logging.getLogger(__name__)

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;background:#f1f5f9;margin:0;
color:#0f172a}main{max-width:440px;margin:48px auto;background:#fff;border-radius:12px;padding:28px;
box-shadow:0 1px 3px rgba(0,0,0,.1)}h1{font-size:20px;margin:0 0 12px}p{line-height:1.5}
.when{font-size:18px;font-weight:600}
.status{display:inline-block;padding:2px 10px;border-radius:99px;background:#e2e8f0;font-size:13px}
form{display:inline}button{font-size:16px;padding:10px 18px;
border-radius:8px;border:0;margin:16px 8px 0 0;cursor:pointer}.ok{background:#0d9488;color:#fff}
.cancel{background:#fee2e2;color:#991b1b}.note{color:#475569;font-size:14px}
"""


def _page(title: str, body: str, status_code: int = 200) -> HTMLResponse:
    document = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width,initial-scale=1'>"
        "<meta name='robots' content='noindex'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><main data-testid='appointment-link'>{body}</main></body></html>"
    )
    return HTMLResponse(
        document,
        status_code=status_code,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _render(view: LinkView, notice: str = "") -> HTMLResponse:
    e = html.escape
    token = e(view.token, quote=True)
    buttons = ""
    if view.can_confirm:
        buttons += (
            "<form method='post'><input type='hidden' name='token' value='" + token + "'>"
            "<input type='hidden' name='action' value='confirm'>"
            "<button class='ok' data-testid='confirm'>Confirm appointment</button></form>"
        )
    if view.can_cancel:
        buttons += (
            "<form method='post'><input type='hidden' name='token' value='" + token + "'>"
            "<input type='hidden' name='action' value='cancel'>"
            "<button class='cancel' data-testid='cancel'>Cancel appointment</button></form>"
        )
    body = (
        f"<h1>{e(view.clinic_name)}</h1>"
        + (f"<p data-testid='notice'><strong>{e(notice)}</strong></p>" if notice else "")
        + f"<p>Hello {e(view.patient_first_name)}, "
        + f"your appointment with {e(view.provider_name)}:</p>"
        + f"<p class='when'>{e(view.when)}</p>"
        + f"<p>Status: <span class='status' data-testid='status'>{e(view.status_label)}</span></p>"
        + buttons
        + "<p class='note'>To change the time, please call the clinic.</p>"
    )
    return _page(f"Your appointment · {view.clinic_name}", body)


def _error(exc: AppError) -> HTMLResponse:
    status = 403 if exc.code.startswith("LINK_") else 400
    return _page(
        "Appointment link",
        f"<h1>We could not use this link</h1><p data-testid='error'>{html.escape(exc.message)}</p>",
        status,
    )


def _unavailable() -> HTMLResponse:
    return _page(
        "Appointment link",
        "<h1>Please try again shortly</h1><p>The clinic's system is busy right now.</p>",
        503,
    )


async def show(request: Request) -> HTMLResponse:
    token = request.query_params.get("token", "")
    try:
        with session_scope() as session:
            return _render(link_view(session, token=token))
    except AppError as exc:
        return _error(exc)
    except SQLAlchemyError:
        logger.exception("appointment link page failed")
        return _unavailable()


async def answer(request: Request) -> HTMLResponse:
    form = await request.form()
    token = str(form.get("token") or "")
    action = str(form.get("action") or "")
    try:
        with session_scope(immediate=True) as session:
            view = respond(session, token=token, action=action)
    except AppError as exc:
        return _error(exc)
    except SQLAlchemyError:
        logger.exception("appointment link answer failed")
        return _unavailable()
    notice = (
        "Thank you — your appointment is confirmed."
        if view.status == "confirmed"
        else "Your appointment is cancelled. Thank you for letting us know."
    )
    return _render(view, notice)
