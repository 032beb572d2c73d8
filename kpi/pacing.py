"""Progress and pace against targets: attainment, what was expected by now, the run-rate projection, a status.

The rules, in one place:

* **Attainment** is actual / target, or target / actual for a lower-is-better KPI (``direction: down``: a
  30-day sales-cycle target met with 40 days is 75% attained).
* **Flows** (sum and count KPIs counted over time: revenue, calls, deals won) are earned day by day. What was
  expected by now is the target x the share of the period's *working days* gone, the as-of day included;
  weekends (Saturday, Sunday) and the public holidays of ``org.country`` are not working days. Progress is
  actual / expected (expected / actual when lower is better) and the projection is the run rate carried to
  the period's end: actual / elapsed share.
* **Everything else** (ratios such as win rate, averages, stocks such as pipeline, growth) is not earned day
  by day: the value is compared with the target directly (progress = attainment), with no expected value and
  no projection.
* The **status** of a running period comes from progress and the ``pace:`` thresholds of org.yaml: ahead,
  on track, behind or at risk. A finished period is "reached" (attainment >= 1) or "missed".
* A target set for a longer period that **contains** the asked one (a quarterly target when asking about a
  month) counts too: prorated by working days for a flow, as it is for anything else (see :class:`Pacing`).
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from kpi.formats import formatted, raw
from kpi.periods import Period
from kpi.types import Kpi

if TYPE_CHECKING:
    from kpi.catalog import Catalog
    from kpi.config import OrgConfig
    from kpi.results import Result

#: Every status a pace can have: the first four for a running period, then a finished one, then no value.
#: "no working day": a target prorated to a span without a working day (a Saturday) is 0, which means none.
STATUSES = ("ahead", "on track", "behind", "at risk", "reached", "missed", "no value", "no working day")


def is_flow(kpi: Kpi) -> bool:
    """A sum or count KPI whose value builds up over the period (revenue, calls), not a stock (pipeline)."""
    return (
        kpi.type in ("sum", "count")
        and kpi.denominator is None
        and all(measure.time is not None and measure.window == "period" for measure in kpi.measures.values())
    )


def is_additive(kpi: Kpi) -> bool:
    """Whether people's targets add up to a team's: sums and counts (revenue, pipeline), not rates."""
    return kpi.type in ("sum", "count") and kpi.denominator is None


# --------------------------------------------------------------------------------------------------------
# Working days


@functools.lru_cache(maxsize=256)
def _holidays(country: str, year: int) -> frozenset[dt.date]:
    import holidays

    code, _, subdivision = country.partition("-")
    return frozenset(holidays.country_holidays(code, subdiv=subdivision or None, years=year))


@dataclass(frozen=True)
class WorkingDays:
    """Monday to Friday, less the public holidays of ``country`` (ISO code; None: no holidays)."""

    country: str | None = None

    def is_working(self, day: dt.date) -> bool:
        return day.weekday() < 5 and (self.country is None or day not in _holidays(self.country, day.year))

    def count(self, start: dt.date, end: dt.date) -> int:
        """Working days in ``[start, end)``."""
        return _count(self, start, end)

    def shares(self, start: dt.date, now: dt.date, end: dt.date) -> tuple[int, int]:
        """``(elapsed, total)``: working days of ``[start, now)`` and of ``[start, end)``.

        A span without a single working day (a weekend target) is counted in calendar days instead, so
        that the target is still spread over it.
        """
        total = self.count(start, end)
        if total == 0:
            return (min(now, end) - start).days, (end - start).days
        return self.count(start, min(now, end)), total


@functools.lru_cache(maxsize=4096)
def _count(workdays: WorkingDays, start: dt.date, end: dt.date) -> int:
    days = (end - start).days
    return sum(1 for offset in range(max(days, 0)) if workdays.is_working(start + dt.timedelta(days=offset)))


# --------------------------------------------------------------------------------------------------------
# Status thresholds


@dataclass(frozen=True)
class Thresholds:
    """Progress (actual / expected by now) at or above ``ahead`` is ahead, and so on; below ``behind``: at risk."""

    ahead: Decimal = Decimal("1.10")
    on_track: Decimal = Decimal("0.95")
    behind: Decimal = Decimal("0.75")

    @classmethod
    def from_org(cls, org: OrgConfig) -> Thresholds:
        pace = org.pace
        return cls(Decimal(str(pace.ahead)), Decimal(str(pace.on_track)), Decimal(str(pace.behind)))

    def status(self, progress: Decimal | None) -> str:
        """``None`` progress means infinitely good (nothing yet on a lower-is-better KPI)."""
        if progress is None or progress >= self.ahead:
            return "ahead"
        if progress >= self.on_track:
            return "on track"
        return "behind" if progress >= self.behind else "at risk"


DEFAULT_THRESHOLDS = Thresholds()
NO_HOLIDAYS = WorkingDays()


# --------------------------------------------------------------------------------------------------------
# Pace


@dataclass(frozen=True)
class Pace:
    """Progress against a target: attainment now, what was expected by now, and the run-rate projection."""

    target: Decimal
    attainment: Decimal | None
    expected: Decimal | None
    projection: Decimal | None
    status: str

    @classmethod
    def of(
        cls,
        kpi: Kpi,
        value: Decimal | None,
        target: Decimal,
        period: Period,
        thresholds: Thresholds = DEFAULT_THRESHOLDS,
        workdays: WorkingDays = NO_HOLIDAYS,
    ) -> Pace:
        """The pace of ``value`` (measured over ``period``, to date or whole) against ``target``."""
        if value is None or target <= 0:
            return cls(target, None, None, None, "no value")
        up = kpi.higher_is_better
        # Lower is better and nothing at all (no deal lost): the best possible, with no finite attainment.
        attainment = value / target if up else (target / value if value else None)
        if not period.to_date:
            reached = attainment is None or attainment >= 1
            return cls(target, attainment, None, None, "reached" if reached else "missed")
        if not is_flow(kpi):
            return cls(target, attainment, None, None, thresholds.status(attainment))
        elapsed, total = workdays.shares(period.start, period.end, period.full_end)
        expected = target * elapsed / total
        projection = value * total / elapsed if elapsed else None
        if up:
            progress = value / expected if expected else (None if value else Decimal(1))
        else:
            progress = expected / value if value else (None if expected else Decimal(1))
        return cls(target, attainment, expected, projection, thresholds.status(progress))

    def to_json(self, kpi: Kpi, currency: str) -> dict[str, Any]:
        return {
            "value": raw(self.target, kpi.format),
            "formatted": formatted(self.target, kpi.format, currency),
            "attainment": None if self.attainment is None else float(round(self.attainment, 4)),
            "expected": raw(self.expected, kpi.format),
            "projection": raw(self.projection, kpi.format),
            "status": self.status,
        }


# --------------------------------------------------------------------------------------------------------
# Targets and pace for one organisation


class Pacing:
    """The organisation's rules for targets and pace: its working days and thresholds.

    A scope's target for a period is, in this order (read by :class:`kpi.metrics.Metrics` with these rules):

    1. its own target for exactly that period;
    2. its own target for the shortest period that contains it (a quarter's when asking about a month),
       prorated by working days for a flow (revenue: the month's working days / the quarter's), as it is
       for anything else (a win-rate target holds for every month of its quarter);
    3. for a team or the organisation with no target of its own: the sum of its reps' targets, each found
       by 1 and 2, for a KPI that adds up (sums and counts; a team's win rate is not the sum of its reps').
    """

    def __init__(self, org: OrgConfig, catalog: Catalog) -> None:
        self.catalog = catalog
        self.workdays = WorkingDays(org.country)
        self.thresholds = Thresholds.from_org(org)

    def prorate(
        self, key: str, value: Decimal, target: tuple[dt.date, dt.date], asked: tuple[dt.date, dt.date]
    ) -> Decimal:
        """The part of a target for ``target`` (start, end) that falls to the ``asked`` period inside it."""
        kpi = self.catalog.kpis.get(key)
        if kpi is None or not is_flow(kpi) or target == asked:
            return value
        total = self.workdays.count(*target)
        if total == 0:  # no working day at all: spread it over calendar days
            return value * (asked[1] - asked[0]).days / (target[1] - target[0]).days
        return value * self.workdays.count(*asked) / total

    def adds_up(self, key: str) -> bool:
        """Whether a team without a target of its own may use the sum of its reps' targets for ``key``."""
        kpi = self.catalog.kpis.get(key)
        return kpi is not None and is_additive(kpi)

    def of(self, kpi: Kpi, value: Decimal | None, target: Decimal, period: Period) -> Pace:
        return Pace.of(kpi, value, target, period, self.thresholds, self.workdays)

    def pace(self, result: Result) -> Pace | None:
        """The pace of a result computed with its target, or None when no target applies."""
        if result.target is None:
            return None
        period = result.period
        if result.target == 0 and is_flow(result.kpi) and self.workdays.count(period.start, period.full_end) == 0:
            return Pace(result.target, None, None, None, "no working day")
        return self.of(result.kpi, result.value, result.target, period)
