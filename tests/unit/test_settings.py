"""Configuration: defaults are embedded, bad values name the variable, the README lists all."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from clinic_app import cli
from clinic_app.errors import ConfigError
from clinic_app.settings import PROJECT_ROOT, Settings, load_settings


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    for name in list(__import__("os").environ):
        if name.startswith("CLINIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("CLINIC_DATA_DIR", str(tmp_path))
    return tmp_path


def test_embedded_defaults(clean_env: Path) -> None:
    settings = load_settings()
    assert settings.effective_database_url == f"sqlite:///{clean_env / 'clinic.db'}"
    assert settings.effective_redis_url == f"unix://{clean_env / 'redis.sock'}"
    assert settings.storage_backend == "local"
    assert settings.storage_dir == clean_env / "files"


def test_secret_key_generated_once_and_private(clean_env: Path) -> None:
    first = load_settings().effective_secret_key()
    second = load_settings().effective_secret_key()
    assert first == second and len(first) >= 40
    assert (clean_env / "secret_key").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("CLINIC_DATABASE_URL", "mysql://db/clinic"),
        ("CLINIC_DATABASE_URL", "postgresql://db/clinic"),
        ("CLINIC_REDIS_URL", "http://redis"),
        ("CLINIC_PORT", "not-a-port"),
        ("CLINIC_PORT", "70000"),
        ("CLINIC_STORAGE_BACKEND", "ftp"),
        ("CLINIC_DOWNLOAD_URL_TTL_SECONDS", "3600"),
    ],
)
def test_bad_value_names_the_variable(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings()


def test_s3_needs_a_bucket(clean_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLINIC_STORAGE_BACKEND", "s3")
    with pytest.raises(ConfigError, match="CLINIC_S3_BUCKET"):
        load_settings()


def test_readme_documents_every_setting() -> None:
    readme = (PROJECT_ROOT / "README.md").read_text()
    missing = [n for n in Settings.model_fields if f"`CLINIC_{n.upper()}`" not in readme]
    assert missing == []


def test_cli_reports_bad_setting_without_traceback(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CLINIC_REDIS_URL", "http://nope")
    from clinic_app.settings import get_settings

    get_settings.cache_clear()
    try:
        assert cli.main(["migrate"]) == 2
    finally:
        get_settings.cache_clear()
    err = capsys.readouterr().err
    assert "CLINIC_REDIS_URL" in err and "Traceback" not in err


def test_cli_up_refuses_a_port_in_use(
    clean_env: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from clinic_app.settings import get_settings

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("CLINIC_PORT", str(port))
        try:
            assert cli.main(["up"]) == 2
        finally:
            get_settings.cache_clear()
    err = capsys.readouterr().err
    assert f"port {port}" in err and "already in use" in err
    assert not (clean_env / "clinic.db").exists()
