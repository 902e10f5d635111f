"""HTTP routes of the scribe's audio (``clinic_app/services/scribe.py``).

    GET  /api/scribe/{session_id}/chunks          → which chunks the server has (resume)
    PUT  /api/scribe/{session_id}/chunks/{seq}    body = audio bytes, header X-Chunk-SHA256
    POST /api/scribe/{session_id}/finish          {"chunks": N, "source", "filename"}

Authentication and the ``X-Requested-With: clinic`` rule: ``clinic_app/api/staff_requests.py``.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from clinic_app.api.responses import error_response, new_correlation_id
from clinic_app.api.staff_requests import read_json, run_as_staff
from clinic_app.errors import AppError
from clinic_app.services import scribe


async def chunk_status(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    return run_as_staff(
        request,
        lambda session, actor: scribe.received(session, actor=actor, session_id=session_id),
        write=False,
    )


async def put_chunk(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    seq = int(request.path_params["seq"])
    if int(request.headers.get("content-length") or 0) > scribe.MAX_CHUNK_BYTES:
        return error_response(
            "CHUNK_SIZE",
            "Audio chunks are at most 8 MiB.",
            status_code=413,
            correlation_id=new_correlation_id(),
        )
    data = await request.body()
    checksum = request.headers.get("x-chunk-sha256", "")
    mime = request.headers.get("content-type", "")[:80]
    return run_as_staff(
        request,
        lambda session, actor: scribe.put_chunk(
            session,
            actor=actor,
            session_id=session_id,
            seq=seq,
            data=data,
            sha256=checksum,
            mime=mime,
        ),
        write=True,
    )


async def finish(request: Request) -> Response:
    session_id = request.path_params["session_id"]
    try:
        body = await read_json(request)
        chunks = int(body.get("chunks") or 0)
    except (AppError, ValueError, TypeError):
        return error_response(
            "VALIDATION",
            "Send the number of chunks as JSON.",
            status_code=400,
            correlation_id=new_correlation_id(),
        )
    return run_as_staff(
        request,
        lambda session, actor: {
            "transcription_id": str(
                scribe.finish(
                    session,
                    actor=actor,
                    session_id=session_id,
                    chunks=chunks,
                    source=str(body.get("source") or "capture")[:16],
                    filename=str(body.get("filename") or "")[:200],
                )
            )
        },
        write=True,
    )
