"""Database access: one engine per URL, migrations applied on first use.

``DATABASE_URL`` chooses the database; unset means the embedded default, an SQLite file
``kpibot.db`` in the working folder. ``postgresql://`` URLs use the psycopg 3 driver.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

DEFAULT_URL = "sqlite:///kpibot.db"
MIGRATIONS = Path(__file__).parent / "migrations"


def normalise_url(url: str) -> str:
    """Accept the URLs Heroku-style platforms hand out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


@functools.cache
def engine_for(url: str) -> Engine:
    """Create the engine for ``url`` and bring its schema up to date (once per process)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
    else:
        # Server-side prepared statements would freeze plans chosen on small or empty tables.
        engine = create_engine(
            url, pool_pre_ping=True, pool_size=5, max_overflow=10, connect_args={"prepare_threshold": None}
        )
    upgrade(engine)
    return engine


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def get_engine() -> Engine:
    return engine_for(os.environ.get("DATABASE_URL") or DEFAULT_URL)


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine or get_engine(), expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending Alembic migration (what ``kpibot db upgrade`` runs)."""
    command.upgrade(alembic_config(engine), "head")
