"""The `clinic` command's building blocks: migrate, demo data, the embedded Redis."""

from __future__ import annotations

from pathlib import Path

import pytest
from redis import Redis
from sqlmodel import select

from clinic_app import cli
from clinic_app.db import session_scope
from clinic_app.settings import get_settings
from models import Clinic, Medication, User


def test_migrate_and_demo_data_are_idempotent(
    app_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["migrate"]) == 0
    assert cli.main(["demo-data"]) == 0
    assert cli.main(["demo-data"]) == 0
    out = capsys.readouterr().out
    assert "demo clinic loaded" in out and "already present" in out
    with session_scope() as session:
        assert [c.slug for c in session.exec(select(Clinic)).all()] == ["demo"]
        # Five staff logins and the demo portal patient.
        assert len(session.exec(select(User)).all()) == 6


def test_embedded_redis_starts_and_stops(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("CLINIC_REDIS_URL", raising=False)
    get_settings.cache_clear()
    try:
        redis = cli.EmbeddedRedis(get_settings())
        redis.start()
        try:
            client = Redis.from_url(get_settings().effective_redis_url)
            assert client.ping() is True
            client.set("k", "v")
            assert client.get("k") == b"v"
            client.close()
        finally:
            redis.stop()
        assert not (tmp_path / "redis.sock").exists()
        assert redis.process is not None and redis.process.poll() is not None
    finally:
        get_settings.cache_clear()


def test_create_clinic_command(
    app_env: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import io

    args = ["create-clinic", "--name", "North", "--slug", "north", "--timezone", "Europe/Berlin"]
    args += ["--admin-email", "boss@north.clinic", "--password-stdin"]
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert cli.main(args) == 2
    assert "at least 12 characters" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long passphrase\n"))
    assert cli.main(args) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("a good long passphrase\n"))
    assert cli.main(args) == 2  # the slug is taken
    with session_scope() as session:
        clinic = session.exec(select(Clinic).where(Clinic.slug == "north")).one()
        assert clinic.timezone == "Europe/Berlin"


def test_catalog_import_command_reports_rejected_rows(
    app_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with session_scope() as session:
        starter = len(session.exec(select(Medication)).all())
    assert starter >= 300  # the shipped starter catalog, loaded with the schema
    assert cli.main(["demo-data"]) == 0
    good = tmp_path / "local.csv"
    good.write_text(
        "generic_name,brand_names,strength,form,route,ingredients,drug_classes,rxcui,"
        "max_daily_dose,max_daily_unit\n"
        "clinic-mix,House,10 mg,tablet,oral,clinic-mix,antihistamine,,40,mg\n"
        "broken,,10 mg,tablet,nowhere,,,,,\n",
        encoding="utf-8",
    )
    assert cli.main(["catalog", "import", str(good), "--clinic", "demo"]) == 3
    out = capsys.readouterr().out
    assert "rejected line 3: route 'nowhere'" in out and "1 added" in out
    with session_scope() as session:
        local = session.exec(
            select(Medication).where(Medication.generic_name == "clinic-mix")
        ).one()
        assert local.clinic_id is not None and local.max_daily_dose == 40
    assert cli.main(["catalog", "import", str(tmp_path / "missing.csv")]) == 2
    assert cli.main(["catalog", "import", str(good), "--clinic", "nope"]) == 2


@pytest.mark.parametrize(("preset", "expected"), [(None, "1"), ("3", "3")])
def test_worker_runs_numpy_with_one_blas_thread_unless_told(
    app_env: str, monkeypatch: pytest.MonkeyPatch, preset: str | None, expected: str
) -> None:
    import os

    import workers.main
    from clinic_app.cli import main

    seen: dict[str, str | None] = {}
    monkeypatch.setattr(
        workers.main,
        "run_worker",
        lambda burst: seen.update(value=os.environ.get("OPENBLAS_NUM_THREADS")),
    )
    # Set, then delete: monkeypatch records the original and restores it after the test.
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "placeholder")
    monkeypatch.delenv("OPENBLAS_NUM_THREADS")
    if preset is not None:
        monkeypatch.setenv("OPENBLAS_NUM_THREADS", preset)
    assert main(["worker", "--burst"]) == 0
    assert seen == {"value": expected}
