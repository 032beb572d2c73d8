"""Evaluation: run a KPI's one query for a scope and period, and turn the totals into a value.

The query returns a row per owner (or team) with the KPI's measures; a scope's value sums those rows and
applies the KPI's formulas, a leaderboard applies them per owner. Targets come from the targets table:
the scope's own target, or the sum of its reps' targets when the scope has none of its own.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import Engine, Row, and_, select
from sqlalchemy.sql.expression import ColumnElement

from kpi import formula
from kpi.access import Scope
from kpi.catalog import Kpi
from kpi.compiler import compile_query
from kpi.periods import Period, utc_midnight
from kpi.schema import Target
from kpi.semantic import Window

ZERO = Decimal(0)


@dataclass(frozen=True)
class Result:
    """A KPI's value for one scope and period. ``value`` is None when there is no value, with ``reason``."""

    kpi: Kpi
    period: Period
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    reason: str | None = None


def _decimal(value: object) -> Decimal:
    if value is None:
        return ZERO
    return value if isinstance(value, Decimal) else Decimal(str(value))


#: ``(kpi key, value, (target start, end), (asked start, end)) -> the target's share for the asked period``
Prorate = Callable[[str, Decimal, tuple[dt.date, dt.date], tuple[dt.date, dt.date]], Decimal]


class Targets:
    """The targets of some KPIs for one period, loaded in one query, rolled up on demand.

    Built from rows of the ``targets`` table. Without ``period``, every row counts as a target for the
    period asked (the rows were selected for exactly that period). With ``period`` (start, end) and
    ``prorate``, rows for that exact period come first, and a row whose period contains it counts through
    ``prorate`` (the shortest such period wins). A scope's target is its own (exact, else containing);
    a team or the organisation without one uses the sum of its reps' targets (each exact, else containing),
    for the KPIs that add up (``adds_up``, default all: a sum of win-rate targets would mean nothing).
    """

    def __init__(
        self,
        rows: Iterable[Target],
        period: tuple[dt.date, dt.date] | None = None,
        prorate: Prorate | None = None,
        adds_up: Callable[[str], bool] | None = None,
    ) -> None:
        self._adds_up = adds_up or (lambda _key: True)
        self._values: dict[tuple[str, str, int | None], Decimal] = {}
        containing: dict[tuple[str, str, int | None], tuple[tuple[dt.date, dt.date], Decimal]] = {}
        for row in rows:
            key, value = (row.kpi, row.scope_type, row.scope_id), _decimal(row.value)
            bounds = (row.period_start, row.period_end)
            if period is None or bounds == period:
                self._values[key] = value
            elif prorate is not None and bounds[0] <= period[0] and period[1] <= bounds[1]:
                best = containing.get(key)
                if best is None or (bounds[1] - bounds[0], bounds) < (best[0][1] - best[0][0], best[0]):
                    containing[key] = (bounds, value)
        self._containing: dict[tuple[str, str, int | None], Decimal] = {}
        for key, (bounds, value) in containing.items():
            if key not in self._values and prorate is not None and period is not None:
                self._containing[key] = prorate(key[0], value, bounds, period)
        self._reps: dict[str, set[int]] = {}
        for kpi, kind, scope_id in (*self._values, *self._containing):
            if kind == "rep" and scope_id is not None:
                self._reps.setdefault(kpi, set()).add(scope_id)

    @classmethod
    def load(
        cls,
        engine: Engine,
        keys: Iterable[str],
        period: Period,
        prorate: Prorate | None = None,
        adds_up: Callable[[str], bool] | None = None,
        scope: Scope | None = None,
        *,
        members: bool = False,
    ) -> Targets:
        """The targets of ``keys`` for ``period`` (its whole calendar span); with ``prorate``, also the
        targets of the periods that contain it.

        With ``scope``, only the rows that can count for it are read: its own, then its reps' for the keys
        it has no target of its own for (or always, with ``members``: a leaderboard needs every rep's).
        A large organisation holds a target per rep, month and quarter, so reading them all to answer
        one rep cost more than the rep's KPI query.
        """
        keys = sorted(set(keys))
        if not keys:
            return cls([])
        bounds = (period.start, period.full_end)
        if prorate is None:
            where = [Target.period_start == period.start, Target.period_end == period.full_end]
        else:
            where = [Target.period_start <= period.start, Target.period_end >= period.full_end]
        with engine.connect() as connection:

            def read(wanted: list[str], *conditions: ColumnElement[bool]) -> list[Row]:
                return list(connection.execute(select(Target).where(Target.kpi.in_(wanted), *where, *conditions)))

            if scope is None:
                return cls(read(keys), bounds, prorate, adds_up)
            rows = read(keys, _owned_by(scope))
            if scope.type != "rep":
                own = cls(rows, bounds, prorate, adds_up)
                lacking = keys if members else [key for key in keys if not own.has_own(key, scope)]
                if lacking:
                    rows += read(lacking, *_reps_of(scope))
        return cls(rows, bounds, prorate, adds_up)

    def _own(self, key: str, kind: str, scope_id: int | None) -> Decimal | None:
        found = self._values.get((key, kind, scope_id))
        return found if found is not None else self._containing.get((key, kind, scope_id))

    def has_own(self, key: str, scope: Scope) -> bool:
        """Whether ``scope`` has a target of its own for ``key`` (a team: each of its teams)."""
        if scope.type == "rep":
            return self._own(key, "rep", scope.rep_id) is not None
        return all(self._own(key, scope.type, team_id) is not None for team_id in scope.team_ids or (None,))

    def for_scope(self, key: str, scope: Scope) -> Decimal | None:
        if scope.type == "rep":
            return self._own(key, "rep", scope.rep_id)
        if self.has_own(key, scope):
            return sum((self._own(key, scope.type, team_id) or ZERO for team_id in scope.team_ids or (None,)), ZERO)
        if not self._adds_up(key):
            return None
        members = scope.filter.rep_ids
        reps = [rep_id for rep_id in self._reps.get(key, ()) if members is None or rep_id in members]
        return sum((self._own(key, "rep", rep_id) or ZERO for rep_id in reps), ZERO) if reps else None


def _owned_by(scope: Scope) -> ColumnElement[bool]:
    """The targets rows of the scope itself."""
    if scope.type == "rep":
        return and_(Target.scope_type == "rep", Target.scope_id == scope.rep_id)
    if scope.type == "team":
        return and_(Target.scope_type == "team", Target.scope_id.in_(scope.team_ids))
    return Target.scope_type == "org"


def _reps_of(scope: Scope) -> list[ColumnElement[bool]]:
    """The targets rows of the scope's reps (every rep's for the organisation)."""
    reps = scope.filter.rep_ids
    return [Target.scope_type == "rep"] + ([] if reps is None else [Target.scope_id.in_(sorted(reps))])


class Metrics:
    """Computes KPI results over one database. Stateless apart from the engine: safe to share."""

    def __init__(self, engine: Engine, ramp_threshold: float = 0.8, prorate: Prorate | None = None) -> None:
        self.engine = engine
        self.ramp_threshold = ramp_threshold
        self.prorate = prorate

    def windows(self, kpi: Kpi, period: Period, as_of: dt.date) -> dict[str, Window]:
        now = utc_midnight(as_of + dt.timedelta(days=1), period.calendar.tz)
        needed = {measure.window for measure in kpi.measures.values()}
        builders = {
            "period": lambda: period,
            "previous": period.previous,
            "trailing_12_months": lambda: period.trailing(12),
        }
        return {name: Window.of(builders[name](), now, self.ramp_threshold) for name in needed}

    def totals_by_owner(
        self, kpi: Kpi, periods: Sequence[Period], scope: Scope, as_of: dt.date, *, by_owner: bool = True
    ) -> list[tuple[int | None, int | None, list[dict[str, Decimal]]]]:
        """The one query: ``(owner_id, team_id, [{measure: total} for each period])`` rows for the scope (one
        row of totals, owner and team None, without ``by_owner``)."""
        windows = [self.windows(kpi, period, as_of) for period in periods]
        query = compile_query(kpi, windows, scope.filter, by_owner=by_owner)
        names = list(kpi.measures)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        width = len(names)
        return [
            (
                row[0],
                row[1],
                [{name: _decimal(row[2 + p * width + i]) for i, name in enumerate(names)} for p in range(len(periods))],
            )
            for row in rows
        ]

    def targets(self, keys: Iterable[str], period: Period, scope: Scope, *, members: bool = False) -> Targets:
        """The targets of ``keys`` that can count for ``scope`` (and for each of its reps, with ``members``)."""
        return Targets.load(self.engine, keys, period, self.prorate, scope=scope, members=members)

    def result(self, kpi: Kpi, period: Period, scope: Scope, as_of: dt.date) -> Result:
        """The KPI's value for the whole scope."""
        return self.results(kpi, [period], scope, as_of)[0]

    def results(self, kpi: Kpi, periods: Sequence[Period], scope: Scope, as_of: dt.date) -> list[Result]:
        """The KPI's value for the whole scope in each of ``periods`` (an answer's period and previous
        period), from one statement."""
        totals = [{name: ZERO for name in kpi.measures} for _ in periods]
        for _owner, _team, per_period in self.totals_by_owner(kpi, periods, scope, as_of, by_owner=False):
            for total, row in zip(totals, per_period, strict=True):
                for name, value in row.items():
                    total[name] += value
        return [
            self.combine(kpi, period, scope, total, self.targets(kpi.targets, period, scope))
            for period, total in zip(periods, totals, strict=True)
        ]

    def results_by_owner(
        self, kpi: Kpi, period: Period, members: Mapping[int, Scope], scope: Scope, as_of: dt.date
    ) -> dict[int, Result]:
        """Each member's result from the same one query (a leaderboard), keyed by person id."""
        by_owner = {owner: rows[0] for owner, _team, rows in self.totals_by_owner(kpi, [period], scope, as_of) if owner}
        targets = self.targets(kpi.targets, period, scope, members=True)
        empty = {name: ZERO for name in kpi.measures}
        combiner = _Combiner(kpi, period)
        return {
            person_id: combiner.result(member, by_owner.get(person_id, empty), targets)
            for person_id, member in members.items()
        }

    def combine(
        self, kpi: Kpi, period: Period, scope: Scope, totals: Mapping[str, Decimal], targets: Targets
    ) -> Result:
        """Apply the KPI's formulas to aggregated measures; explain why when there is no value."""
        return _Combiner(kpi, period).result(scope, totals, targets)


class _Combiner:
    """:meth:`Metrics.combine` for one KPI and period, with what does not depend on the scope worked out once:
    a leaderboard combines 2,000 members, and the KPI's target keys (a walk of its formulas) and the words
    of a reason (the previous period's label) were half its time."""

    def __init__(self, kpi: Kpi, period: Period) -> None:
        self.kpi, self.period = kpi, period
        self.needs = sorted(kpi.targets)
        self.spend = any(measure.model == "spend" for measure in kpi.measures.values())

    @functools.cached_property
    def words(self) -> dict[str, str]:
        period = self.period
        return {"period": period.label, "previous": period.previous().label, "end": period.dates().split(" to ")[-1]}

    def result(self, scope: Scope, totals: Mapping[str, Decimal], targets: Targets) -> Result:
        kpi, period = self.kpi, self.period
        if scope.type == "rep" and self.spend:
            reason = f"marketing spend is recorded per team, so {kpi.label.lower()} has no value for one person"
            return Result(kpi, period, None, None, None, reason)
        for name, why in kpi.requires.items():
            if totals[name] == 0:
                return Result(kpi, period, None, None, None, why.format(**self.words))
        missing = [key for key in self.needs if targets.for_scope(key, scope) is None]
        if missing:
            reason = f"no {' or '.join(missing)} target is set for {scope.name} in {period.label}"
            return Result(kpi, period, None, None, None, reason)

        def target(key: str) -> Decimal | None:
            return targets.for_scope(key, scope)

        numerator = formula.evaluate(kpi.numerator, totals, target)
        if kpi.denominator is None:
            return Result(kpi, period, numerator, numerator, None)
        denominator = formula.evaluate(kpi.denominator, totals, target)
        if denominator is None or denominator <= 0 or numerator is None:
            reason = (kpi.empty or "nothing to divide by in {period}").format(**self.words)
            return Result(kpi, period, None, numerator, denominator, reason)
        value = numerator / denominator * Decimal(str(kpi.scale))
        return Result(kpi, period, value, numerator, denominator)
