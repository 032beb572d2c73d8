"""Portable SQL functions that SQLite and PostgreSQL spell differently."""

from __future__ import annotations

from sqlalchemy import Date, Float
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement, FunctionElement


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
