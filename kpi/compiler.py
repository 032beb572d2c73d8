"""The one compiler: a KPI's measures, for a scope and one or more sets of windows, become one SQL statement.

Measures that read the same source (table or join) share one ``SELECT ... GROUP BY owner`` with conditional
aggregates (``SUM(CASE WHEN <filter and time> THEN <expr> END)``), whatever their window: a period and its
previous period are one scan. Different sources become branches of a ``UNION ALL``, summed again by owner.
The result is one row per owner (or per team for team-owned facts) with one column per measure and window
set: a leaderboard, a team answer and an org answer are the same query with a different scope filter, and
no raw record ever reaches Python.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from sqlalchemy import (
    ARRAY,
    Integer,
    Numeric,
    Select,
    and_,
    bindparam,
    case,
    func,
    literal,
    literal_column,
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
from kpi.measures import (
    Built,
    any_of,
    condition,
    condition_in,
    contributions,
    digest,
    filters,
    flows,
    measured,
    parsed,
    rolls_up,
    sample_window,
    time_span,
)
from kpi.months import Months, local_date, months_from, next_month, whole_days, whole_months
from kpi.periods import utc_midnight
from kpi.schema import Rollup, RollupDay, RollupOwner
from kpi.semantic import MODELS, Model, Window
from kpi.sqlfuncs import among
from kpi.types import EVERYONE, Kpi, Measure, ScopeFilter, WindowName

#: Where the rollups answer a measure's window: the owners' whole "months", or the organisation's "days".
Rolled = tuple[Literal["months", "days"], Months]


def _rows_read(columns: list[tuple[Model, Measure, Window]]) -> ColumnElement:
    """The rows a scan reads: those matching any of its measures' conditions, factored by time range.

    ``(range 1 AND (filter a OR filter b)) OR (range 2 AND ...)`` rather than the OR of whole conditions:
    each arm opens with a range an index serves (the planner ORs one range scan per window), and no range
    appears twice, which would fool the planner's row estimates. A stock (no time) adds its condition.
    """
    ranges: dict[tuple[str, Any, Any], _Range] = {}
    stocks = []
    for model, measure, window in columns:
        span = time_span(model, measure, window)
        if span is None:
            stocks.append(filters(model, measure))
            continue
        column, start, end = span
        key = (str(measure.time), start, end)
        if key not in ranges:
            ranges[key] = _Range(and_(column >= window.at(start), column < window.at(end)), model)
        read = ranges[key]
        same = (json.dumps(measure.where, sort_keys=True, default=str), id(window))  # one filter once per window
        read.filters.setdefault(same, filters(model, measure))
        read.measures.append(measure)
    arms = [
        and_(read.time, *any_of(read.model, read.measures), or_(*read.filters.values())) for read in ranges.values()
    ]
    return or_(*arms, *stocks)


@dataclasses.dataclass
class _Range:
    """One time range a scan reads (:func:`_rows_read`), with the measures read over it and their filters."""

    time: ColumnElement
    model: Model
    filters: dict[tuple[str, int], ColumnElement] = dataclasses.field(default_factory=dict)
    measures: list[Measure] = dataclasses.field(default_factory=list)


#: The parameters that name a scope's owners in a statement, so that one statement serves every scope of its kind,
#: run with each one's values (:func:`scope_parameters`; kpi/statements.py keeps statements by their shape).
SCOPE_REPS, SCOPE_TEAMS = "scope_reps", "scope_teams"


def scope_clause(model: Model, scope: ScopeFilter) -> ColumnElement | None:
    """The rows of the scope's owners (None: every row), in a model's terms."""
    if model.owned_by == "rep":
        return None if scope.rep_ids is None else owners(model.key, SCOPE_REPS, scope.rep_ids)
    if scope.team_ids is None:
        return None
    teams = owners(model.key, SCOPE_TEAMS, scope.team_ids)
    return or_(teams, model.key.is_(None)) if scope.include_org_level else teams


def owners(column: ColumnElement, name: str, ids: Iterable[int]) -> ColumnElement[bool]:
    """``column`` is one of ``ids``, held by the list parameter ``name`` (see :class:`kpi.sqlfuncs.among`)."""
    return among(column, bindparam(name, sorted(ids), type_=ARRAY(Integer())))


def scope_parameters(scope: ScopeFilter) -> dict[str, list[int]]:
    """The values of a statement's scope parameters for ``scope``."""
    named = {SCOPE_REPS: scope.rep_ids, SCOPE_TEAMS: scope.team_ids}
    return {name: sorted(ids) for name, ids in named.items() if ids is not None}


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
    summed = formula.to_sql(parsed(measure.expr), model.columns) if measure.agg == "sum" else None
    # a row's share unrounded (a sum's type is its first column's: money, rounded to the cent row by row)
    value = literal_column("1") if summed is None else type_coerce(summed, Numeric())
    return model, [w for w in where if w is not None], value


def _split(model: Model, measure: Measure, window: Window, built: Built, daily: bool) -> _Split:
    """Where a measure's window is read: from the rollups (None: not at all), the windows of the rows added to them,
    and those taken away.

    An organisation-wide total (``daily``) reads the whole window from the organisation's days; otherwise the
    whole org-calendar months inside it come from the owners' months and its partial months at the edges from
    the rows. A window that runs to date (it ends now, inside a month it holds from that month's start) reads its
    last month whole from the rollups less the rows dated after now in it: what is dated later than today (a
    meeting booked, a deal expected to close) is rare, what happened this month is not (every rep's calls this
    month to date: 270,000 rows at 5M deals; the month less what lies ahead: none). A measure the rollups do not
    hold for this time zone reads the whole window from its rows."""
    tz = window.period.calendar.tz
    span = time_span(model, measure, window)
    if span is None or not built or (digest(measure), tz.key) not in built or not rolls_up(measure):
        return _Split(None, [window])
    _, start, end = span
    dates = not isinstance(start, dt.datetime)
    days = whole_days(start, end, tz, dates) if daily else None
    if days is not None:
        return _Split(("days", days), [])
    first, last = whole_months(start, end, tz, dates)
    bound = (lambda month: month) if dates else (lambda month: utc_midnight(month, tz))
    later: list[Window] = []
    now = local_date(window.now, tz, False) if dates else window.now
    if first <= last < local_date(end, tz, dates) and end == now:
        later = [_narrowed(window, end, bound(next_month(last)), dates)]
        last = next_month(last)
    if first >= last:
        return _Split(None, [window])
    edges = [(start, bound(first)), (bound(last), end)] if not later else [(start, bound(first))]
    return _Split(("months", (first, last)), [_narrowed(window, lo, hi, dates) for lo, hi in edges if lo < hi], later)


@dataclasses.dataclass(frozen=True)
class _Split:
    """Where :func:`_split` reads a measure's window: the rollups' span, and the windows of rows added to it and
    taken away from it."""

    rolled: Rolled | None
    added: list[Window]
    taken: list[Window] = dataclasses.field(default_factory=list)


def _narrowed(window: Window, start: Any, end: Any, dates: bool) -> Window:
    """The window cut to ``[start, end)`` in its time column's terms (its other instants unchanged)."""
    if dates:
        return dataclasses.replace(window, period=dataclasses.replace(window.period, start=start, end=end))
    return dataclasses.replace(window, start=start, end=end)


def _rolled(
    owned_by: str, grain: str, parts: Mapping[int, tuple[Model, Measure, Months]]
) -> list[tuple[Model, dict[int, ColumnElement], ColumnElement]]:
    """The rollups as a model owned like the measures' own (a rep id, or a team id; the organisation's days have
    no owner): for each span of whole months (or days) the columns read, each column's sum over it, typed as the
    sum of its rows is (money is read as money, rounded alike), and the rollup rows of that span.

    One read per span, each a single scan of the index on (measure, month, owner) (:func:`_within`): the OR of a
    period's span and its previous period's was read by scanning every partial instead (a team's scorecard: 215 ms
    at 5M deals)."""
    r = Rollup.__table__ if grain == "months" else RollupDay.__table__
    time = r.c.month if grain == "months" else r.c.day
    key = r.c.owner_id if grain == "months" else null()
    model = Model(r, key, {}, owned_by="team" if owned_by == "team" else "rep")
    by_span: dict[Months, dict[int, tuple[Model, Measure]]] = {}
    for k, (own, measure, span) in parts.items():
        by_span.setdefault(span, {})[k] = (own, measure)
    branches = []
    for (first, last), columns in by_span.items():
        aggregates: dict[int, ColumnElement] = {}
        digests = sorted({digest(measure) for _, measure in columns.values()})
        for k, (own, measure) in columns.items():
            otherwise = literal_column("0") if measure.agg == "count" else null()  # as rows count: 0, never NULL
            # a span of one measure sums every row it reads (a CASE per row was 11 of 29 ms over 25,000 rows)
            of_measure = (
                r.c.value if len(digests) == 1 else case((r.c.measure == digest(measure), r.c.value), else_=otherwise)
            )
            summed = func.sum(of_measure)
            aggregates[k] = type_coerce(summed, measured(own, measure, true()).type)
        branches.append((model, aggregates, and_(r.c.measure.in_(digests), _within(grain, time, first, last))))
    return branches


def _within(grain: str, time: ColumnElement, first: dt.date, last: dt.date) -> ColumnElement:
    """``first <= time < last``: the months as a list, so that a scope's owners are found in the index on (measure,
    month, owner) by one descent per measure, month and owner (a rep's two months of two measures: 4 ms -> 0.05 ms
    at 10,000 reps; as a range, every owner's partials in it were read); the organisation's days as a range."""
    return time.in_(months_from(first, last)) if grain == "months" else and_(time >= first, time < last)


def _stock(measure: Measure, window: Window, built: Built) -> tuple[tuple[Measure, Measure], dt.date] | None:
    """A stock the organisation's days answer: its flows, and the local day its window ends on (the state is
    measured at the window's end, a local midnight); None when the days do not hold both flows for this zone."""
    pair = _held_flows(measure, window, built)
    days = whole_days(window.end, window.end, window.period.calendar.tz, dates=False)
    return None if pair is None or days is None else (pair, days[0])


def _held_flows(measure: Measure, window: Window, built: Built) -> tuple[Measure, Measure] | None:
    """A stock's flows (:func:`flows`) when the rollups hold both for the window's zone; else None."""
    pair = flows(measure)
    tz = window.period.calendar.tz
    return pair if pair is not None and all((digest(flow), tz.key) in built for flow in pair) else None


def _stocks_rolled(
    parts: Mapping[int, tuple[Model, Measure, tuple[Measure, Measure], dt.date]],
) -> tuple[Model, dict[int, ColumnElement], ColumnElement]:
    """Each stock's value at its day from the organisation's days: what entered the state before it less what
    left it before it. A sum with no row left in the state is NULL, as over the rows (``rows`` says so)."""
    r = RollupDay.__table__

    def before(flow: Measure, day: dt.date, column: ColumnElement) -> ColumnElement:
        summed = func.sum(case((and_(r.c.measure == digest(flow), r.c.day < day), column)))
        return func.coalesce(summed, literal_column("0"))

    aggregates: dict[int, ColumnElement] = {}
    reads = []
    for k, (own, measure, (entered, left), day) in parts.items():
        inside = before(entered, day, r.c.rows) - before(left, day, r.c.rows)
        value = before(entered, day, r.c.value) - before(left, day, r.c.value)
        otherwise = literal_column("0") if measure.agg == "count" else null()
        aggregates[k] = type_coerce(case((inside > 0, value), else_=otherwise), measured(own, measure, true()).type)
        reads += [and_(r.c.measure == digest(flow), r.c.day < day) for flow in (entered, left)]
    return Model(r, null(), {}), aggregates, or_(*reads)


@dataclasses.dataclass(frozen=True)
class Owned:
    """How owners' totals answer a stock at its window's end T (:func:`_owned_stock`): its two flows, whose
    totals ever are taken, less what entered (plus what left) from T on: the owners' months of the flows from
    ``months`` on (up to ``until``, as a list, or every month after, as a range: None), and the rows whose instants
    lie in each span of ``rows`` (an instant and the next bound, or none: the rows dated ahead)."""

    flows: tuple[Measure, Measure]
    months: dt.date | None = None
    until: dt.date | None = None
    rows: tuple[tuple[dt.datetime, dt.datetime | None], ...] = ()


#: From how many owners a stock at a past end is read from their months rather than their deals open then (see
#: :func:`_owned_stock`): a rep's or a team's few thousand deals are read sooner than the months' longer statement is
#: planned (a rep's scorecard: 11 ms with the deals, 18 ms with the months, at 5M deals).
MANY_OWNERS = 50


def many_owners(scope: ScopeFilter) -> bool:
    """Whether a scope's stocks at a past end read its owners' months (every owner, or :data:`MANY_OWNERS`)."""
    return scope.rep_ids is None or len(scope.rep_ids) >= MANY_OWNERS


def _owned_stock(measure: Measure, window: Window, built: Built, scope: ScopeFilter) -> Owned | None:
    """A stock each owner's totals answer (kpi/rollups.py), when the rollups hold both its flows.

    What entered or left from the window's end T on is, when T lies in this local month or after, the rows from T
    on (a month's at most; at an end no earlier than now, the few dated ahead). At an earlier end, it is the rows
    up to the next month's start M (none when T is one), then the owners' months from M on: for every owner, a
    range of the index on (measure, month, owner); for many owners (a region's 500 reps, the 200 reps a ranking
    measures again after a sync page), the months up to this one as a list, one descent per owner, month and flow,
    and the rows dated after it. Reading the deals open at T instead read some 570 per rep at 5M deals (a region's last
    week: 60 ms; the 200 reps a sync page changed, last month: 40 ms), which fewer than :data:`MANY_OWNERS` still
    do (None)."""
    pair = _held_flows(measure, window, built)
    past = window.end < window.now
    if pair is None or (past and not many_owners(scope)):
        return None
    tz = window.period.calendar.tz
    day = local_date(window.end, tz, False)
    month = day if day.day == 1 and utc_midnight(day, tz) == window.end else next_month(day.replace(day=1))
    ahead = next_month(local_date(window.now, tz, False).replace(day=1))
    if not past or month >= ahead:
        return Owned(pair, rows=((window.end, None),))
    edge = ((window.end, utc_midnight(month, tz)),) if month != day else ()
    if scope.rep_ids is None:
        return Owned(pair, month, rows=edge)
    return Owned(pair, month, ahead, (*edge, (utc_midnight(ahead, tz), None)))


def _stocks_owned(
    parts: Mapping[int, tuple[Model, Measure, Owned, Window]], scope: ScopeFilter
) -> tuple[Model, dict[int, ColumnElement]]:
    """Each owner's stock at its window's end (:class:`Owned`). The pieces are one source of ``(owner_id, k, value,
    rows)`` for column ``k``, each read for the scope's owners; a sum with no row left in the state now is NULL, as
    over the rows (``rows`` says so; when months are read it is 0, as every answer reads it: kpi/metrics.py)."""
    o, r = RollupOwner.__table__, Rollup.__table__
    pieces = []
    for k, (model, measure, owned, window) in parts.items():
        totals, months = (Model(t, t.c.owner_id, {}, owned_by=model.owned_by) for t in (o, r))
        (state,) = (name for name in model.stocks if measure.where.get(name) is True)
        for flow, sign in zip(owned.flows, (1, -1), strict=True):
            of_flow = [o.c.measure == digest(flow), scope_clause(totals, scope)]
            if owned.months is not None:
                of_flow.append(o.c.owner_id.is_not(None))
            signed = (o.c.value * sign).label("value"), (o.c.rows * sign).label("rows")
            pieces.append(
                select(o.c.owner_id, literal(k).label("k"), *signed).where(*(w for w in of_flow if w is not None))
            )
            if owned.months is not None:
                span = (
                    r.c.month >= owned.months
                    if owned.until is None
                    else _within("months", r.c.month, owned.months, owned.until)
                )
                since = [r.c.measure == digest(flow), span, scope_clause(months, scope)]
                from_then: tuple[ColumnElement, ...] = (
                    r.c.owner_id,
                    literal(k),
                    -sign * r.c.value,
                    literal_column("0"),
                )
                pieces.append(select(*from_then).where(*(w for w in since if w is not None)))
        for lo, hi in owned.rows:
            # one read of each arm's rows for both flows: what entered then is taken away, what left then added back
            values, counts = [], []
            for flow, sign in zip(owned.flows, (1, -1), strict=True):
                instant = model.columns[str(flow.time)]
                inside = (
                    instant >= window.at(lo) if hi is None else and_(instant >= window.at(lo), instant < window.at(hi))
                )
                when = and_(filters(model, flow), inside)
                values.append(func.coalesce(-sign * measured(model, flow, when), literal_column("0")))
                counts.append(-sign * contributions(model, flow, when))
            share = (model.key, literal(k), values[0] + values[1], counts[0] + counts[1])
            for arm in model.later[state](window.at(lo), None if hi is None else window.at(hi)):
                read = (w for w in (model.where, arm, scope_clause(model, scope)) if w is not None)
                pieces.append(select(*share).select_from(model.source).where(*read).group_by(model.key))
    source = union_all(*pieces).subquery("stocks")
    aggregates: dict[int, ColumnElement] = {}
    for k, (model, measure, owned, _) in parts.items():
        rows = func.sum(case((source.c.k == k, source.c.rows)))
        value = func.sum(case((source.c.k == k, source.c.value)))
        otherwise = literal_column("0") if measure.agg == "count" else null()
        kept = value if owned.months is not None else case((rows > 0, value), else_=otherwise)
        aggregates[k] = type_coerce(kept, measured(model, measure, true()).type)
    return Model(source, source.c.owner_id, {}, owned_by=next(iter(parts.values()))[0].owned_by), aggregates


def compile_query(
    kpi: Kpi,
    windows: Sequence[Mapping[WindowName, Window]],
    scope: ScopeFilter = EVERYONE,
    *,
    by_owner: bool = True,
    built: Built = frozenset(),
) -> Select:
    """One statement returning ``owner_id, team_id, m_0...`` grouped by owner (and team): a column per measure
    for each set of windows in turn (a period and its previous period: ``m_0..m_<n-1>``, then ``m_<n>``...).

    Measures whose models read the same source share one scan, whatever their window: an answer's period
    and previous period cost one pass over the rows of both, not two queries. Without ``by_owner`` the
    statement returns the scope's totals in one row (owner and team NULL): a team or organisation answer
    needs no per-owner rows, and grouping 2,000 owners costs a sort or hash the total does not.

    A measure the rollups hold (``built``, see :func:`rolls_up`) reads its window's whole months from them, one
    more branch summed with the others, and only its edge months from the rows; the organisation's total (no
    ``by_owner``, no scope filter) reads every day of its window from the organisation's days, and no row; a stock
    (pipeline: open at the window's end) there is its flows' days before the window's end (:func:`flows`), and by
    owner (or for a team) each owner's totals of its flows less what entered and left from the end on: the owners'
    months from the next month's start and the rows at the edges (:func:`_owned_stock`).
    """
    columns: list[tuple[Model, Measure, Window]] = []
    models: dict[tuple[str, Window], Model] = {}
    for window_set in windows:
        for measure in kpi.measures.values():
            window = window_set[measure.window]
            if (measure.model, window) not in models:
                models[measure.model, window] = MODELS[measure.model](window)
            columns.append((models[measure.model, window], measure, window))
    raw: dict[int, dict[int, list[Window]]] = {}  # id of a model's source -> column -> the windows of its rows
    taken: dict[int, dict[int, list[Window]]] = {}  # the same, of rows taken away from the rollups' months
    rolled: dict[tuple[str, str], dict[int, tuple[Model, Measure, Months]]] = {}  # (owned by, grain) -> column -> span
    daily = not by_owner and scope.rep_ids is None and scope.team_ids is None  # the organisation's total
    stocks: dict[int, tuple[Model, Measure, tuple[Measure, Measure], dt.date]] = {}  # column -> its flows before a day
    owned: dict[int, tuple[Model, Measure, Owned, Window]] = {}  # column -> its flows, by owner
    for k, (model, measure, window) in enumerate(columns):
        stock = _stock(measure, window, built) if daily else None
        if stock is not None:
            stocks[k] = (model, measure, *stock)
            continue
        pair = None if daily else _owned_stock(measure, window, built, scope)
        if pair is not None:
            owned[k] = (model, measure, pair, window)
            continue
        split = _split(model, measure, window, built, daily)
        if split.rolled is not None:
            grain, span = split.rolled
            rolled.setdefault((model.owned_by, grain), {})[k] = (model, measure, span)
        for windows_of, found in ((raw, split.added), (taken, split.taken)):
            if found:
                windows_of.setdefault(id(model.source), {})[k] = found

    branches = []
    for windows_of, less in ((raw, False), (taken, True)):
        for ks in windows_of.values():
            for read in _cases(columns, ks, scope):
                aggregates = {
                    k: measured(m, columns[k][1], condition_in(m, columns[k][1], ks[k])) for k, m in read.items()
                }
                if less:  # rows taken away from the rollups' months (a month to date: those dated after today)
                    aggregates = {k: -aggregate for k, aggregate in aggregates.items()}
                reads = _rows_read([(m, columns[k][1], window) for k, m in read.items() for window in ks[k]])
                branches.append(_branch(read[next(iter(ks))], aggregates, reads, scope, by_owner, len(columns)))
    for (owned_by, table), spans_of in rolled.items():
        for model, aggregates, reads in _rolled(owned_by, table, spans_of):
            branches.append(_branch(model, aggregates, reads, scope, by_owner, len(columns)))
    if stocks:
        model, aggregates, reads = _stocks_rolled(stocks)
        branches.append(_branch(model, aggregates, reads, scope, by_owner, len(columns)))
    if owned:
        model, aggregates = _stocks_owned(owned, scope)  # the scope is read inside, by every piece
        branches.append(_branch(model, aggregates, None, EVERYONE, by_owner, len(columns)))
    if len(branches) == 1:
        return branches[0]
    combined = union_all(*branches).subquery("measures")
    return select(
        combined.c.owner_id,
        combined.c.team_id,
        *(func.sum(combined.c[f"m_{k}"]).label(f"m_{k}") for k in range(len(columns))),
    ).group_by(combined.c.owner_id, combined.c.team_id)


def _cases(
    columns: Sequence[tuple[Model, Measure, Window]], ks: Mapping[int, Any], scope: ScopeFilter
) -> list[dict[int, Model]]:
    """The models one scan of rows reads each column from: its own, or, when the scan reads every owner's rows and
    each of its measures needs a column with cases (:attr:`~kpi.semantic.Model.cases`), one scan per case.

    Every measure is a sum or a count, so the cases' scans add up to the whole. At 5M deals, every rep's open
    pipeline read as one OR was a bitmap scan of the table's pages holding 260,000 open deals; as its cases it is
    two index ranges. A scope's few owners are read by owner, in one scan."""
    models = {k: columns[k][0] for k in ks}
    if scope.rep_ids is not None or scope.team_ids is not None:
        return [models]
    cases = next(iter(models.values())).cases
    for name in cases:
        if all(columns[k][1].where.get(name) is True for k in ks):
            return [{k: model.in_case(name, i) for k, model in models.items()} for i in range(len(cases[name]))]
    return [models]


def _branch(
    model: Model,
    aggregates: Mapping[int, ColumnElement],
    reads: ColumnElement | None,
    scope: ScopeFilter,
    by_owner: bool,
    width: int,
) -> Select:
    """One source's ``SELECT owner, team, m_0...`` (0 in the columns of other sources) over the rows it reads."""
    owner, team = (model.key, null()) if model.owned_by == "rep" else (null(), model.key)
    if not by_owner:
        owner = team = null()
    where = [model.where, scope_clause(model, scope), reads]
    branch = (
        select(
            owner.label("owner_id"),
            team.label("team_id"),
            *(aggregates.get(k, literal_column("0")).label(f"m_{k}") for k in range(width)),
        )
        .select_from(model.source)
        .where(*(w for w in where if w is not None))
    )
    return branch.group_by(model.key) if by_owner else branch


def checked(catalog: Catalog) -> Catalog:
    """The catalog, once every KPI has compiled against a sample window: a bad model or column name fails at
    start with the file and KPI that named it, not at the first question."""
    window = sample_window()
    for kpi in (variant for base in catalog for variant in (base, base.ahead) if variant is not None):
        try:
            for measure in kpi.measures.values():
                if measure.model not in MODELS:
                    raise formula.FormulaError(f"unknown model '{measure.model}'; models are: {', '.join(MODELS)}")
            compile_query(kpi, [{"period": window, "previous": window, "trailing_12_months": window}])
        except formula.FormulaError as exc:
            raise ConfigError(f"{catalog.sources.get(kpi.key, 'kpis.yaml')}: KPI '{kpi.key}': {exc}.") from None
    return catalog
