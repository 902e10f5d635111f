"""HTTP routes mounted on the Reflex backend (health, downloads, uploads, scribe audio)."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.routing import Route

from clinic_app.api import (
    appointment_links,
    downloads,
    health,
    metrics,
    reports,
    scribe,
    sessions,
    uploads,
)
from clinic_app.api.security_headers import SecurityHeadersMiddleware


def build_api() -> Starlette:
    """The Starlette app Reflex mounts in front of its own routes (``api_transformer``)."""
    routes: list[Route] = [
        Route("/health/live", health.live, methods=["GET"]),
        Route("/health/ready", health.ready, methods=["GET"]),
        Route("/metrics", metrics.metrics, methods=["GET"]),
        Route("/api/files/{file_id}/download", downloads.download_file, methods=["GET"]),
        Route("/appointments/respond", appointment_links.show, methods=["GET"]),
        Route("/appointments/respond", appointment_links.answer, methods=["POST"]),
        Route("/api/uploads", uploads.start_upload, methods=["POST"]),
        Route("/api/uploads/{upload_id}", uploads.upload_status, methods=["GET"]),
        Route("/api/uploads/{upload_id}/chunks/{index:int}", uploads.put_chunk, methods=["PUT"]),
        Route("/api/uploads/{upload_id}/complete", uploads.complete_upload, methods=["POST"]),
        Route("/api/scribe/{session_id}/chunks", scribe.chunk_status, methods=["GET"]),
        Route("/api/scribe/{session_id}/chunks/{seq:int}", scribe.put_chunk, methods=["PUT"]),
        Route("/api/scribe/{session_id}/finish", scribe.finish, methods=["POST"]),
        Route("/api/reports/{report_id}", reports.get_report, methods=["GET"]),
        Route("/api/reports/{report_id}/review", reports.review, methods=["POST"]),
        Route("/auth/session", sessions.complete_sign_in, methods=["GET"]),
        Route("/auth/logout", sessions.sign_out, methods=["GET"]),
    ]
    return Starlette(routes=routes, middleware=[Middleware(SecurityHeadersMiddleware)])
