"""Database access: one engine per URL, migrations applied on first use.

``DATABASE_URL`` chooses the database; unset means the embedded default, an SQLite file
``kpibot.db`` in the working folder. ``postgresql://`` URLs use the psycopg 3 driver.
"""

from __future__ import annotations

import functools
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Dialect, Engine, create_engine, event, make_url, text
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from kpi import sqlfuncs

if TYPE_CHECKING:
    from alembic.config import Config

DEFAULT_URL = "sqlite:///kpibot.db"
MIGRATIONS = Path(__file__).parent / "migrations"
#: A PostgreSQL connection handed back this many seconds ago or less is handed out again without a ping (HikariCP's
#: "alive bypass window"): pinging at every checkout cost a busy server a round trip per statement, two of an
#: answer's four, while a connection idle longer, which a restarted server may have closed, is still pinged first.
ALIVE_WITHOUT_PING = 1.0


def normalise_url(url: str) -> str:
    """Accept the URLs Heroku-style platforms hand out and pick the psycopg 3 driver."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return url


def vacuum(engine: Engine, *tables: str, analyze: bool = False) -> None:
    """On PostgreSQL, ``VACUUM`` ``tables`` after the writes that changed them have committed (VACUUM cannot run in
    a transaction): their dead versions reclaimed and their pages marked all-visible for index-only reads, without
    waiting for autovacuum (which may be off); with ``analyze``, the planner's statistics too. Nothing on SQLite."""
    if engine.dialect.name != "postgresql" or not tables:
        return
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(f"VACUUM {'(ANALYZE) ' if analyze else ''}{', '.join(tables)}"))


@functools.cache
def engine_for(url: str) -> Engine:
    """Create the engine for ``url`` and bring its schema up to date (once per process)."""
    engine = new_engine(url)
    try:
        upgrade(engine)
    except OperationalError as error:
        engine.dispose()
        raise DatabaseProblem(_unreachable(url, error)) from error
    return engine


def new_engine(url: str) -> Engine:
    """An engine for ``url`` with kpibot's connection settings, its schema as it is: :func:`engine_for` is the one
    to use, but for a copy of a database known to be migrated (each test's)."""
    url = normalise_url(url)
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # Server-side prepared statements would freeze plans chosen on small or empty tables. JIT compilation costs an
    # answer 50-130 ms (65 ms of a 5M-deal organisation leaderboard's 880) to save a few on statements that take
    # under a second: never worth it here. A random page read is priced as on SSD or from memory, where the CRM
    # copy lives, not as PostgreSQL's default (4, a spinning disk): at that price the planner read every one of 5M
    # deals for an organisation's pipeline (690 ms) rather than its 260,000 open ones through the status index
    # (200 ms).
    engine = create_engine(
        url,
        pool_size=16,  # a server process's request threads (bot/front.py); overflow ones were opened and closed again
        max_overflow=8,
        connect_args={"prepare_threshold": None, "options": "-c jit=off -c random_page_cost=1.1"},
    )
    event.listen(engine, "connect", _binary_arrays)
    event.listen(engine, "checkin", _handed_back)
    event.listen(engine, "checkout", functools.partial(_alive, engine.dialect))
    return engine


def _binary_arrays(dbapi_connection, _record) -> None:
    """Lists (a scope's owners, a sync page's rows as one array per column) are sent to PostgreSQL in its binary
    array format: psycopg's text format quotes and escapes each element in Python, a regular expression each (a
    sync of 10,000 deals sent 665,000 elements that way: most of a second of its Python; text and dates go 3-4
    times faster in binary)."""
    from psycopg.types.array import ListBinaryDumper

    dbapi_connection.adapters.register_dumper(list, ListBinaryDumper)


def _handed_back(_dbapi_connection, record) -> None:
    """When a connection went back to the pool: :func:`_alive` skips the ping of one handed back just now."""
    if record is not None:
        record.info["handed_back"] = time.monotonic()


def _alive(dialect: Dialect, dbapi_connection, record, _proxy) -> None:
    """A connection idle longer than :data:`ALIVE_WITHOUT_PING` (or never used) answers the dialect's ping before it
    is handed out; one that does not is replaced by a new one (SQLAlchemy's pessimistic disconnect handling)."""
    handed_back = record.info.get("handed_back")
    if handed_back is not None and time.monotonic() - handed_back <= ALIVE_WITHOUT_PING:
        return
    try:
        dialect.do_ping(dbapi_connection)
    except Exception as error:  # the server closed it: the pool opens another and checks it out instead
        raise DisconnectionError(str(error)) from error


class DatabaseProblem(Exception):
    """The database cannot be used (not there, unreachable), worded for the admin who fixes it."""


def _unreachable(url: str, error: OperationalError) -> str:
    parsed = make_url(url)
    reason = str(error.orig).strip().splitlines()[0] if error.orig else "no answer"
    if parsed.get_backend_name() == "sqlite":
        return f"Cannot open the SQLite database {parsed.database} ({reason}). Check the path in DATABASE_URL."
    where = f"{parsed.host or 'localhost'}:{parsed.port or 5432}"
    return (
        f"Cannot reach the database at {where} ({reason}). Check that the server is running and accepts "
        f"connections there, and that DATABASE_URL names the right host, port, user and database "
        f"({parsed.database})."
    )


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    """Each SQLite connection's settings, and the functions PostgreSQL has built in (kpi/sqlfuncs.py)."""
    dbapi_connection.create_function("kpibot_local_day", 2, sqlfuncs.sqlite_local_day, deterministic=True)
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def get_engine(*, create: bool = True, migrated: bool = False) -> Engine:
    """The engine of ``DATABASE_URL``. Commands that only read pass ``create=False``: a mistyped SQLite path
    must not become a new, empty database that then answers "I can't find anyone called ...". ``migrated``: the
    database is known to be at the code's schema (a server's workers, started once ``kpibot serve`` has migrated
    it), so Alembic is not even imported (11 MiB of each worker).
    """
    url = os.environ.get("DATABASE_URL") or DEFAULT_URL
    if not create:
        _require_existing(url)
    return _served(url) if migrated else engine_for(url)


@functools.cache
def _served(url: str) -> Engine:
    return new_engine(url)


def _require_existing(url: str) -> None:
    parsed = make_url(normalise_url(url))
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return
    path = Path(parsed.database)
    if not path.exists():
        raise DatabaseProblem(
            f"There is no database at {path.resolve()}. Create one with `kpibot demo` (a demo company) or "
            "`kpibot sync` (your CRM), or point DATABASE_URL at the right file."
        )


def session_factory(engine: Engine | None = None) -> sessionmaker[Session]:
    return sessionmaker(engine or get_engine(), expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config  # only where the schema is migrated: a server's workers never load Alembic

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["engine"] = engine
    return config


def upgrade(engine: Engine) -> None:
    """Apply every pending Alembic migration (what ``kpibot db upgrade`` runs)."""
    from alembic import command

    command.upgrade(alembic_config(engine), "head")
