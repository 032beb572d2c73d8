"""What a canonical record may contain, derived from :mod:`kpi.schema` so connectors and the runner agree.

A connector hands the sync runner plain dicts, one per record, keyed by canonical column names:

* ``crm_id``: the record's id in the source (required);
* value columns of the table (``name``, ``amount``, ``close_date``...), typed as the schema says:
  ``str``, ``Decimal``, naive UTC ``datetime``, ``date``, ``int``, ``bool`` or a JSON ``dict``;
* references to other records of the same source by *their* ``crm_id``: the foreign-key column's name
  with ``_id`` replaced by ``_crm_id`` (``owner_crm_id``, ``account_crm_id``, ``team_crm_id``,
  ``parent_crm_id``, ``manager_crm_id``, ``deal_crm_id``, ``converted_deal_crm_id``).

Everything here is read from the SQLAlchemy tables, so a column added to the schema is importable
without touching the runner. :meth:`ObjectSpec.clean` is the one place that checks a record against the
schema (types, lengths, required columns, the few closed vocabularies), so every connector gets the same
validation and SQLite and PostgreSQL receive the same values.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sqlalchemy import JSON, Boolean, Column, Date, DateTime, Integer, Numeric, String, Table
from sqlalchemy.sql.schema import ScalarElementColumnDefault
from sqlalchemy.types import TypeEngine

from kpi.schema import Base
from kpi.types import Role

#: The objects a connector may provide, in the order the runner writes them: an object only refers to
#: objects before it, except teams, whose parent is a team and whose manager is a rep (the runner links
#: those once every object is written).
OBJECTS = (
    "teams",
    "reps",
    "accounts",
    "deals",
    "leads",
    "activities",
    "quotes",
    "marketing_spend",
    "nps_responses",
    "forecasts",
)

#: Closed vocabularies that the KPI definitions rely on (KPIS.md). Anything else would silently drop
#: out of every number, so it is rejected at import time instead.
ALLOWED_VALUES: dict[tuple[str, str], tuple[str, ...]] = {
    ("deals", "status"): ("open", "won", "lost"),
    ("deals", "type"): ("new", "upsell", "cross-sell", "renewal"),
    ("activities", "type"): ("call", "meeting", "demo", "email"),
    ("reps", "role"): tuple(Role),
}

#: Upper bounds of numeric columns; every numeric column (money, probability) is also at least 0.
MAXIMUM: dict[tuple[str, str], Decimal] = {("deals", "probability"): Decimal(1)}

#: Columns that are a share of 1, which exports may write as a percentage ("40%" is 0.4).
RATES = frozenset({("deals", "probability")})

#: Times of one record that happen in order: (object, earlier, later). A deal that closes before it was
#: created is a data-entry error that would put it in the wrong period's numbers. A day of slack allows
#: for a close date stored as local midnight of the day a deal was created and closed.
IN_ORDER: dict[str, tuple[tuple[str, str], ...]] = {"deals": (("created_at", "close_date"),)}
ORDER_SLACK = dt.timedelta(days=1)

#: Columns the runner manages itself: a connector never sets them.
MANAGED = frozenset({"id", "crm", "crm_id", "deleted_at"})


class Problem(ValueError):
    """A value that cannot be stored; the message is worded for the person who fixes the source."""


@dataclass(frozen=True)
class Reference:
    """A link to another record, given by the connector as ``<name>_crm_id``."""

    name: str  # "owner"
    column: str  # "owner_id"
    target: str  # "reps"

    @property
    def field(self) -> str:
        return f"{self.name}_crm_id"


@dataclass(frozen=True)
class ObjectSpec:
    """One canonical object (a table): the fields a record may carry and how to check them."""

    name: str
    table: Table
    columns: dict[str, Column]  # value columns a connector may set
    references: dict[str, Reference]  # keyed by ``Reference.field``
    required: frozenset[str]  # value columns that may not be empty
    defaults: dict[str, Any]  # value used when a column with a default is given as None
    checks: dict[str, Callable[[Any], Any]]  # per value column: the value to store, or Problem

    def kind(self, column: str) -> str:
        """The value kind of a column: text, datetime, date, decimal, integer, boolean or json."""
        return _kind(self.columns[column])

    def clean(self, record: dict[str, Any]) -> str | None:
        """Check and normalise ``record`` in place; return why it cannot be stored, or None.

        A key that is neither a column nor a reference is a connector bug and raises ``KeyError``.
        """
        crm_id = record.get("crm_id")
        if not isinstance(crm_id, str) or not crm_id.strip():
            return "missing id"
        if len(crm_id) > 128:
            return f"id {crm_id[:40]!r}... is longer than 128 characters"
        checks, defaults = self.checks, self.defaults
        for key, value in record.items():
            check = checks.get(key)
            if check is None:
                if key != "crm_id" and key not in self.references:
                    raise KeyError(f"{self.name} has no field {key!r}")
            elif value is None:
                if key in defaults:
                    record[key] = defaults[key]
            else:
                try:
                    record[key] = check(value)
                except Problem as problem:
                    return f"{key}: {problem}"
        for column in self.required:
            if record.get(column) is None:
                return f"missing {column}"
        for earlier, later in IN_ORDER.get(self.name, ()):
            first, then = record.get(earlier), record.get(later)
            if first is not None and then is not None and then < first - ORDER_SLACK:
                return f"{later} {then:%Y-%m-%d} is before {earlier} {first:%Y-%m-%d}"
        return None


def spec(name: str) -> ObjectSpec:
    """The :class:`ObjectSpec` of a canonical object; ``KeyError`` for an unknown name."""
    return _specs()[name]


@functools.cache
def _specs() -> dict[str, ObjectSpec]:
    specs = {}
    for name in OBJECTS:
        table = Base.metadata.tables[name]
        columns, references, required, defaults = {}, {}, set(), {}
        for column in table.columns:
            if column.name in MANAGED:
                continue
            foreign = next(iter(column.foreign_keys), None)
            if foreign is not None:
                reference = Reference(column.name.removesuffix("_id"), column.name, foreign.column.table.name)
                references[reference.field] = reference
                continue
            columns[column.name] = column
            if isinstance(column.default, ScalarElementColumnDefault):  # a fixed value, not a function or SQL
                defaults[column.name] = column.default.arg
            elif not column.nullable:
                required.add(column.name)
        checks = {column_name: _check(name, column) for column_name, column in columns.items()}
        specs[name] = ObjectSpec(name, table, columns, references, frozenset(required), defaults, checks)
    return specs


def _kind(column: Column) -> str:
    kinds: tuple[tuple[type[TypeEngine[Any]], str], ...] = (
        (DateTime, "datetime"),
        (Date, "date"),
        (Numeric, "decimal"),
        (Boolean, "boolean"),
        (Integer, "integer"),
        (JSON, "json"),
        (String, "text"),
    )
    return next(kind for sql_type, kind in kinds if isinstance(column.type, sql_type))


def _check(name: str, column: Column) -> Callable[[Any], Any]:
    """The checker of one value column of object ``name``: returns the value to store or raises Problem."""
    check = _type_check(column, MAXIMUM.get((name, column.name)))
    allowed = ALLOWED_VALUES.get((name, column.name))
    return _one_of(check, allowed) if allowed else check


def _type_check(column: Column, maximum: Decimal | None) -> Callable[[Any], Any]:
    kind, sql_type = _kind(column), column.type
    if kind == "text":
        assert isinstance(sql_type, String)
        return functools.partial(_text, sql_type.length)
    if kind == "decimal":
        assert isinstance(sql_type, Numeric)
        scale = sql_type.scale or 0
        digits = (sql_type.precision or 18) - scale
        largest = maximum if maximum is not None else Decimal(10) ** digits - Decimal(1).scaleb(-scale)
        return functools.partial(_decimal, scale, largest)
    return {
        "datetime": _naive_datetime,
        "date": _date,
        "integer": _integer,
        "boolean": _boolean,
        "json": _json,
    }[kind]


def _one_of(check: Callable[[Any], Any], allowed: tuple[str, ...]) -> Callable[[Any], Any]:
    def checked(value: Any) -> Any:
        value = check(value)
        if value not in allowed:
            raise Problem(f"{value!r} is not one of {', '.join(allowed)}")
        return value

    return checked


def _text(length: int | None, value: Any) -> str:
    if not isinstance(value, str):
        raise Problem(f"expected text, got {value!r}")
    if length and len(value) > length:
        raise Problem(f"{value[:40]!r}... is longer than {length} characters")
    if "\x00" in value:  # PostgreSQL cannot store it, and no CRM means it
        raise Problem(f"{value[:40]!r} holds a NUL byte")
    return value


_STEPS = {scale: Decimal(1).scaleb(-scale) for scale in range(10)}


def _decimal(scale: int, maximum: Decimal, value: Any) -> Decimal:
    """Round to the column's scale the way PostgreSQL does, so both backends store the same number.

    Amounts, costs and probabilities are never negative in a CRM; a negative one is a data-entry error
    that would silently lower revenue, so it is rejected.
    """
    if isinstance(value, bool) or not isinstance(value, Decimal | int | float | str):
        raise Problem(f"expected a number, got {value!r}")
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value))
        number = number.quantize(_STEPS[scale], rounding=ROUND_HALF_UP)
    except InvalidOperation:
        raise Problem(f"{value!r} is not a number") from None
    if not number.is_finite():
        raise Problem(f"{value!r} is not a number")
    if number < 0:
        raise Problem(f"{value} is negative")
    if number > maximum:
        raise Problem(f"{value} is too large (at most {maximum})")
    return number


def _naive_datetime(value: Any) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is not None:
        raise Problem(f"expected a naive UTC date and time, got {value!r}")
    return value


def _date(value: Any) -> dt.date:
    if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
        raise Problem(f"expected a calendar date, got {value!r}")
    return value


def _integer(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise Problem(f"expected a whole number, got {value!r}")
    return value


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise Problem(f"expected true or false, got {value!r}")
    return value


def _json(value: Any) -> Any:
    if not isinstance(value, dict | list):
        raise Problem(f"expected a mapping or a list, got {value!r}")
    return value
