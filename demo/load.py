"""Writing the demo company into the database: refusing to replace other data, emptying the demo's tables,
the bulk load (kpi/bulk.py, as the CRM sync's), and the ids, links and statistics that follow it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sqlalchemy as sa

from demo.assumptions import CRM
from demo.calendar import Calendar
from demo.rows import RowBuilder
from demo.world import simulate
from kpi import bulk, generation, rollups
from kpi.db import vacuum
from kpi.schema import (
    CONFIG_CRM,
    Account,
    Activity,
    Deal,
    DealStage,
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
    for model in (
        Team,
        Rep,
        Account,
        Lead,
        Deal,
        DealStage,
        Activity,
        Quote,
        MarketingSpend,
        NpsResponse,
        Forecast,
        Target,
    )
]


@dataclass(frozen=True)
class DemoSummary:
    """How many rows each table received, for the CLI to print."""

    teams: int
    reps: int
    accounts: int
    leads: int
    deals: int
    deal_stage_history: int
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
    regions: int | None = None,
    months: int = 24,
    as_of: dt.date,
    timezone: str = "UTC",
    fresh: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Write a demo company with ``reps`` sales reps (in ``regions`` regions, or one per 200 reps) and ``months``
    months of history ending at ``as_of``.

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
    world = simulate(rng, cal, reps, regions)
    tell("Writing to the database")
    with engine.begin() as connection:
        if fresh:
            _refuse_to_replace_other_data(connection)
            _clear_data_tables(connection)
        elif connection.execute(sa.select(sa.func.count()).where(Rep.crm == CRM)).scalar():
            raise ValueError("demo data is already loaded: generate with fresh=True to replace it")
        rows = RowBuilder(world, _id_offsets(connection), tz)
        counts: dict[str, int] = {}
        # Foreign keys, unique constraints and secondary indexes are dropped for the load and put back after it,
        # in this transaction (see kpi.bulk.drop_indexes): several times faster than checking them row by row.
        dropped = bulk.drop_indexes(connection, DATA_TABLES, constraints=True)
        for table, build in rows.builders().items():  # one table at a time, to keep memory low
            frame = build()
            tell(f"  {table.name}: {len(frame):,} rows")
            bulk.insert_frame(connection, table, frame)
            counts[table.name] = len(frame)
        _link_team_managers(connection, rows.team_managers())
        if dropped:
            tell("  rebuilding indexes and checking foreign keys")
            dropped.rebuild(connection)
        _advance_id_sequences(connection, DATA_TABLES)
        rollups.refill(connection)
        generation.advance(connection, directory=True)  # new people and teams
    _analyze(engine, DATA_TABLES)
    summary = DemoSummary(**counts)
    tell(f"Done: {summary.total:,} rows")
    return summary


class NotDemoData(ValueError):
    """The database holds records the demo did not create; replacing them would lose a real CRM copy."""


#: Records the demo may replace: its own, and people.yaml's (re-applied from the file after every demo).
REPLACEABLE = (CRM, CONFIG_CRM)


def _refuse_to_replace_other_data(connection: sa.Connection) -> None:
    """Raise :class:`NotDemoData` naming what is there when any record comes from another source.

    Targets are checked by who set them: the demo signs its own ``demo``. A deal's stage history goes with the
    deal, which is checked.
    """
    found = []
    for table in DATA_TABLES:
        if "crm" in table.c:
            query = sa.select(table.c.crm, sa.func.count()).where(table.c.crm.not_in(REPLACEABLE))
            for crm, count in connection.execute(query.group_by(table.c.crm).order_by(table.c.crm)):
                found.append(f"{count:,} {table.name.replace('_', ' ')} from {crm}")
        elif table is Target.__table__:
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
    for model in (
        SlackUser,
        Target,
        Forecast,
        NpsResponse,
        Quote,
        Activity,
        Lead,
        DealStage,
        Deal,
        Account,
        MarketingSpend,
    ):
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
    """Refresh the planner's statistics after a bulk load, so the first KPI queries are planned well, and mark the
    loaded pages all-visible, so that a period's edge days are read from the covering indexes alone (migration 0011)
    rather than from every table page their rows lie on, until autovacuum would come."""
    vacuum(engine, *(table.name for table in tables), analyze=True)
