"""The targets of some KPIs for one period, as an answer reads them: a scope's own, else its reps' summed.

Read from the ``targets`` table by :class:`kpi.metrics.Metrics`, which asks the database for the rows that can
count for a period (and for the organisation, every rep's already summed); this module only chooses among them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from decimal import Decimal
from typing import Any

from kpi.types import Scope

#: The scope type of a row that sums every rep's target (each rep's exact one, else its shortest containing one).
REPS_SUMMED = "reps"

ZERO = Decimal(0)


def decimal_of(value: object) -> Decimal:
    """A total as the database returns it, exactly: nothing (no rows) is zero."""
    if value is None:
        return ZERO
    if isinstance(value, Decimal):
        return value
    return Decimal(value) if isinstance(value, int) else Decimal(str(value))  # an int exactly; a float as printed


#: ``(kpi key, value, (target start, end), (asked start, end)) -> the target's share for the asked period``
Prorate = Callable[[str, Decimal, tuple[dt.date, dt.date], tuple[dt.date, dt.date]], Decimal]


class Targets:
    """The targets of some KPIs for one period, rolled up on demand.

    Built from rows of the ``targets`` table for ``period`` (start, end): rows for exactly that period come
    first and, with ``prorate``, a row whose period contains it counts through ``prorate`` (the shortest such
    period wins); rows for other periods are ignored, so one read can serve several periods. A scope's target
    is its own (exact, else containing); a team or the organisation without one uses the sum of its reps'
    targets (each exact, else containing), for the KPIs that add up (``adds_up``, default all: a sum of
    win-rate targets would mean nothing). The organisation's reps' targets arrive already summed by the database
    (rows of scope type :data:`REPS_SUMMED`, one per KPI and chosen bounds, for the asked period they name), so
    that 10,000 reps are a few rows to prorate.
    """

    def __init__(
        self,
        rows: Iterable[Any],
        period: tuple[dt.date, dt.date],
        prorate: Prorate | None = None,
        adds_up: Callable[[str], bool] | None = None,
    ) -> None:
        self._adds_up = adds_up or (lambda _key: True)
        self._values: dict[tuple[str, str, int | None], Decimal] = {}
        containing: dict[tuple[str, str, int | None], tuple[tuple[dt.date, dt.date], Decimal]] = {}
        self._summed: dict[str, Decimal] = {}  # kpi -> every rep's target, summed by the database
        for row in rows:
            key, value = (row.kpi, row.scope_type, row.scope_id), decimal_of(row.value)
            bounds = (row.period_start, row.period_end)
            if row.scope_type == REPS_SUMMED:
                if (row.asked_start, row.asked_end) == period:
                    share = value if bounds == period or prorate is None else prorate(row.kpi, value, bounds, period)
                    self._summed[row.kpi] = self._summed.get(row.kpi, ZERO) + share
            elif bounds == period:
                self._values[key] = value
            elif prorate is not None and bounds[0] <= period[0] and period[1] <= bounds[1]:
                best = containing.get(key)
                if best is None or (bounds[1] - bounds[0], bounds) < (best[0][1] - best[0][0], best[0]):
                    containing[key] = (bounds, value)
        self._containing: dict[tuple[str, str, int | None], Decimal] = {}
        for key, (bounds, value) in containing.items():
            if key not in self._values and prorate is not None:
                self._containing[key] = prorate(key[0], value, bounds, period)
        self._reps: dict[str, set[int]] = {}
        for kpi, kind, scope_id in (*self._values, *self._containing):
            if kind == "rep" and scope_id is not None:
                self._reps.setdefault(kpi, set()).add(scope_id)

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
        if members is None and key in self._summed:
            return self._summed[key]
        reps = [rep_id for rep_id in self._reps.get(key, ()) if members is None or rep_id in members]
        return sum((self._own(key, "rep", rep_id) or ZERO for rep_id in reps), ZERO) if reps else None
