"""/healthz reads a canonical table, so it reports what an operator must fix: the database out of reach, the schema
missing, or a user without the right to read (it said 200 with SELECT revoked)."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, text

from bot.server import health


def test_a_database_that_answers_is_healthy(engine):
    assert health(engine) == (200, {"ok": True, "database": "reachable"})


def test_a_database_out_of_reach_is_reported_unreachable(tmp_path):
    gone = create_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'kpibot.db'}")

    assert health(gone) == (503, {"ok": False, "database": "unreachable"})


def test_a_database_without_the_schema_is_reported_as_such(tmp_path):
    empty = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")

    assert health(empty) == (503, {"ok": False, "database": "schema missing"})


def test_a_user_who_may_not_read_is_reported_as_permission_denied(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("roles and grants are PostgreSQL's")
    with engine.begin() as connection:
        connection.execute(text("DROP ROLE IF EXISTS kpibot_health_probe"))
        connection.execute(text("CREATE ROLE kpibot_health_probe LOGIN"))
    probe = create_engine(engine.url.set(username="kpibot_health_probe"))
    try:
        assert health(probe) == (503, {"ok": False, "database": "permission denied"})
    finally:
        probe.dispose()
        with engine.begin() as connection:
            connection.execute(text("DROP ROLE kpibot_health_probe"))
