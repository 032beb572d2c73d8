"""Migrations upgrade a database that holds rows, and downgrade it again, on SQLite and PostgreSQL.

Each test starts from an empty database of its own (not the suite's migrated copy), brings it to the
revision before, writes rows as that revision's code wrote them, and migrates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, MetaData, Table, create_engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError

from kpi.db import _sqlite_pragmas, alembic_config
from kpi.schema import Base, Deal
from tests.conftest import BACKENDS, postgres_database

T0 = dt.datetime(2017, 6, 5, 8, 0)
T1 = dt.datetime(2017, 6, 5, 8, 1)


@pytest.fixture(params=BACKENDS)
def blank(request, tmp_path) -> Iterator[Engine]:
    """An engine on a database with no tables at all."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'blank.db'}")
        event.listen(engine, "connect", _sqlite_pragmas)
        yield engine
        engine.dispose()
        return
    with postgres_database("_migrations", migrated=False) as engine:
        yield engine


def migrate(engine: Engine, revision: str) -> None:
    config = alembic_config(engine)
    current = _revision(engine)
    if current is not None and revision < current:
        command.downgrade(config, revision)
    else:
        command.upgrade(config, revision)


def _revision(engine: Engine) -> str | None:
    if "alembic_version" not in inspect(engine).get_table_names():
        return None
    with engine.connect() as connection:
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one_or_none()


def rows(engine: Engine, table: str, columns: str, order_by: str = "id") -> list[tuple]:
    """The rows of ``table`` as the database holds them now (its columns reflected, so dates read as dates)."""
    reflected = Table(table, MetaData(), autoload_with=engine)
    query = select(*(reflected.c[name] for name in columns.split())).order_by(reflected.c[order_by])
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


COLUMNS_0002 = "key status created_at sent_at channel ts fingerprint error"
DELIVERIES_0002 = [  # as 0002's code wrote them
    ("celebration:revenue:rep:1:2017-05-01:2017-06-01:1", "sent", T0, T1, "C0WINS", "1.1", "f1", None),
    ("digest:weekly:org:channel:C0SALES:2017-W22", "pending", T0, None, "C0SALES", None, "f2", None),
    ("big-deal:7", "failed", T0, None, "C0WINS", None, "f3", "not_in_channel"),
    ("digest:daily:org:channel:C0SALES:2017-06-04", "review", T0, None, "C0SALES", None, "f4", "crashed"),
]


def _write_0002_rows(engine: Engine) -> None:
    deliveries = Table("deliveries", MetaData(), autoload_with=engine)
    with engine.begin() as connection:
        connection.execute(
            deliveries.insert(), [dict(zip(COLUMNS_0002.split(), row, strict=True)) for row in DELIVERIES_0002]
        )
        connection.execute(
            text("INSERT INTO celebrations (key, created_at) VALUES (:key, :at)"),
            [{"key": DELIVERIES_0002[0][0], "at": T0}, {"key": "big-deal:7", "at": T0}],
        )


def test_0003_gives_each_delivery_a_state_and_its_attempt_1_and_drops_the_celebrations_table(blank):
    migrate(blank, "0002")
    _write_0002_rows(blank)

    migrate(blank, "0003")

    assert rows(blank, "deliveries", "key status updated_at sent_at ts") == [
        ("celebration:revenue:rep:1:2017-05-01:2017-06-01:1", "sent", T1, T1, "1.1"),
        ("digest:weekly:org:channel:C0SALES:2017-W22", "sending", T0, None, None),
        ("big-deal:7", "failed", T0, None, None),
        ("digest:daily:org:channel:C0SALES:2017-06-04", "review", T0, None, None),
    ]
    assert rows(blank, "delivery_attempts", "delivery_key number started_at finished_at outcome error") == [
        ("celebration:revenue:rep:1:2017-05-01:2017-06-01:1", 1, T0, T1, "sent", None),
        ("digest:weekly:org:channel:C0SALES:2017-W22", 1, T0, None, None, None),
        ("big-deal:7", 1, T0, T0, "failed", "not_in_channel"),
        ("digest:daily:org:channel:C0SALES:2017-06-04", 1, T0, T0, "unconfirmed", "crashed"),
    ]
    assert "celebrations" not in inspect(blank).get_table_names()
    assert "error" not in {column["name"] for column in inspect(blank).get_columns("deliveries")}


def test_after_0003_the_database_refuses_a_status_that_is_not_a_state(blank):
    migrate(blank, "0003")

    with pytest.raises(IntegrityError), blank.begin() as connection:
        connection.execute(
            text("INSERT INTO deliveries (key, status, created_at, updated_at) VALUES ('k', 'pending', :t, :t)"),
            {"t": T0},
        )


def test_0003_downgrades_to_the_rows_0002_wrote(blank):
    migrate(blank, "0002")
    _write_0002_rows(blank)
    migrate(blank, "0003")

    migrate(blank, "0002")

    assert rows(blank, "deliveries", COLUMNS_0002) == DELIVERIES_0002
    assert rows(blank, "celebrations", "key created_at", order_by="key") == [
        ("big-deal:7", T0),
        ("celebration:revenue:rep:1:2017-05-01:2017-06-01:1", T0),
    ]
    assert "delivery_attempts" not in inspect(blank).get_table_names()


def test_the_migrated_delivery_tables_are_the_ones_the_schema_declares(blank):
    migrate(blank, "head")
    ledger = {"deliveries", "delivery_attempts", "celebrations"}
    only_ledger = {"include_object": lambda _object, name, kind, *_: kind != "table" or name in ledger}

    with blank.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts=only_ledger), Base.metadata)

    assert differences == []


@pytest.mark.parametrize(
    ("revision", "before", "ours"),
    [
        ("0005", "0004", {"subscriptions", "alerts"}),
        ("0008", "0007", {"rollups", "rollup_measures"}),
        ("0009", "0008", {"rollup_days"}),
    ],
)
def test_a_migration_adds_its_tables_as_the_schema_declares_them_and_its_downgrade_removes_them(
    blank, revision, before, ours
):
    migrate(blank, "head")  # as later migrations left them (0011 changes indexes of older tables)
    only_ours = {"include_object": lambda _object, name, kind, *_: kind != "table" or name in ours}
    with blank.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection, opts=only_ours), Base.metadata)
    migrate(blank, before)

    assert differences == []
    assert ours & set(inspect(blank).get_table_names()) == set()


def test_the_organisations_days_start_empty_so_the_rollups_held_before_them_are_forgotten_until_a_rebuild(blank):
    migrate(blank, "0008")
    with blank.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO rollup_measures (measure, time_zone, definition, built_at) "
                "VALUES ('m', 'UTC', '{}', '2026-12-01 00:00:00')"
            )
        )

    migrate(blank, "0009")

    with blank.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM rollup_measures")).scalar_one() == 0


def test_the_migrated_deals_have_the_indexes_the_schema_declares_their_owners_by_status_and_none_by_modification(blank):
    def indexes() -> set[str]:  # the unique constraint's own index aside (PostgreSQL lists it)
        return {index["name"] for index in inspect(blank).get_indexes("deals") if not index["unique"]}

    migrate(blank, "head")
    now = indexes()
    migrate(blank, "0017")
    without_updated = indexes()
    migrate(blank, "0016")
    before = indexes()

    assert now == {index.name for index in Deal.__table__.indexes}
    assert before - without_updated == {"ix_deals_updated"}  # 0017: no statement read it, every changed deal wrote it
    assert without_updated ^ now == {"ix_deals_owner_close", "ix_deals_owner_status_close"}  # 0018: the status second
