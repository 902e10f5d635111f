"""Benchmarks: each measures our code against a baseline in one run and prints the ratio."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence

# name -> module with a `main() -> int`
BENCHMARKS: dict[str, str] = {
    "events": "bench.event_roundtrip",
    "load": "bench.load",
    "scheduling": "bench.scheduling",
    "patients": "bench.patients",
    "catalog": "bench.catalog",
    "stt": "bench.stt",
    "draft": "bench.draft",
    "drawing": "bench.drawing",
}


def run_benchmarks(names: Sequence[str]) -> int:
    chosen = list(names) or list(BENCHMARKS)
    unknown = [n for n in chosen if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}")
        return 2
    status = 0
    for name in chosen:
        entry: Callable[[], int] = importlib.import_module(BENCHMARKS[name]).main
        status = max(status, entry())
    return status
