"""JSON logs with a correlation id, and the Prometheus metrics behind ``/metrics``.

Correlation: every UI event and every job attempt runs inside ``correlation_scope``; the id is
added to each log line and, by ``audit.record``, to each audit row, so one user action can be
followed through the app, the worker and the audit trail.

No PHI in logs: log lines carry ids, kinds, codes and timings only — never names, phone numbers,
free text or SQL parameters (the engine is created with ``hide_parameters=True``). A test runs
whole flows and scans the log output for the demo patients' details.

Metrics are process-local for what only a process knows (UI event latency, websocket clients)
and read from the database and Redis at scrape time for what every process shares (jobs per
status, job durations, queue depth), so one scrape is right however many workers run.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, SummaryMetricFamily
from prometheus_client.registry import Collector

_correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)

# Fields a log call may add with ``extra={...}``; anything else is dropped, so a stray
# ``extra={"patient": ...}`` cannot leak PHI into the log.
SAFE_EXTRA_FIELDS = frozenset(
    {"job_id", "kind", "attempt", "event", "code", "duration_ms", "status", "queue", "clinic_id"}
)


def current_correlation_id() -> str | None:
    return _correlation_id.get()


def new_correlation_id() -> str:
    return uuid.uuid4().hex[:16]


@contextlib.contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    """Run the block with a correlation id (a new one unless given)."""
    cid = value or new_correlation_id()
    token = _correlation_id.set(cid)
    try:
        yield cid
    finally:
        _correlation_id.reset(token)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, correlation id, safe extras."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        cid = current_correlation_id()
        if cid:
            line["correlation_id"] = cid
        for name in SAFE_EXTRA_FIELDS:
            if name in record.__dict__:
                line[name] = record.__dict__[name]
        if record.exc_info and record.exc_info[0] is not None:
            # The type and where it happened, not the message: messages can quote data.
            exc_type, _exc, tb = record.exc_info
            frames = []
            while tb is not None:
                code = tb.tb_frame.f_code
                frames.append(
                    f"{code.co_filename.rsplit('/', 2)[-1]}:{tb.tb_lineno}:{code.co_name}"
                )
                tb = tb.tb_next
            line["error"] = exc_type.__name__
            line["where"] = frames[-5:]
        return json.dumps(line, default=str)


def configure_logging(level: int = logging.INFO) -> None:
    """JSON lines on stderr for the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.handlers = [handler]
    root.setLevel(level)


# ---- metrics -------------------------------------------------------------------------------

REGISTRY = CollectorRegistry(auto_describe=False)  # register() must not query the DB

EVENT_LATENCY = Histogram(
    "clinic_event_latency_seconds",
    "Time to process one UI event (handler, state delta, emit) in this app process.",
    ["handler"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
    registry=REGISTRY,
)


def observe_event(handler: str, seconds: float) -> None:
    EVENT_LATENCY.labels(handler=handler[-80:]).observe(seconds)


class SharedStateCollector(Collector):
    """Jobs and queues read at scrape time (shared by every process), plus websocket clients."""

    def __init__(self, websocket_clients: Callable[[], int] | None = None) -> None:
        self._websocket_clients = websocket_clients

    def collect(self) -> Iterator[Any]:
        from clinic_app.services.system import job_metrics, queue_depths

        by_status = GaugeMetricFamily(
            "clinic_jobs",
            "Jobs per kind and status (from the jobs table).",
            labels=["kind", "status"],
        )
        durations = SummaryMetricFamily(
            "clinic_job_duration_seconds",
            "Run time of finished job attempts per kind.",
            labels=["kind"],
        )
        depth = GaugeMetricFamily(
            "clinic_queue_depth", "Jobs waiting in each RQ queue.", labels=["queue"]
        )
        try:
            stats = job_metrics()
            for (kind, status), count in stats.counts.items():
                by_status.add_metric([kind, status], count)
            for kind, (count, total) in stats.durations.items():
                durations.add_metric([kind], count_value=count, sum_value=total)
            for queue, waiting in queue_depths().items():
                depth.add_metric([queue], waiting)
        except Exception:  # noqa: BLE001 - a scrape must not fail because a dependency is down
            logging.getLogger(__name__).warning("metrics: shared state unavailable", exc_info=True)
        yield by_status
        yield durations
        yield depth
        if self._websocket_clients is not None:
            clients = GaugeMetricFamily(
                "clinic_websocket_clients", "Browser tabs connected to this app process."
            )
            clients.add_metric([], self._websocket_clients())
            yield clients
        from clinic_app import live

        pages = GaugeMetricFamily(
            "clinic_live_pages",
            "Calendar and worklist pages receiving live updates in this app process.",
        )
        pages.add_metric([], live.watched_pages())
        yield pages


_collector: SharedStateCollector | None = None


def register_shared_collector(websocket_clients: Callable[[], int] | None = None) -> None:
    """Add the scrape-time collector once (the app passes its websocket client count)."""
    global _collector
    if _collector is None:
        _collector = SharedStateCollector(websocket_clients)
        REGISTRY.register(_collector)


def render_metrics() -> bytes:
    return generate_latest(REGISTRY)


@contextlib.contextmanager
def timed_event(handler: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        observe_event(handler, time.perf_counter() - started)
