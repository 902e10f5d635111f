"""The one place configuration is read (env prefix ``CLINIC_``).

With no environment variables the app runs embedded: SQLite and files under ``var/``, a Redis
server that ``clinic up`` starts itself, and the offline engines. Setting the variables below
switches the same code to PostgreSQL, an external Redis and S3.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clinic_app.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Settings(BaseSettings):
    """Every setting of the installation; the README documents each one."""

    model_config = SettingsConfigDict(env_prefix="CLINIC_", extra="ignore")

    data_dir: Path = Field(
        default=PROJECT_ROOT / "var",
        description="Where the embedded database, files, Redis socket and logs live.",
    )
    database_url: str = Field(
        default="",
        description="SQLAlchemy URL (postgresql+psycopg://…). Empty: SQLite in data_dir.",
    )
    redis_url: str = Field(
        default="",
        description="redis:// or unix:// URL. Empty: `clinic up` starts a private redis-server.",
    )
    storage_backend: Literal["local", "s3"] = Field(
        default="local", description="`local` (files under data_dir) or `s3`."
    )
    s3_bucket: str = Field(default="", description="Bucket for objects when storage is s3.")
    s3_endpoint_url: str = Field(
        default="", description="S3-compatible endpoint (MinIO, moto, …). Empty: AWS."
    )
    s3_region: str = Field(default="us-east-1", description="S3 region name.")
    s3_access_key_id: str = Field(default="", description="S3 access key (or use the AWS chain).")
    s3_secret_access_key: str = Field(default="", description="S3 secret key.")
    secret_key: str = Field(
        default="",
        description="Signs download links and cookies. Empty: generated once into data_dir.",
    )
    host: str = Field(default="127.0.0.1", description="Interface the app listens on.")
    port: int = Field(default=3000, ge=1, le=65535, description="Port for pages and API.")
    public_url: str = Field(
        default="", description="URL users open, for links in messages. Empty: http://host:port."
    )
    download_url_ttl_seconds: int = Field(
        default=300, ge=10, le=300, description="Lifetime of a download link (at most 5 min)."
    )
    processes: int = Field(
        default=1,
        ge=1,
        le=16,
        description="App processes. >1: behind nginx on `port`, tab state in Redis.",
    )
    scale_out: bool = Field(
        default=False,
        description="Run behind nginx with tab state in Redis even with one process (always "
        "on with more than one).",
    )
    workers: int = Field(
        default=1, ge=1, le=32, description="RQ worker processes `clinic up` runs."
    )
    job_max_attempts: int = Field(default=3, ge=1, le=20, description="Tries before a job fails.")
    job_stale_after_seconds: int = Field(
        default=120, ge=10, description="A running job with no heartbeat this long is retaken."
    )
    rq_queue: str = Field(default="clinic", description="RQ queue name (prefix for all queues).")
    email_backend: Literal["file", "smtp"] = Field(
        default="file",
        description="`file`: messages land in data_dir/outbox (no mail leaves); `smtp`: send.",
    )
    smtp_host: str = Field(default="", description="SMTP server for email_backend=smtp.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP port.")
    smtp_username: str = Field(default="", description="SMTP login (empty: no AUTH).")
    smtp_password: str = Field(default="", description="SMTP password.")
    smtp_starttls: bool = Field(default=True, description="Upgrade the SMTP connection with TLS.")
    smtp_from: str = Field(default="clinic@localhost", description="Sender address of emails.")
    sms_backend: Literal["file", "webhook"] = Field(
        default="file",
        description="SMS and WhatsApp: `file` (data_dir/outbox) or `webhook` (POST JSON).",
    )
    sms_webhook_url: str = Field(
        default="", description="Gateway URL that receives {channel, to, body} for webhook."
    )
    metrics_token: str = Field(
        default="", description="If set, GET /metrics needs `Authorization: Bearer <token>`."
    )
    demo_data: bool = Field(default=True, description="`clinic up` loads the demo clinic once.")
    scheduling_tick_seconds: int = Field(
        default=300,
        ge=10,
        le=3600,
        description="How often workers queue the reminder / no-show job (one per period).",
    )
    pii_keys: str = Field(
        default="",
        description=(
            "Keys that encrypt patient data: `id:base64-32-bytes,…`, the first encrypts, all "
            "decrypt (rotate with `clinic rekey`). Empty: derived from the secret key."
        ),
    )
    pii_index_key: str = Field(
        default="",
        description="Key of the search hashes of patient data. Empty: derived from the secret key.",
    )
    upload_max_mb: int = Field(
        default=50, ge=1, le=2048, description="Largest file a user may attach to a chart."
    )
    upload_types: str = Field(
        default="application/pdf,image/png,image/jpeg,image/webp,text/plain",
        description="Comma-separated content types that may be attached to a chart.",
    )
    session_idle_minutes: int = Field(
        default=30, ge=5, le=24 * 60, description="A session unused this long ends (sign in again)."
    )
    session_absolute_hours: int = Field(
        default=12,
        ge=1,
        le=24 * 30,
        description="A session ends this long after sign-in, in use or not.",
    )
    step_up_minutes: int = Field(
        default=5,
        ge=1,
        le=60,
        description="How long a re-entered password/TOTP allows signing reports and prescriptions.",
    )
    speech_engine: str = Field(
        default="local",
        pattern="^(local|google)$",
        description="Transcription engine: `local` (Whisper base on the CPU, offline) or `google`.",
    )
    google_speech_endpoint: str = Field(
        default="speech.googleapis.com",
        description="Google Speech-to-Text endpoint (credentials: GOOGLE_APPLICATION_CREDENTIALS).",
    )
    google_speech_insecure: bool = Field(
        default=False, description="Plain-text gRPC to the endpoint (a local test server only)."
    )
    google_speech_timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, description="Per-request deadline for Google Speech calls."
    )
    draft_engine: str = Field(
        default="local",
        pattern="^(local|openai)$",
        description="Report drafting: `local` (rules + MiniLM, CPU, offline) or `openai` "
        "(any OpenAI-compatible chat server: Ollama, vLLM, llama.cpp, hosted APIs).",
    )
    llm_base_url: str = Field(
        default="http://127.0.0.1:11434/v1",
        description="Base URL of the OpenAI-compatible server (`…/v1`).",
    )
    llm_model: str = Field(default="llama3.1:8b", max_length=120, description="Chat model name.")
    llm_api_key: str = Field(default="", description="Bearer key for the chat server, if any.")
    llm_timeout_seconds: float = Field(
        default=60.0, gt=0, le=600, description="Per-request deadline for the chat server."
    )
    drawing_max_kb: int = Field(
        default=2048, ge=64, le=65536, description="Largest drawing (JSON) a record may save."
    )
    speech_language: str = Field(
        default="en", max_length=16, description="Language of consultations (Whisper code)."
    )
    scribe_chunk_retention_days: int = Field(
        default=30,
        ge=0,
        le=3650,
        description="Days raw audio chunks are kept after the joined recording is verified.",
    )
    scribe_upload_max_mb: int = Field(
        default=500,
        ge=1,
        le=4096,
        description="Largest recording that may be uploaded or recorded.",
    )

    @field_validator("database_url")
    @classmethod
    def _known_database(cls, value: str) -> str:
        if value and not value.startswith(("sqlite", "postgresql")):
            raise ValueError("must start with sqlite:// or postgresql+psycopg://")
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            raise ValueError("use the psycopg 3 driver: postgresql+psycopg://…")
        return value

    @field_validator("redis_url")
    @classmethod
    def _known_redis(cls, value: str) -> str:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value

    @property
    def effective_scale_out(self) -> bool:
        """Behind nginx, tab state in Redis: asked for, or needed by several processes."""
        return self.scale_out or self.processes > 1

    @property
    def effective_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'clinic.db'}"

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")

    @property
    def embedded_redis_socket(self) -> Path:
        return self.data_dir / "redis.sock"

    @property
    def effective_redis_url(self) -> str:
        return self.redis_url or f"unix://{self.embedded_redis_socket}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def effective_public_url(self) -> str:
        return self.public_url or f"http://{self.host}:{self.port}"

    def effective_secret_key(self) -> str:
        """The configured key, or one generated once and kept in data_dir."""
        if self.secret_key:
            return self.secret_key
        key_file = self.data_dir / "secret_key"
        if not key_file.exists():
            self.data_dir.mkdir(parents=True, exist_ok=True)
            key_file.write_text(secrets.token_urlsafe(48))
            key_file.chmod(0o600)
        return key_file.read_text().strip()

    @property
    def outbox_dir(self) -> Path:
        return self.data_dir / "outbox"

    def check_s3(self) -> None:
        if self.storage_backend == "s3" and not self.s3_bucket:
            raise ConfigError("CLINIC_S3_BUCKET must be set when CLINIC_STORAGE_BACKEND=s3")

    def check_channels(self) -> None:
        if self.email_backend == "smtp" and not self.smtp_host:
            raise ConfigError("CLINIC_SMTP_HOST must be set when CLINIC_EMAIL_BACKEND=smtp")
        if self.sms_backend == "webhook" and not self.sms_webhook_url:
            raise ConfigError("CLINIC_SMS_WEBHOOK_URL must be set when CLINIC_SMS_BACKEND=webhook")


def load_settings() -> Settings:
    """Read settings, turning validation errors into one message naming the variable."""
    try:
        settings = Settings()
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = "CLINIC_" + "_".join(str(part) for part in err["loc"]).upper()
            problems.append(f"{name}: {err['msg']}")
        raise ConfigError("Invalid configuration — " + "; ".join(problems)) from None
    settings.check_s3()
    settings.check_channels()
    return settings


@functools.cache
def get_settings() -> Settings:
    return load_settings()
