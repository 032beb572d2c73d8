"""Rollups: monthly partial aggregates per owner, and the organisation's daily totals, of additive measures.

A sum or count over a time column adds up: its value for a quarter is the sum of its values for the quarter's
months, per owner. ``rollups`` keeps one row per (measure, owner, local month of the org calendar); the compiler
(kpi/compiler.py :func:`~kpi.compiler.compile_query`) reads a period's whole months there and only its edge
months from the rows, so that an organisation's year costs owners x months rows rather than every deal. Which
measures qualify is decided once, by :func:`kpi.measures.rolls_up`; a row's value is the compiler's own aggregate
(:func:`kpi.measures.measured`) over the month, so there is no second definition of any KPI.

An organisation-wide total (no owner filter, not grouped by owner) reads ``rollup_days`` instead: one row per
(measure, local day) for the whole organisation, so that any period, to date or whole, is a few hundred rows and
no deal, whatever the size of the company. A sync keeps the days by difference (kpi/rollup_changes.py): the
share of the rows it changes is taken away before each write and added back after, which costs the rows written,
where recomputing the days they fall on would read most of the table.

Each owner's totals, ever, of a stock's flows (``rollup_owners``) answer every rep's stock now: a deal is in the
pipeline at T when it entered before T and did not leave before T, so an owner's pipeline now is what ever entered
less what ever left, less the rows whose instants lie at or after T (those dated ahead: few); at any earlier T (a
past week's end) for many owners, less the rows up to the next month's start and the owner's months of the flows
from then on, which ``rollups`` holds too (kpi/compiler.py). A sync keeps the totals and those months by
difference, as it keeps the days.

``rollup_measures`` says which measures the rollups hold and for which time zone's months; the compiler reads a
measure from them only when both match, so a database upgraded without a rebuild, a changed kpis.yaml or a new
org time zone reads rows (correct, slower) until :func:`rebuild` runs (``kpibot rollups rebuild``, or at start
when :func:`stale`). ``KPIBOT_ROLLUPS=0`` turns their use off (:class:`Held`), to compare or to rule them out.

Every writer keeps them right in its own transaction, through one code path (:func:`refill`): a sync refreshes
the (owner, month) pairs its rows had before and have after each write (kpi/rollup_changes.py: an owner change or
a moved close date also leaves the old month wrong), the demo loader and the test worlds refresh them all.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from typing import Any, Literal

from sqlalchemy import (
    Connection,
    Date,
    DateTime,
    Engine,
    FromClause,
    Integer,
    Numeric,
    Select,
    and_,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from kpi import generation
from kpi.bulk import literal_rows
from kpi.catalog import Catalog
from kpi.db import vacuum
from kpi.measures import (
    Built,
    any_of,
    contributions,
    definition,
    digest,
    filters,
    flows,
    measured,
    rolls_up,
    sample_window,
)
from kpi.months import month_of, months_from, next_month
from kpi.periods import Calendar, utc_midnight, utc_now
from kpi.schema import Rollup, RollupDay, RollupMeasure, RollupOwner
from kpi.semantic import MODELS, Model
from kpi.sqlfuncs import local_day, local_month, one_of
from kpi.types import Measure

SWITCH = "KPIBOT_ROLLUPS"

#: How long a process trusts what it read of ``rollup_measures`` (seconds).
HELD_MAX_AGE = 60.0

#: month -> the owners whose partials are refreshed in it (None: every owner)
Touched = dict[dt.date, set[int | None] | None]


class Held:
    """What the rollups hold, for one process's questions: read when it starts, again when a server sees the data
    generation's ``directory`` move (a rebuild moves it: :meth:`read`), and at most :data:`HELD_MAX_AGE` seconds
    after the last read otherwise, not before every question (a rebuild is rare, and it happens at start when the
    catalog or the zone changed); ``KPIBOT_ROLLUPS=0`` is obeyed at once."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.read()

    def read(self) -> None:
        with self.engine.connect() as connection:
            self._held = _built(connection)
        self._read_at = time.monotonic()

    def built(self) -> Built:
        """``{(measure digest, time zone)}`` for the compiler; empty with ``KPIBOT_ROLLUPS=0``: every measure
        then reads its rows."""
        if os.environ.get(SWITCH, "1") == "0":
            return frozenset()
        if time.monotonic() - self._read_at >= HELD_MAX_AGE:
            self.read()
        return self._held


def _built(connection: Connection) -> Built:
    return frozenset(connection.execute(select(RollupMeasure.measure, RollupMeasure.time_zone)).tuples())


def wanted(catalog: Catalog) -> dict[str, Measure]:
    """The catalog's measures the rollups can hold, by digest (every KPI's, and its ``ahead`` variant's), and the
    flows of its stocks (the organisation's days only: their instants are not columns of the table)."""
    kpis = [variant for base in catalog for variant in (base, base.ahead) if variant is not None]
    measures = [m for kpi in kpis for m in kpi.measures.values()]
    held = [m for m in measures if rolls_up(m)]
    held += [flow for m in measures for flow in flows(m) or ()]
    return {digest(m): m for m in held}


def stale(engine: Engine, catalog: Catalog, calendar: Calendar) -> bool:
    """Whether the rollups hold other measures or months than the catalog and the org's time zone need."""
    with engine.connect() as connection:
        held = _built(connection)
    return held != {(key, calendar.tz.key) for key in wanted(catalog)}


def rebuild(engine: Engine, catalog: Catalog, calendar: Calendar) -> int:
    """Empty the rollups and fill them again for the catalog's measures in the org's months, in one transaction
    (answers read the old rollups meanwhile, the new ones once it commits). Returns the rows written."""
    measures = wanted(catalog)
    with engine.begin() as connection:
        serialise(connection)
        connection.execute(delete(RollupMeasure))
        now = utc_now()
        rows = [
            {"measure": key, "time_zone": calendar.tz.key, "definition": definition(m), "built_at": now}
            for key, m in measures.items()
        ]
        if rows:
            connection.execute(insert(RollupMeasure), rows)
        refill(connection)
        generation.advance(connection, directory=True)  # cached answers are of the old rows; servers re-read `built`
        written = connection.execute(select(func.count()).select_from(Rollup)).scalar_one()
    # Every row was replaced: reclaim the old ones and give the planner statistics now, not when autovacuum comes (a
    # sync's refresh read pages of dead rows until then, and the planner guessed the table's size).
    vacuum(engine, *(table.__tablename__ for table in (Rollup, RollupDay, RollupOwner)), analyze=True)
    return written


def refill(
    connection: Connection,
    touched: Mapping[tuple[str, str], Touched] | None = None,
    only: Collection[str] | None = None,
) -> None:
    """Compute again, from the rows, the partials of the measures ``rollup_measures`` lists: all of them (the
    organisation's days too), or only the ``touched`` months and owners of each ``(model, time column)``, of the
    measures ``only`` names if given (a sync keeps the days by the deltas of
    :class:`kpi.rollup_changes.Changes`). In the caller's transaction."""
    serialise(connection)
    held = held_measures(connection)
    groups: dict[tuple[str, str, str], dict[str, Measure]] = defaultdict(dict)
    for key, (measure, tz) in held.items():
        groups[measure.model, str(measure.time), tz][key] = measure
    if touched is None:
        for table in (Rollup, RollupDay, RollupOwner):
            connection.execute(delete(table))
    for (model_name, column, tz), measures in groups.items():
        monthly = _own_column(model_name, column)
        if touched is None:
            if monthly:
                _fill(connection, measures, zoneinfo.ZoneInfo(tz), None)
            else:
                _fill_owners(connection, measures, zoneinfo.ZoneInfo(tz))
            _fill_days(connection, measures, zoneinfo.ZoneInfo(tz))
        elif monthly and touched.get((model_name, column)):
            chosen = {key: m for key, m in measures.items() if only is None or key in only}
            if chosen:
                _fill(connection, chosen, zoneinfo.ZoneInfo(tz), touched[model_name, column])


def _own_column(model_name: str, column: str) -> bool:
    """Whether a time column is the table's own: the owners' months hold only those measures (a stock's flows,
    over instants the model derives, are held in the organisation's days)."""
    return column in MODELS[model_name](sample_window()).source.c


def serialise(connection: Connection) -> None:
    """One writer of the rollups at a time, until its transaction commits (answers still read them): a refresh
    computed from a snapshot without another writer's uncommitted rows would otherwise overwrite that writer's
    partials, or a rebuild insert a second copy of an owner-month a sync refreshes meanwhile. Statements after the
    lock see what the writer before committed. (SQLite has one writer at a time anyway.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE rollups IN SHARE ROW EXCLUSIVE MODE"))


def held_measures(connection: Connection) -> dict[str, tuple[Measure, str]]:
    rows = connection.execute(select(RollupMeasure.measure, RollupMeasure.definition, RollupMeasure.time_zone))
    return {key: (Measure(**spec), tz) for key, spec, tz in rows}


def _fill(
    connection: Connection, measures: Mapping[str, Measure], tz: zoneinfo.ZoneInfo, touched: Touched | None
) -> None:
    """One scan of a model's rows for its measures over one time column, grouped by owner and local month, each
    measure's partials inserted from it: of every month, or of the ``touched`` pairs (whose rows are deleted
    first)."""
    first = next(iter(measures.values()))
    model = MODELS[first.model](sample_window())
    column = model.columns[str(first.time)]
    bounds: Any = Date() if isinstance(column.type, Date) else DateTime()

    def bound(month: dt.date) -> dt.date | dt.datetime:
        return month if isinstance(bounds, Date) else utc_midnight(month, tz)

    if touched is None:
        whole, pairs = _months_of(connection, model, column, tz, isinstance(bounds, Date)), []
    else:
        r = Rollup.__table__
        held = _pairs(r.c.owner_id, touched, r.c.month.__eq__)
        connection.execute(delete(r).where(r.c.measure.in_(list(measures)), held))
        whole = sorted(month for month, owners in touched.items() if owners is None)
        pairs = sorted((owner, month) for month, owners in touched.items() for owner in owners or ())
    # The months to read whole, joined by range; and the (owner, month) pairs, joined by owner and range: an
    # index on (owner, time) reads each pair's few rows.
    selects = []
    if whole:
        calendar = literal_rows(
            connection,
            "months",
            {"month": Date(), "starts": bounds, "ends": bounds},
            [(m, bound(m), bound(next_month(m))) for m in whole],
        )
        selects.append(_partials(model, measures, column, calendar, []))
    if pairs:
        owners = {"owner": Integer(), "month": Date(), "starts": bounds, "ends": bounds}
        table = literal_rows(connection, "pairs", owners, [(o, m, bound(m), bound(next_month(m))) for o, m in pairs])
        selects.append(_partials(model, measures, column, table, [model.key == table.c.owner]))
    if not selects:
        return
    partials = (union_all(*selects) if len(selects) > 1 else selects[0]).cte("partials")
    branches = []
    for i, (key, measure) in enumerate(measures.items()):
        value = partials.c[f"v{i}"]
        kept = value != 0 if measure.agg == "count" else value.is_not(None)  # nothing counted: no row
        columns = (literal(key).label("measure"), partials.c.owner_id, partials.c.month, value.label("value"))
        branches.append(select(*columns).where(kept))
    # Written by month and owner, so that a sync's refresh of an owner's month finds its measures' rows on one page
    # rather than one page each (by measure, a sync of 10,000 deals rewrote 24,000 pages per 1,000 deals).
    written = union_all(*branches).subquery("written")
    ordered = select(written).order_by(written.c.month, written.c.owner_id)
    statement = insert(Rollup).from_select(["measure", "owner_id", "month", "value"], ordered)
    connection.execute(statement)


def _fill_days(connection: Connection, measures: Mapping[str, Measure], tz: zoneinfo.ZoneInfo) -> None:
    """The organisation's daily totals of a model's measures over one time column, from one scan of its rows."""
    _insert_totals(connection, RollupDay, totals_by(measures, tz, None, "day"), measures)


def _fill_owners(connection: Connection, measures: Mapping[str, Measure], tz: zoneinfo.ZoneInfo) -> None:
    """Each owner's totals, ever, and months of a model's flows over one instant, from a scan of its rows each."""
    _insert_totals(connection, RollupOwner, totals_by(measures, tz, None, "owner"), measures)
    _insert_totals(connection, Rollup, totals_by(measures, tz, None, "owner month"), measures)


def _insert_totals(
    connection: Connection,
    table: type[RollupDay | RollupOwner | Rollup],
    totals: Select,
    measures: Mapping[str, Measure],
) -> None:
    """Insert each measure's totals of ``totals`` (grouped by its first columns: :func:`totals_by`) that count some
    rows, with how many where the table keeps it (the owners' months do not: their sums are read as they are)."""
    found = totals.subquery("totals")
    by = [column for column in found.c if column.name in ("day", "owner_id", "month")]
    counted = "rows" in table.__table__.c
    branches = []
    for i, key in enumerate(measures):
        kept = [found.c[f"v{i}"], *([found.c[f"n{i}"]] if counted else [])]
        branches.append(select(literal(key).label("measure"), *by, *kept).where(found.c[f"n{i}"] > 0))
    rows = union_all(*branches) if len(branches) > 1 else branches[0]
    names = ["measure", *(column.name for column in by), "value", *(["rows"] if counted else [])]
    connection.execute(insert(table).from_select(names, rows))


#: How :func:`totals_by` groups a model's rows: by local day (the organisation's), by owner (ever), by owner and
#: month, or by owner and day (a sync's rows, folded into all three: :meth:`kpi.rollup_changes.Changes._stored`).
Grain = Literal["day", "owner", "owner month", "owner day"]


def totals_by(
    measures: Mapping[str, Measure], tz: zoneinfo.ZoneInfo, where: ColumnElement | None, grain: Grain
) -> Select:
    """Each measure's total (``v<i>``) and rows (``n<i>``) per local day of ``tz`` (``day``), per owner
    (``owner_id``), per owner and local month (``owner_id``, ``month``) or per owner and day of the rows ``where``
    selects (all of them: None), for measures of one model over one time column. An owner's months are of the rows
    of an owner only: none is kept for rows of no owner (a past end's stock by owner leaves them out)."""
    first = next(iter(measures.values()))
    model = MODELS[first.model](sample_window())
    column = model.columns[str(first.time)]
    dates = isinstance(column.type, Date)
    day = (column if dates else local_day(column, literal(tz.key))).label("day")
    owner = model.key.label("owner_id")
    groups = {
        "day": [day],
        "owner": [owner],
        "owner month": [owner, local_month(column, literal(tz.key), dates).label("month")],
        "owner day": [owner, day],
    }[grain]
    aggregates = []
    for i, m in enumerate(measures.values()):
        total, rows = aggregates_of(model, m)
        aggregates += [total.label(f"v{i}"), rows.label(f"n{i}")]
    owned = model.key.is_not(None) if grain == "owner month" else None
    conditions = [model.where, where, owned, column.is_not(None), or_(*(filters(model, m) for m in measures.values()))]
    return (
        select(*groups, *aggregates)
        .select_from(model.source)
        .where(*(c for c in conditions if c is not None))
        .group_by(*(g.element for g in groups))
    )


def aggregates_of(model: Model, measure: Measure) -> tuple[ColumnElement, ColumnElement]:
    """A measure's total over its rows, as a Decimal on either database (to add up exactly), and what it counts."""
    when = filters(model, measure)
    return type_coerce(measured(model, measure, when), Numeric()), contributions(model, measure, when)


def _partials(
    model: Model, measures: Mapping[str, Measure], column: ColumnElement, calendar: FromClause, on: list[ColumnElement]
) -> Select:
    """Each measure's aggregate per owner and month of ``calendar`` (``month``, ``starts``, ``ends``)."""
    aggregates = (measured(model, m, filters(model, m)).label(f"v{i}") for i, m in enumerate(measures.values()))
    joined = model.source.join(calendar, and_(column >= calendar.c.starts, column < calendar.c.ends, *on))
    where = [model.where, or_(*(filters(model, m) for m in measures.values())), *any_of(model, measures.values())]
    return (
        select(model.key.label("owner_id"), calendar.c.month, *aggregates)
        .select_from(joined)
        .where(*(w for w in where if w is not None))
        .group_by(model.key, calendar.c.month)
    )


def _pairs(key: ColumnElement, touched: Touched, in_month: Callable[[dt.date], ColumnElement]) -> ColumnElement:
    """The touched (owner, month) pairs, of the rollups or of a model's rows: ``in_month`` says which rows lie in
    a month; a month refreshed whole matches every owner."""
    arms = []
    for month, owners in sorted(touched.items()):
        if owners is None:
            arms.append(in_month(month))
            continue
        known = sorted(owner for owner in owners if owner is not None)
        who = [one_of(key, known, Integer())] if known else []
        if None in owners:
            who.append(key.is_(None))
        arms.append(and_(in_month(month), or_(*who)))
    return or_(*arms)


def _months_of(
    connection: Connection, model: Model, column: ColumnElement, tz: zoneinfo.ZoneInfo, dates: bool
) -> list[dt.date]:
    """Every local month from the earliest to the latest value of the time column."""
    query = select(func.min(column), func.max(column)).select_from(model.source)
    earliest, latest = connection.execute(query.where(model.where) if model.where is not None else query).one()
    if earliest is None:
        return []
    return months_from(month_of(earliest, tz, dates), next_month(month_of(latest, tz, dates)))
