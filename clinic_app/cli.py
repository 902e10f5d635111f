"""The `clinic` command: run the app, a worker, migrations, demo data, backups, benchmarks."""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.exc import OperationalError

from clinic_app.errors import AppError, ConfigError
from clinic_app.observability import configure_logging
from clinic_app.scaleout import (
    Child,
    Supervisor,
    backend_ports,
    nginx_binary,
    write_nginx_config,
)
from clinic_app.settings import PROJECT_ROOT, Settings, get_settings

TOOLS_BIN = PROJECT_ROOT / ".tools" / "node_modules" / ".bin"


def _print(message: str) -> None:
    print(f"[clinic] {message}", flush=True)


def _fail(message: str, code: int = 2) -> int:
    print(f"[clinic] error: {message}", file=sys.stderr, flush=True)
    return code


def _port_is_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def cmd_migrate(_args: argparse.Namespace) -> int:
    from clinic_app import migrations

    migrations.upgrade_head()
    _print(f"database at revision {migrations.current_revision()}")
    return 0


def cmd_demo_data(_args: argparse.Namespace) -> int:
    from clinic_app.db import session_scope
    from clinic_app.services.demo import load_demo_clinic

    with session_scope() as session:
        created = load_demo_clinic(session)
    _print("demo clinic loaded" if created else "demo clinic already present")
    return 0


def cmd_create_clinic(args: argparse.Namespace) -> int:
    """Add a tenant with its first admin (the password is asked for, or read from stdin)."""
    import getpass

    from clinic_app.db import session_scope
    from clinic_app.errors import AppError
    from clinic_app.services.clinics import create_clinic

    password = (
        sys.stdin.readline().rstrip("\n")
        if args.password_stdin
        else getpass.getpass("Password for the clinic admin: ")
    )
    try:
        with session_scope() as session:
            create_clinic(
                session,
                name=args.name,
                slug=args.slug,
                timezone=args.timezone,
                admin_email=args.admin_email,
                admin_name=args.admin_name,
                admin_password=password,
            )
    except AppError as exc:
        return _fail(exc.message)
    _print(f"clinic {args.slug!r} created; {args.admin_email} can sign in as its admin")
    return 0


def cmd_super_admin(args: argparse.Namespace) -> int:
    """Make a user an installation admin (or take it back): the web console's only door."""
    from clinic_app.db import session_scope
    from clinic_app.errors import AppError
    from clinic_app.services.clinics import set_super_admin

    try:
        with session_scope() as session:
            set_super_admin(session, email=args.email, granted=not args.revoke)
    except AppError as exc:
        return _fail(exc.message)
    what = "is no longer" if args.revoke else "is now"
    _print(f"{args.email} {what} an installation admin (console: /installation)")
    return 0


def cmd_rekey(_args: argparse.Namespace) -> int:
    """Re-encrypt patient data with the first key of CLINIC_PII_KEYS (after a rotation)."""
    from clinic_app.db import session_scope
    from clinic_app.services.rekey import rekey_chart, rekey_patients

    patients = rekey_patients(session_scope)
    with session_scope() as session:
        chart_rows = rekey_chart(session)
    _print(f"re-encrypted {patients} patient(s) and {chart_rows} chart row(s) with the current key")
    return 0


def cmd_catalog_import(args: argparse.Namespace) -> int:
    """Load a medication CSV: into one clinic's catalog (--clinic) or the shared one."""
    from sqlmodel import select

    from clinic_app.db import session_scope
    from clinic_app.errors import AppError
    from clinic_app.services.medication_catalog import import_rows
    from models import Clinic

    try:
        text = Path(args.file).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        return _fail(f"cannot read {args.file}: {exc}")
    try:
        with session_scope() as session:
            clinic_id = None
            if args.clinic:
                clinic = session.exec(select(Clinic).where(Clinic.slug == args.clinic)).first()
                if clinic is None:
                    return _fail(f"no clinic with slug {args.clinic!r}")
                clinic_id = clinic.id
            report = import_rows(
                session, text=text, clinic_id=clinic_id, source="import" if clinic_id else "starter"
            )
    except AppError as exc:
        return _fail(exc.message)
    for line, reason in report.rejected:
        _print(f"rejected line {line}: {reason}")
    _print(
        f"catalog: {report.added} added, {report.updated} updated, {len(report.rejected)} rejected"
    )
    return 3 if report.rejected else 0


def cmd_backup(args: argparse.Namespace) -> int:
    """One archive: database dump + every stored file + manifest of SHA-256 sums."""
    from clinic_app.backup import create_backup
    from clinic_app.storage import get_storage

    settings = get_settings()
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    output = Path(args.output or settings.data_dir / "backups" / f"clinic-backup-{stamp}.tar")
    summary = create_backup(settings, get_storage(), output)
    _print(
        f"backup written to {summary.path}: schema {summary.schema_revision}, database "
        f"{summary.database_bytes} bytes, {summary.files} files ({summary.file_bytes} bytes)"
    )
    _print("keys are NOT in the archive: keep CLINIC_SECRET_KEY / data_dir keys separately")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    """Verify every checksum, then restore into this empty installation."""
    from clinic_app.backup import BackupError, restore_backup
    from clinic_app.storage import get_storage

    try:
        manifest = restore_backup(get_settings(), get_storage(), Path(args.archive))
    except BackupError as exc:
        return _fail(exc.message)
    _print(
        f"restored {len(manifest['files'])} files and the database "
        f"(schema {manifest['schema_revision']}, made {manifest['created_at']})"
    )
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    # One BLAS thread for numpy (the drafter's embeddings): on a shared 2-core machine its
    # default thread pool ran 4–15× slower. Must be set before numpy loads; an explicit
    # environment setting wins.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from workers.main import run_worker

    run_worker(burst=args.burst)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from clinic_app.ai import evaluation

    return evaluation.main(args.options)


def cmd_bench(args: argparse.Namespace) -> int:
    from bench import run_benchmarks

    return run_benchmarks(args.names)


class EmbeddedRedis:
    """A private redis-server on a unix socket in the data dir, for the no-env-var default."""

    def __init__(self, settings: Settings) -> None:
        self.socket_path = settings.embedded_redis_socket
        self.log_path = settings.data_dir / "redis.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        from redis import Redis

        self.socket_path.unlink(missing_ok=True)
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                "0",
                "--unixsocket",
                str(self.socket_path),
                "--unixsocketperm",
                "700",
                "--save",
                "",
                "--appendonly",
                "no",
                "--logfile",
                str(self.log_path),
            ],
            stdin=subprocess.DEVNULL,
        )
        client = Redis(unix_socket_path=str(self.socket_path), socket_connect_timeout=1)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited; see {self.log_path}")
            try:
                client.ping()
                return
            except Exception:  # noqa: BLE001 - not up yet
                time.sleep(0.1)
        raise RuntimeError(f"redis-server did not start within 10 s; see {self.log_path}")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.socket_path.unlink(missing_ok=True)


def _child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = f"{TOOLS_BIN}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env["REFLEX_USE_SYSTEM_BUN"] = "1"
    env["CLINIC_REDIS_URL"] = settings.effective_redis_url
    env["CLINIC_PORT"] = str(settings.port)
    env["CLINIC_HOST"] = settings.host
    env["CLINIC_DATA_DIR"] = str(settings.data_dir)
    env.setdefault("PYTHONUNBUFFERED", "1")
    return env


def _spawn(cmd: list[str], env: dict[str, str]) -> Callable[[], subprocess.Popen[bytes]]:
    return lambda: subprocess.Popen(cmd, env=env, cwd=PROJECT_ROOT, start_new_session=True)


def _reflex_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "reflex", "run", "--env", "prod", *args]


def _private_web_dir(settings: Settings) -> Path:
    """A frontend build directory of this installation's own (``data_dir/web``).

    Every start builds the frontend with the address it serves on; two installations run from
    one checkout (a second clinic, the test servers) would otherwise overwrite each other's
    build and send their browsers to the other one's port.
    """
    web_dir = settings.data_dir / "web"
    if not web_dir.exists() and (PROJECT_ROOT / ".web").exists():
        shutil.copytree(PROJECT_ROOT / ".web", web_dir, symlinks=True)
    return web_dir


def _add_single_process(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    """The default: one Reflex process serving pages, events and API on one port."""
    if settings.data_dir.resolve() != (PROJECT_ROOT / "var").resolve():
        env = {**env, "REFLEX_WEB_WORKDIR": str(_private_web_dir(settings))}
    port, host = str(settings.port), settings.host
    cmd = _reflex_cmd("--single-port", "--frontend-port", port, "--backend-port", port)
    pid_file = settings.data_dir / "run" / "app-1.pid"
    app = Child("app", _spawn([*cmd, "--backend-host", host], env), False, pid_file=pid_file)
    supervisor.add(app)


def _add_scale_out(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    """N backends with tab state in Redis behind nginx, which also serves the static frontend."""
    ports = backend_ports(settings, settings.processes)
    busy = [p for p in ports if not _port_is_free("127.0.0.1", p)]
    if busy:
        raise RuntimeError(
            f"backend port(s) {busy} are in use; scale-out uses the {len(ports)} ports after "
            f"CLINIC_PORT ({settings.port}) — choose another CLINIC_PORT"
        )
    # A build of its own: the static files point at nginx's address.
    web_dir = _private_web_dir(settings)
    env = {**env, "REFLEX_WEB_WORKDIR": str(web_dir)}
    _print(f"building the frontend for {settings.effective_public_url} (static, served by nginx)")
    build = subprocess.run(
        [sys.executable, "-m", "reflex", "export", "--frontend-only", "--no-zip"],
        env=env,
        cwd=PROJECT_ROOT,
        capture_output=True,
        check=False,
    )
    if build.returncode != 0:
        tail = build.stdout.decode(errors="replace")[-2000:] + build.stderr.decode()[-2000:]
        raise RuntimeError(f"frontend build failed:\n{tail}")
    # One process per port (nginx spreads load); a tab's state is held between its events, and
    # written through after each (``reflex_hooks``, hook 4).
    backend_env = {**env, "GRANIAN_WORKERS": "1", "REFLEX_OPLOCK_ENABLED": "1"}
    run_dir = settings.data_dir / "run"
    for index, port in enumerate(ports, start=1):
        cmd = _reflex_cmd("--backend-only", "--backend-port", str(port))
        supervisor.add(
            Child(
                f"app-{index}",
                _spawn([*cmd, "--backend-host", "127.0.0.1"], backend_env),
                restart=True,
                pid_file=run_dir / f"app-{index}.pid",
            )
        )
    config = write_nginx_config(settings, ports, static_root=web_dir / "build" / "client")
    nginx = [nginx_binary(), "-p", str(config.parent), "-c", str(config)]
    supervisor.add(Child("nginx", _spawn(nginx, env), restart=False))


def cmd_up(args: argparse.Namespace) -> int:
    """Everything a clinic needs on one machine: Redis, migrations, demo data, worker(s), app."""
    for flag, name in (
        (args.port, "PORT"),
        (args.host, "HOST"),
        (args.processes, "PROCESSES"),
        (args.scale_out, "SCALE_OUT"),
        (args.workers, "WORKERS"),
    ):
        if flag:
            os.environ[f"CLINIC_{name}"] = str(flag)
    get_settings.cache_clear()
    settings = get_settings()
    if not _port_is_free(settings.host, settings.port):
        return _fail(
            f"port {settings.port} on {settings.host} is already in use — stop the program using"
            " it, or choose another with CLINIC_PORT=… (or `clinic up --port …`)."
        )
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    settings.effective_secret_key()

    redis: EmbeddedRedis | None = None
    if not settings.redis_url:
        redis = EmbeddedRedis(settings)
        redis.start()
        _print(f"embedded Redis on {settings.embedded_redis_socket}")
    supervisor = Supervisor(log=_print)
    stopping = False

    def _on_signal(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    reason: str | None = None
    try:
        os.environ["CLINIC_REDIS_URL"] = settings.effective_redis_url
        cmd_migrate(args)
        if settings.demo_data:
            cmd_demo_data(args)
        env = _child_env(settings)
        worker_cmd = [sys.executable, "-m", "clinic_app.cli", "worker"]
        for index in range(1, settings.workers + 1):
            name = "worker" if settings.workers == 1 else f"worker-{index}"
            restart = settings.effective_scale_out
            supervisor.add(Child(name, _spawn(worker_cmd, env), restart=restart))
        if settings.effective_scale_out:
            _add_scale_out(supervisor, settings, env)
        else:
            _add_single_process(supervisor, settings, env)
        _announce(settings)
        while not stopping and reason is None:
            reason = supervisor.tick()
            time.sleep(0.5)
        if reason:
            _print(f"{reason}; stopping everything")
        return 1 if reason else 0
    finally:
        supervisor.stop()
        if redis:
            redis.stop()
        _print("stopped")


def _announce(settings: Settings) -> None:
    from clinic_app.services.demo import demo_logins

    url = settings.effective_public_url
    _print(f"starting the app at {url} (first start builds the frontend: ~20 s)")
    if settings.demo_data:
        _print("demo logins:")
        for login in demo_logins():
            _print(f"  {login.role:<13} {login.email:<24} {login.password}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="clinic", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="run app + worker (+ embedded Redis) in production mode")
    up.add_argument("--port", type=int, default=None, help="port (default CLINIC_PORT or 3000)")
    up.add_argument("--host", default=None, help="interface (default CLINIC_HOST or 127.0.0.1)")
    up.add_argument(
        "--processes", type=int, default=None, help="app processes behind nginx (default 1)"
    )
    up.add_argument(
        "--scale-out",
        action="store_true",
        default=None,
        help="behind nginx with tab state in Redis even with one process",
    )
    up.add_argument("--workers", type=int, default=None, help="RQ worker processes (default 1)")
    up.set_defaults(func=cmd_up)
    worker = sub.add_parser("worker", help="run an RQ worker with the stale-job sweeper")
    worker.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("migrate", help="upgrade the database to the latest revision").set_defaults(
        func=cmd_migrate
    )
    sub.add_parser("demo-data", help="load the demo clinic (once)").set_defaults(func=cmd_demo_data)
    create = sub.add_parser("create-clinic", help="add a clinic (tenant) and its first admin")
    create.add_argument("--name", required=True, help="clinic name")
    create.add_argument("--slug", required=True, help="short unique id, e.g. north-clinic")
    create.add_argument("--timezone", default="UTC", help="IANA timezone, e.g. Europe/Berlin")
    create.add_argument("--admin-email", required=True)
    create.add_argument("--admin-name", default="")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from stdin"
    )
    create.set_defaults(func=cmd_create_clinic)
    super_admin = sub.add_parser(
        "super-admin", help="grant (or --revoke) the installation console to an existing user"
    )
    super_admin.add_argument("email")
    super_admin.add_argument("--revoke", action="store_true")
    super_admin.set_defaults(func=cmd_super_admin)
    sub.add_parser(
        "rekey", help="re-encrypt patient data with the current key (after rotating keys)"
    ).set_defaults(func=cmd_rekey)
    catalog = sub.add_parser("catalog", help="medication catalog").add_subparsers(
        dest="catalog_command", required=True
    )
    catalog_import = catalog.add_parser(
        "import", help="add/update medicines from a CSV; prints rejected rows (exit 3 if any)"
    )
    catalog_import.add_argument("file", help="CSV with the columns of the starter catalog")
    catalog_import.add_argument(
        "--clinic", default="", help="clinic slug for local items (default: the shared catalog)"
    )
    catalog_import.set_defaults(func=cmd_catalog_import)
    backup = sub.add_parser("backup", help="write one archive: database, files, checksums")
    backup.add_argument("--output", default=None, help="archive path (default data_dir/backups/)")
    backup.set_defaults(func=cmd_backup)
    restore = sub.add_parser(
        "restore", help="verify an archive and restore it into an empty install"
    )
    restore.add_argument("archive", help="path of a `clinic backup` archive")
    restore.set_defaults(func=cmd_restore)
    evaluate = sub.add_parser(
        "eval", help="score the scribe on public dialogue→note sets (MTS-Dialog, ACI-BENCH)"
    )
    evaluate.add_argument("target", choices=["scribe"])
    evaluate.add_argument(
        "options", nargs=argparse.REMAINDER, help="--dataset PATH [--template T] [--inject]"
    )
    evaluate.set_defaults(func=cmd_eval)
    bench = sub.add_parser("bench", help="run benchmarks and print their ratios")
    bench.add_argument("names", nargs="*", help="benchmarks to run (default: all)")
    bench.set_defaults(func=cmd_bench)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        get_settings()
        return int(args.func(args))
    except ConfigError as exc:
        return _fail(str(exc))
    except AppError as exc:
        return _fail(exc.message)
    except OperationalError as exc:
        return _fail(
            "cannot reach the database (CLINIC_DATABASE_URL): "
            f"{str(exc.orig).strip().splitlines()[0] if exc.orig else exc}"
        )
    except FileNotFoundError as exc:
        return _fail(f"{exc.filename} not found — run `bash scripts/install.sh` first")
    except RuntimeError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
