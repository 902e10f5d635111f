"""Medication type-ahead on PostgreSQL: the service's search vs a bare prefix query.

Seeds a fresh database with the shipped starter catalog plus ``--local`` synthetic clinic items
(a large formulary), then times ``medication_catalog.search`` (access check, every word in name,
strength, form, brands, ingredients or classes, ranking) for typical typed prefixes, against a
plain ``generic_name LIKE 'prefix%'`` on the same table. Goal: p95 ≤ 50 ms.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence

import sqlalchemy as sa

from bench.postgres import scratch_database

QUERIES = ("am", "amox", "amoxicillin 500", "met", "metformin", "ibu 400", "ator", "nsaid",
           "sal", "pred", "ome", "lisin", "sertr", "cef", "zzz")  # fmt: skip
ROUNDS = 20


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.catalog")
    parser.add_argument("--local", type=int, default=20_000, help="synthetic clinic items")
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    return parser.parse_args(argv)


def _p95_ms(fn: Callable[[str], object]) -> float:
    timings = []
    for _ in range(ROUNDS):
        for query in QUERIES:
            started = time.perf_counter()
            fn(query)
            timings.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(timings, n=20)[18]


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv if argv is not None else [])
    with scratch_database(args.pg_admin_url, f"clinic_bench_catalog_{os.getpid()}") as url:
        os.environ.update(
            CLINIC_DATABASE_URL=url,
            CLINIC_REDIS_URL=args.redis_url,
            CLINIC_DATA_DIR=tempfile.mkdtemp(prefix="bench-catalog-"),
        )
        from clinic_app import migrations
        from clinic_app.db import get_engine, session_scope
        from clinic_app.security.actor import Actor
        from clinic_app.services import medication_catalog
        from clinic_app.settings import get_settings
        from models import Clinic, Medication

        for cached in (get_settings, get_engine):
            cached.cache_clear()
        migrations.upgrade_head(url)
        with session_scope() as session:
            clinic = Clinic(name="Bench", slug="bench")
            session.add(clinic)
            session.flush()
            clinic_id = clinic.id
            for n in range(args.local):
                session.add(
                    Medication(
                        clinic_id=clinic_id,
                        generic_name=f"local product {n:05d}",
                        strength=f"{n % 900 + 1} mg",
                        form="tablet",
                        route="oral",
                        ingredients=[f"ingredient {n % 3000}"],
                        drug_classes=["house formulary"],
                        search_text=f"local product {n:05d} {n % 900 + 1} mg tablet",
                        source="local",
                    )
                )
        actor = Actor(uuid.uuid4(), clinic_id, "doctor", "Bench", "bench@example.org")
        with session_scope(clinic_id=clinic_id) as session:
            total = session.exec(sa.select(sa.func.count()).select_from(Medication)).one()[0]

            def ours(query: str) -> object:
                return medication_catalog.search(session, actor=actor, query=query)

            def plain(query: str) -> object:
                return session.execute(
                    sa.text(
                        "SELECT id, generic_name, strength, form FROM medications "
                        "WHERE generic_name LIKE :p ORDER BY generic_name LIMIT 12"
                    ),
                    {"p": query.split()[0] + "%"},
                ).all()

            ours(QUERIES[0]), plain(QUERIES[0])  # warm caches
            our_p95, plain_p95 = _p95_ms(ours), _p95_ms(plain)
        print(
            f"catalog: type-ahead over {total:,} catalog items (PostgreSQL), "
            f"{len(QUERIES)} queries x {ROUNDS}"
        )
        print(
            f"  search p95 {our_p95:6.1f} ms (goal ≤ 50)  bare prefix LIKE {plain_p95:5.1f} ms"
            f"  ratio {our_p95 / plain_p95:5.1f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
