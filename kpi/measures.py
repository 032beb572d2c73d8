"""One measure in SQL: its filters and time condition over a model, its aggregate, what identifies its definition
(:func:`digest`), and whether the rollups can hold it (:func:`rolls_up`, :func:`flows`).

The compiler (kpi/compiler.py) builds statements from these pieces and the rollups (kpi/rollups.py) keep their
partials with the very same ones, so that a number read from either adds up the same rows.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Date, and_, case, func, literal_column, not_, or_, true
from sqlalchemy.sql.expression import ColumnElement

from kpi import formula
from kpi.periods import Calendar, Period
from kpi.semantic import MODELS, Model, Window
from kpi.types import Measure

COMPARISONS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def condition(model: Model, measure: Measure, window: Window) -> ColumnElement:
    """The filter and time condition of one measure, over a model built for its window."""
    return condition_in(model, measure, [window])


def condition_in(model: Model, measure: Measure, windows: Sequence[Window]) -> ColumnElement:
    """The measure's filters, and its time column inside any of ``windows`` (a period's edge months)."""
    spans = [span for span in (time_span(model, measure, window) for window in windows) if span is not None]
    if not spans:
        return filters(model, measure)
    within = [and_(column >= windows[0].at(start), column < windows[0].at(end)) for column, start, end in spans]
    return and_(filters(model, measure), or_(*within))


def filters(model: Model, measure: Measure) -> ColumnElement:
    return and_(true(), *(_where(model.columns, column, value) for column, value in measure.where.items()))


def time_span(model: Model, measure: Measure, window: Window) -> tuple[ColumnElement, Any, Any] | None:
    """The measure's time column and the window's bounds in that column's terms (None for a stock)."""
    if not measure.time:
        return None
    column = _column(model.columns, measure.time)
    if isinstance(column.type, Date):
        return column, window.start_date, window.end_date
    return column, window.start, window.end


def any_of(model: Model, measures: Iterable[Measure]) -> list[ColumnElement]:
    """``column IN (...)`` for each column that every measure's filter holds to some values (won and lost deals:
    ``status IN (lost, won)``; calls, meetings, demos and emails: ``type IN (...)``). The OR of the filters implies
    it, but only in this form can an index whose first column it is be read as one range: a win rate's days read
    with ``status = won OR status IN (won, lost)`` were a bitmap scan of the deals' pages (65 ms for a week at 5M
    deals), and a rollups rebuild read the whole index on ``(type, occurred_at)`` for each of 25 months."""
    values: dict[str, set[Any]] | None = None
    for measure in measures:
        held = {name: _values(value) for name, value in measure.where.items()}
        found = {name: set(listed) for name, listed in held.items() if listed is not None}
        values = found if values is None else {name: values[name] | found[name] for name in values.keys() & found}
    return [model.columns[name].in_(sorted(listed)) for name, listed in sorted((values or {}).items())]


def _values(value: Any) -> list[Any] | None:
    """The values a ``where`` entry holds its column to (a value, or a list of them), or None for any other test."""
    listed = value if isinstance(value, list) else [value]
    plain = all(isinstance(item, str | int) and not isinstance(item, bool) for item in listed)
    return listed if plain and not {"null", "not null"} & set(listed) else None


def _column(columns: Mapping[str, ColumnElement], name: str) -> ColumnElement:
    if name not in columns:
        raise formula.FormulaError(f"unknown column '{name}'; columns are: {', '.join(sorted(columns))}")
    return columns[name]


def _where(columns: Mapping[str, ColumnElement], name: str, value: Any) -> ColumnElement:
    """One ``where`` entry: a value, a list (any of), "null"/"not null", True/False or {op: value}."""
    column = _column(columns, name)
    if value is True:
        return column
    if value is False:
        return not_(column)
    if value in ("null", None):
        return column.is_(None)
    if value == "not null":
        return column.is_not(None)
    if isinstance(value, list):
        return column.in_(value)
    if isinstance(value, dict):
        unknown = set(value) - set(COMPARISONS)
        if unknown:
            raise formula.FormulaError(f"unknown comparison {sorted(unknown)} for '{name}'; use {list(COMPARISONS)}")
        return and_(*(getattr(column, COMPARISONS[op])(operand) for op, operand in value.items()))
    return column == value


#: Parsed measure expressions: the catalog's few, parsed once rather than for every question.
parsed = functools.lru_cache(maxsize=1024)(formula.parse)


def measured(model: Model, measure: Measure, when: ColumnElement) -> ColumnElement:
    """The measure's aggregate over the rows where ``when`` holds: a window's (the compiler) or a month's
    (the rollups' maintenance, kpi/rollups.py), so that both add up the same thing."""
    if measure.agg == "count":
        return func.sum(case((when, literal_column("1")), else_=literal_column("0")))
    return func.sum(case((when, formula.to_sql(parsed(measure.expr), model.columns))))


def contributions(model: Model, measure: Measure, when: ColumnElement) -> ColumnElement:
    """How many rows :func:`measured` adds up where ``when`` holds: a count's rows, a sum's rows with a value (a
    daily total kept by adding and taking away rows, kpi/rollups.py, knows from it when no row is left)."""
    if measure.agg == "count":
        return measured(model, measure, when)
    return func.count(case((when, formula.to_sql(parsed(measure.expr), model.columns))))


#: The models a rollup may hold: each reads one table that only a sync of that table writes, so that the sync can
#: keep the rollup right (kpi/rollups.py). Reps are rewritten by people.yaml outside the sync; the other models
#: are joins or derived rows (leads with their deal, customers from deals, forecasts ranked per period).
ROLLED_UP = ("deals", "activities", "quotes", "spend")

#: Which measures the rollups hold, and for which time zone's months: ``{(measure digest, zone name)}``, read
#: from ``rollup_measures`` (kpi/rollups.py :class:`~kpi.rollups.Held`); empty: every measure reads its rows.
Built = frozenset[tuple[str, str]]


def definition(measure: Measure) -> dict[str, Any]:
    """What a measure's rows and values depend on (its window does not: a window only bounds its time)."""
    return {
        "model": measure.model,
        "agg": measure.agg,
        "expr": measure.expr,
        "where": measure.where,
        "time": measure.time,
    }


def digest(measure: Measure) -> str:
    """A stable name for the measure's definition: the rollups of a changed definition are never read for it."""
    text = json.dumps(definition(measure), sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def rolls_up(measure: Measure) -> bool:
    """Whether monthly rollups can answer the measure: a sum or count over a time column of a rolled-up model
    whose filters, expression and time read only the table's own columns.

    Those columns hold the same value whatever window is asked (unlike ``open`` at the window's end, or
    ``age_days``), so a month's partial aggregate is the same for every period containing the month, and they
    only change when a sync writes the row, which refreshes the months it touched (before and after). A stock
    (no time column) has no months; it reads its rows.
    """
    return _rolls_up(json.dumps(definition(measure), sort_keys=True, default=str))


@functools.lru_cache(maxsize=1024)
def _rolls_up(text: str) -> bool:
    spec = json.loads(text)
    if spec["model"] not in ROLLED_UP or not spec["time"]:
        return False
    return spec_reads(spec) <= set(MODELS[spec["model"]](sample_window()).source.c.keys())


def spec_reads(spec: Mapping[str, Any]) -> set[str]:
    """The columns a measure's definition reads."""
    return {spec["time"], *spec["where"], *(formula.names(parsed(spec["expr"])) if spec["expr"] else ())}


def flows(measure: Measure) -> tuple[Measure, Measure] | None:
    """A stock as the flows into and out of its state: the same sum or count over the rows that entered the state
    (the model's ``stocks``, kpi/semantic.py) by their entering instant, and over those that left it by their
    leaving instant. Its value at T is the first's total before T less the second's, which the organisation's
    daily rollups answer in a few hundred rows however many deals are open. None for a measure that is not a
    stock, or whose other filters read more than the table's own columns (as :func:`rolls_up` asks)."""
    found = _flows(json.dumps(definition(measure), sort_keys=True, default=str))
    return None if found is None else (Measure(**found[0]), Measure(**found[1]))


@functools.lru_cache(maxsize=1024)
def _flows(text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
    spec = json.loads(text)
    if spec["model"] not in ROLLED_UP or spec["time"]:
        return None
    model = MODELS[spec["model"]](sample_window())
    for state, instants in model.stocks.items():
        if spec["where"].get(state) is not True:
            continue
        rest = {name: value for name, value in spec["where"].items() if name != state}
        entered, left = ({**spec, "where": {**rest, at: "not null"}, "time": at} for at in instants)
        readable = set(model.source.c.keys()) | set(instants)
        return (entered, left) if spec_reads(entered) | spec_reads(left) <= readable else None
    return None


@functools.cache
def sample_window() -> Window:
    """A quarter of 2020 in UTC: what a model is built for when only its columns matter."""
    calendar = Calendar(zoneinfo.ZoneInfo("UTC"))
    period = Period("sample", dt.date(2020, 1, 1), dt.date(2020, 4, 1), dt.date(2020, 4, 1), "quarter", calendar)
    return Window.of(period, dt.datetime(2020, 4, 1))
