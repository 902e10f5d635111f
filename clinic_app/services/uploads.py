"""Chunked, resumable, verified uploads of files to a patient's chart.

``start`` records what is coming (name, type, total size, SHA-256 of the whole file);
``put_chunk`` stores one chunk after checking its own SHA-256 (a repeated chunk with the same
hash is accepted once; a different hash is refused); ``status`` tells a browser that lost its
connection which chunks the server already has; ``complete`` joins the chunks, checks the total
size and hash, stores the file, makes a preview (images, first PDF page) and puts it on the
chart; ``discard_chunks`` removes the chunk objects once that has been committed. Limits (size,
types) come from Settings. Every step checks clinic and permission.

Speed (bench/patients.py): each byte is hashed once per check and copied as little as possible.
The HTTP route hashes a chunk while it arrives; ``complete`` hashes the joined file on a second
thread while it reads the chunks back (hashlib releases the GIL), so the hash costs no extra
wall time and covers exactly the bytes that are stored.
"""

from __future__ import annotations

import hashlib
import io
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlmodel import Session, col, select

from clinic_app import audit
from clinic_app.api.downloads import make_download_url
from clinic_app.errors import AppError, NotFound
from clinic_app.security.actor import Actor
from clinic_app.security.permissions import require
from clinic_app.services.patients import load_patient
from clinic_app.settings import get_settings
from clinic_app.storage import get_storage, save_file
from models import PatientFile, StoredFile, Upload, UploadChunk

logger = logging.getLogger(__name__)

MIN_CHUNK = 64 * 1024
MAX_CHUNK = 8 * 1024 * 1024
DEFAULT_CHUNK = MAX_CHUNK  # fewer requests, fsyncs and transactions per file
THUMBNAIL_PX = 320


@dataclass(frozen=True)
class UploadStatus:
    upload_id: str
    chunk_size: int
    chunks: int
    received: list[int]
    status: str
    file_id: str = ""


def _hex64(value: str, what: str) -> str:
    value = (value or "").strip().lower()
    if len(value) != 64 or any(ch not in "0123456789abcdef" for ch in value):
        raise AppError("VALIDATION", f"{what} must be a SHA-256 in hex.")
    return value


def _chunk_count(upload: Upload) -> int:
    return max(1, -(-upload.total_size // upload.chunk_size))


def _load(
    session: Session, actor: Actor, upload_id: str | uuid.UUID, *, lock: bool = False
) -> Upload:
    """The actor's clinic's upload; ``lock`` serialises two ``complete`` calls (a retry)."""
    try:
        uid = upload_id if isinstance(upload_id, uuid.UUID) else uuid.UUID(str(upload_id))
    except ValueError:
        raise NotFound("Upload") from None
    query = select(Upload).where(Upload.id == uid, Upload.clinic_id == actor.clinic_id)
    upload = session.exec(query.with_for_update() if lock else query).first()
    if upload is None:
        raise NotFound("Upload")
    return upload


def _received(session: Session, upload: Upload) -> list[int]:
    return sorted(
        session.exec(select(UploadChunk.index).where(UploadChunk.upload_id == upload.id)).all()
    )


def _status(session: Session, upload: Upload) -> UploadStatus:
    return UploadStatus(
        upload_id=str(upload.id),
        chunk_size=upload.chunk_size,
        chunks=_chunk_count(upload),
        received=_received(session, upload),
        status=upload.status,
        file_id=str(upload.file_id or ""),
    )


def start(
    session: Session,
    *,
    actor: Actor,
    patient_id: str,
    filename: str,
    content_type: str,
    size: int,
    sha256: str,
    chunk_size: int = DEFAULT_CHUNK,
) -> UploadStatus:
    require(actor, "patient:upload")
    settings = get_settings()
    allowed = {t.strip() for t in settings.upload_types.split(",") if t.strip()}
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in allowed:
        raise AppError(
            "UPLOAD_TYPE",
            "This kind of file cannot be attached. Allowed: PDF, images (PNG, JPEG, WebP), text.",
        )
    if not 0 < int(size) <= settings.upload_max_mb * 1024 * 1024:
        raise AppError(
            "UPLOAD_TOO_LARGE", f"The file is larger than the limit of {settings.upload_max_mb} MB."
        )
    if not MIN_CHUNK <= int(chunk_size) <= MAX_CHUNK:
        raise AppError("VALIDATION", "Chunk size must be between 64 KiB and 8 MiB.")
    patient = load_patient(session, actor=actor, patient_id=patient_id)
    name = (filename or "file").replace("/", "_").replace("\\", "_").strip()[:255] or "file"
    upload = Upload(
        clinic_id=actor.clinic_id,
        patient_id=patient.id,
        created_by=actor.user_id,
        filename=name,
        content_type=content_type,
        total_size=int(size),
        sha256=_hex64(sha256, "The file checksum"),
        chunk_size=int(chunk_size),
    )
    session.add(upload)
    session.flush()
    return _status(session, upload)


def status(session: Session, *, actor: Actor, upload_id: str) -> UploadStatus:
    require(actor, "patient:upload")
    return _status(session, _load(session, actor, upload_id))


def _chunk_key(clinic_id: uuid.UUID, upload_id: uuid.UUID | str, index: int) -> str:
    return f"{clinic_id}/uploads/{upload_id}/{index:06d}"


def put_chunk(
    session: Session,
    *,
    actor: Actor,
    upload_id: str,
    index: int,
    data: bytes,
    sha256: str,
    received_sha256: str | None = None,
) -> UploadStatus:
    """Store chunk ``index`` once; its SHA-256 must match what the browser computed.

    ``received_sha256`` is the digest of ``data`` when the caller already hashed it while it
    arrived (the HTTP route does), which saves a second pass over the bytes.
    """
    require(actor, "patient:upload")
    upload = _load(session, actor, upload_id)
    if upload.status != "open":
        raise AppError("UPLOAD_CLOSED", "This upload is already finished.")
    chunks = _chunk_count(upload)
    if not 0 <= int(index) < chunks:
        raise AppError("VALIDATION", f"Chunk {index} is outside 0-{chunks - 1}.")
    expected_size = (
        upload.total_size - upload.chunk_size * (chunks - 1)
        if index == chunks - 1
        else upload.chunk_size
    )
    if len(data) != expected_size:
        raise AppError(
            "CHUNK_SIZE", f"Chunk {index} has {len(data)} bytes; {expected_size} were expected."
        )
    claimed = _hex64(sha256, "The chunk checksum")
    actual = received_sha256 or hashlib.sha256(data).hexdigest()
    if actual != claimed:
        raise AppError(
            "CHUNK_CHECKSUM",
            f"Chunk {index} arrived damaged (checksum mismatch); it will be sent again.",
        )
    # One query for both the repeat check and the answer's list of received chunks.
    have: dict[int, str] = dict(
        session.exec(
            select(UploadChunk.index, UploadChunk.sha256).where(UploadChunk.upload_id == upload.id)
        ).all()
    )
    if index in have:
        if have[index] != actual:
            raise AppError("CHUNK_CONFLICT", f"Chunk {index} was already received with other data.")
    else:
        get_storage().put(
            _chunk_key(upload.clinic_id, upload.id, index), data, "application/octet-stream"
        )
        session.add(
            UploadChunk(
                clinic_id=upload.clinic_id,
                upload_id=upload.id,
                index=index,
                size=len(data),
                sha256=actual,
            )
        )
        session.flush()
        have[index] = actual
    return UploadStatus(
        upload_id=str(upload.id),
        chunk_size=upload.chunk_size,
        chunks=chunks,
        received=sorted(have),
        status=upload.status,
    )


def _thumbnail(data: bytes, content_type: str) -> bytes | None:
    """A small PNG preview of an image or of a PDF's first page (None when not possible)."""
    try:
        from PIL import Image

        if content_type == "application/pdf":
            import pypdfium2

            document = pypdfium2.PdfDocument(data)
            try:
                page = document[0]
                image = page.render(scale=1).to_pil()
            finally:
                document.close()
        elif content_type.startswith("image/"):
            image = Image.open(io.BytesIO(data))
        else:
            return None
        image = image.convert("RGB")
        image.thumbnail((THUMBNAIL_PX, THUMBNAIL_PX))
        out = io.BytesIO()
        image.save(out, format="PNG")
        return out.getvalue()
    except Exception:  # noqa: BLE001 - a file without a preview is still a good file
        logger.info("no preview for an uploaded %s", content_type)
        return None


def _join_and_hash(upload: Upload) -> tuple[bytes, str]:
    """The stored chunks joined, and their SHA-256 computed on a second thread meanwhile.

    Hashing what Storage returns (not what arrived) also catches a chunk object that was
    damaged or overwritten since; hashlib releases the GIL, so the hash overlaps the reads and
    the join.
    """
    storage = get_storage()
    hasher = hashlib.sha256()
    parts: list[bytes] = []
    with ThreadPoolExecutor(max_workers=1) as pool:  # one worker: updates run in order
        for index in range(_chunk_count(upload)):
            parts.append(storage.get(_chunk_key(upload.clinic_id, upload.id, index)))
            pool.submit(hasher.update, parts[-1])
        data = b"".join(parts)
    return data, hasher.hexdigest()


def _store_verified(session: Session, upload: Upload, data: bytes, actor: Actor) -> StoredFile:
    """``storage.save_file`` for bytes whose SHA-256 was just checked (it would hash them again)."""
    file_id = uuid.uuid4()
    key = f"{upload.clinic_id}/patients/{upload.patient_id}/files/{file_id}"
    get_storage().put(key, data, upload.content_type)
    stored = StoredFile(
        id=file_id,
        clinic_id=upload.clinic_id,
        storage_key=key,
        filename=upload.filename,
        content_type=upload.content_type,
        size=len(data),
        sha256=upload.sha256,
        created_by=actor.user_id,
    )
    session.add(stored)
    session.flush()
    return stored


def complete(session: Session, *, actor: Actor, upload_id: str, title: str = "") -> UploadStatus:
    """Join the chunks, verify size and SHA-256, store the file and put it on the chart.

    Chunk objects stay until the caller has committed (``discard_chunks``), so a failed commit
    loses nothing and ``complete`` can simply be retried. A file that does not match the
    announced SHA-256 writes nothing; the browser then starts a new upload.
    """
    require(actor, "patient:upload")
    upload = _load(session, actor, upload_id, lock=True)
    if upload.status == "complete":
        return _status(session, upload)  # a retried "complete" is fine
    received = _received(session, upload)
    missing = sorted(set(range(_chunk_count(upload))) - set(received))
    if missing:
        raise AppError(
            "UPLOAD_INCOMPLETE",
            f"{len(missing)} chunk(s) have not arrived yet; the upload will continue.",
            {"missing": missing[:50]},
        )
    data, digest = _join_and_hash(upload)
    if len(data) != upload.total_size or digest != upload.sha256:
        raise AppError(
            "UPLOAD_CHECKSUM",
            "The uploaded file does not match the original (checksum). Please upload it again.",
        )
    stored = _store_verified(session, upload, data, actor)
    preview = _thumbnail(data, upload.content_type)
    thumbnail: StoredFile | None = None
    if preview is not None:
        thumbnail = save_file(
            session,
            clinic_id=upload.clinic_id,
            data=preview,
            filename=f"{upload.filename}.png",
            content_type="image/png",
            created_by=actor.user_id,
            key_prefix=f"patients/{upload.patient_id}/previews",
        )
    from clinic_app.services.chart import open_encounter_id  # chart imports nothing from here

    link = PatientFile(
        clinic_id=upload.clinic_id,
        patient_id=upload.patient_id,
        file_id=stored.id,
        thumbnail_file_id=thumbnail.id if thumbnail else None,
        encounter_id=open_encounter_id(session, actor, upload.patient_id),
        title=(title or upload.filename).strip()[:255],
        created_by=actor.user_id,
    )
    session.add(link)
    upload.status = "complete"
    upload.file_id = stored.id
    session.add(upload)
    audit.record_by(
        session,
        actor,
        "patient.file_upload",
        entity_type="patient",
        entity_id=upload.patient_id,
        after={"file_id": str(stored.id), "size": upload.total_size, "type": upload.content_type},
    )
    session.flush()
    return _status(session, upload)


def discard_chunks(*, clinic_id: uuid.UUID, done: UploadStatus) -> None:
    """Delete a completed upload's chunk objects; call only after ``complete`` was committed."""
    storage = get_storage()
    for index in range(done.chunks):
        try:
            storage.delete(_chunk_key(clinic_id, done.upload_id, index))
        except AppError:
            logger.warning("could not delete a chunk of a finished upload; it is left behind")


def file_link(
    session: Session, *, actor: Actor, patient_file_id: str, preview: bool = False
) -> str:
    """A short-lived link to a chart file or its preview (the download route audits the view)."""
    link = _patient_file(session, actor=actor, patient_file_id=patient_file_id)
    file_id = link.thumbnail_file_id if preview and link.thumbnail_file_id else link.file_id
    stored = session.get(StoredFile, file_id)
    if stored is None:
        raise NotFound("File")
    return make_download_url(stored, user_id=actor.user_id)


def _patient_file(session: Session, *, actor: Actor, patient_file_id: str) -> PatientFile:
    """A chart file of the actor's clinic."""
    require(actor, "patient:read_phi")
    try:
        fid = uuid.UUID(str(patient_file_id))
    except ValueError:
        raise NotFound("File") from None
    found = session.exec(
        select(PatientFile).where(
            PatientFile.id == fid,
            PatientFile.clinic_id == actor.clinic_id,
            col(PatientFile.deleted_at).is_(None),
        )
    ).first()
    if found is None:
        raise NotFound("File")
    return found
