"""Portable SQL functions that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Collection
from typing import Any

from sqlalchemy import ARRAY, Boolean, Date, Float, bindparam
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import BindParameter, ColumnElement, FunctionElement
from sqlalchemy.types import TypeEngine


class days_between(FunctionElement):  # noqa: N801 (SQL function naming)
    """Days from ``a`` to ``b`` as a fractional number: ``days_between(created_at, close_date)``."""

    type = Float()
    inherit_cache = True
    name = "days_between"

    def __init__(self, a: ColumnElement, b: ColumnElement) -> None:
        super().__init__(a, b)


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler, **kw) -> str:
    a, b = element.clauses
    return f"(julianday({compiler.process(b, **kw)}) - julianday({compiler.process(a, **kw)}))"


@compiles(days_between, "postgresql")
def _days_postgresql(element: days_between, compiler, **kw) -> str:
    a, b = element.clauses
    if isinstance(a.type, Date) and isinstance(b.type, Date):
        return f"(({compiler.process(b, **kw)}) - ({compiler.process(a, **kw)}))"
    return f"(EXTRACT(EPOCH FROM ({compiler.process(b, **kw)}) - ({compiler.process(a, **kw)})) / 86400.0)"


class local_day(FunctionElement):  # noqa: N801 (SQL function naming)
    """The local date, in the time zone named ``zone``, of a naive UTC timestamp: which day of the org calendar a
    row falls on (kpi/rollups.py's daily totals)."""

    type = Date()
    inherit_cache = True
    name = "local_day"

    def __init__(self, timestamp: ColumnElement, zone: ColumnElement) -> None:
        super().__init__(timestamp, zone)


@compiles(local_day, "sqlite")
def _local_day_sqlite(element: local_day, compiler, **kw) -> str:
    timestamp, zone = element.clauses
    return f"kpibot_local_day({compiler.process(timestamp, **kw)}, {compiler.process(zone, **kw)})"


@compiles(local_day, "postgresql")
def _local_day_postgresql(element: local_day, compiler, **kw) -> str:
    timestamp, zone = element.clauses
    return (
        f"CAST(timezone({compiler.process(zone, **kw)}, timezone('UTC', {compiler.process(timestamp, **kw)})) AS DATE)"
    )


class local_month(FunctionElement):  # noqa: N801 (SQL function naming)
    """The first day of the local month, in the time zone named ``zone``, of a naive UTC timestamp (or of a date,
    ``dates``): which month of the org calendar a row falls in (kpi/rollups.py's owners' months of a stock's
    flows, kept by difference like the days)."""

    type = Date()
    inherit_cache = True
    name = "local_month"

    def __init__(self, timestamp: ColumnElement, zone: ColumnElement, dates: bool = False) -> None:
        super().__init__(timestamp if dates else local_day(timestamp, zone))


@compiles(local_month, "sqlite")
def _local_month_sqlite(element: local_month, compiler, **kw) -> str:
    (day,) = element.clauses
    return f"date({compiler.process(day, **kw)}, 'start of month')"


@compiles(local_month, "postgresql")
def _local_month_postgresql(element: local_month, compiler, **kw) -> str:
    (day,) = element.clauses
    return f"CAST(date_trunc('month', {compiler.process(day, **kw)}) AS DATE)"


def sqlite_local_day(timestamp: str | None, zone: str) -> str | None:
    """:class:`local_day` for SQLite, which has no time zones: registered on each connection (kpi/db.py)."""
    if timestamp is None:
        return None
    instant = dt.datetime.fromisoformat(timestamp).replace(tzinfo=dt.UTC)
    return instant.astimezone(zoneinfo.ZoneInfo(zone)).date().isoformat()


class among(FunctionElement):  # noqa: N801 (SQL function naming)
    """``column`` is one of the ids bound to ``ids`` (a bind parameter of a list of ints, named so that a kept
    statement is given its values at execution: kpi/statements.py).

    PostgreSQL reads the list as one array, ``column = ANY(:ids)``; SQLite, which has no arrays, as ``IN`` with a
    parameter per id. A region's 500 reps as 500 parameters made each of its statements 500 placeholders long, and
    the driver parsed such a statement afresh every time (it keeps only short ones parsed): 30 ms a question."""

    type = Boolean()
    inherit_cache = True
    name = "among"

    def __init__(self, column: ColumnElement, ids: BindParameter) -> None:
        super().__init__(column, ids)


@compiles(among)
def _among_in(element: among, compiler, **kw) -> str:
    column, ids = element.clauses
    assert isinstance(ids, BindParameter) and isinstance(ids.type, ARRAY)
    listed = ids._clone(maintain_key=True)  # the same parameter, as a list of its items
    listed.expanding, listed.type = True, ids.type.item_type
    return compiler.process(column.in_(listed), **kw)


def one_of(column: ColumnElement, values: Collection[Any], item: TypeEngine) -> ColumnElement[bool]:
    """``column`` is one of ``values`` (items of type ``item``), as :class:`among` reads a list: a sync page's 1,000
    ids as 1,000 placeholders were a quarter of a sync's time in SQLAlchemy and the driver."""
    return among(column, bindparam(None, list(values), type_=ARRAY(item)))


@compiles(among, "postgresql")
def _among_any(element: among, compiler, **kw) -> str:
    column, ids = element.clauses
    return f"{compiler.process(column, **kw)} = ANY({compiler.process(ids, **kw)})"
