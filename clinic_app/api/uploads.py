"""HTTP routes of the chunked chart upload (``clinic_app/services/uploads.py``).

Authentication and the ``X-Requested-With: clinic`` rule: ``clinic_app/api/staff_requests.py``.

    POST /api/uploads                         {patient_id, filename, content_type, size, sha256}
    GET  /api/uploads/{id}                    → which chunks the server has (resume)
    PUT  /api/uploads/{id}/chunks/{index}     body = bytes, header X-Chunk-SHA256
    POST /api/uploads/{id}/complete           → verified, stored, on the chart
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from clinic_app.api.responses import error_response, new_correlation_id
from clinic_app.api.staff_requests import read_json, run_as_staff
from clinic_app.errors import AppError
from clinic_app.services import uploads

MAX_BODY = uploads.MAX_CHUNK + 1024  # a chunk plus slack; the service checks the exact size


async def start_upload(request: Request) -> Response:
    try:
        data = await read_json(request)
        size = int(data.get("size") or 0)
        chunk_size = int(data.get("chunk_size") or 1024 * 1024)
    except (AppError, ValueError, TypeError) as exc:
        message = exc.message if isinstance(exc, AppError) else "size must be a number"
        return error_response(
            "VALIDATION", message, status_code=400, correlation_id=new_correlation_id()
        )
    return run_as_staff(
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
    return run_as_staff(
        request,
        lambda session, actor: uploads.status(session, actor=actor, upload_id=upload_id),
        write=False,
    )


async def put_chunk(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    index = int(request.path_params["index"])
    length = int(request.headers.get("content-length") or 0)
    if length > MAX_BODY:
        return error_response(
            "CHUNK_SIZE",
            "Chunks are at most 8 MiB.",
            status_code=413,
            correlation_id=new_correlation_id(),
        )
    data = await request.body()
    checksum = request.headers.get("x-chunk-sha256", "")
    return run_as_staff(
        request,
        lambda session, actor: uploads.put_chunk(
            session, actor=actor, upload_id=upload_id, index=index, data=data, sha256=checksum
        ),
        write=True,
    )


async def complete_upload(request: Request) -> Response:
    upload_id = request.path_params["upload_id"]
    return run_as_staff(
        request,
        lambda session, actor: uploads.complete(session, actor=actor, upload_id=upload_id),
        write=True,
    )
