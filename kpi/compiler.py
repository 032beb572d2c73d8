"""The one compiler: a KPI's measures, for a scope and one or more sets of windows, become one SQL statement.

Measures that read the same source (table or join) share one ``SELECT ... GROUP BY owner`` with conditional
aggregates (``SUM(CASE WHEN <filter and time> THEN <expr> END)``), whatever their window: a period and its
previous period are one scan. Different sources become branches of a ``UNION ALL``, summed again by owner.
The result is one row per owner (or per team for team-owned facts) with one column per measure and window
set: a leaderboard, a team answer and an org answer are the same query with a different scope filter, and
no raw record ever reaches Python.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import zoneinfo
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import (
    Date,
    Numeric,
    Select,
    and_,
    case,
    func,
    literal_column,
    not_,
    null,
    or_,
    select,
    true,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from kpi import formula
from kpi.catalog import Catalog
from kpi.config import ConfigError
from kpi.periods import Calendar, Period
from kpi.semantic import MODELS, Model, Window
from kpi.types import EVERYONE, Kpi, Measure, ScopeFilter, WindowName

COMPARISONS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


def condition(model: Model, measure: Measure, window: Window) -> ColumnElement:
    """The filter and time condition of one measure, over a model built for its window."""
    span = _span(model, measure, window)
    if span is None:
        return _filters(model, measure)
    column, start, end = span
    return and_(_filters(model, measure), column >= window.at(start), column < window.at(end))


def _filters(model: Model, measure: Measure) -> ColumnElement:
    return and_(true(), *(_where(model.columns, column, value) for column, value in measure.where.items()))


def _span(model: Model, measure: Measure, window: Window) -> tuple[ColumnElement, Any, Any] | None:
    """The measure's time column and the window's bounds in that column's terms (None for a stock)."""
    if not measure.time:
        return None
    column = _column(model.columns, measure.time)
    if isinstance(column.type, Date):
        return column, window.start_date, window.end_date
    return column, window.start, window.end


def _rows_read(columns: list[tuple[Model, Measure, Window]]) -> ColumnElement:
    """The rows a scan reads: those matching any of its measures' conditions, factored by time range.

    ``(range 1 AND (filter a OR filter b)) OR (range 2 AND ...)`` rather than the OR of whole conditions:
    each arm opens with a range an index serves (the planner ORs one range scan per window), and no range
    appears twice, which would fool the planner's row estimates. A stock (no time) adds its condition.
    """
    ranges: dict[tuple[str, Any, Any], tuple[ColumnElement, dict[tuple[str, int], ColumnElement]]] = {}
    stocks = []
    for model, measure, window in columns:
        span = _span(model, measure, window)
        if span is None:
            stocks.append(_filters(model, measure))
            continue
        column, start, end = span
        key = (str(measure.time), start, end)
        if key not in ranges:
            ranges[key] = (and_(column >= window.at(start), column < window.at(end)), {})
        same = (json.dumps(measure.where, sort_keys=True, default=str), id(window))  # one filter once per window
        ranges[key][1].setdefault(same, _filters(model, measure))
    arms = [and_(time_range, or_(*filters.values())) for time_range, filters in ranges.values()]
    return or_(*arms, *stocks)


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
_parse = functools.lru_cache(maxsize=1024)(formula.parse)


def _aggregate(model: Model, measure: Measure, window: Window) -> ColumnElement:
    when = condition(model, measure, window)
    if measure.agg == "count":
        return func.sum(case((when, literal_column("1")), else_=literal_column("0")))
    return func.sum(case((when, formula.to_sql(_parse(measure.expr), model.columns))))


def scope_clause(model: Model, scope: ScopeFilter) -> ColumnElement | None:
    """The rows of the scope's owners (None: every row), in a model's terms."""
    if model.owned_by == "rep":
        return None if scope.rep_ids is None else model.key.in_(sorted(scope.rep_ids))
    if scope.team_ids is None:
        return None
    teams = model.key.in_(sorted(scope.team_ids))
    return or_(teams, model.key.is_(None)) if scope.include_org_level else teams


def compile_records(
    measure: Measure, window: Window, scope: ScopeFilter = EVERYONE, extra: Sequence[ColumnElement] = ()
) -> tuple[Model, list[ColumnElement], ColumnElement]:
    """The records mode: the rows one measure counts, for a list of the records behind a number.

    Returns the measure's model, the conditions that select its rows (the model's own, the scope's, the
    measure's filters and time window, and ``extra`` ones such as "stuck in stage"), and what each row adds
    to the measure (1 for a count, the summed expression for a sum): the very pieces :func:`compile_query`
    aggregates, so that the rows listed add up to the number shown."""
    model = MODELS[measure.model](window)
    where = [model.where, scope_clause(model, scope), condition(model, measure, window), *extra]
    summed = formula.to_sql(_parse(measure.expr), model.columns) if measure.agg == "sum" else None
    # a row's share unrounded (a sum's type is its first column's: money, rounded to the cent row by row)
    value = literal_column("1") if summed is None else type_coerce(summed, Numeric())
    return model, [w for w in where if w is not None], value


def compile_query(
    kpi: Kpi, windows: Sequence[Mapping[WindowName, Window]], scope: ScopeFilter = EVERYONE, *, by_owner: bool = True
) -> Select:
    """One statement returning ``owner_id, team_id, m_0...`` grouped by owner (and team): a column per measure
    for each set of windows in turn (a period and its previous period: ``m_0..m_<n-1>``, then ``m_<n>``...).

    Measures whose models read the same source share one scan, whatever their window: an answer's period
    and previous period cost one pass over the rows of both, not two queries. Without ``by_owner`` the
    statement returns the scope's totals in one row (owner and team NULL): a team or organisation answer
    needs no per-owner rows, and grouping 2,000 owners costs a sort or hash the total does not.
    """
    columns: list[tuple[Model, Measure, Window]] = []
    models: dict[tuple[str, Window], Model] = {}
    for window_set in windows:
        for measure in kpi.measures.values():
            window = window_set[measure.window]
            if (measure.model, window) not in models:
                models[measure.model, window] = MODELS[measure.model](window)
            columns.append((models[measure.model, window], measure, window))
    groups: dict[int, list[int]] = {}  # id of a model's source -> its columns
    for k, (model, _, _) in enumerate(columns):
        groups.setdefault(id(model.source), []).append(k)

    branches = []
    for ks in groups.values():
        model = columns[ks[0]][0]
        owner, team = (model.key, null()) if model.owned_by == "rep" else (null(), model.key)
        if not by_owner:
            owner = team = null()
        aggregates = [_aggregate(*columns[k]) if k in ks else literal_column("0") for k in range(len(columns))]
        filters = [model.where, scope_clause(model, scope), _rows_read([columns[k] for k in ks])]
        branch = (
            select(
                owner.label("owner_id"),
                team.label("team_id"),
                *(column.label(f"m_{k}") for k, column in enumerate(aggregates)),
            )
            .select_from(model.source)
            .where(*(f for f in filters if f is not None))
        )
        branches.append(branch.group_by(model.key) if by_owner else branch)
    if len(branches) == 1:
        return branches[0]
    combined = union_all(*branches).subquery("measures")
    return select(
        combined.c.owner_id,
        combined.c.team_id,
        *(func.sum(combined.c[f"m_{k}"]).label(f"m_{k}") for k in range(len(columns))),
    ).group_by(combined.c.owner_id, combined.c.team_id)


def checked(catalog: Catalog) -> Catalog:
    """The catalog, once every KPI has compiled against a sample window: a bad model or column name fails at
    start with the file and KPI that named it, not at the first question."""
    calendar = Calendar(zoneinfo.ZoneInfo("UTC"))
    period = Period("sample", dt.date(2020, 1, 1), dt.date(2020, 4, 1), dt.date(2020, 4, 1), "quarter", calendar)
    window = Window.of(period, dt.datetime(2020, 4, 1))
    for kpi in (variant for base in catalog for variant in (base, base.ahead) if variant is not None):
        try:
            for measure in kpi.measures.values():
                if measure.model not in MODELS:
                    raise formula.FormulaError(f"unknown model '{measure.model}'; models are: {', '.join(MODELS)}")
            compile_query(kpi, [{"period": window, "previous": window, "trailing_12_months": window}])
        except formula.FormulaError as exc:
            raise ConfigError(f"{catalog.sources.get(kpi.key, 'kpis.yaml')}: KPI '{kpi.key}': {exc}.") from None
    return catalog
