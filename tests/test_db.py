"""kpi/db.py's connection settings, and the indexes a PostgreSQL database is migrated with (kpi/migrations)."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Column, and_, text
from sqlalchemy.sql.visitors import iterate

from kpi.catalog import load_catalog
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
