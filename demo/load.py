"""Writing the demo company into the database: refusing to replace other data, emptying the demo's tables,
the bulk load itself, and the ids, links and statistics that follow it."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

from demo.assumptions import CRM
from demo.calendar import Calendar
from demo.rows import RowBuilder
from demo.world import simulate
from kpi.schema import (
    CONFIG_CRM,
    Account,
    Activity,
    Deal,
    Forecast,
    Lead,
    MarketingSpend,
    NpsResponse,
    Quote,
    Rep,
    SlackUser,
    Target,
    Team,
)

DATA_TABLES = [  # what the demo writes (and what fresh=True empties)
    model.__table__
    for model in (Team, Rep, Account, Lead, Deal, Activity, Quote, MarketingSpend, NpsResponse, Forecast, Target)
]


@dataclass(frozen=True)
class DemoSummary:
    """How many rows each table received, for the CLI to print."""

    teams: int
    reps: int
    accounts: int
    leads: int
    deals: int
    activities: int
    quotes: int
    marketing_spend: int
    nps_responses: int
    forecasts: int
    targets: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())

    def __str__(self) -> str:
        counts = ", ".join(f"{count:,} {table.replace('_', ' ')}" for table, count in self.as_dict().items())
        return f"{self.total:,} rows ({counts})"


def generate(
    engine: sa.Engine,
    *,
    seed: int = 7,
    reps: int = 40,
    months: int = 24,
    as_of: dt.date,
    timezone: str = "UTC",
    fresh: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Write a demo company with ``reps`` sales reps and ``months`` months of history ending at ``as_of``.

    ``fresh`` empties every CRM data table first (demo or not); without it the demo is added next to the
    existing data (ids continue after theirs), which is refused when demo data is already there.
    ``timezone`` is the organisation's: office hours are local, stored moments are naive UTC.
    """
    if reps < 1 or months < 1:
        raise ValueError("a demo needs at least one rep and one month of history")
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    tz = zoneinfo.ZoneInfo(timezone)
    tell = progress or (lambda _message: None)
    rng = np.random.default_rng(seed)
    cal = Calendar.ending(as_of, months)

    tell(f"Simulating {reps:,} reps over {months} months up to {as_of.isoformat()}")
    world = simulate(rng, cal, reps)
    tell("Writing to the database")
    with engine.begin() as connection:
        if fresh:
            _refuse_to_replace_other_data(connection)
            _clear_data_tables(connection)
        elif connection.execute(sa.select(sa.func.count()).where(Rep.crm == CRM)).scalar():
            raise ValueError("demo data is already loaded: generate with fresh=True to replace it")
        rows = RowBuilder(world, _id_offsets(connection), tz)
        counts: dict[str, int] = {}
        with _checks_deferred_to_the_end(connection, DATA_TABLES, tell):
            for table, build in rows.builders().items():  # one table at a time, to keep memory low
                frame = build()
                tell(f"  {table.name}: {len(frame):,} rows")
                _write(connection, table, frame)
                counts[table.name] = len(frame)
            _link_team_managers(connection, rows.team_managers())
        _advance_id_sequences(connection, DATA_TABLES)
    _analyze(engine, DATA_TABLES)
    summary = DemoSummary(**counts)
    tell(f"Done: {summary.total:,} rows")
    return summary


INSERT_CHUNK = 10_000
COPY_CHUNK = 200_000


def _is_postgres_psycopg(connection: sa.Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


class NotDemoData(ValueError):
    """The database holds records the demo did not create; replacing them would lose a real CRM copy."""


#: Records the demo may replace: its own, and people.yaml's (re-applied from the file after every demo).
REPLACEABLE = (CRM, CONFIG_CRM)


def _refuse_to_replace_other_data(connection: sa.Connection) -> None:
    """Raise :class:`NotDemoData` naming what is there when any record comes from another source.

    Targets are checked by who set them: the demo signs its own ``demo``.
    """
    found = []
    for table in DATA_TABLES:
        if "crm" in table.c:
            query = sa.select(table.c.crm, sa.func.count()).where(table.c.crm.not_in(REPLACEABLE))
            for crm, count in connection.execute(query.group_by(table.c.crm).order_by(table.c.crm)):
                found.append(f"{count:,} {table.name.replace('_', ' ')} from {crm}")
        else:
            query = sa.select(sa.func.count()).where(sa.func.coalesce(table.c.set_by, "") != CRM)
            count = connection.execute(query).scalar_one()
            if count:
                found.append(f"{count:,} {table.name} set by people")
    if found:
        raise NotDemoData(
            f"this database holds records the demo did not create ({', '.join(found)}); the demo never "
            "replaces them. Point DATABASE_URL at another database for the demo, for example "
            "DATABASE_URL=sqlite:///kpibot-demo.db"
        )


def _clear_data_tables(connection: sa.Connection) -> None:
    """Empty every CRM data table: TRUNCATE on PostgreSQL (instant), else DELETE children before parents.

    The Slack identity cache points at people, so it goes too: the new people get new ids.
    """
    if connection.dialect.name == "postgresql":
        tables = [SlackUser.__tablename__, *(table.name for table in DATA_TABLES)]
        connection.execute(sa.text("TRUNCATE " + ", ".join(tables)))
        return
    for model in (SlackUser, Target, Forecast, NpsResponse, Quote, Activity, Lead, Deal, Account, MarketingSpend):
        connection.execute(sa.delete(model))
    connection.execute(sa.update(Team).values(manager_id=None, parent_id=None))
    connection.execute(sa.delete(Rep))
    connection.execute(sa.delete(Team))


def _id_offsets(connection: sa.Connection) -> dict[str, int]:
    """The largest id in use per table: new rows are numbered after it."""
    return {
        table.name: connection.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
        for table in DATA_TABLES
    }


@contextlib.contextmanager
def _checks_deferred_to_the_end(
    connection: sa.Connection, tables: list[sa.Table], tell: Callable[[str], None]
) -> Iterator[None]:
    """On PostgreSQL, drop the tables' foreign keys, unique constraints and secondary indexes for the load and
    put the very same definitions back afterwards, in the same transaction.

    Why: checking a foreign key (a locking lookup per row) and maintaining five B-trees row by row makes
    COPY several times slower than building each index once by sorting and validating each key with one
    join. Nothing else can see the tables meanwhile (the DDL locks them until commit), and a failed load
    rolls the drops back with everything else. Primary keys stay: other tables' foreign keys need them.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    names = {"tables": [table.name for table in tables]}
    constraints = connection.execute(
        sa.text(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid::regclass::text = ANY(:tables) AND contype IN ('u', 'f') ORDER BY contype DESC"
        ),
        names,
    ).all()  # unique constraints before foreign keys, the order to put them back in
    indexes = connection.execute(
        sa.text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid::regclass::text = ANY(:tables) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)"
        ),
        names,
    ).all()
    for table, name, _definition in reversed(constraints):
        connection.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    for name, _definition in indexes:
        connection.execute(sa.text(f"DROP INDEX {name}"))
    yield
    tell("  rebuilding indexes and checking foreign keys")
    connection.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    for _name, definition in indexes:
        connection.execute(sa.text(definition))
    for table, name, definition in constraints:
        connection.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))


def _write(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    if _is_postgres_psycopg(connection):
        _copy_rows(connection, table, frame)
    else:
        for start in range(0, len(frame), INSERT_CHUNK):
            connection.execute(table.insert(), _records(table, frame.iloc[start : start + INSERT_CHUNK]))


def _copy_rows(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Stream the frame into PostgreSQL with COPY (text format), a chunk of rows at a time; a writer thread
    sends one chunk while the next is being formatted."""
    columns = ", ".join(frame.columns)
    dbapi = connection.connection.dbapi_connection
    with (
        dbapi.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN", writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        for start in range(0, len(frame), COPY_CHUNK):
            chunk = frame.iloc[start : start + COPY_CHUNK]
            texts = [_copy_texts(chunk[name]) for name in chunk.columns]
            copy.write("".join(line + "\n" for line in map("\t".join, zip(*texts, strict=True))))


COPY_NULL = "\\N"
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_texts(column: pd.Series) -> list[str]:
    """A column as COPY text values, converted by numpy where possible (pandas' to_csv costs a microsecond
    per value, which is minutes for the big tables)."""
    missing = column.isna().to_numpy()
    if column.dtype.kind in "iuf":  # numpy and nullable (Int64) numbers
        texts = column.to_numpy(dtype=np.float64 if column.dtype.kind == "f" else np.int64, na_value=0).astype(str)
    elif column.dtype.kind == "M":
        texts = column.to_numpy().astype(str)  # ISO 8601: 2026-11-18T09:30:00
    elif column.dtype.kind == "b":
        texts = np.where(column.to_numpy(), "t", "f")
    else:  # text and dates: escape each distinct value once (most text columns hold a handful of values)
        codes, distinct = pd.factorize(column)
        escaped = np.array([str(value).translate(COPY_ESCAPES) for value in distinct] + [COPY_NULL], dtype=object)
        texts = escaped[codes]  # code -1 (missing) picks the last item
    return np.where(missing, COPY_NULL, texts).tolist()


def _records(table: sa.Table, frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts of plain Python values (int, float, str, date, datetime, None) for executemany."""
    columns = {name: _python_values(frame[name], table.c[name].type) for name in frame.columns}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _python_values(column: pd.Series, sql_type: sa.types.TypeEngine) -> list[object]:
    if column.dtype.kind == "M":
        return column.to_numpy().astype("datetime64[us]").astype(object).tolist()
    if isinstance(sql_type, sa.String) and column.dtype.kind in "iu":
        return column.astype(str).tolist()
    return column.astype(object).where(column.notna(), None).tolist()


def _link_team_managers(connection: sa.Connection, links: list[dict[str, int]]) -> None:
    """Set teams.manager_id once the managers exist (teams and reps point at each other)."""
    statement = sa.update(Team).where(Team.id == sa.bindparam("team")).values(manager_id=sa.bindparam("manager"))
    connection.execute(statement, links)


def _advance_id_sequences(connection: sa.Connection, tables: list[sa.Table]) -> None:
    """Rows were written with explicit ids, so move PostgreSQL's id sequences past them for later inserts."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
            )
        )


def _analyze(engine: sa.Engine, tables: list[sa.Table]) -> None:
    """Refresh the planner's statistics after a bulk load, so the first KPI queries are planned well."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE " + ", ".join(table.name for table in tables)))
