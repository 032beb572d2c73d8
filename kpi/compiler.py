"""The one compiler: a KPI's measures, for a scope and a set of windows, become one SQL statement.

Measures that read the same model over the same window share one ``SELECT ... GROUP BY owner`` with
conditional aggregates (``SUM(CASE WHEN <filter and time> THEN <expr> END)``); different models or windows
become branches of a ``UNION ALL``, summed again by owner. The result is one row per owner (or per team
for team-owned facts) with one column per measure: a leaderboard, a team answer and an org answer are the
same query with a different scope filter, and no raw record ever reaches Python.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Date,
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
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from kpi import formula
from kpi.catalog import Kpi, Measure
from kpi.periods import Calendar, Period
from kpi.semantic import MODELS, Model, Window

COMPARISONS = {"=": "__eq__", "!=": "__ne__", "<": "__lt__", "<=": "__le__", ">": "__gt__", ">=": "__ge__"}


@dataclass(frozen=True)
class ScopeFilter:
    """Which owners a query covers: ``None`` means no restriction (the whole organisation)."""

    rep_ids: frozenset[int] | None
    team_ids: frozenset[int] | None
    include_org_level: bool = False


EVERYONE = ScopeFilter(None, None, include_org_level=True)


def condition(model: Model, measure: Measure, window: Window) -> ColumnElement:
    """The filter and time condition of one measure, over a model built for its window."""
    parts = [_where(model.columns, column, value) for column, value in measure.where.items()]
    if measure.time:
        column = _column(model.columns, measure.time)
        if isinstance(column.type, Date):
            start, end = window.at(window.start_date), window.at(window.end_date)
        else:
            start, end = window.at(window.start), window.at(window.end)
        parts += [column >= start, column < end]
    return and_(true(), *parts)


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


def _aggregate(model: Model, measure: Measure, window: Window) -> ColumnElement:
    when = condition(model, measure, window)
    if measure.agg == "count":
        return func.sum(case((when, literal_column("1")), else_=literal_column("0")))
    return func.sum(case((when, formula.to_sql(formula.parse(measure.expr), model.columns))))


def _scope_clause(model: Model, scope: ScopeFilter) -> ColumnElement | None:
    if model.owned_by == "rep":
        return None if scope.rep_ids is None else model.key.in_(sorted(scope.rep_ids))
    if scope.team_ids is None:
        return None
    teams = model.key.in_(sorted(scope.team_ids))
    return or_(teams, model.key.is_(None)) if scope.include_org_level else teams


def compile_query(kpi: Kpi, windows: Mapping[str, Window], scope: ScopeFilter = EVERYONE) -> Select:
    """One statement returning ``owner_id, team_id, m_<measure>...`` grouped by owner (and team)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for name, measure in kpi.measures.items():
        groups.setdefault((measure.model, measure.window), []).append(name)

    branches = []
    for (model_name, window_name), names in groups.items():
        window = windows[window_name]
        model = MODELS[model_name](window)
        owner, team = (model.key, null()) if model.owned_by == "rep" else (null(), model.key)
        columns = [
            _aggregate(model, kpi.measures[name], window) if name in names else literal_column("0")
            for name in kpi.measures
        ]
        filters = [model.where, _scope_clause(model, scope)]
        filters.append(or_(*(condition(model, kpi.measures[name], window) for name in names)))
        branches.append(
            select(
                owner.label("owner_id"),
                team.label("team_id"),
                *(column.label(f"m_{i}") for i, column in enumerate(columns)),
            )
            .select_from(model.source)
            .where(*(f for f in filters if f is not None))
            .group_by(model.key)
        )
    if len(branches) == 1:
        return branches[0]
    combined = union_all(*branches).subquery("measures")
    return select(
        combined.c.owner_id,
        combined.c.team_id,
        *(func.sum(combined.c[f"m_{i}"]).label(f"m_{i}") for i in range(len(kpi.measures))),
    ).group_by(combined.c.owner_id, combined.c.team_id)


def validate(kpi: Kpi) -> None:
    """Compile ``kpi`` once against a sample window so that bad model or column names fail at start."""
    for measure in kpi.measures.values():
        if measure.model not in MODELS:
            raise formula.FormulaError(f"unknown model '{measure.model}'; models are: {', '.join(MODELS)}")
    calendar = Calendar(zoneinfo.ZoneInfo("UTC"))
    period = Period("sample", dt.date(2020, 1, 1), dt.date(2020, 4, 1), dt.date(2020, 4, 1), "quarter", calendar)
    window = Window.of(period, dt.datetime(2020, 4, 1))
    compile_query(kpi, {"period": window, "previous": window, "trailing_12_months": window})
