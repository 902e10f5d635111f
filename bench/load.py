"""Load: many simulated browser tabs over Reflex's real websocket protocol (python-socketio).

Each client connects like a tab (token in the query, namespace ``/_event``), signs in as a
demo user, then loops over what staff do all day. Reception tabs open the calendar, page
weeks and book (click a slot, search the patient, pick, book; a taken slot is a normal
refusal). Doctor and nurse tabs open the worklist and move patients on (arrive, ready, start,
complete), open charts and search. Every booking and transition is announced live to the
other open calendars and worklists, so that traffic is part of the load too.

Latency is emit → processed: right after each event the tab sends a trivial counter event, and
because Reflex runs one tab's events in order, the counter's answer marks the end (live
updates from other tabs cannot be mistaken for the answer).

Two paces. **At a human pace** each tab thinks 1–5 s between actions (Locust's customary
``between(1, 5)``): 50, 100 and 200 such tabs give p50/p95, errors and memory per client.
**Flat out** (no think time) 200 tabs saturate the app: its throughput. Three set-ups, all on
PostgreSQL: the embedded single process (tab state on disk, no proxy), and the scale-out mode
(`clinic up --scale-out`, nginx, tab state in Redis) with 1 and with 2 processes. Scaling is
scale-out with 2 processes against scale-out with 1: the same architecture, one more process.

``clinic bench load`` runs the full matrix; ``CLINIC_BENCH_LOAD_CLIENTS=20,50`` and
``CLINIC_BENCH_LOAD_ACTIONS=5`` make a quick run; ``CLINIC_BENCH_LOAD_SETUPS=scale-out-2`` runs
one set-up (``embedded``, ``scale-out-1``, ``scale-out-2``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import random
import re
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from typing import Any

import aiohttp
import socketio
from reflex.state import OnLoadInternalState

from bench.postgres import scratch_database
from clinic_app.api.sessions import LANDING
from clinic_app.local_server import LocalServer, local_server
from clinic_app.services.demo import DEMO_PASSWORD
from state.bench_counter import BenchCounterState
from state.calendar import CalendarState
from state.login import LoginState
from state.patients import PatientsState
from state.worklist import WorklistState

NAMESPACE = "/_event"
HANDOFF = re.compile(r"/auth/session\?code=([A-Za-z0-9_\-]+)")
PG_ADMIN_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
BARRIER = BenchCounterState.get_full_name()
ON_LOAD = OnLoadInternalState.get_full_name() + ".on_load_internal"
CALENDAR = CalendarState.get_full_name()
PATIENTS = PatientsState.get_full_name()
WORKLIST = WorklistState.get_full_name()
ADVANCING = ("arrived", "ready", "in_consultation", "completed")
USERS = ("doctor@demo.clinic", "nurse@demo.clinic", "reception@demo.clinic")
TIMEOUT_S = 30.0
HUMAN_THINK_S = (1.0, 5.0)
FLAT_OUT = (0.0, 0.0)
RAMP_CONCURRENCY = 8
SETUPS: dict[str, list[str]] = {  # name -> `clinic up` arguments
    "embedded": [],
    "scale-out-1": ["--scale-out"],
    "scale-out-2": ["--processes", "2"],
}


def _setting(name: str, default: str) -> list[str]:
    # Benchmarks are tools, not the app: a plain env read for their own knobs is fine here.
    return [x.strip() for x in os.environ.get(name, default).split(",") if x.strip()]


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    actions: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    outcomes: dict[str, int] = field(default_factory=dict)  # bookings made/refused, steps
    by_handler: dict[str, list[float]] = field(default_factory=dict)

    def slowest(self, count: int = 3) -> str:
        """The handlers with the highest p95, for the reader of a slow round."""
        worst = sorted(
            ((percentile(v, 95), k.rsplit(".", 1)[-1]) for k, v in self.by_handler.items()),
            reverse=True,
        )[:count]
        return ", ".join(f"{name} {p95:.0f} ms" for p95, name in worst)

    def count(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


class Tab:
    """One simulated browser tab."""

    def __init__(self, url: str, results: Results) -> None:
        self.url = url
        self.token = str(uuid.uuid4())
        self.results = results
        self.client = self._new_client()
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.patient_ids: list[str] = []
        self.provider_ids: list[str] = []
        self.worklist_groups: list[dict[str, Any]] = []
        self.rng = random.Random(self.token)
        self.cookie = ""

    def _new_client(self) -> socketio.AsyncClient:
        client = socketio.AsyncClient(reconnection=False)
        client.on("event", self._receive, namespace=NAMESPACE)
        return client

    async def _receive(self, data: dict[str, Any]) -> None:
        # As the browser does, every delta updates what the tab shows (live refreshes too).
        groups = ((data.get("delta") or {}).get(WORKLIST) or {}).get("groups_rx_state_")
        if groups is not None:
            self.worklist_groups = groups
        await self.inbox.put(data)

    async def connect(self, cookie: str = "") -> None:
        await self.client.connect(
            f"{self.url}/?token={self.token}",
            headers={"Cookie": cookie} if cookie else {},
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=[NAMESPACE],
            wait_timeout=TIMEOUT_S,
        )

    async def _emit(self, handler: str, payload: dict[str, Any], path: str) -> None:
        await self.client.emit(
            "event",
            {
                "name": handler,
                "payload": payload,
                "router_data": {"pathname": path, "asPath": path},
                "token": self.token,
            },
            namespace=NAMESPACE,
        )

    async def send(
        self, handler: str, payload: dict[str, Any], path: str, state: str
    ) -> dict[str, Any]:
        """Emit one event and wait until it was processed; returns ``state``'s changes.

        Live updates from other tabs also arrive as deltas, so "a delta came" does not mean
        "my event is done". Reflex runs one tab's events in order, so a trivial counter event
        sent right after marks the end: the latency is up to the counter's answer.
        """

        async def emit() -> None:
            await self._emit(handler, payload, path)
            await self._emit(BARRIER + ".increment", {}, path)

        return await self._answer(handler, emit, state, lambda delta: BARRIER in delta)

    async def open(self, path: str, state: str, *, record: bool = True) -> dict[str, Any]:
        """Open a page as the browser's router does: ``on_load_internal`` for the new path runs
        the page's on_load handlers (its guard and loader, the dependency banner) and cancels
        the previous page's load chain, its live updates included. The page is ready when
        ``is_hydrated`` comes back true; returns ``state``'s changes."""

        async def emit() -> None:
            await self._emit(ON_LOAD, {}, path)

        def hydrated(delta: dict[str, Any]) -> bool:
            return any(part.get("is_hydrated_rx_state_") is True for part in delta.values())

        return await self._answer(path, emit, state, hydrated, record=record)

    async def _answer(
        self,
        name: str,
        emit: Callable[[], Awaitable[None]],
        state: str,
        done: Callable[[dict[str, Any]], bool],
        *,
        record: bool = True,
    ) -> dict[str, Any]:
        """Run ``emit`` and gather ``state``'s changes until a delta is ``done`` (its latency
        counted unless ``record`` is false). When the
        socket drops (its backend process died), the tab reconnects with its token and cookie
        and sends again, as the browser does; the app must not apply it twice."""
        while not self.inbox.empty():
            self.inbox.get_nowait()
        started = time.perf_counter()
        await emit()
        deadline = started + TIMEOUT_S
        changes: dict[str, Any] = {}
        while True:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"no answer to {name} in {TIMEOUT_S:.0f} s")
            if not self.client.connected:
                await self.reconnect()
                self.results.count("reconnects")
                await emit()
            try:
                message = await asyncio.wait_for(self.inbox.get(), timeout=1.0)
            except TimeoutError:
                continue
            delta = message.get("delta") or {}
            changes.update(delta.get(state) or {})
            if done(delta):
                if not record:
                    return changes
                took = (time.perf_counter() - started) * 1000
                self.results.latencies_ms.append(took)
                self.results.by_handler.setdefault(name, []).append(took)
                self.results.actions += 1
                return changes

    async def reconnect(self) -> None:
        """A new socket for the same tab (token) and sign-in (cookie), retried briefly."""
        with contextlib.suppress(Exception):  # the old socket is already gone
            await self.client.disconnect()
        for attempt in range(20):
            self.client = self._new_client()
            try:
                await self.connect(self.cookie)
                return
            except Exception:  # noqa: BLE001 - nginx may still route to the dead process
                await asyncio.sleep(0.25 * (attempt + 1))
        raise ConnectionError("could not reconnect the tab")

    async def sign_in(self, email: str) -> None:
        """As a browser does: the sign-in event, the cookie route, a reconnect with the cookie."""
        started = time.perf_counter()
        await self._emit(
            LoginState.get_full_name() + ".sign_in",
            {"form_data": {"email": email, "password": DEMO_PASSWORD}},
            "/login",
        )
        code = ""
        while not code:
            remaining = started + TIMEOUT_S - time.perf_counter()
            message = await asyncio.wait_for(self.inbox.get(), timeout=max(0.01, remaining))
            found = HANDOFF.search(json.dumps(message.get("events") or []))
            code = found.group(1) if found else ""
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"{self.url}/auth/session?code={code}", allow_redirects=False) as response,
        ):
            cookie = "; ".join(f"{k}={v.value}" for k, v in response.cookies.items())
        if not cookie:
            raise RuntimeError(f"sign-in handoff gave no cookie (HTTP {response.status})")
        self.cookie = cookie
        await self.client.disconnect()  # the full page load: a new socket with the cookie
        self.client = self._new_client()
        await self.connect(cookie)
        # The cookie route redirects staff to their landing page (the worklist): the browser
        # opens it, and only then is the user signed in and looking at a page.
        await self.open(LANDING["staff"], WORKLIST, record=False)
        self.results.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.results.actions += 1

    async def work(self, role: str, actions: int, think_s: tuple[float, float]) -> None:
        """A role's day: desk books and pages the calendar, clinicians move the worklist on."""
        steps = DESK_STEPS if role == "desk" else CLINICIAN_STEPS
        await asyncio.sleep(self.rng.uniform(*think_s))  # tabs start apart, as people do
        for index in range(actions):
            await steps[index % len(steps)](self)
            await asyncio.sleep(self.rng.uniform(*think_s))

    # ---- the actions ---------------------------------------------------------------------------

    async def worklist(self) -> None:
        await self.open("/worklist", WORKLIST)

    async def advance(self) -> None:
        """One click on the first waiting patient's next step (arrive, ready, start, complete)."""
        for group in self.worklist_groups:
            for item in group.get("items", []):
                for action in item.get("actions", []):
                    if action["to"] in ADVANCING:
                        payload = {
                            "appointment_id": item["id"],
                            "to_status": action["to"],
                            "version": item["version"],
                        }
                        await self.send(WORKLIST + ".advance", payload, "/worklist", WORKLIST)
                        self.results.count("worklist steps")
                        return
        await self.worklist()  # nothing to do right now: look again

    async def patients(self) -> None:
        delta = await self.open("/patients", PATIENTS)
        rows = delta.get("patients_rx_state_") or []
        self.patient_ids = [str(row["id"]) for row in rows] or self.patient_ids

    async def search(self) -> None:
        await self.send(PATIENTS + ".search", {"query": "a"}, "/patients", PATIENTS)

    async def chart(self) -> None:
        if not self.patient_ids:
            await self.patients()
        pid = self.patient_ids[self.rng.randrange(len(self.patient_ids))]
        await self.send(PATIENTS + ".select_patient", {"patient_id": pid}, "/patients", PATIENTS)

    async def calendar(self) -> None:
        delta = await self.open("/calendar", CALENDAR)
        providers = delta.get("providers_rx_state_") or []
        self.provider_ids = [p["id"] for p in providers if p.get("kind") == "doctor"]

    async def next_week(self) -> None:
        await self.send(CALENDAR + ".go", {"step": self.rng.choice((1, -1))}, "/calendar", CALENDAR)

    async def book(self) -> None:
        """Click a free-looking slot, find the patient, book: a taken slot is a normal refusal."""
        if not self.provider_ids:
            await self.calendar()
        day = date.today() + timedelta(days=self.rng.randrange(1, 90))
        while day.weekday() >= 5:
            day += timedelta(days=1)
        start = datetime.combine(day, dtime(9)) + timedelta(minutes=20 * self.rng.randrange(24))
        end = start + timedelta(minutes=20)
        provider = self.rng.choice(self.provider_ids)
        args = {"provider_id": provider, "start": start.isoformat(), "end": end.isoformat()}
        await self.send(CALENDAR + ".select_range", args, "/calendar", CALENDAR)
        delta = await self.send(
            CALENDAR + ".search_patient", {"query": "Garcia"}, "/calendar", CALENDAR
        )
        found = delta.get("patient_results_rx_state_") or []
        if not found:
            return
        await self.send(
            CALENDAR + ".pick_patient", {"patient_id": found[0]["id"]}, "/calendar", CALENDAR
        )
        done = await self.send(CALENDAR + ".submit_booking", {}, "/calendar", CALENDAR)
        self.results.count("booked" if done.get("booking_open_rx_state_") is False else "refused")


# Each step acts on the page the tab has open, as a person clicks: a page is opened before its
# events are sent (leaving the calendar or the worklist ends its live updates).
DESK_STEPS = (Tab.calendar, Tab.next_week, Tab.book, Tab.next_week, Tab.patients, Tab.chart)
CLINICIAN_STEPS = (Tab.worklist, Tab.advance, Tab.advance, Tab.patients, Tab.chart, Tab.search)


async def _client(
    url: str,
    email: str,
    actions: int,
    results: Results,
    start: asyncio.Event,
    ramp: asyncio.Semaphore,
    think_s: tuple[float, float],
) -> None:
    tab = Tab(url, results)
    try:
        async with ramp:  # tabs sign in a few at a time, as a clinic's morning does
            await tab.connect()
            await tab.sign_in(email)
        await start.wait()
        role = "desk" if email.startswith("reception") else "clinician"
        await tab.work(role, actions, think_s)
    except Exception as exc:  # noqa: BLE001 - every failure of a simulated tab is an error
        results.errors += 1
        kind = type(exc).__name__
        results.error_kinds[kind] = results.error_kinds.get(kind, 0) + 1
    finally:
        with contextlib.suppress(Exception):  # already gone
            await tab.client.disconnect()


def _group_rss_mb(server: LocalServer) -> float:
    """Resident memory of every process of the app's backends (their process groups)."""
    groups = set()
    for pid_file in (server.data_dir / "run").glob("app-*.pid"):
        groups.add(int(pid_file.read_text()))
    total_kb = 0
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[2]) in groups:  # field 5: process group id
                status = (proc / "status").read_text()
                rss = next(line for line in status.splitlines() if line.startswith("VmRSS:"))
                total_kb += int(rss.split()[1])
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return total_kb / 1024


async def _round(
    url: str, clients: int, actions: int, think_s: tuple[float, float]
) -> tuple[Results, float]:
    results = Results()
    start = asyncio.Event()
    ramp = asyncio.Semaphore(RAMP_CONCURRENCY)
    tasks = [
        asyncio.create_task(
            _client(url, USERS[i % len(USERS)], actions, results, start, ramp, think_s)
        )
        for i in range(clients)
    ]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until every tab signed in (or gave up)
        if results.actions + results.errors >= clients:
            break
        await asyncio.sleep(0.2)
    results.latencies_ms.clear()  # sign-ins are not part of the measured mix
    results.by_handler.clear()
    results.actions = 0
    # The 200 tabs share this one process: a full garbage collection here (150-380 ms,
    # measured) would hold every tab's answers and be counted as the app's latency.
    gc.collect()
    gc.disable()
    try:
        began = time.perf_counter()
        start.set()
        await asyncio.gather(*tasks)
        return results, time.perf_counter() - began
    finally:
        gc.enable()


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


@dataclass
class Row:
    setup: str
    pace: str
    clients: int
    p50: float
    p95: float
    errors: int
    rate: float
    mb_per_client: float
    error_kinds: dict[str, int]


def main() -> int:
    client_counts = [int(n) for n in _setting("CLINIC_BENCH_LOAD_CLIENTS", "50,100,200")]
    actions = int(_setting("CLINIC_BENCH_LOAD_ACTIONS", "12")[0])
    rows: list[Row] = []
    for setup in _setting("CLINIC_BENCH_LOAD_SETUPS", ",".join(SETUPS)):
        # Every set-up runs on PostgreSQL (scale-out needs a shared database), so the
        # comparisons are between set-ups, not databases.
        with (
            tempfile.TemporaryDirectory(prefix="clinic-load-") as tmp,
            scratch_database(PG_ADMIN_URL, f"clinic_load_{os.getpid()}_{setup}") as url,
        ):
            settings = {"CLINIC_DATABASE_URL": url}
            with local_server(Path(tmp), args=SETUPS[setup], settings=settings) as server:
                idle_mb = _group_rss_mb(server)
                paces = [("human", n, HUMAN_THINK_S) for n in client_counts]
                paces.append(("flat out", max(client_counts), FLAT_OUT))
                for pace, clients, think_s in paces:
                    results, elapsed = asyncio.run(_round(server.url, clients, actions, think_s))
                    busy_mb = _group_rss_mb(server)
                    lat = results.latencies_ms or [float("nan")]
                    rows.append(
                        Row(
                            setup,
                            pace,
                            clients,
                            statistics.median(lat),
                            percentile(lat, 95),
                            results.errors,
                            results.actions / elapsed if elapsed else 0.0,
                            max(0.0, busy_mb - idle_mb) / clients,
                            dict(results.error_kinds),
                        )
                    )
                    print(  # what the tabs did, so a quiet run cannot pass for a busy one
                        f" {setup}, {pace}, {clients} clients: {results.outcomes};"
                        f" slowest p95: {results.slowest()}",
                        flush=True,
                    )
    print("load over the websocket protocol (calendar, booking, worklist steps, charts, search)")
    print(" set-up       pace      clients   p50 ms   p95 ms  errors  actions/s  MB/client")
    for r in rows:
        line = (
            f" {r.setup:12s} {r.pace:9s} {r.clients:7d} {r.p50:8.1f} {r.p95:8.1f} {r.errors:7d}"
            f" {r.rate:10.1f} {r.mb_per_client:10.2f}"
        )
        print(line + (f"  {r.error_kinds}" if r.error_kinds else ""))
    print(" (errors: tabs that gave up after 30 s without an answer; human pace: 1–5 s between")
    print("  actions; flat out: none, so actions/s is the set-up's throughput)")
    top = max(client_counts)
    found = {(r.setup, r.pace, r.clients): r for r in rows}
    human = found.get(("scale-out-2", "human", top))
    if human:
        print(
            f" {top} clients at a human pace on 2 processes: p95 {human.p95:.0f} ms "
            f"(goal ≤ 250), errors {human.errors} (goal 0)"
        )
    two = found.get(("scale-out-2", "flat out", top))
    for baseline in ("scale-out-1", "embedded"):
        one = found.get((baseline, "flat out", top))
        if two and one and one.rate:
            print(
                f" throughput flat out, 2 processes / {baseline} = {two.rate / one.rate:.2f}"
                + (" (goal ≥ 1.6)" if baseline == "scale-out-1" else "")
            )
    return 0
