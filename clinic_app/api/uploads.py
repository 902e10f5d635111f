"""HTTP routes of the chunked chart upload (``clinic_app/services/uploads.py``).

Authentication and the ``X-Requested-With: clinic`` rule: ``clinic_app/api/staff_requests.py``.

    POST /api/uploads                         {patient_id, filename, content_type, size, sha256}
    GET  /api/uploads/{id}                    → which chunks the server has (resume)
    PUT  /api/uploads/{id}/chunks/{index}     body = bytes, header X-Chunk-SHA256
    POST /api/uploads/{id}/complete           → verified, stored, on the chart

The service work (hashing, disk or S3 writes, database) runs in the thread pool: these routes
share the event loop with every open tab's websocket, and a browser sends two chunks at once.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlmodel import Session
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from clinic_app.api.responses import app_error_response, error_response, new_correlation_id
from clinic_app.api.staff_requests import read_json, run_as_staff
from clinic_app.errors import AppError
from clinic_app.security.actor import Actor
from clinic_app.services import uploads

MAX_BODY = uploads.MAX_CHUNK + 1024  # a chunk plus slack; the service checks the exact size
TOO_LARGE = "Chunks are at most 8 MiB."


async def start_upload(request: Request) -> Response:
    try:
        data = await read_json(request)
        size = int(data.get("size") or 0)
        chunk_size = int(data.get("chunk_size") or uploads.DEFAULT_CHUNK)
    except (AppError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, AppError) else "size must be a number"
        return error_response(
            "VALIDATION", message, status_code=400, correlation_id=new_correlation_id()
        )
    return await run_in_threadpool(
        run_as_staff,
        request,
        lambda session, actor: uploads.start(
            session,
            actor=actor,
            patient_id=str(data.get("patient_id") or ""),
            filename=str(data.get("filename") or ""),
            content_type=str(data.get("content_type") or ""),
            size=size,
            sha256=str(data.get("sha256") or ""),
            chunk_size=chunk_size,
        ),
        write=True,
    )


async def upload_status(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    return await run_in_threadpool(
        run_as_staff,
        request,
        lambda session, actor: uploads.status(session, actor=actor, upload_id=upload_id),
        write=False,
    )


async def _read_chunk(request: Request) -> tuple[bytes, str]:
    """The body and its SHA-256, hashed piece by piece as it arrives (no second pass).

    The size is checked as the pieces come, so a body without Content-Length cannot grow
    past one chunk in memory either.
    """
    if int(request.headers.get("content-length") or 0) > MAX_BODY:
        raise AppError("CHUNK_SIZE", TOO_LARGE)
    hasher = hashlib.sha256()
    pieces: list[bytes] = []
    size = 0
    async for piece in request.stream():
        size += len(piece)
        if size > MAX_BODY:
            raise AppError("CHUNK_SIZE", TOO_LARGE)
        hasher.update(piece)
        pieces.append(piece)
    return b"".join(pieces), hasher.hexdigest()


async def put_chunk(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    index = int(request.path_params["index"])
    try:
        data, digest = await _read_chunk(request)
    except AppError as exc:
        return app_error_response(exc, correlation_id=new_correlation_id())
    checksum = request.headers.get("x-chunk-sha256", "")
    return await run_in_threadpool(
        run_as_staff,
        request,
        lambda session, actor: uploads.put_chunk(
            session,
            actor=actor,
            upload_id=upload_id,
            index=index,
            data=data,
            sha256=checksum,
            received_sha256=digest,
        ),
        write=True,
    )


async def complete_upload(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    finished: dict[str, Any] = {}

    def work(session: Session, actor: Actor) -> uploads.UploadStatus:
        done = uploads.complete(session, actor=actor, upload_id=upload_id)
        finished.update(clinic_id=actor.clinic_id, done=done)
        return done

    response = await run_in_threadpool(run_as_staff, request, work, write=True)
    if response.status_code == 200 and finished:
        # 200 means committed: only now may the chunks go (after the answer is sent).
        response.background = BackgroundTask(uploads.discard_chunks, **finished)
    return response
