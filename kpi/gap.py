"""The gap to a target ("what do I need to hit quota"): what remains of a running period's target, per working
day left and, for a KPI whose ``gap:`` names them (revenue), in deals and in open pipeline.

The rules, in one place:

* the target is the whole period's (a quarter's quota, not the part expected by now); the actual is to date;
* working days are those of :mod:`kpi.pacing` from the day after the as-of day to the period's end (the as-of
  day counts as gone, as it does for pace); what remains per working day is for a flow (revenue, calls), not
  for a rate (win rate), which is not earned day by day;
* where lower is better (deals lost, sales cycle) what remains is how far above its target the KPI is;
* deals needed: what remains / the scope's average deal size, rounded up; pipeline needed: what remains /
  its win rate; both measured over the trailing 12 months, beside the open pipeline it has now;
* a target reached, a period that has ended and a KPI without a target each say so instead.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from kpi.formats import formatted, period_json, raw
from kpi.metrics import Metrics
from kpi.pacing import WorkingDays, is_flow
from kpi.periods import Period
from kpi.results import Result
from kpi.types import Kpi, Scope

#: How an admin or manager sets a target, for a gap without one.
HOW_TO_SET = (
    "managers set the targets of the people and teams they manage and admins anyone's, "
    "with `/kpi targets` in Slack or `kpibot targets import`"
)


@dataclass(frozen=True)
class Gap:
    kpi: Kpi
    scope: Scope
    period: Period  # the whole period
    as_of: dt.date
    actual: Decimal | None
    target: Decimal | None
    working_days_left: int
    currency: str
    deal_size: Result | None = None
    win_rate: Result | None = None
    pipeline: Decimal | None = None

    @classmethod
    def measure(
        cls,
        metrics: Metrics,
        workdays: WorkingDays,
        kpi: Kpi,
        kpis: dict[str, Kpi],
        period: Period,
        scope: Scope,
        as_of: dt.date,
        currency: str,
    ) -> Gap:
        """``kpis``: the catalog, for the KPIs ``kpi.gap`` names. Two statements (the period's KPI and open
        pipeline; the trailing year's deal size and win rate) and one for the target."""
        now = [kpi] + ([kpis[kpi.gap["pipeline"]]] if "pipeline" in kpi.gap else [])
        found = metrics.results_of_many(now, [period], scope, as_of, target=True)
        result = found[kpi.key][0]
        gap = cls.of(result, scope, as_of, workdays, currency)
        if period.over(as_of) or gap.remaining is None or gap.remaining <= 0 or not kpi.gap:
            return gap
        rates = [kpis[kpi.gap[role]] for role in ("deal_size", "win_rate") if role in kpi.gap]
        trailing = metrics.results_of_many(rates, [period.trailing(12)], scope, as_of) if rates else {}
        return dataclasses.replace(
            gap,
            deal_size=trailing[kpi.gap["deal_size"]][0] if "deal_size" in kpi.gap else None,
            win_rate=trailing[kpi.gap["win_rate"]][0] if "win_rate" in kpi.gap else None,
            pipeline=found[kpi.gap["pipeline"]][0].value if "pipeline" in kpi.gap else None,
        )

    @classmethod
    def of(cls, result: Result, scope: Scope, as_of: dt.date, workdays: WorkingDays, currency: str) -> Gap:
        """The gap of a result measured with its target (no deals or pipeline): what a digest shows a rep who
        is behind pace, from the numbers it already has."""
        period = result.period
        left = workdays.count(max(period.end, period.start), period.full_end) if not period.over(as_of) else 0
        whole = dataclasses.replace(period, end=period.full_end)
        return cls(result.kpi, scope, whole, as_of, result.value, result.target, left, currency)

    @property
    def ended(self) -> bool:
        return self.period.over(self.as_of)

    @property
    def remaining(self) -> Decimal | None:
        """What is left to reach the target (negative: beyond it); none without a target. For a KPI where lower
        is better (sales cycle), how far it is above its target."""
        if self.target is None:
            return None
        actual = self.actual or Decimal(0)
        return self.target - actual if self.kpi.higher_is_better else actual - self.target

    @property
    def per_working_day(self) -> Decimal | None:
        remaining = self.remaining
        if remaining is None or remaining <= 0 or self.ended or not self.working_days_left:
            return None
        if not is_flow(self.kpi) or not self.kpi.higher_is_better:
            return None  # a rate (win rate) is not earned day by day, nor is a deal lost undone
        return remaining / self.working_days_left

    @property
    def deals_needed(self) -> int | None:
        size = self.deal_size.value if self.deal_size else None
        if not size or self.remaining is None or self.remaining <= 0:
            return None
        return int((self.remaining / size).to_integral_value(ROUND_CEILING))

    @property
    def pipeline_needed(self) -> Decimal | None:
        rate = self.win_rate.value if self.win_rate else None
        if not rate or self.remaining is None or self.remaining <= 0:
            return None
        return self.remaining / rate

    def _money(self, value: Decimal | None) -> str:
        return formatted(value, self.kpi.format, self.currency)

    @property
    def text(self) -> str:
        kpi, period = self.kpi, self.period
        head = f"{kpi.label} for {self.scope.name}, {period.label} ({period.dates()})"
        actual, target = self._money(self.actual), self._money(self.target)
        if self.target is None:
            return f"{head}: no {kpi.label.lower()} target is set, so there is no gap to show; {HOW_TO_SET}."
        if self.ended:
            return f"{head} has ended: {actual} against a target of {target}."
        remaining = self.remaining or Decimal(0)
        if remaining <= 0:
            return f"{head}: target reached, {actual} of {target}."
        days = f"{self.working_days_left} working day" + ("" if self.working_days_left == 1 else "s")
        to_go = "to go" if self.kpi.higher_is_better else "above it"
        lines = [f"{head}: target {target}, {actual} so far, {self._money(remaining)} {to_go}."]
        if self.per_working_day is not None:
            lines.append(f"{days} left: {self._money(self.per_working_day)} per working day.")
        elif self.working_days_left:
            lines.append(f"{days} left.")
        else:
            lines.append("No working day is left in the period.")
        lines += self._in_deals()
        return "\n".join(lines)

    def _in_deals(self) -> list[str]:
        """What remains in deals and pipeline, or why not (no deal won, no deal closed in 12 months)."""
        lines = []
        if self.deal_size is not None:
            size = formatted(self.deal_size.value, self.deal_size.kpi.format, self.currency)
            if self.deals_needed is None:
                lines.append(f"Deals needed: unknown ({self.deal_size.reason}).")
            else:
                deals = f"{self.deals_needed} more deal" + ("" if self.deals_needed == 1 else "s")
                lines.append(f"{deals} at an average deal size of {size} (last 12 months).")
        if self.win_rate is not None:
            rate = formatted(self.win_rate.value, self.win_rate.kpi.format, self.currency)
            open_now = self._money(self.pipeline)
            if self.pipeline_needed is None:
                lines.append(f"Pipeline needed: unknown ({self.win_rate.reason}); {open_now} is open now.")
            else:
                lines.append(
                    f"{self._money(self.pipeline_needed)} of pipeline at a win rate of {rate} (last 12 months), "
                    f"against {open_now} open now."
                )
        return lines

    def to_json(self) -> dict[str, Any]:
        fmt = self.kpi.format
        return {
            "kind": "gap",
            "kpi": self.kpi.key,
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "period": period_json(self.period),
            "target": raw(self.target, fmt),
            "actual": raw(self.actual, fmt),
            "remaining": raw(self.remaining, fmt),
            "working_days_left": self.working_days_left,
            "per_working_day": raw(self.per_working_day, fmt),
            "deals_needed": self.deals_needed,
            "pipeline_needed": raw(self.pipeline_needed, fmt),
            "pipeline": raw(self.pipeline, fmt),
            "text": self.text,
        }
