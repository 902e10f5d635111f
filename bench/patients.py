"""Patient search on encrypted data, and chunked upload throughput.

1. Search (PostgreSQL): ``--patients`` patients (the issue's size is 1,000,000) with encrypted
   names, phones and birth dates and their blind-index rows, seeded with COPY. p95 of
   ``search_patients`` (full service path: access check, index lookup, decrypting the rows) for a
   name prefix, a phone number and an MRN, against the same searches on a plain-text copy of
   the table with B-tree indexes (the baseline a system without encryption would have).
   Goal: p95 ≤ 20 ms.
2. Upload: a 64 MiB file in 8 MiB chunks, two in flight (what the browser uploader does),
   through the real HTTP routes (granian on loopback, SHA-256 checked per chunk and for the
   whole file, local storage), against writing the same bytes to disk. Goal ≥ 100 MB/s.
   ``--only upload`` skips the search part (no seeding); ``--chunk-mb`` and ``--parallel``
   measure other shapes.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.postgres import scratch_database

SEARCH_SAMPLES = 200
FAMILIES = [
    "Garcia",
    "Smith",
    "Tanaka",
    "Okafor",
    "Schmidt",
    "Novak",
    "Haddad",
    "Kowalski",
    "Silva",
    "Nguyen",
    "Ivanova",
    "Rossi",
    "Dubois",
    "Andersen",
    "Yilmaz",
    "Moreau",
]
GIVEN = [
    "Maria",
    "John",
    "Aiko",
    "Amina",
    "Lena",
    "Omar",
    "Sofia",
    "Liam",
    "Noah",
    "Mia",
    "Yusuf",
    "Elena",
    "Kenji",
    "Zara",
    "Ivan",
    "Chloe",
]


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.patients")
    parser.add_argument("--patients", type=int, default=1_000_000)
    parser.add_argument("--upload-mb", type=int, default=64)
    parser.add_argument(
        "--chunk-mb", type=int, default=8, help="chunk size in MiB (the browser sends 8)"
    )
    parser.add_argument(
        "--parallel", type=int, default=2, help="chunks in flight (the browser sends 2)"
    )
    parser.add_argument("--upload-runs", type=int, default=5, help="uploads timed (median)")
    parser.add_argument(
        "--only", choices=["search", "upload"], help="run one part (upload needs no seeding)"
    )
    parser.add_argument(
        "--pg-admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    return parser.parse_args(argv)


def _p95(fn: Callable[[], object], samples: int = SEARCH_SAMPLES) -> float:
    timings = []
    for _ in range(samples):
        started = time.perf_counter()
        fn()
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(timings, n=20)[18]


def _person(n: int) -> tuple[str, str, str]:
    rng = random.Random(n)
    family = f"{rng.choice(FAMILIES)}{n % 997}"
    given = rng.choice(GIVEN)
    phone = f"+49 151 {n:08d}"
    return given, family, phone


def _seed(url: str, clinic_id: uuid.UUID, count: int) -> None:
    """Encrypted patients + index rows with COPY, and the plain-text baseline table."""
    import psycopg

    from clinic_app.security import pii
    from clinic_app.services.patient_index import search_terms
    from models import Patient

    raw = url.replace("postgresql+psycopg://", "postgresql://")
    key_id = pii.key_ring().current
    with psycopg.connect(raw) as conn:
        conn.execute(
            "INSERT INTO clinics (id, name, slug, timezone, locale, created_at, updated_at,"
            " version) VALUES (%s, 'Bench', 'bench-patients', 'UTC', 'en', now(), now(), 1)",
            (clinic_id,),
        )
        conn.execute(
            "CREATE TABLE plain_patients (id uuid primary key, clinic_id uuid, mrn text,"
            " given_name text, family_name text, phone_tail text)"
        )
        cur = conn.cursor()
        batch = 20_000
        for start in range(1, count + 1, batch):
            rows, terms, plain = [], [], []
            for n in range(start, min(count, start + batch - 1) + 1):
                given, family, phone = _person(n)
                pid = uuid.UUID(int=n)
                mrn = f"PAT-2026-{n:07d}"
                rows.append(
                    (
                        pid,
                        clinic_id,
                        mrn,
                        pii.encrypt(given),
                        pii.encrypt(family),
                        pii.encrypt(phone),
                        key_id,
                        "now",
                        "now",
                        1,
                    )
                )
                shadow = Patient(given_name=given, family_name=family, phone=phone, mrn=mrn)
                for kind, value in search_terms(shadow):
                    terms.append((uuid.uuid4(), clinic_id, pid, kind, pii.blind(kind, value)))
                plain.append((pid, clinic_id, mrn, given.lower(), family.lower(), phone[-7:]))
            with cur.copy(
                "COPY patients (id, clinic_id, mrn, given_name, family_name, phone, pii_key_id,"
                " created_at, updated_at, version) FROM STDIN"
            ) as copy:
                for row in rows:
                    copy.write_row(row)
            with cur.copy(
                "COPY patient_search_terms (id, clinic_id, patient_id, kind, term_hash) FROM STDIN"
            ) as copy:
                for row in terms:
                    copy.write_row(row)
            with cur.copy("COPY plain_patients FROM STDIN") as copy:
                for row in plain:
                    copy.write_row(row)
            conn.commit()
        conn.execute("CREATE INDEX ON plain_patients (clinic_id, family_name text_pattern_ops)")
        conn.execute("CREATE INDEX ON plain_patients (clinic_id, phone_tail)")
        conn.execute("CREATE INDEX ON plain_patients (clinic_id, mrn text_pattern_ops)")
        conn.commit()
        conn.execute("ANALYZE")


def _bench_search(url: str, count: int) -> dict[str, tuple[float, float]]:
    from clinic_app.db import get_engine, session_scope
    from clinic_app.security.actor import Actor
    from clinic_app.services.patients import search_patients

    clinic_id = uuid.uuid4()
    started = time.perf_counter()
    _seed(url, clinic_id, count)
    print(f"  seeded {count:,} encrypted patients + index in {time.perf_counter() - started:.0f} s")
    actor = Actor(uuid.uuid4(), clinic_id, "receptionist", "Bench", "bench@example.org")
    rng = random.Random(7)

    def sample() -> tuple[str, str, str, str]:
        n = rng.randint(1, count)
        given, family, phone = _person(n)
        return family[:5], phone, f"PAT-2026-{n:07d}", family

    engine = get_engine()
    results: dict[str, tuple[float, float]] = {}
    for label, ours, plain_sql in (
        (
            "name prefix",
            lambda s: s[0],
            "SELECT * FROM plain_patients WHERE clinic_id = :c"
            " AND family_name LIKE :q ORDER BY family_name LIMIT 200",
        ),
        (
            "phone",
            lambda s: s[1],
            "SELECT * FROM plain_patients WHERE clinic_id = :c AND phone_tail = :q LIMIT 200",
        ),
        (
            "MRN",
            lambda s: s[2],
            "SELECT * FROM plain_patients WHERE clinic_id = :c AND mrn LIKE :q LIMIT 200",
        ),
    ):

        def run_ours(ours: Callable[[tuple[str, str, str, str]], str] = ours) -> None:
            query = ours(sample())
            with session_scope(clinic_id=clinic_id) as session:
                search_patients(session, actor=actor, query=query)

        def run_plain(label: str = label, plain_sql: str = plain_sql) -> None:
            s = sample()
            value = {"name prefix": s[0].lower() + "%", "phone": s[1][-7:], "MRN": s[2] + "%"}[
                label
            ]
            with engine.connect() as conn:
                conn.execute(sa.text(plain_sql), {"c": clinic_id, "q": value}).all()

        run_ours()
        run_plain()
        results[label] = (_p95(run_ours), _p95(run_plain))
    return results


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _upload_once(
    client: httpx.Client, patient_id: str, data: bytes, chunk: int, parallel: int
) -> None:
    """One upload as assets/chart_upload.js does it: hash, init, chunks (``parallel`` in
    flight, each hashed by the sender), complete."""
    headers = {"X-Requested-With": "clinic"}
    upload = client.post(
        "/api/uploads",
        json={
            "patient_id": patient_id,
            "filename": "bench.pdf",
            "content_type": "application/pdf",
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "chunk_size": chunk,
        },
        headers=headers,
    )
    if upload.status_code != 200:
        raise RuntimeError(f"upload refused: {upload.text}")
    upload_id, chunks = upload.json()["upload_id"], upload.json()["chunks"]

    def send(index: int) -> None:
        piece = data[index * chunk : (index + 1) * chunk]
        client.put(
            f"/api/uploads/{upload_id}/chunks/{index}",
            content=piece,
            headers={**headers, "X-Chunk-SHA256": hashlib.sha256(piece).hexdigest()},
        ).raise_for_status()

    with ThreadPoolExecutor(max_workers=parallel) as pool:
        list(pool.map(send, range(chunks)))
    client.post(f"/api/uploads/{upload_id}/complete", headers=headers).raise_for_status()


def _bench_upload(
    megabytes: int, chunk_mb: int, runs: int, parallel: int
) -> tuple[list[float], float]:
    """MB/s of ``runs`` chunked HTTP uploads and of a plain disk write of the same bytes.

    The clock covers what the browser does too: hashing the file and each chunk.
    """
    from sqlmodel import select

    from clinic_app.db import session_scope
    from clinic_app.security import sessions
    from clinic_app.services import auth
    from clinic_app.services.demo import DEMO_PASSWORD, load_demo_clinic
    from models import Patient

    with session_scope() as session:
        load_demo_clinic(session)
        actor = auth.authenticate(session, email="nurse@demo.clinic", password=DEMO_PASSWORD)
        code = sessions.begin(session, user_id=actor.user_id, clinic_id=actor.clinic_id)
        token, _ = sessions.complete(session, code=code)
        patient_id = str(
            session.exec(select(Patient).where(Patient.clinic_id == actor.clinic_id)).first().id  # type: ignore[union-attr]
        )
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "granian",
            "--interface",
            "asgi",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "error",
            "clinic_app.api.routes:build_api",
        ],
        env=os.environ.copy(),
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/health/live", timeout=1)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    data = os.urandom(megabytes * 1024 * 1024)
    chunk = chunk_mb * 1024 * 1024
    rates = []
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}", cookies={sessions.COOKIE_NAME: token}, timeout=60
        ) as client:
            for _ in range(runs):
                started = time.perf_counter()
                _upload_once(client, patient_id, data, chunk, parallel)
                rates.append(megabytes / (time.perf_counter() - started))
    finally:
        server.terminate()
        server.wait(timeout=10)
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        target = Path(tmp) / "plain.bin"
        with target.open("wb") as out:
            for index in range(0, len(data), chunk):
                out.write(data[index : index + chunk])
            out.flush()
            os.fsync(out.fileno())
        plain = megabytes / (time.perf_counter() - started)
    return rates, plain


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv if argv is not None else [])
    with scratch_database(args.pg_admin_url, f"clinic_bench_patients_{os.getpid()}") as url:
        os.environ.update(
            CLINIC_DATABASE_URL=url,
            CLINIC_REDIS_URL=args.redis_url,
            CLINIC_DATA_DIR=tempfile.mkdtemp(prefix="bench-patients-"),
            CLINIC_UPLOAD_MAX_MB=str(max(64, args.upload_mb + 1)),
        )
        from clinic_app import migrations
        from clinic_app.db import get_engine
        from clinic_app.redis_conn import get_redis
        from clinic_app.security import pii
        from clinic_app.settings import get_settings

        for cached in (get_settings, get_engine, get_redis, pii.key_ring):
            cached.cache_clear()
        migrations.upgrade_head(url)
        if args.only != "upload":
            print(f"patients: search over {args.patients:,} encrypted patients (PostgreSQL)")
            for label, (ours, plain) in _bench_search(url, args.patients).items():
                print(
                    f"  {label:<12} p95 {ours:6.1f} ms (goal ≤ 20)  plain-text B-tree"
                    f" {plain:5.1f} ms  ratio {ours / plain:5.1f}"
                )
        if args.only != "search":
            rates, plain = _bench_upload(
                args.upload_mb, args.chunk_mb, args.upload_runs, args.parallel
            )
            ours = statistics.median(rates)
            print(
                f"  upload {args.upload_mb} MiB in {args.chunk_mb} MiB chunks, {args.parallel} in"
                " flight, over loopback HTTP,"
                f" median of {len(rates)}: {ours:4.0f} MB/s (goal ≥ 100; best {max(rates):.0f},"
                f" worst {min(rates):.0f})  plain disk write {plain:5.0f} MB/s"
                f"  ratio {ours / plain:4.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(__import__("sys").argv[1:]))
