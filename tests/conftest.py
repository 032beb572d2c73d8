"""Shared fixtures: every database test runs on SQLite and, when configured, on PostgreSQL.

``make test`` sets ``KPIBOT_TEST_DATABASE_URL`` when a PostgreSQL server answers; the ``engine`` fixture
is then parametrised over both backends. Each test gets empty tables.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from kpi.db import engine_for, normalise_url
from kpi.schema import Base

BACKENDS = ["sqlite"] + (["postgresql"] if os.environ.get("KPIBOT_TEST_DATABASE_URL") else [])


@pytest.fixture(scope="session")
def _postgres_engine() -> Engine:
    url = normalise_url(os.environ["KPIBOT_TEST_DATABASE_URL"])
    return engine_for(url)


@pytest.fixture(params=BACKENDS)
def engine(request, tmp_path) -> Engine:
    """An engine on a migrated, empty database of each backend."""
    if request.param == "sqlite":
        return engine_for(f"sqlite:///{tmp_path / 'kpibot.db'}")
    engine = request.getfixturevalue("_postgres_engine")
    names = ", ".join(table.name for table in Base.metadata.sorted_tables)
    with engine.begin() as connection:
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    return engine


@pytest.fixture
def session(engine) -> Session:
    with Session(engine, expire_on_commit=False) as session:
        yield session
