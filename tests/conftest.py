"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

``make test`` sets ``KPIBOT_TEST_DATABASE_URL`` when a PostgreSQL server answers; the ``engine`` fixture
is then parametrised over both backends. Each test gets an empty, migrated database: a copy of one
migrated SQLite file, or a PostgreSQL database of this run's own with every row deleted. That database
(``<name>_<pid>`` beside the one the URL names) is created and migrated afresh for each run and dropped
after it, so runs side by side never share rows and a database left by an older version never lies.

A world that is costly to build (the demo company, an imported CRM sample) and that a module's tests only read is
built once per module on ``module_engine``; tests that write to such a world build their own on ``engine``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, make_url, text, update
from sqlalchemy.orm import Session

from kpi.db import engine_for, new_engine, normalise_url
from kpi.schema import Base, Lead, Team
from tests.world import World

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("KPIBOT_TEST_DATABASE_URL") else [])


@contextmanager
def postgres_database(suffix: str = "", *, migrated: bool = True) -> Iterator[Engine]:
    """An engine on a database of this run's own (``<name>_<pid><suffix>`` beside the one the URL names), migrated
    unless ``migrated`` is false (a migration test starts from no tables), dropped afterwards."""
    base = make_url(normalise_url(os.environ["KPIBOT_TEST_DATABASE_URL"]))
    name = f"{base.database}_{os.getpid()}{suffix}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    engine = engine_for(url) if migrated else create_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def _postgres_engine() -> Iterator[Engine]:
    with postgres_database() as engine:
        yield engine


@pytest.fixture(scope="session")
def _migrated_sqlite(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("migrated") / "kpibot.db"
    engine_for(f"sqlite:///{path}").dispose()  # closing the last connection folds the WAL into the file
    return path


ROOT = Path(__file__).parents[1]


def run_kpibot(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    """``kpibot ARGS`` as a subprocess of the project folder with ``env`` on top of this process's environment,
    its output captured as text."""
    command = [sys.executable, "-m", "bot.cli", *args]
    environment = {**os.environ, **env}
    return subprocess.run(command, env=environment, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def cli_env(engine: Engine, config_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a `kpibot` command run by a test: the test's database and config folder."""
    url = engine.url.render_as_string(hide_password=False)
    return {**os.environ, "DATABASE_URL": url, "KPIBOT_CONFIG_DIR": str(config_dir), **extra}


def emptied(engine: Engine) -> Engine:
    """Delete every row, breaking the reference cycles (team <-> manager, lead -> deal) first."""
    with engine.begin() as connection:
        connection.execute(update(Team).values(manager_id=None, parent_id=None))
        connection.execute(update(Lead).values(converted_deal_id=None))
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    return engine


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path) -> Iterator[Engine]:
    """An engine on a migrated, empty database of each backend."""
    if request.param == "postgresql":
        yield emptied(request.getfixturevalue("_postgres_engine"))
        return
    engine = _migrated_copy(request.getfixturevalue("_migrated_sqlite"), tmp_path)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module", params=BACKENDS)
def module_engine(request, tmp_path_factory) -> Iterator[Engine]:
    """An engine on a migrated, empty database of each backend that one test module shares: for a world built once
    that its tests only read. (A test that writes takes ``engine``, a database of its own.) On PostgreSQL it is a
    database apart, which the ``engine`` of the module's other tests does not empty."""
    if request.param == "postgresql":
        with postgres_database(f"_{request.module.__name__.rpartition('.')[2]}") as engine:
            yield engine
        return
    engine = _migrated_copy(request.getfixturevalue("_migrated_sqlite"), tmp_path_factory.mktemp("module"))
    yield engine
    engine.dispose()


def _migrated_copy(migrated: Path, folder: Path) -> Engine:
    """An engine on a copy of the migrated SQLite file in ``folder``, made without asking Alembic again."""
    path = folder / "kpibot.db"
    shutil.copy(migrated, path)
    return new_engine(f"sqlite:///{path}")


@pytest.fixture
def session(engine) -> Session:
    with Session(engine, expire_on_commit=False) as session:
        yield session


@pytest.fixture
def world(session) -> World:
    return World(session)


@pytest.fixture
def config(tmp_path) -> Path:
    """A config folder for an org in UTC with the shipped defaults (weekends are not working days)."""
    (tmp_path / "org.yaml").write_text("timezone: UTC\n")
    return tmp_path


@pytest.fixture
def us_config(tmp_path) -> Path:
    """A config folder for a US org in UTC: weekends and US federal holidays are not working days."""
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "org.yaml").write_text("timezone: UTC\ncountry: US\n")
    return folder
