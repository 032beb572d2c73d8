"""kpi/db.py's connection settings: what each PostgreSQL connection of the app is opened with."""

from __future__ import annotations

import pytest
from sqlalchemy import text


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
