"""Run Alembic from code: the app upgrades to head at start, tests go up and down."""

from __future__ import annotations

from alembic.config import Config

from alembic import command
from clinic_app.settings import PROJECT_ROOT, get_settings


def alembic_config(database_url: str | None = None) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    url = database_url or get_settings().effective_database_url
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_head(database_url: str | None = None) -> None:
    """Bring the schema to head, then load shipped reference data (the starter catalog)."""
    command.upgrade(alembic_config(database_url), "head")
    load_reference_data(database_url)


def load_reference_data(database_url: str | None = None) -> None:
    """Reference rows every installation needs; each loader does nothing when already loaded."""
    from sqlmodel import Session

    from clinic_app.db import clinic_bind, make_engine
    from clinic_app.services.medication_catalog import ensure_starter_catalog

    engine = make_engine(database_url or get_settings().effective_database_url)
    try:
        with Session(clinic_bind(engine, None)) as session:
            ensure_starter_catalog(session)
            session.commit()
    finally:
        engine.dispose()


def downgrade_base(database_url: str | None = None) -> None:
    command.downgrade(alembic_config(database_url), "base")


def current_revision(database_url: str | None = None) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from clinic_app.db import make_engine

    engine = make_engine(database_url or get_settings().effective_database_url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()
