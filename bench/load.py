"""Load: many simulated browser tabs over Reflex's real websocket protocol (python-socketio).

Each client connects like a tab (token in the query, namespace ``/_event``), signs in as a
demo user, then loops over a mix of what staff do all day: open the worklist, open the patient
list, search, open a chart. Latency is emit → the first update carrying the target page
state's delta. Runs 50, 100 and 200 clients against 1 and 2 app processes (the 2-process run
is `clinic up --processes 2`, behind nginx) and prints p50/p95, errors, throughput, and the
app processes' memory per client. The scheduling issue adds calendar navigation and booking.

``clinic bench load`` runs the full matrix; ``CLINIC_BENCH_LOAD_CLIENTS=20,50`` and
``CLINIC_BENCH_LOAD_ACTIONS=5`` make a quick run.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import socketio

from clinic_app.local_server import LocalServer, local_server
from clinic_app.services.demo import DEMO_PASSWORD
from state.login import LoginState
from state.patients import PatientsState
from state.worklist import WorklistState

NAMESPACE = "/_event"
USERS = ("doctor@demo.clinic", "nurse@demo.clinic", "reception@demo.clinic")
TIMEOUT_S = 30.0
THINK_S = 0.2
RAMP_CONCURRENCY = 8


def _setting(name: str, default: str) -> list[int]:
    # Benchmarks are tools, not the app: a plain env read for their own knobs is fine here.
    return [int(x) for x in os.environ.get(name, default).split(",") if x.strip()]


@dataclass
class Results:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    actions: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)


class Tab:
    """One simulated browser tab."""

    def __init__(self, url: str, results: Results) -> None:
        self.url = url
        self.token = str(uuid.uuid4())
        self.results = results
        self.client = socketio.AsyncClient(reconnection=False)
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.client.on("event", self._receive, namespace=NAMESPACE)
        self.patient_ids: list[str] = []

    async def _receive(self, data: dict[str, Any]) -> None:
        await self.inbox.put(data)

    async def connect(self) -> None:
        await self.client.connect(
            f"{self.url}/?token={self.token}",
            socketio_path="/_event",
            transports=["websocket"],
            namespaces=[NAMESPACE],
            wait_timeout=TIMEOUT_S,
        )

    async def send(
        self, handler: str, payload: dict[str, Any], path: str, state: str
    ) -> dict[str, Any]:
        """Emit one event; wait for the update that changes ``state``; returns that delta."""
        while not self.inbox.empty():
            self.inbox.get_nowait()
        started = time.perf_counter()
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
        deadline = started + TIMEOUT_S
        while True:
            remaining = deadline - time.perf_counter()
            message = await asyncio.wait_for(self.inbox.get(), timeout=max(0.01, remaining))
            delta = message.get("delta") or {}
            if state in delta:
                self.results.latencies_ms.append((time.perf_counter() - started) * 1000)
                self.results.actions += 1
                return dict(delta[state])

    async def sign_in(self, email: str) -> None:
        await self.send(
            LoginState.get_full_name() + ".sign_in",
            {"form_data": {"email": email, "password": DEMO_PASSWORD}},
            "/login",
            "reflex___state____state.state___base____app_state",
        )

    async def work(self, actions: int) -> None:
        patients = PatientsState.get_full_name()
        worklist = WorklistState.get_full_name()
        for index in range(actions):
            step = index % 4
            if step == 0:
                await self.send(worklist + ".load", {}, "/worklist", worklist)
            elif step == 1:
                delta = await self.send(patients + ".load", {}, "/patients", patients)
                rows = delta.get("patients_rx_state_") or []
                self.patient_ids = [str(row["id"]) for row in rows] or self.patient_ids
            elif step == 2:
                await self.send(patients + ".search", {"query": "a"}, "/patients", patients)
            elif self.patient_ids:
                pid = self.patient_ids[index % len(self.patient_ids)]
                await self.send(
                    patients + ".select_patient", {"patient_id": pid}, "/patients", patients
                )
            await asyncio.sleep(THINK_S)


async def _client(
    url: str,
    email: str,
    actions: int,
    results: Results,
    start: asyncio.Event,
    ramp: asyncio.Semaphore,
) -> None:
    tab = Tab(url, results)
    try:
        async with ramp:  # tabs sign in a few at a time, as a clinic's morning does
            await tab.connect()
            await tab.sign_in(email)
        await start.wait()
        await tab.work(actions)
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


async def _round(url: str, clients: int, actions: int) -> tuple[Results, float]:
    results = Results()
    start = asyncio.Event()
    ramp = asyncio.Semaphore(RAMP_CONCURRENCY)
    tasks = [
        asyncio.create_task(_client(url, USERS[i % len(USERS)], actions, results, start, ramp))
        for i in range(clients)
    ]
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # until every tab signed in (or gave up)
        if results.actions + results.errors >= clients:
            break
        await asyncio.sleep(0.2)
    results.latencies_ms.clear()  # sign-ins are not part of the measured mix
    results.actions = 0
    began = time.perf_counter()
    start.set()
    await asyncio.gather(*tasks)
    return results, time.perf_counter() - began


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def main() -> int:
    client_counts = _setting("CLINIC_BENCH_LOAD_CLIENTS", "50,100,200")
    actions = _setting("CLINIC_BENCH_LOAD_ACTIONS", "12")[0]
    rows = []
    for processes in (1, 2):
        with tempfile.TemporaryDirectory(prefix="clinic-load-") as tmp:
            args = ["--processes", str(processes)] if processes > 1 else []
            with local_server(Path(tmp), args=args) as server:
                idle_mb = _group_rss_mb(server)
                for clients in client_counts:
                    results, elapsed = asyncio.run(_round(server.url, clients, actions))
                    busy_mb = _group_rss_mb(server)
                    lat = results.latencies_ms or [float("nan")]
                    rows.append(
                        (
                            processes,
                            clients,
                            statistics.median(lat),
                            percentile(lat, 95),
                            results.errors,
                            results.actions / elapsed if elapsed else 0.0,
                            max(0.0, busy_mb - idle_mb) / clients,
                        )
                    )
    print("load over the websocket protocol (worklist, patient list, search, chart open)")
    print(" procs clients   p50 ms   p95 ms  errors  actions/s  MB/client")
    for procs, clients, p50, p95, errors, rate, mb in rows:
        print(f" {procs:5d} {clients:7d} {p50:8.1f} {p95:8.1f} {errors:7d} {rate:10.1f} {mb:10.2f}")
    print(" (errors: tabs that gave up after 30 s without an answer)")
    by_key = {(r[0], r[1]): r for r in rows}
    top = max(client_counts)
    if (1, top) in by_key and (2, top) in by_key and by_key[(1, top)][5]:
        ratio = by_key[(2, top)][5] / by_key[(1, top)][5]
        p95 = by_key[(2, top)][3]
        errors = by_key[(2, top)][4]
        print(f" {top} clients: throughput 2 processes / 1 process = {ratio:.2f} (goal ≥ 1.6)")
        print(f" {top} clients on 2 processes: p95 {p95:.0f} ms (goal ≤ 250), errors {errors}")
    return 0
