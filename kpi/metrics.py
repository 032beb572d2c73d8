"""Evaluation: run a KPI's one query for a scope and period, and turn the totals into a value.

The query returns a row per owner (or team) with the KPI's measures, or one row of the scope's totals; a
scope's value applies the KPI's formulas to its totals, a leaderboard applies them per owner. Targets come
from the targets table: the scope's own target, or the sum of its reps' targets when the scope has none of
its own; an answer reads them in the same statement as its totals.
"""

from __future__ import annotations

import ast
import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    CompoundSelect,
    Date,
    Engine,
    Integer,
    Row,
    Select,
    and_,
    bindparam,
    case,
    cast,
    func,
    literal,
    null,
    or_,
    select,
    type_coerce,
    union_all,
)
from sqlalchemy.sql.expression import ColumnElement

from kpi import formula, rollups
from kpi.compiler import SCOPE_REPS, compile_query, owners
from kpi.generation import Generation
from kpi.period_targets import REPS_SUMMED, ZERO, Prorate, Targets, decimal_of
from kpi.periods import Period, utc_midnight
from kpi.results import Measured, Result
from kpi.schema import Target
from kpi.semantic import SUPPLIED_BY, Window, supplied
from kpi.sqlfuncs import days_between
from kpi.statements import SCOPE_OWN_TEAMS, SCOPE_REP, Kept, parameters, shape
from kpi.types import Kpi, Scope, WindowName

#: The targets table as a Core table: statements over ORM attributes go through the ORM's compile step, which
#: cost more than the query itself for an answer's few rows.
TARGETS = Target.__table__.c
#: A targets row as an answer reads it; ``asked_start``/``asked_end`` are set only on the organisation's reps'
#: targets summed in the database for one asked period (:meth:`Metrics._reps_summed`), NULL on a stored row.
TARGET_COLUMNS = (
    TARGETS.kpi,
    TARGETS.scope_type,
    TARGETS.scope_id,
    TARGETS.period_start,
    TARGETS.period_end,
    TARGETS.value,
    cast(null(), Date()).label("asked_start"),  # typed in SQL: a UNION of untyped NULLs would be text
    cast(null(), Date()).label("asked_end"),
)


#: The organisation's target rows kept per process (:meth:`Metrics._kept_as`): a few rows for each KPI and period.
KEPT_TARGETS = 512
#: Which records the CRM never supplied, kept per generation and set of models a KPI reads (:meth:`Metrics.absent`).
KEPT_ABSENT = 16


class Metrics:
    """Computes KPI results over one database. Stateless apart from the engine: safe to share.

    ``prorate`` and ``adds_up`` are the organisation's rules for targets (see :class:`Targets`); without
    ``prorate`` only a target for exactly the period asked counts.
    """

    def __init__(
        self,
        engine: Engine,
        ramp_threshold: float = 0.8,
        prorate: Prorate | None = None,
        adds_up: Callable[[str], bool] | None = None,
    ) -> None:
        # Reads in autocommit: no BEGIN and no ROLLBACK around a question's one statement, two round trips
        # fewer (psycopg opens a transaction before the first statement; the pool rolls it back on return).
        self.engine = engine.execution_options(isolation_level="AUTOCOMMIT")
        self.ramp_threshold = ramp_threshold
        self.prorate = prorate
        self.adds_up = adds_up or (lambda _key: True)
        self.statements = Kept()
        #: What the rollups hold (read again by :meth:`kpi.service.Kpibot.reload_directory` when the data changes).
        self.rollups = rollups.Held(self.engine)
        #: The data generation a question reads (kpi/cache.py): the organisation's summed target rows are kept until
        #: its targets' number moves (:meth:`_kept_as`), and which records the CRM never supplied until any change
        #: does (:meth:`absent`). None: both are read every time.
        self.generation: Callable[[], Generation] | None = None
        self._org_targets = Kept(KEPT_TARGETS)
        self._absent = Kept(KEPT_ABSENT)

    def windows(self, kpi: Kpi, period: Period, as_of: dt.date) -> dict[WindowName, Window]:
        now = utc_midnight(as_of + dt.timedelta(days=1), period.calendar.tz)
        needed = {measure.window for measure in kpi.measures.values()}
        builders = {
            "period": lambda: period,
            "previous": period.previous,
            "trailing_12_months": lambda: period.trailing(12),
        }
        windows = {name: Window.of(builders[name](), now, self.ramp_threshold) for name in needed}
        if kpi.measured == "at_start_when_over":  # measured going in: nothing of the period has happened yet
            windows = {
                name: dataclasses.replace(window, end=window.start) if window.period.over(as_of) else window
                for name, window in windows.items()
            }
        return windows

    def comparable(self, kpi: Kpi, period: Period) -> Period:
        """The period an answer compares with: the previous one cut at the same point, or the last whole one
        for a KPI measured on whole periods only."""
        return period.previous_whole() if kpi.measured == "whole_periods" else period.previous()

    def absent(self, kpi: Kpi, row: Row | None = None) -> list[str]:
        """The records the KPI counts ("activities") when the CRM never supplied any of them: then it has no
        value rather than 0. Read from ``row`` (an answer's totals carry the checks) or by a query of their
        own (a leaderboard's rows may be none at all), kept until the data changes (:attr:`generation`): each
        leaderboard asked it again, a round trip of some 2 ms of an organisation ranking brought up to date. A KPI over
        several kinds of records has a value when any of them was supplied (lead age: leads or deals)."""
        checks = _supplied(kpi)
        if not checks:
            return []

        def read() -> tuple[str, ...]:
            found = row
            if found is None:
                with self.engine.connect() as connection:
                    found = connection.execute(select(*checks.values())).one()
            supplied = any(found._mapping[check.name] for check in checks.values())
            return () if supplied else tuple(SUPPLIED_BY[model][1] for model in checks)

        if row is not None or self.generation is None:
            return list(read())
        return list(self._absent.get((self.generation().key, tuple(checks)), read))

    def totals_by_owner(
        self, kpi: Kpi, periods: Sequence[Period], scope: Scope, as_of: dt.date
    ) -> list[tuple[int | None, int | None, list[dict[str, Decimal]]]]:
        """The one query: ``(owner_id, team_id, [{measure: total} for each period])`` rows for the scope."""
        return [(row[0], row[1], _totals(kpi, row, len(periods))) for row in self._by_owner(kpi, periods, scope, as_of)]

    def _by_owner(self, kpi: Kpi, periods: Sequence[Period], scope: Scope, as_of: dt.date) -> Sequence[Row]:
        """The one query's rows: owner, team, then each measure's total in each period."""
        windows = [self.windows(kpi, period, as_of) for period in periods]
        built = self.rollups.built()
        statement = self.statements.get(
            shape(kpi, windows, scope, "by owner", built),
            lambda: compile_query(kpi, windows, scope.filter, built=built),
        )
        with self.engine.connect() as connection:
            return connection.execute(statement, parameters(scope)).all()

    def _target_selects(
        self,
        keys: Iterable[str],
        periods: Sequence[Period],
        scope: Scope,
        *,
        members: bool = False,
        leading: Sequence[ColumnElement] = (),
    ) -> list[Select]:
        """The rows of ``targets`` for ``keys`` that can count for ``scope`` in any of ``periods``, as one or two
        branches of a ``UNION ALL`` (after ``leading`` columns): its own rows, and its reps' (a team's or the
        organisation's) for the KPIs that add up, or for every KPI with ``members`` (a leaderboard's paces).

        A team's reps' rows are a few dozen, read in the same scan as its own. The organisation's are
        thousands (a target per rep, month and quarter) and only count when it has no target of its own: they
        are a second branch behind a one-time filter that decides this inside the statement, so that their
        scan does not even start when the organisation has its own.
        """
        keys = sorted(set(keys))
        spans = self._spans(periods)
        own = and_(spans, TARGETS.kpi.in_(keys), _owned_by(scope))
        summed = keys if members else [key for key in keys if self.adds_up(key)]
        reps = and_(spans, TARGETS.kpi.in_(summed), *_reps_of(scope))
        if scope.type == "rep" or not summed:
            branches = [own]
        elif members or scope.filter.rep_ids is not None:
            branches = [or_(own, reps)]
        else:
            lacking = or_(*(_lacks_own(key, scope, self._spans([period])) for key in summed for period in periods))
            own_rows = select(*leading, *TARGET_COLUMNS).where(own)
            return [own_rows, *(self._reps_summed(summed, period, lacking, leading) for period in periods)]
        return [select(*leading, *TARGET_COLUMNS).where(where) for where in branches]

    def _reps_summed(
        self, keys: Sequence[str], period: Period, lacking: ColumnElement[bool], leading: Sequence[ColumnElement]
    ) -> Select:
        """Every rep's target for ``period``, summed in the database (the organisation's own when it has none):
        each rep's row for exactly the period, else (with proration) its shortest row containing it, summed by the
        bounds chosen, so that :class:`Targets` prorates a few sums instead of reading 10,000 reps' rows (at
        10,000 reps, fetching and keeping them was 200 ms of an organisation answer's 230)."""
        asked = (period.start, period.full_end)
        exact = and_(TARGETS.period_start == asked[0], TARGETS.period_end == asked[1])
        holds = (
            exact if self.prorate is None else and_(TARGETS.period_start <= asked[0], TARGETS.period_end >= asked[1])
        )
        choice = func.row_number().over(
            partition_by=(TARGETS.kpi, TARGETS.scope_id),
            order_by=(
                case((exact, 0), else_=1),
                days_between(TARGETS.period_start, TARGETS.period_end),
                TARGETS.period_start,
                TARGETS.period_end,
            ),
        )
        chosen = (
            select(TARGETS.kpi, TARGETS.period_start, TARGETS.period_end, TARGETS.value, choice.label("choice"))
            .where(TARGETS.scope_type == "rep", TARGETS.kpi.in_(keys), holds, lacking)
            .subquery("chosen")
        )
        return (
            select(
                *leading,
                chosen.c.kpi,
                literal(REPS_SUMMED).label("scope_type"),
                type_coerce(null(), TARGETS.scope_id.type).label("scope_id"),
                chosen.c.period_start,
                chosen.c.period_end,
                func.sum(chosen.c.value).label("value"),
                literal(asked[0], Date()).label("asked_start"),
                literal(asked[1], Date()).label("asked_end"),
            )
            .where(chosen.c.choice == 1)
            .group_by(chosen.c.kpi, chosen.c.period_start, chosen.c.period_end)
        )

    def _spans(self, periods: Sequence[Period]) -> ColumnElement[bool]:
        """Targets for exactly one of ``periods`` or, with proration, for a period that may contain one.

        With proration this is one range that an index on the start serves (rather than an OR per period):
        it may also let through a target containing none of them, which :class:`Targets` leaves out."""
        if self.prorate is None:
            return or_(*(and_(TARGETS.period_start == p.start, TARGETS.period_end == p.full_end) for p in periods))
        return and_(
            TARGETS.period_start <= max(p.start for p in periods),
            TARGETS.period_end >= min(p.full_end for p in periods),
        )

    def _kept_as(self, keys: Iterable[str], periods: Sequence[Period], scope: Scope) -> Hashable | None:
        """What the organisation's target rows for ``keys`` in ``periods`` are kept under until the targets change,
        or None when they are not kept: a team's or a rep's are a few index reads, the organisation's its own and
        every rep's summed (40-150 ms of a company scorecard's SQL at 10,000 reps, most of it)."""
        everyone = scope.type == "org" and scope.filter.rep_ids is None and scope.filter.team_ids is None
        if self.generation is None or not everyone or not keys:
            return None
        return self.generation().of_targets, tuple(sorted(keys)), tuple((p.start, p.full_end) for p in periods)

    def _kept_targets(self, key: Hashable | None) -> list[Any] | None:
        return None if key is None else self._org_targets.find(key)

    def _keep_targets(self, key: Hashable | None, rows: list[Any]) -> None:
        if key is not None:
            self._org_targets.keep(key, rows)

    def _targets(self, rows: Iterable[Any], period: Period) -> Targets:
        return Targets(rows, (period.start, period.full_end), self.prorate, self.adds_up)

    def targets(self, keys: Iterable[str], period: Period, scope: Scope, *, members: bool = False) -> Targets:
        """The targets of ``keys`` that can count for ``scope`` (and for each of its reps, with ``members``)."""
        keys = set(keys)
        if not keys:
            return self._targets([], period)
        branches = self._target_selects(keys, [period], scope, members=members)
        with self.engine.connect() as connection:
            return self._targets(connection.execute(union_all(*branches) if len(branches) > 1 else branches[0]), period)

    def result(self, kpi: Kpi, period: Period, scope: Scope, as_of: dt.date, *, target: bool = False) -> Result:
        """The KPI's value for the whole scope (with its target, with ``target``)."""
        return self.results(kpi, [period], scope, as_of, target=target)[0]

    def results(
        self, kpi: Kpi, periods: Sequence[Period], scope: Scope, as_of: dt.date, *, target: bool = False
    ) -> list[Result]:
        """The KPI's value for the whole scope in each of ``periods`` (an answer's period and previous
        period), with the scope's target for the KPI in each with ``target``: one statement.

        The scope's totals are one row; the targets rows that can count for it (those its formulas use and,
        with ``target``, the KPI's own) follow it in a ``UNION ALL``, so that an answer with its pace is one
        round trip to the database rather than one for the number and one for the target. (A union rather
        than a join of the two: SQLAlchemy's column bookkeeping for a join of subqueries cost more than the
        query.)
        """
        keys = set(kpi.targets) | ({kpi.key} if target else set())
        windows = [self.windows(kpi, period, as_of) for period in periods]
        built = self.rollups.built()
        kept_as = self._kept_as(keys, periods, scope)
        kept = self._kept_targets(kept_as)
        reading = keys if kept is None else set()  # the targets rows read with the totals

        def build() -> Select | CompoundSelect:
            measured = compile_query(kpi, windows, scope.filter, by_owner=False, built=built)
            measured = measured.add_columns(*_supplied(kpi).values())
            if not reading:
                return measured
            blank = [null() for _ in measured.selected_columns]  # the totals' row, then a row per target
            unset = [type_coerce(null(), column.type).label(column.name) for column in TARGET_COLUMNS]
            return union_all(
                measured.add_columns(*unset), *self._target_selects(reading, periods, scope, leading=blank)
            )

        statement = self.statements.get(
            shape(kpi, windows, scope, "with targets", built, tuple(periods), frozenset(reading)), build
        )
        with self.engine.connect() as connection:
            rows = connection.execute(statement, parameters(scope)).all()
        found = [row for row in rows if reading and row.kpi is not None] if kept is None else kept
        totals_row = next(row for row in rows if not reading or row.kpi is None)
        if kept is None:
            self._keep_targets(kept_as, found)
        per_period = _totals(kpi, totals_row, len(periods))
        absent = self.absent(kpi, totals_row)
        return [
            _Combiner(kpi, period, as_of, absent, target=target).result(scope, totals, self._targets(found, period))
            for period, totals in zip(periods, per_period, strict=True)
        ]

    def results_by_owner(
        self,
        kpi: Kpi,
        period: Period,
        members: Mapping[int, Scope],
        scope: Scope,
        as_of: dt.date,
        *,
        target: bool = False,
    ) -> Measured:
        """Each member's result from the same one query (a leaderboard), in the order of ``members`` (person id
        to the rep's scope); with each one's own target for the KPI with ``target`` (one more query, for every
        member's)."""
        width = len(kpi.measures)
        by_owner = {row[0]: row[2 : 2 + width] for row in self._by_owner(kpi, [period], scope, as_of)}
        none = (ZERO,) * width
        totals = [none if found is None else found for found in map(by_owner.get, members)]
        targets = self.targets(set(kpi.targets) | ({kpi.key} if target else set()), period, scope, members=True)
        combiner = _Combiner(kpi, period, as_of, self.absent(kpi), target=target)
        return combiner.measured(list(members), list(members.values()), totals, targets)

    def results_by_team(
        self,
        kpi: Kpi,
        period: Period,
        teams: Mapping[int, Scope],
        scope: Scope,
        as_of: dt.date,
        *,
        target: bool = False,
    ) -> Measured:
        """Each of ``teams``' result (the sub-teams of ``scope``, by team id, in their order) from the scope's
        one statement grouped by owner: each team's measures are the sums of its owners' (its reps', and for a
        team-owned model its teams'), then its formulas apply, with its own target (or its reps') with
        ``target``."""
        team_of: dict[tuple[str, int], int] = {}
        for team_id, ranked in teams.items():
            team_of.update({("rep", rep_id): team_id for rep_id in ranked.filter.rep_ids or ()})
            team_of.update({("team", sub_id): team_id for sub_id in ranked.filter.team_ids or ()})
        sums: dict[int, dict[str, Decimal]] = {team_id: dict.fromkeys(kpi.measures, ZERO) for team_id in teams}
        for owner, owning_team, (totals,) in self.totals_by_owner(kpi, [period], scope, as_of):
            key = ("rep", owner) if owner is not None else ("team", owning_team or 0)
            found = team_of.get(key)
            if found is not None:
                sums[found] = {name: sums[found][name] + value for name, value in totals.items()}
        keys = set(kpi.targets) | ({kpi.key} if target else set())
        every_team = dataclasses.replace(scope, type="team", team_ids=tuple(sorted(teams)))
        targets = self.targets(keys, period, every_team, members=True)
        combiner = _Combiner(kpi, period, as_of, self.absent(kpi), target=target)
        return combiner.measured(list(teams), list(teams.values()), [tuple(sums[t].values()) for t in teams], targets)

    def results_of_many(
        self, kpis: Sequence[Kpi], periods: Sequence[Period], scope: Scope, as_of: dt.date, *, target: bool = False
    ) -> dict[str, list[Result]]:
        """Several KPIs measured the same way (see :attr:`Kpi.measured`) for the whole scope in each of
        ``periods``, keyed by KPI: one statement for their measures, whose models share scans as one KPI's do
        (a scorecard's revenue, deals won and win rate are one pass over deals), and one for their targets."""
        if len({kpi.measured for kpi in kpis}) > 1:
            raise ValueError("results_of_many measures KPIs measured the same way; group them by 'measured'")
        measures = {f"k{i}__{name}": m for i, kpi in enumerate(kpis) for name, m in kpi.measures.items()}
        merged = dataclasses.replace(kpis[0], key="+".join(kpi.key for kpi in kpis), measures=measures)
        windows = [self.windows(merged, period, as_of) for period in periods]
        keys = set().union(*(kpi.targets | ({kpi.key} if target else set()) for kpi in kpis))
        built = self.rollups.built()
        measuring = self.statements.get(
            shape(merged, windows, scope, "several kpis", built),
            lambda: compile_query(merged, windows, scope.filter, by_owner=False, built=built).add_columns(
                *_supplied(merged).values()
            ),
        )
        kept_as = self._kept_as(keys, periods, scope)
        kept = self._kept_targets(kept_as)
        with self.engine.connect() as connection:
            row = connection.execute(measuring, parameters(scope)).one()
            rows: list[Any] = [] if kept is None else kept
            if kept is None and keys:
                branches = self._target_selects(keys, periods, scope)
                rows = list(connection.execute(union_all(*branches) if len(branches) > 1 else branches[0]))
                self._keep_targets(kept_as, rows)
        per_period = _totals(merged, row, len(periods))
        # Once per period, not per KPI: the organisation's rows are every rep's targets (some 64,000 at 10,000 reps),
        # and reading them again for each of a scorecard's KPIs took 3 of its 7 seconds.
        targets = [self._targets(rows, period) for period in periods]
        results: dict[str, list[Result]] = {}
        for i, kpi in enumerate(kpis):
            prefix = f"k{i}__"
            absent = self.absent(kpi, row)
            results[kpi.key] = [
                _Combiner(kpi, period, as_of, absent, target=target).result(
                    scope, {name: totals[prefix + name] for name in kpi.measures}, period_targets
                )
                for period, totals, period_targets in zip(periods, per_period, targets, strict=True)
            ]
        return results


def _supplied(kpi: Kpi) -> dict[str, ColumnElement[bool]]:
    """The "was any record of this model supplied?" column of each of the KPI's models that needs one."""
    models = dict.fromkeys(measure.model for measure in kpi.measures.values())
    return {model: supplied(model) for model in models if model in SUPPLIED_BY}


def _totals(kpi: Kpi, row: Row, periods: int) -> list[dict[str, Decimal]]:
    """``{measure: total}`` for each period from a row of :func:`compile_query` (after owner and team)."""
    names = kpi.measures.keys()
    width = len(names)
    values = list(map(decimal_of, row[2 : 2 + periods * width]))
    return [dict(zip(names, values[p * width : (p + 1) * width], strict=True)) for p in range(periods)]


def _lacks_own(key: str, scope: Scope, span: ColumnElement[bool]) -> ColumnElement[bool]:
    """Whether the organisation has no target of its own for ``key`` in ``span``."""
    return select(func.count()).where(TARGETS.kpi == key, _owned_by(scope), span).scalar_subquery() == 0


def _owned_by(scope: Scope) -> ColumnElement[bool]:
    """The targets rows of the scope itself (named by parameters, as kpi/statements.py keeps statements)."""
    if scope.type == "rep":
        return and_(TARGETS.scope_type == "rep", TARGETS.scope_id == bindparam(SCOPE_REP, scope.rep_id, Integer()))
    if scope.type == "team":
        return and_(TARGETS.scope_type == "team", owners(TARGETS.scope_id, SCOPE_OWN_TEAMS, scope.team_ids))
    return TARGETS.scope_type == "org"


def _reps_of(scope: Scope) -> list[ColumnElement[bool]]:
    """The targets rows of the scope's reps (every rep's for the organisation)."""
    reps = scope.filter.rep_ids
    return [TARGETS.scope_type == "rep"] + ([] if reps is None else [owners(TARGETS.scope_id, SCOPE_REPS, reps)])


#: What a KPI's formulas make of one scope's totals: ``(value, numerator, denominator, reason)``.
Combined = tuple[Decimal | None, Decimal | None, Decimal | None, str | None]


class _Combiner:
    """A KPI's formulas applied to one scope's totals, for one KPI and period, with what does not depend on
    the scope worked out once: a leaderboard combines 2,000 members, and the KPI's target keys (a walk of its
    formulas) and the words of a reason (the previous period's label) were half its time."""

    def __init__(
        self, kpi: Kpi, period: Period, as_of: dt.date, absent: Sequence[str] = (), *, target: bool = False
    ) -> None:
        self.kpi, self.period, self.target = kpi, period, target
        self.running = kpi.measured == "whole_periods" and not period.over(as_of)
        self.absent = absent
        self.needs = sorted(kpi.targets)
        self.spend = any(measure.model == "spend" for measure in kpi.measures.values())
        self.numerator = formula.evaluator(kpi.numerator)
        self.denominator = None if kpi.denominator is None else formula.evaluator(kpi.denominator)
        self.scale = Decimal(str(kpi.scale))

    @functools.cached_property
    def words(self) -> dict[str, str]:
        period = self.period
        return {"period": period.label, "previous": period.previous().label, "end": period.dates().split(" to ")[-1]}

    def result(self, scope: Scope, totals: Mapping[str, Decimal], targets: Targets) -> Result:
        """Apply the KPI's formulas to the scope's aggregated measures; explain why when there is no value."""
        own = targets.for_scope(self.kpi.key, scope) if self.target else None
        return Result(self.kpi, self.period, *self._value(scope, totals, targets), target=own)

    def measured(
        self, ids: list[int], scopes: Sequence[Scope], totals: Sequence[Sequence[Any]], targets: Targets
    ) -> Measured:
        """:meth:`result` for many scopes at once, as columns: ``ids[i]`` is ``scopes[i]``, whose measures' totals
        are ``totals[i]``, in the KPI's order of its measures, as the database returns them (None for zero).

        A KPI without targets in its formulas has a value that depends on the totals alone (and the kind of
        scope), and many of 10,000 reps share theirs (a count of calls, or none at all): each is combined once. Sums of
        money rarely repeat, and hashing a Decimal costs more than combining it: those are combined each, bar the
        totals of those with no rows (one tuple, which the caller shares: :meth:`Metrics.results_by_owner`)."""
        kpi = self.kpi.key
        owns = [targets.for_scope(kpi, scope) for scope in scopes] if self.target else [None] * len(scopes)
        total = self._total(scopes)
        if total is not None:  # the value is that total: no formula, no reason, whoever's it is
            summed = [decimal_of(raw[total]) for raw in totals]
            nothing = [None] * len(summed)
            return Measured(self.kpi, self.period, ids, summed, summed, nothing, nothing, owns, tuple(self.absent))
        names = self.kpi.measures.keys()
        alone = not self.needs
        counts = alone and all(measure.agg == "count" for measure in self.kpi.measures.values())
        combined: dict[tuple[str, Any], Combined] = {}
        found = []
        for scope, raw in zip(scopes, totals, strict=True):
            key = (scope.type, tuple(raw) if counts else id(raw))  # a row's slice is a tuple already
            value = combined.get(key) if alone else None
            if value is None:
                value = self._value(scope, dict(zip(names, map(decimal_of, raw), strict=True)), targets)
                if alone:
                    combined[key] = value
            found.append(value)
        values, numerators, denominators, reasons = zip(*found, strict=True) if found else ((),) * 4
        return Measured(self.kpi, self.period, ids, values, numerators, denominators, reasons, owns, tuple(self.absent))

    def _total(self, scopes: Sequence[Scope]) -> int | None:
        """The index of the one measure whose total is the KPI's value for every scope (revenue, calls, pipeline),
        or None when a formula, a target, a reason or the kind of scope may make it another: :meth:`_value`'s
        answer then, found for 10,000 reps at a tenth of the cost (a leaderboard's 19 ms)."""
        kpi = self.kpi
        if self.absent or self.running or self.needs or kpi.requires or kpi.denominator is not None:
            return None
        if self.spend and any(scope.type == "rep" for scope in scopes):
            return None
        tree = kpi.numerator
        return list(kpi.measures).index(tree.id) if isinstance(tree, ast.Name) else None

    def _value(self, scope: Scope, totals: Mapping[str, Decimal], targets: Targets) -> Combined:
        """``(value, numerator, denominator, reason)``."""
        kpi, period = self.kpi, self.period
        if self.absent:
            return None, None, None, f"no {' or '.join(self.absent)} have been synced from this CRM"
        if self.running:
            return (
                None,
                None,
                None,
                f"{period.label} is still running: {kpi.label.lower()} is measured on whole periods",
            )
        if scope.type == "rep" and self.spend:
            return (
                None,
                None,
                None,
                f"marketing spend is recorded per team, so {kpi.label.lower()} has no value for one person",
            )
        for name, why in kpi.requires.items():
            if totals[name] == 0:
                return None, None, None, why.format(**self.words)
        missing = [key for key in self.needs if targets.for_scope(key, scope) is None]
        if missing:
            return None, None, None, f"no {' or '.join(missing)} target is set for {scope.name} in {period.label}"

        def target(key: str) -> Decimal | None:
            return targets.for_scope(key, scope)

        numerator = self.numerator(totals, target)
        if self.denominator is None:
            return numerator, numerator, None, None
        denominator = self.denominator(totals, target)
        if denominator is None or denominator <= 0 or numerator is None:
            return None, numerator, denominator, (kpi.empty or "nothing to divide by in {period}").format(**self.words)
        return numerator / denominator * self.scale, numerator, denominator, None
