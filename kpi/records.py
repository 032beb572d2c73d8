"""The records behind a number: the deals, calls or answers a KPI counts, a page at a time, with their CRM links.

A KPI's measures are its *sides* ("17 won · 40 closed" for a win rate; this period and the previous one for a
growth): each side lists the rows its measure counts, selected by the compiler's records mode
(:func:`kpi.compiler.compile_records`) from the same model, filters, time window and scope as the number, so
that the records listed add up to it. How a model's records read (their name, amount, type and date, the
order of a list) is data: ``records.yaml``. Pages are cut in SQL by keyset (the sort value and id of the
last row shown), never by OFFSET, so the hundredth page of a million deals costs what the first does.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from pydantic import RootModel
from sqlalchemy import ColumnElement, Connection, and_, func, literal, null, or_, select

from kpi import formula, stages
from kpi.compiler import compile_records
from kpi.config import Strict, load_model
from kpi.formats import money, period_json, raw
from kpi.links import record_url
from kpi.periods import Period
from kpi.results import Result
from kpi.semantic import Window
from kpi.types import Kpi, Measure, Scope

RECORDS_FILE = Path(__file__).with_name("records.yaml")
#: A page of records: what fits in a Slack message and reads at a glance.
PAGE_SIZE = 10


class Listing(Strict):
    """How one model's records read (an entry of records.yaml)."""

    id: str
    name: str | None = None
    amount: str | None = None
    type: str | None = None
    date: str
    order: Literal["amount", "date"]
    link: str | None = None
    noun: str  # what a list of them is called ("deals"); activities are named by their type ("calls")


class Listings(RootModel[dict[str, Listing]]):
    pass


@functools.cache
def listings() -> dict[str, Listing]:
    """records.yaml: how each model made of CRM records is listed."""
    return load_model(Listings, RECORDS_FILE).root


class NoRecords(LookupError):
    """The KPI is not built from CRM records (targets, spend, people): there is no list behind it."""


@dataclass(frozen=True)
class Side:
    """The records one measure of a KPI counts, named as an answer names them ("won", "closed")."""

    label: str
    key: str  # the measure's name in its KPI
    measure: Measure
    #: Conditions beyond the measure's own (a deal question's "stuck for more than 30 days", "Acme's").
    extra: tuple[ColumnElement, ...] = ()


def sides(kpi: Kpi) -> list[Side]:
    """Every side of a KPI that is made of records, the numerator's first; NoRecords when none is."""
    numerator = formula.names(kpi.numerator)
    found = [
        Side(_label(kpi, name), name, measure)
        for name, measure in sorted(kpi.measures.items(), key=lambda item: item[0] not in numerator)
        if measure.model in listings()
    ]
    if not found:
        raise NoRecords(
            f"{kpi.label} is not counted from CRM records (it reads {', '.join(sorted(kpi.models))}), "
            "so there are no records to show behind it."
        )
    return found


def noun(measure: Measure) -> str:
    """What the records of a measure are called: "deals", "leads", or an activity's type ("calls")."""
    kind = measure.where.get("type")
    return f"{kind}s" if measure.model == "activities" and isinstance(kind, str) else listings()[measure.model].noun


def counts(kpi: Kpi, result: Result) -> list[tuple[Side, int | None]]:
    """Each side of the KPI with how many records it lists, where the answer already says it: a side that counts
    records and is the whole numerator or denominator ("17 won", "40 closed"); None for a sum (revenue: its
    deals are not counted by the answer)."""
    numerator = formula.names(kpi.numerator)
    denominator = formula.names(kpi.denominator) if kpi.denominator is not None else set()
    found: list[tuple[Side, int | None]] = []
    for side in sides(kpi):
        count = None
        if side.measure.agg == "count" and numerator == {side.key}:
            count = result.numerator if kpi.denominator is not None else result.value
        elif side.measure.agg == "count" and denominator == {side.key}:
            count = result.denominator
        found.append((side, None if count is None else int(count)))
    return found


def counted_from_records(kpi: Kpi) -> bool:
    """Whether any measure of the KPI counts CRM records (so that an answer offers them)."""
    return any(measure.model in listings() for measure in kpi.measures.values())


def _label(kpi: Kpi, name: str) -> str:
    """A side's name: a ratio's part names for its parts ("won", "closed"), the KPI's for its own value (a sum,
    a count, each period of a growth), else the measure's ("active at start"); a window other than the period
    asked is said ("sales growth (previous period)")."""
    parts = [formula.names(kpi.numerator)] + ([formula.names(kpi.denominator)] if kpi.denominator else [])
    label = name.removeprefix("current_").removeprefix("previous_").replace("__value", "")
    label = kpi.label.lower() if label == "value" else label.replace("_", " ").replace("-", " ")
    if kpi.part_names is not None:
        label = next((said for said, part in zip(kpi.part_names, parts, strict=False) if part == {name}), label)
    return label + WINDOW_WORDS[kpi.measures[name].window]


#: How a side over another window than the period asked says so.
WINDOW_WORDS = {"period": "", "previous": " (previous period)", "trailing_12_months": " (trailing 12 months)"}


#: Where a page starts: after the row with this sort value and id (None: the first page).
Cursor = tuple[Any, int]


def cursor_to_json(cursor: Cursor) -> list[Any]:
    """A cursor for a button's value: the sort value as text (an amount, or a date in ISO form), and the id."""
    value, key = cursor
    return [None if value is None else value.isoformat() if isinstance(value, dt.datetime) else str(value), key]


def cursor_from_json(data: Any, model: str) -> Cursor:
    """The cursor :func:`cursor_to_json` wrote, typed as ``model``'s lists sort (ValueError for anything else)."""
    value, key = data
    if not isinstance(key, int) or not (value is None or isinstance(value, str)):
        raise ValueError(f"not a cursor: {data!r}")
    if value is None:
        return None, key
    by_amount = listings()[model].order == "amount"
    return (Decimal(value) if by_amount else dt.datetime.fromisoformat(value)), key


@dataclass(frozen=True)
class Record:
    """One record as a list shows it; ``value`` is what it adds to its side (1 for a count)."""

    id: int
    crm_id: str
    name: str | None
    owner: str | None
    amount: Decimal | None
    type: str | None
    date: dt.datetime | dt.date | None
    value: Decimal
    url: str | None
    days_in_stage: float | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.crm_id,
            "name": self.name,
            "owner": self.owner,
            "amount": raw(self.amount, "currency"),
            "type": self.type,
            "date": self.date.isoformat() if self.date else None,
            "value": raw(self.value),
            "url": self.url,
            "days_in_stage": round(self.days_in_stage, 1) if self.days_in_stage is not None else None,
        }


@dataclass(frozen=True)
class Page:
    """One page of a side's records, with the side's totals: how many records, and what they add up to."""

    side: Side
    period: Period | None
    count: int
    total: Decimal
    records: list[Record]
    after: Cursor | None  # where the next page starts; None on the last page

    @property
    def sums_money(self) -> bool:
        """Whether the side adds up an amount (revenue, pipeline) rather than counting records."""
        return self.side.measure.agg == "sum" and listings()[self.side.measure.model].amount is not None

    def to_json(self) -> dict[str, Any]:
        return {
            "label": self.side.label,
            "period": period_json(self.period) if self.period else None,
            "total": self.count,
            "sum": raw(self.total),
            "rows": [record.to_json() for record in self.records],
        }


def page(
    connection: Connection,
    side: Side,
    window: Window,
    scope: Scope,
    owners: Mapping[int, str],
    *,
    after: Cursor | None = None,
    limit: int = PAGE_SIZE,
    templates: Mapping[tuple[str, str], str] | None = None,
    period: Period | None = None,
) -> Page:
    """The page of ``side``'s records after ``after`` for ``scope`` in ``window``, sorted as records.yaml says
    (biggest or latest first, then by id), with the side's count and sum; ``owners`` names the owners,
    ``templates`` (:func:`kpi.links.link_templates`) gives the links."""
    measure = side.measure
    model, where, value = compile_records(measure, window, scope.filter, side.extra)
    listing = listings()[measure.model]
    columns = model.columns

    def column(name: str | None) -> ColumnElement:
        return columns[name] if name else null()

    key = columns[listing.id]
    date = columns[measure.time or listing.date]
    sort = column(listing.amount) if listing.order == "amount" else date
    stage_days = stages.days_in_stage(window.now) if measure.model == "deals" else null()
    shown = select(
        key.label("key"),
        columns["crm"].label("crm"),
        columns["crm_id"].label("crm_id"),
        column(listing.name).label("name"),
        model.key.label("owner_id"),
        column(listing.amount).label("amount"),
        column(listing.type).label("type"),
        date.label("date"),
        value.label("value"),
        sort.label("sort"),
        stage_days.label("days_in_stage"),
    ).select_from(model.source)
    rows = connection.execute(
        shown.where(*where, *_after(sort, key, after)).order_by(sort.desc().nulls_last(), key.desc()).limit(limit + 1)
    ).all()
    count, total = connection.execute(
        select(func.count(), func.coalesce(func.sum(value), literal(0))).select_from(model.source).where(*where)
    ).one()
    links = templates or {}
    records = [
        Record(
            row.key,
            row.crm_id,
            row.name,
            owners.get(row.owner_id) if row.owner_id is not None else None,
            _decimal(row.amount),
            None if row.type is None else str(row.type),
            row.date,
            _decimal(row.value) or Decimal(0),
            _link(links, row, listing),
            None if row.days_in_stage is None else float(row.days_in_stage),
        )
        for row in rows[:limit]
    ]
    after_last = (rows[limit - 1].sort, rows[limit - 1].key) if len(rows) > limit else None
    return Page(side, period, int(count), _decimal(total) or Decimal(0), records, after_last)


def _after(sort: ColumnElement, key: ColumnElement, cursor: Cursor | None) -> list[ColumnElement]:
    """The rows after ``cursor`` in the order ``sort DESC NULLS LAST, key DESC``: one condition, so that the
    database skips to the page rather than counting its way there."""
    if cursor is None:
        return []
    value, last = cursor
    if value is None:
        return [and_(sort.is_(None), key < last)]
    return [or_(sort < value, and_(sort == value, key < last), sort.is_(None))]


def _decimal(value: Any) -> Decimal | None:
    return None if value is None else value if isinstance(value, Decimal) else Decimal(str(value))


def _link(templates: Mapping[tuple[str, str], str], row: Any, listing: Listing) -> str | None:
    template = templates.get((row.crm, listing.link or ""))
    if template is None:
        return None
    return record_url(template, {"name": row.name, "amount": row.amount, "type": row.type, "id": row.crm_id})


@dataclass(frozen=True)
class RecordList:
    """The records behind an answer, or the deals a question asks for: a page of each side."""

    title: str
    model: str
    scope: Scope
    period: Period | None
    pages: list[Page]
    currency: str = "USD"

    @property
    def text(self) -> str:
        lines = [self.title]
        for shown in self.pages:
            amount = f", {money(shown.total, self.currency)}" if shown.sums_money else ""
            lines.append(f"{shown.side.label}: {shown.count} records{amount}")
            lines += [f"• {_line(record, self.currency)}" for record in shown.records]
            if shown.count > len(shown.records):
                lines.append(f"  ({len(shown.records)} of {shown.count} shown)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        first = self.pages[0]
        return {
            "kind": "records",
            "title": self.title,
            "model": self.model,
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "period": period_json(self.period) if self.period else None,
            "total": first.count,
            "rows": [record.to_json() for record in first.records],
            "sides": [shown.to_json() for shown in self.pages],
            "text": self.text,
        }


def _line(record: Record, currency: str) -> str:
    parts = [record.name or record.crm_id, record.owner or "no owner"]
    if record.amount is not None:
        parts.append(money(record.amount, currency))
    if record.type:
        parts.append(record.type)
    if record.days_in_stage is not None:
        parts.append(f"{record.days_in_stage:.0f} days in stage")
    if record.date:
        parts.append(record.date.strftime("%Y-%m-%d"))
    return " · ".join(parts) + (f" <{record.url}>" if record.url else "")
