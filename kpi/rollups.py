"""Rollups: monthly partial aggregates per owner, and the organisation's daily totals, of additive measures.

A sum or count over a time column adds up: its value for a quarter is the sum of its values for the quarter's
months, per owner. ``rollups`` keeps one row per (measure, owner, local month of the org calendar); the compiler
(kpi/compiler.py :func:`~kpi.compiler.compile_query`) reads a period's whole months there and only its edge
months from the rows, so that an organisation's year costs owners x months rows rather than every deal. Which
measures qualify is decided once, by :func:`kpi.measures.rolls_up`; a row's value is the compiler's own aggregate
(:func:`kpi.measures.measured`) over the month, so there is no second definition of any KPI.

An organisation-wide total (no owner filter, not grouped by owner) reads ``rollup_days`` instead: one row per
(measure, local day) for the whole organisation, so that any period, to date or whole, is a few hundred rows and
no deal, whatever the size of the company. A sync keeps the days by difference (:class:`Changes`): the share of
the rows it changes is taken away before each write and added back after, which costs the rows written, where
recomputing the days they fall on would read most of the table.

Each owner's totals, ever, of a stock's flows (``rollup_owners``) answer every rep's stock now: a deal is in the
pipeline at T when it entered before T and did not leave before T, so an owner's pipeline now is what ever entered
less what ever left, less the rows whose instants lie at or after T (those dated ahead: few); at a past month's
start, less the owner's months of the flows from then on, which ``rollups`` holds too. A sync keeps the totals and
those months by difference, as it keeps the days.

``rollup_measures`` says which measures the rollups hold and for which time zone's months; the compiler reads a
measure from them only when both match, so a database upgraded without a rebuild, a changed kpis.yaml or a new
org time zone reads rows (correct, slower) until :func:`rebuild` runs (``kpibot rollups rebuild``, or at start
when :func:`stale`). ``KPIBOT_ROLLUPS=0`` turns their use off (:class:`Held`), to compare or to rule them out.

Every writer keeps them right in its own transaction, through one code path (:func:`refill`): a sync refreshes
the (owner, month) pairs its rows had before and have after each write (:class:`Changes`: an owner change or a
moved close date also leaves the old month wrong), the demo loader and the test worlds refresh them all.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping
from decimal import Decimal
from typing import Any, Literal

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Engine,
    FromClause,
    Integer,
    Numeric,
    Select,
    String,
    Table,
    and_,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
    type_coerce,
    union_all,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.sql import visitors
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

#: Past this many owners changed in one month, the month is refreshed whole: one range read of the month
#: rather than a list of owners longer than the month's rows are worth.
WHOLE_MONTH_OWNERS = 200

#: What stands for "no owner" where owners are matched as equals: no rep or team id is 0 (ids count from 1).
NO_OWNER = 0

#: month -> the owners whose partials are refreshed in it (None: every owner)
Touched = dict[dt.date, set[int | None] | None]
#: (measure digest, local day, owner or (owner, month)) -> what a sync's rows add to the organisation's day
#: (schema.RollupDay), to an owner's totals (schema.RollupOwner) or to an owner's month of a flow: value, rows
Deltas = dict[tuple[str, Any], tuple[Any, int]]


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
        _serialise(connection)
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
    measures ``only`` names if given (a sync keeps the days by :class:`Changes`' deltas). In the caller's
    transaction."""
    _serialise(connection)
    held = _held(connection)
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


def _serialise(connection: Connection) -> None:
    """One writer of the rollups at a time, until its transaction commits (answers still read them): a refresh
    computed from a snapshot without another writer's uncommitted rows would otherwise overwrite that writer's
    partials, or a rebuild insert a second copy of an owner-month a sync refreshes meanwhile. Statements after the
    lock see what the writer before committed. (SQLite has one writer at a time anyway.)"""
    if connection.dialect.name == "postgresql":
        connection.execute(text("LOCK TABLE rollups IN SHARE ROW EXCLUSIVE MODE"))


def _held(connection: Connection) -> dict[str, tuple[Measure, str]]:
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
    _insert_totals(connection, RollupDay, _daily(measures, tz, None, "day"), measures)


def _fill_owners(connection: Connection, measures: Mapping[str, Measure], tz: zoneinfo.ZoneInfo) -> None:
    """Each owner's totals, ever, and months of a model's flows over one instant, from a scan of its rows each."""
    _insert_totals(connection, RollupOwner, _daily(measures, tz, None, "owner"), measures)
    _insert_totals(connection, Rollup, _daily(measures, tz, None, "owner month"), measures)


def _insert_totals(
    connection: Connection,
    table: type[RollupDay | RollupOwner | Rollup],
    totals: Select,
    measures: Mapping[str, Measure],
) -> None:
    """Insert each measure's totals of ``totals`` (grouped by its first columns: :func:`_daily`) that count some
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


#: How :func:`_daily` groups a model's rows: by local day (the organisation's), by owner (ever), by owner and month.
Grain = Literal["day", "owner", "owner month"]


def _daily(measures: Mapping[str, Measure], tz: zoneinfo.ZoneInfo, where: ColumnElement | None, grain: Grain) -> Select:
    """Each measure's total (``v<i>``) and rows (``n<i>``) per local day of ``tz`` (``day``), per owner
    (``owner_id``) or per owner and local month (``owner_id``, ``month``) of the rows ``where`` selects (all of
    them: None), for measures of one model over one time column. An owner's months are of the rows of an owner
    only: none is refreshed for rows of no owner (a past end's stock by owner leaves them out)."""
    first = next(iter(measures.values()))
    model = MODELS[first.model](sample_window())
    column = model.columns[str(first.time)]
    dates = isinstance(column.type, Date)
    if grain == "day":
        groups = [(column if dates else local_day(column, literal(tz.key))).label("day")]
    elif grain == "owner":
        groups = [model.key.label("owner_id")]
    else:
        groups = [model.key.label("owner_id"), local_month(column, literal(tz.key), dates).label("month")]
    aggregates = []
    for i, m in enumerate(measures.values()):
        total, rows = _aggregates(model, m)
        aggregates += [total.label(f"v{i}"), rows.label(f"n{i}")]
    owned = model.key.is_not(None) if grain == "owner month" else None
    conditions = [model.where, where, owned, column.is_not(None), or_(*(filters(model, m) for m in measures.values()))]
    return (
        select(*groups, *aggregates)
        .select_from(model.source)
        .where(*(c for c in conditions if c is not None))
        .group_by(*(g.element for g in groups))
    )


def _aggregates(model: Model, measure: Measure) -> tuple[ColumnElement, ColumnElement]:
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


class Changes:
    """What a sync's writes change in the rolled-up tables, kept right in the transaction that commits them: the
    (owner, month) pairs the rows were in before each write and are in after it, refreshed from the rows by
    :meth:`flush`; and the organisation's days, by taking the rows' share away before a write (:meth:`leaving`)
    and adding it back after (:meth:`arrived`), so that the cost follows the rows written, not the days they
    fall on (10,000 changed deals fall on every day of two years)."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._watched: dict[str, _Watched] | None = None
        self._held: set[str] = set()  # the measures held when the pairs began to be noted
        self.touched: dict[tuple[str, str], Touched] = defaultdict(dict)
        self.refreshed: set[str] = set()  # the measures whose partials the touched pairs are refreshed for
        self.deltas: Deltas = {}
        self.owned: Deltas = {}  # the same, of each owner's totals of a stock's flows
        self.owned_months: Deltas = {}  # and of their months: (measure digest, (owner, month))

    def watched(self, table: Table) -> _Watched | None:
        """What the rollups read of ``table``: its model, owner column, measures by time column and zone (None:
        nothing)."""
        if self._watched is None:
            self._watched = {}
            held = _held(self.connection)
            self._held = set(held)
            for key, (measure, tz) in held.items():
                model = MODELS[measure.model](sample_window())
                assert isinstance(model.source, Table)
                entry = self._watched.setdefault(
                    model.source.name, _Watched(measure.model, model, {}, {}, zoneinfo.ZoneInfo(tz))
                )
                column = str(measure.time)
                entry.measures.setdefault(column, {})[key] = measure
                entry.reads[key] = _columns_read(
                    model.source, model.key, model.where, model.columns[column], *_aggregates(model, measure)
                )
        return self._watched.get(table.name)

    def leaving(self, table: Table, where: ColumnElement, changing: Collection[str] | None = None) -> None:
        """Before changing or deleting the stored rows ``where`` selects (``changing`` only these columns; None:
        any): note where they were counted, and take them out of their days."""
        self._stored(table, where, -1, changing)

    def arrived(self, table: Table, where: ColumnElement, changed: Collection[str] | None = None) -> None:
        """After inserting or changing the rows ``where`` selects (``changed`` only these columns; None: any):
        note where they count now, and add them to their days."""
        self._stored(table, where, 1, changed)

    def _stored(self, table: Table, where: ColumnElement, sign: int, changing: Collection[str] | None) -> None:
        watched = self.watched(table)
        if watched is None:
            return
        # Measures that read none of the changed columns keep their partials and days as they are (a sync that
        # changes amounts leaves every count alone, and deals created by month untouched).
        affected: dict[str, dict[str, Measure]] = {}
        for column, measures in watched.measures.items():
            for key, measure in measures.items():
                if changing is None or not watched.reads[key].isdisjoint(changing):
                    affected.setdefault(column, {})[key] = measure
        model = watched.model
        monthly = [name for name in sorted(affected) if name in table.c]
        self.refreshed.update(key for name in monthly for key in affected[name])
        if monthly:
            read = select(model.key.label("owner"), *(table.c[name] for name in monthly)).where(where)
            for row in self.connection.execute(read).mappings():
                self._note(watched, table, monthly, row.get)
        for name, measures in affected.items():
            for row in self.connection.execute(_daily(measures, watched.tz, where, "day")).mappings():
                _add(self.deltas, measures, row["day"], row, sign)
            if name not in table.c:  # a stock's flows: each owner's totals and months too
                for row in self.connection.execute(_daily(measures, watched.tz, where, "owner")).mappings():
                    _add(self.owned, measures, row["owner_id"], row, sign)
                for row in self.connection.execute(_daily(measures, watched.tz, where, "owner month")).mappings():
                    _add(self.owned_months, measures, (row["owner_id"], row["month"]), row, sign)

    def _note(self, watched: _Watched, table: Table, monthly: list[str], value: Callable[[str], Any]) -> None:
        owner = value("owner")
        for name in monthly:
            moment = value(name)
            if moment is None:
                continue
            month = month_of(moment, watched.tz, isinstance(table.c[name].type, Date))
            months = self.touched[watched.name, name]
            owners = months.setdefault(month, set())
            if owners is not None:
                owners.add(owner)
                if owner is None or len(owners) > WHOLE_MONTH_OWNERS:  # rows of no owner: refreshed by month
                    months[month] = None

    def flush(self) -> None:
        """Refresh the pairs and add the days' deltas noted since the last flush, in the caller's transaction: all
        the rollups from the rows if a rebuild changed the measures held since (these were noted for others)."""
        if self._watched is None:
            return
        _serialise(self.connection)
        same = set(_held(self.connection)) == self._held
        if not same:
            refill(self.connection)
        elif self.touched:
            refill(self.connection, self.touched, self.refreshed)
        if same and self.deltas:
            _add_days(self.connection, self.deltas)
        if same and self.owned:
            _add_owners(self.connection, self.owned)
        if same and self.owned_months:
            _add_owner_months(self.connection, self.owned_months)
        self.touched = defaultdict(dict)
        self.refreshed = set()
        self.deltas = {}
        self.owned = {}
        self.owned_months = {}
        self._watched = None


def _add(deltas: Deltas, measures: Mapping[str, Measure], at: Any, row: RowMapping, sign: int) -> None:
    """Note what a row of :func:`_daily` (a day's or an owner's) adds to each measure's ``deltas``, or takes away."""
    for i, key in enumerate(measures):
        if row[f"n{i}"]:
            value, rows = deltas.get((key, at), (0, 0))
            deltas[key, at] = (value + sign * row[f"v{i}"], rows + sign * row[f"n{i}"])


def _add_owners(connection: Connection, deltas: Deltas) -> None:
    """Add what a sync's rows changed to each owner's totals: the totals held changed where they are, the others
    inserted (two statements: the rows of no owner have a NULL owner, which no upsert's key matches), then drop
    those nothing counts in any more. Owners are matched with NULL read as :data:`NO_OWNER`, an equality that a
    hash join reads (``IS NOT DISTINCT FROM`` is not one: PostgreSQL compared every pair)."""
    added = [(key, owner, Decimal(value), count) for (key, owner), (value, count) in deltas.items() if value or count]
    if not added:
        return
    columns = {"measure": String(), "owner": Integer(), "value": Numeric(), "rows": Integer()}
    changed = literal_rows(connection, "deltas", columns, added)
    o = RollupOwner.__table__
    same = and_(
        o.c.measure == changed.c.measure,
        func.coalesce(o.c.owner_id, NO_OWNER) == func.coalesce(changed.c.owner, NO_OWNER),
    )
    connection.execute(update(o).where(same).values(value=o.c.value + changed.c.value, rows=o.c.rows + changed.c.rows))
    new = select(changed.c.measure, changed.c.owner, changed.c.value, changed.c.rows).where(~exists().where(same))
    connection.execute(insert(o).from_select(["measure", "owner_id", "value", "rows"], new))
    connection.execute(delete(o).where(o.c.rows <= 0))


def _add_owner_months(connection: Connection, deltas: Deltas) -> None:
    """Add what a sync's rows changed to the owners' months of a stock's flows: the months held changed where they
    are, found by the index on (measure, month, owner) as equals (every owner here is one), the others inserted.
    A month left at zero stays: it adds nothing to a sum, and finding those to drop them read the whole table (3 s
    a page at 5M deals); a rebuild leaves none."""
    added = [(key, owner, month, Decimal(value)) for (key, (owner, month)), (value, _) in deltas.items() if value]
    if not added:
        return
    columns = {"measure": String(), "owner": Integer(), "month": Date(), "value": Numeric()}
    changed = literal_rows(connection, "deltas", columns, added)
    r = Rollup.__table__
    same = and_(r.c.measure == changed.c.measure, r.c.month == changed.c.month, r.c.owner_id == changed.c.owner)
    connection.execute(update(r).where(same).values(value=r.c.value + changed.c.value))
    new = select(changed.c.measure, changed.c.owner, changed.c.month, changed.c.value).where(~exists().where(same))
    connection.execute(insert(r).from_select(["measure", "owner_id", "month", "value"], new))


def _add_days(connection: Connection, deltas: Deltas) -> None:
    """Add what a sync's rows changed to the organisation's days, in the database (an upsert: reading the days
    and writing them back took 0.6 s a page of 1,000 deals), then drop the days nothing counts in any more."""
    days = RollupDay.__table__
    added = [
        (key, day, Decimal(value), count)  # a count's total is an int: an array of numbers is of one type
        for (key, day), (value, count) in sorted(deltas.items())
        if value or count  # rows that left and came back as they were (a count, when only amounts change)
    ]
    if not added:
        return
    # The deltas as one table, not an upsert each (176 ms of a 1,000-deal page's 1.1 s at 5M deals); SQLite parses an
    # upsert from a SELECT only with a WHERE before its ON CONFLICT.
    columns = {"measure": String(), "day": Date(), "value": Numeric(), "rows": Integer()}
    table = select(literal_rows(connection, "deltas", columns, added)).where(true())
    upsert = (postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert)(days)
    upsert = upsert.from_select(list(columns), table)
    summed = {"value": days.c.value + upsert.excluded.value, "rows": days.c.rows + upsert.excluded.rows}
    connection.execute(upsert.on_conflict_do_update(index_elements=[days.c.measure, days.c.day], set_=summed))
    connection.execute(delete(days).where(days.c.rows <= 0))


def _columns_read(table: Table, *expressions: ColumnElement | None) -> frozenset[str]:
    """The columns of ``table`` the expressions read (a derived column's, such as a deal's pipeline instants, by
    what it is made of)."""
    found = (element for e in expressions if e is not None for element in visitors.iterate(e))
    return frozenset(element.name for element in found if isinstance(element, Column) and element.table is table)


@dataclasses.dataclass(frozen=True)
class _Watched:
    name: str  # the model's
    model: Model
    measures: dict[str, dict[str, Measure]]  # time column -> {measure digest: measure}
    # measure digest -> the columns it, its time column, the owner and the model's filter read
    reads: dict[str, frozenset[str]]
    tz: zoneinfo.ZoneInfo
