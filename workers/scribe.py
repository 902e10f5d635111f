"""Worker for transcription: join the chunks, keep the recording, decode, transcribe, store."""

from __future__ import annotations

import hashlib
import time
import uuid
from typing import Any

from sqlmodel import col, select

from clinic_app.ai import speakers, speech, vocabulary
from clinic_app.db import session_scope
from clinic_app.errors import AppError
from clinic_app.jobs import JobContext
from clinic_app.services.scribe import speech_context
from clinic_app.settings import get_settings
from clinic_app.storage import get_storage
from models import AudioChunk, ConsultationSession, StoredFile, Transcription
from models.base import utcnow
from workers.exports import GeneratedFile, store_generated_once


def _fail(transcription_id: uuid.UUID, clinic_id: uuid.UUID, message: str) -> dict[str, Any]:
    with session_scope(clinic_id=clinic_id) as session:
        row = session.get(Transcription, transcription_id)
        assert row is not None
        row.status, row.error, row.completed_at = "failed", message[:500], utcnow()
        session.add(row)
    return {"status": "failed", "error": message}


def transcribe_session(ctx: JobContext) -> dict[str, Any]:
    """Bad audio (empty, corrupt, silent) ends as a failed transcription with a clear message,
    not a retried job; the recording and its chunks stay, so "Retry" can run again."""
    tid = uuid.UUID(str(ctx.params.get("transcription_id")))
    clinic_id = ctx.clinic_id
    if clinic_id is None:
        raise AppError("JOB_BAD_PARAMS", "The job has no clinic.")
    with session_scope(clinic_id=clinic_id) as session:
        row = session.get(Transcription, tid)
        if row is None:
            raise AppError("JOB_BAD_PARAMS", "The transcription is missing.")
        consultation = session.get(ConsultationSession, row.session_id)
        assert consultation is not None
        row.status = "processing"
        session.add(row)
        chunks = session.exec(
            select(AudioChunk)
            .where(AudioChunk.session_id == consultation.id)
            .order_by(AudioChunk.seq)  # type: ignore[arg-type]
        ).all()
        keys = [c.storage_key for c in chunks]
        mime = chunks[0].mime if chunks else ""
        context = speech_context(session, row=consultation)
        number, language = consultation.number, row.language
    ctx.progress(10, "Joining the recording")
    storage = get_storage()
    data = b"".join(storage.get(key) for key in keys)

    def recording(_clinic: uuid.UUID) -> GeneratedFile:
        extension = "ogg" if "ogg" in mime else ("webm" if "webm" in mime else "audio")
        return GeneratedFile(f"{number}.{extension}", mime or "application/octet-stream", data)

    stored = store_generated_once(
        ctx, label="scribe-recording", key_prefix="scribe/recordings", generate=recording
    )
    ctx.progress(25, "Decoding audio")
    try:
        audio = speech.decode_audio(data)
    except AppError as exc:
        return _fail(tid, clinic_id, exc.message)
    if speech.is_silent(audio):
        return _fail(tid, clinic_id, "No speech was found in the recording.")
    ctx.progress(35, "Transcribing")
    started = time.perf_counter()
    try:
        result = speech.get_engine().transcribe(audio, language=language, prompt=context.prompt())
    except AppError as exc:  # the engine gave up (e.g. Google unreachable after its retries)
        return _fail(tid, clinic_id, exc.message)
    elapsed_ms = int((time.perf_counter() - started) * 1000)
    if not result.segments:
        return _fail(tid, clinic_id, "No speech was found in the recording.")
    ctx.progress(85, "Telling speakers apart")
    labels = speakers.label(audio, [(s.start_ms, s.end_ms) for s in result.segments])
    heard = vocabulary.correct(result.segments, context.terms())
    segments: list[dict[str, Any]] = [
        {
            "id": n,
            "start_ms": s.start_ms,
            "end_ms": s.end_ms,
            "text": s.text,
            "speaker": labels[n],
            "confidence": s.confidence,
            "words": s.words,
        }
        for n, s in enumerate(heard)
    ]
    text = " ".join(s["text"] for s in segments)
    engine_text = " ".join(s.text for s in result.segments)
    with session_scope(clinic_id=clinic_id) as session:
        row = session.get(Transcription, tid)
        consultation = session.get(ConsultationSession, row.session_id) if row else None
        assert row is not None and consultation is not None
        row.status, row.error, row.completed_at = "completed", None, utcnow()
        row.engine, row.model, row.language = result.engine, result.model, result.language
        row.segments, row.text, row.original_text = segments, text, engine_text
        row.confidence = round(sum(s["confidence"] for s in segments) / len(segments), 3)
        row.word_count, row.char_count = len(text.split()), len(text)
        row.audio_ms, row.processing_ms = speech.duration_ms(audio), elapsed_ms
        session.add(row)
        file_id = uuid.UUID(stored["file_id"])
        kept = session.get(StoredFile, file_id)
        if kept is not None:
            consultation.recording_file_id = file_id
            # The joined recording is what the chunks add up to: raw chunks may go later.
            verified = kept.sha256 == hashlib.sha256(data).hexdigest() and kept.size == len(data)
            consultation.recording = {**consultation.recording, "verified": verified}
        consultation.duration_ms = speech.duration_ms(audio)
        session.add(consultation)
    return {"status": "completed", "segments": len(segments), "processing_ms": elapsed_ms}


def transcribe_live(ctx: JobContext) -> dict[str, Any]:
    """While recording: transcribe the audio that arrived since the last pass and append it to
    the running transcript. Best effort — the final pass at "Stop" replaces it."""
    session_id = uuid.UUID(str(ctx.params.get("session_id")))
    clinic_id = ctx.clinic_id
    if clinic_id is None:
        raise AppError("JOB_BAD_PARAMS", "The job has no clinic.")
    with session_scope(clinic_id=clinic_id) as session:
        consultation = session.get(ConsultationSession, session_id)
        if consultation is None or consultation.status not in ("in_progress", "paused"):
            return {"skipped": "not recording"}
        chunks = session.exec(
            select(AudioChunk).where(AudioChunk.session_id == session_id).order_by(AudioChunk.seq)  # type: ignore[arg-type]
        ).all()
        keys = []
        for expected, chunk in enumerate(chunks):
            if chunk.seq != expected:
                break  # only the unbroken start of the recording decodes
            keys.append(chunk.storage_key)
        live = session.exec(
            select(Transcription).where(
                Transcription.session_id == session_id, col(Transcription.is_live).is_(True)
            )
        ).first()
        done_ms = live.live_ms if live else 0
        context = speech_context(session, row=consultation)
        language = get_settings().speech_language
    storage = get_storage()
    try:
        audio = speech.decode_audio(b"".join(storage.get(k) for k in keys), partial_ok=True)
    except AppError:
        return {"skipped": "nothing decodable yet"}
    tail = audio[done_ms * speech.SAMPLE_RATE // 1000 :]
    if len(tail) < 2 * speech.SAMPLE_RATE or speech.is_silent(tail):
        return {"skipped": "no new speech"}
    result = speech.get_engine().transcribe(tail, language=language, prompt=context.prompt())
    new = [
        {"start_ms": done_ms + s.start_ms, "end_ms": done_ms + s.end_ms, "text": s.text}
        for s in vocabulary.correct(result.segments, context.terms())
    ]
    with session_scope(clinic_id=clinic_id) as session:
        live = session.exec(
            select(Transcription).where(
                Transcription.session_id == session_id, col(Transcription.is_live).is_(True)
            )
        ).first()
        if live is None:
            live = Transcription(
                clinic_id=clinic_id,
                session_id=session_id,
                status="processing",
                engine=result.engine,
                model=result.model,
                language=result.language,
                is_live=True,
            )
        live.segments = [*(live.segments or []), *new]
        live.live_ms = done_ms + speech.duration_ms(tail)
        session.add(live)
    return {"segments": len(new), "live_ms": done_ms + speech.duration_ms(tail)}
