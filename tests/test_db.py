"""kpi/db.py's connection settings, and the indexes a PostgreSQL database is migrated with (kpi/migrations)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, and_, text
from sqlalchemy.sql.visitors import iterate

from kpi.catalog import load_catalog
from kpi.db import new_engine
from kpi.measures import definition as definition_of
from kpi.measures import sample_window, spec_reads
from kpi.semantic import activities_model, deals_model


def test_a_postgresql_connection_never_jit_compiles_an_answer(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("JIT compilation is PostgreSQL's")

    with engine.connect() as connection:
        assert connection.execute(text("SHOW jit")).scalar_one() == "off"


def test_a_postgresql_connection_prices_a_random_page_read_as_on_ssd(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("the planner's page costs are PostgreSQL's")

    with engine.connect() as connection:
        assert connection.execute(text("SHOW random_page_cost")).scalar_one() == "1.1"


#: The KPIs every leaderboard and digest asks (their measures over a time column of deals or activities).
COMMON = ("revenue", "deals-won", "win-rate", "avg-deal-size", "calls", "meetings", "emails")
#: The index a period's edge days are read through, by model and time column.
INDEX_OF = {
    ("deals", "close_date"): "ix_deals_status_close",
    ("activities", "occurred_at"): "ix_activities_type_occurred",
    ("activities", "created_at"): "ix_activities_type_created",
}
MODELS = {"deals": deals_model, "activities": activities_model}


def _held(engine) -> dict[str, set[str]]:
    """Each index's columns, keys and included, by name."""
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT indexname, indexdef FROM pg_indexes")).all()
    return {name: set(re.findall(r"\w+", indexdef.split(" USING ")[1])) for name, indexdef in rows}


@pytest.mark.parametrize("key", COMMON)
def test_the_time_range_indexes_hold_every_column_the_common_kpis_read(engine, key):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no covering (INCLUDE) indexes")

    held = _held(engine)
    for measure in load_catalog()[key].measures.values():
        reads = spec_reads(definition_of(measure)) | {"owner_id", "deleted_at"}
        assert reads <= set(MODELS[measure.model](sample_window()).source.c.keys())  # no derived column
        assert reads <= held[INDEX_OF[measure.model, measure.time]]


@pytest.mark.parametrize("case", [0, 1])
def test_the_status_index_holds_every_column_each_case_of_every_reps_open_pipeline_reads(engine, case):
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has no covering (INCLUDE) indexes")
    model = deals_model(sample_window()).in_case("open", case)  # the open deals; those closed after the end

    reads = {column.name for column in iterate(and_(model.where, model.columns["open"])) if isinstance(column, Column)}

    assert reads == {"deleted_at", "status", "created_at"} | ({"close_date"} if case else set())
    assert reads | {"owner_id", "amount"} <= _held(engine)["ix_deals_status_close"]


def test_a_postgresql_connection_handed_back_within_a_second_is_handed_out_without_a_ping(engine, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("the pool's pings are PostgreSQL's")
    pool = new_engine(engine.url.render_as_string(hide_password=False))
    pings = []
    ping = pool.dialect.do_ping
    monkeypatch.setattr(pool.dialect, "do_ping", lambda connection: pings.append(1) or ping(connection))

    def backend() -> int:
        with pool.connect() as connection:
            return connection.execute(text("SELECT pg_backend_pid()")).scalar_one()

    first = backend()  # a new connection: pinged
    again = backend()  # handed back just now: not pinged
    with engine.connect() as other:  # the server closes it, as a restart would
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
    monkeypatch.setattr("kpi.db.ALIVE_WITHOUT_PING", 0.0)
    replaced = backend()  # idle past the window: pinged, found closed, replaced by a new connection
    pool.dispose()

    assert again == first
    assert replaced != first
    assert len(pings) == 3  # the first connection twice (the second time it failed), then its replacement


def test_a_list_goes_to_postgresql_as_a_binary_array_and_comes_back_as_it_was(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("arrays are PostgreSQL's")
    from psycopg import pq
    from psycopg.adapt import PyFormat

    texts = ["plain", 'quo"te', "com,ma", "{brace}", "back\\slash", "", None, "NULL", "ünï"]

    with engine.connect() as connection:
        dumper = connection.connection.driver_connection.adapters.get_dumper(list, PyFormat.AUTO)
        back = connection.execute(text("SELECT unnest(CAST(:texts AS varchar[]))"), {"texts": texts}).scalars().all()

    assert dumper.format == pq.Format.BINARY
    assert back == texts
