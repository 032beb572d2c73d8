"""What a sync's writes change in the rollups (kpi/rollups.py), kept right in the transaction that commits them.

The owners' months of a measure over a column of the table are refreshed from the rows for the (owner, month) pairs
the written rows had before and have after each write. The organisation's days, and each owner's totals and months
of a stock's flows, are kept by difference: the rows' share is taken away before a write and added back after, so
the cost follows the rows written, not the days or months they fall on.
"""

from __future__ import annotations

import dataclasses
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Collection, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    FromClause,
    Integer,
    Numeric,
    String,
    Table,
    and_,
    delete,
    exists,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import visitors
from sqlalchemy.sql.expression import ColumnElement

from kpi.bulk import literal_rows
from kpi.measures import sample_window
from kpi.months import month_of
from kpi.rollups import Touched, aggregates_of, held_measures, refill, serialise, totals_by
from kpi.schema import Rollup, RollupDay, RollupOwner
from kpi.semantic import MODELS, Model
from kpi.types import Measure

#: Past this many owners changed in one month, the month is refreshed whole: one range read of the month
#: rather than a list of owners longer than the month's rows are worth.
WHOLE_MONTH_OWNERS = 200

#: (measure digest, local day, owner or (owner, month)) -> what a sync's rows add to the organisation's day
#: (schema.RollupDay), to an owner's totals (schema.RollupOwner) or to an owner's month of a flow: value, rows
Deltas = dict[tuple[str, Any], tuple[Any, int]]


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
            held = held_measures(self.connection)
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
                    model.source, model.key, model.where, model.columns[column], *aggregates_of(model, measure)
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
        # One read of the rows by owner and day, folded into the organisation's days and, for a stock's flows, each
        # owner's totals and (owned rows only) months.
        for name, measures in affected.items():
            flows = name not in table.c
            for owner, day, *totals in self.connection.execute(totals_by(measures, watched.tz, where, "owner day")):
                _add(self.deltas, measures, day, totals, sign)
                if flows:
                    _add(self.owned, measures, owner, totals, sign)
                if flows and owner is not None:
                    _add(self.owned_months, measures, (owner, day.replace(day=1)), totals, sign)

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
        serialise(self.connection)
        same = set(held_measures(self.connection)) == self._held
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


def _add(deltas: Deltas, measures: Mapping[str, Measure], at: Any, totals: Sequence[Any], sign: int) -> None:
    """Note what a row of :func:`totals_by` adds to each measure's ``deltas`` at ``at``, or takes away: its
    ``totals`` are each measure's total and rows in turn (read by position: 120,000 rows of a 10,000-deal sync)."""
    for key, value, count in zip(measures, totals[::2], totals[1::2], strict=True):
        if count:
            before, rows = deltas.get((key, at), (0, 0))
            deltas[key, at] = (before + sign * value, rows + sign * count)


def _add_owners(connection: Connection, deltas: Deltas) -> None:
    """Add what a sync's rows changed to each owner's totals (:func:`_merge`), then drop those nothing counts in
    any more. The owners' totals are matched by equal owners, through the index on (measure, owner), and the totals
    of the rows of no owner apart, by a NULL owner: matching both at once (NULL read as 0 on each side) read and
    sorted the whole table for every page (200 of a 1,000-deal page's ms at 5M deals, sorted on disk)."""
    added = [(key, owner, Decimal(value), count) for (key, owner), (value, count) in deltas.items() if value or count]
    columns = {"measure": String(), "owner_id": Integer(), "value": Numeric(), "rows": Integer()}
    o = RollupOwner.__table__
    owned, unowned = [row for row in added if row[1] is not None], [row for row in added if row[1] is None]
    _merge(connection, o, columns, owned, lambda d: o.c.owner_id == d.c.owner_id)
    _merge(connection, o, columns, unowned, lambda d: o.c.owner_id.is_(None))
    connection.execute(delete(o).where(o.c.rows <= 0))


def _add_owner_months(connection: Connection, deltas: Deltas) -> None:
    """Add what a sync's rows changed to the owners' months of a stock's flows (:func:`_merge`; every owner here
    is one, found by the index on (measure, month, owner) as equals). A month left at zero stays: it adds nothing
    to a sum, and finding those to drop them read the whole table (3 s a page at 5M deals); a rebuild leaves none."""
    added = [(key, owner, month, Decimal(value)) for (key, (owner, month)), (value, _) in deltas.items() if value]
    columns = {"measure": String(), "owner_id": Integer(), "month": Date(), "value": Numeric()}
    r = Rollup.__table__
    _merge(connection, r, columns, added, lambda d: and_(r.c.month == d.c.month, r.c.owner_id == d.c.owner_id))


def _merge(
    connection: Connection,
    table: Table,
    columns: Mapping[str, Any],
    added: list[tuple],
    matches: Callable[[FromClause], ColumnElement[bool]],
) -> None:
    """Add the ``added`` rows (``columns``: the measure, its keys, then what adds up) to the rows of ``table`` of
    the same measure that ``matches``, and insert those that match none: two statements, as no unique key holds
    (an owner may be NULL; a month row has its id alone)."""
    if not added:
        return
    changed = literal_rows(connection, "deltas", columns, added)
    same = and_(table.c.measure == changed.c.measure, matches(changed))
    summed = {name: table.c[name] + changed.c[name] for name in ("value", "rows") if name in columns}
    connection.execute(update(table).where(same).values(summed))
    connection.execute(insert(table).from_select(list(columns), select(changed).where(~exists().where(same))))


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
