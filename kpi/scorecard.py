"""The scorecard ("how am I doing"): a scope's key KPIs for a period, each with its target, pace and change.

Which KPIs is data: ``scorecard:`` in org.yaml (checked against the catalog at start). The KPIs are measured
together: those measured the same way share one statement, whose scans of one model (deals, activities)
they share, and one for their targets.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from kpi.answers import Answer
from kpi.catalog import Catalog
from kpi.config import ConfigError
from kpi.formats import formatted, period_json
from kpi.metrics import Metrics
from kpi.pacing import Pacing
from kpi.periods import Period
from kpi.types import Kpi, Scope


def scorecard_kpis(keys: list[str], catalog: Catalog, path: Path) -> list[Kpi]:
    """The KPIs ``scorecard:`` names, or a :class:`ConfigError` naming the one that is not in the catalog."""
    kpis = []
    for key in keys:
        kpi = catalog.lookup(key)
        if kpi is None:
            close = process.extractOne(key, list(catalog.kpis), scorer=fuzz.ratio)
            hint = f"did you mean '{close[0]}'? " if close and close[1] >= 60 else ""
            raise ConfigError(
                f"{path}: key 'scorecard' names '{key}', which is not a KPI: {hint}`kpibot ask list --as ...` "
                "lists the catalog's keys."
            )
        kpis.append(kpi)
    return kpis


@dataclass(frozen=True)
class Scorecard:
    """One answer per key KPI, for one scope and period."""

    scope: Scope
    period: Period
    items: list[Answer]
    currency: str

    @classmethod
    def measure(
        cls,
        metrics: Metrics,
        pacing: Pacing,
        kpis: list[Kpi],
        period: Period,
        scope: Scope,
        as_of: dt.date,
        currency: str,
    ) -> Scorecard:
        """Each KPI against the period it compares with (see :meth:`Metrics.comparable`), with its target."""
        groups: dict[str, list[Kpi]] = {}
        for kpi in kpis:
            groups.setdefault(kpi.measured, []).append(kpi)
        answers: dict[str, Answer] = {}
        for group in groups.values():
            comparable = metrics.comparable(group[0], period)
            results = metrics.results_of_many(group, [period, comparable], scope, as_of, target=True)
            for kpi in group:
                result, previous = results[kpi.key]
                answers[kpi.key] = Answer(result, scope, previous, currency, pacing.pace(result))
        return cls(scope, period, [answers[kpi.key] for kpi in kpis], currency)

    def line(self, answer: Answer) -> str:
        """ "Revenue: $83.9k, 84% of $100k, on track; +12.0% on last quarter" (money compact: a list is scanned)."""
        kpi, r = answer.kpi, answer.result
        value = formatted(r.value, kpi.format, self.currency, compact=True)
        text = f"{kpi.label}: {value}" + (f" ({r.reason})" if r.value is None else "")
        pace = answer.pace
        if pace and pace.status == "no working day":
            text += ", no working day in the period"
        elif pace:
            target = formatted(pace.target, kpi.format, self.currency, compact=True)
            attained = f"{pace.attainment * 100:.0f}% of " if pace.attainment is not None else "target "
            text += f", {attained}{target}, {pace.status}"
        if answer.previous.value is not None:
            text += f"; {answer.change[1]} on {answer.previous.period.label}"
        return text

    @property
    def text(self) -> str:
        head = f"Scorecard for {self.scope.name}, {self.period.label} ({self.period.dates()}):"
        return "\n".join([head, *(f"• {self.line(answer)}" for answer in self.items)])

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": "scorecard",
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "period": period_json(self.period),
            "items": [answer.to_json() for answer in self.items],
            "text": self.text,
        }
