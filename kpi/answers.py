"""Answers: a KPI result dressed for people (text) and machines (JSON), with comparison and pace.

Pace (progress against a target) is computed in :mod:`kpi.pacing`; ``Pace`` is re-exported here.

These objects know nothing of Slack or the command line; bot/ renders them as Block Kit or JSON.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kpi.formats import change, formatted, raw
from kpi.metrics import Result
from kpi.pacing import Pace
from kpi.periods import Period
from kpi.types import Kpi, Scope


def _period_json(period: Period) -> dict[str, Any]:
    last = period.end - dt.timedelta(days=1)
    return {
        "label": period.label,
        "start": period.start.isoformat(),
        "end": last.isoformat(),
        "to_date": period.to_date,
    }


@dataclass(frozen=True)
class Answer:
    """One KPI for one scope and period."""

    result: Result
    scope: Scope
    previous: Result
    currency: str
    pace: Pace | None = None

    @property
    def kpi(self) -> Kpi:
        return self.result.kpi

    @property
    def formatted(self) -> str:
        return formatted(self.result.value, self.kpi.format, self.currency)

    @property
    def parts(self) -> str | None:
        """ "12 of 38", "$120,000.00 / 4": the numerator and denominator, where they help."""
        r, kpi = self.result, self.kpi
        if kpi.parts == "none" or r.denominator is None or r.numerator is None:
            return None
        numerator, denominator = (formatted(part, kpi.parts, self.currency) for part in (r.numerator, r.denominator))
        if kpi.format == "percent":
            return f"{numerator} of {denominator}"
        if kpi.format == "currency":
            return f"{formatted(r.numerator, 'currency', self.currency)} / {denominator}"
        return f"{numerator} / {denominator}"

    @property
    def change(self) -> tuple[float | None, str]:
        """The change against the previous period, and its words; without a previous value, the reason."""
        if self.previous.value is None and self.previous.reason:
            return None, self.previous.reason
        return change(self.result.value, self.previous.value, self.kpi.format)

    @property
    def text(self) -> str:
        r, kpi = self.result, self.kpi
        head = f"{kpi.label} for {self.scope.name}, {r.period.label} ({r.period.dates()}): {self.formatted}"
        if r.value is None:
            head += f" ({r.reason})"
        elif self.parts:
            head += f" ({self.parts})"
        previous = formatted(self.previous.value, kpi.format, self.currency)
        lines = [head + ".", f"Previous period, {self.previous.period.label}: {previous} ({self.change[1]})."]
        if self.pace:
            target = formatted(self.pace.target, kpi.format, self.currency)
            line = f"Target {target}"
            if self.pace.attainment is not None:
                line += f": {self.pace.attainment * 100:.0f}% attained"
            if self.pace.expected is not None:
                line += f", {formatted(self.pace.expected, kpi.format, self.currency)} expected by now"
            lines.append(f"{line}, {self.pace.status}.")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        r, kpi = self.result, self.kpi
        delta, delta_text = self.change
        return {
            "kpi": kpi.key,
            "label": kpi.label,
            "value": raw(r.value, kpi.format),
            "formatted": self.formatted,
            "numerator": raw(r.numerator) if r.denominator is not None else None,
            "denominator": raw(r.denominator),
            "reason": r.reason,
            "period": _period_json(r.period),
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "previous": {
                "value": raw(self.previous.value, kpi.format),
                "formatted": formatted(self.previous.value, kpi.format, self.currency),
                "reason": self.previous.reason,
                "period": _period_json(self.previous.period),
                "change": delta,
                "change_formatted": delta_text,
            },
            "target": self.pace.to_json(kpi, self.currency) if self.pace else None,
            "text": self.text,
        }


@dataclass(frozen=True)
class Row:
    rank: int
    person_id: int
    name: str
    result: Result
    pace: Pace | None = None  # progress against the member's target, when the leaderboard was asked with paces


@dataclass(frozen=True)
class Leaderboard:
    """Members of a scope ranked by a KPI: best first by its direction, ties by name, no value last."""

    kpi: Kpi
    period: Period
    scope: Scope
    rows: list[Row]
    currency: str

    @classmethod
    def rank(
        cls,
        kpi: Kpi,
        period: Period,
        scope: Scope,
        results: dict[int, tuple[str, Result]],
        currency: str,
        paces: Mapping[int, Pace | None] | None = None,
    ):
        def order(item: tuple[int, tuple[str, Result]]):
            _, (name, result) = item
            value = result.value
            return (value is None, -value if value is not None and kpi.higher_is_better else value or 0, name)

        ranked = sorted(results.items(), key=order)
        paces = paces or {}
        rows = [Row(i, pid, name, result, paces.get(pid)) for i, (pid, (name, result)) in enumerate(ranked, start=1)]
        return cls(kpi, period, scope, rows, currency)

    @property
    def text(self) -> str:
        lines = [f"{self.kpi.label} leaderboard, {self.scope.name}, {self.period.label} ({self.period.dates()}):"]
        for row in self.rows:
            lines.append(f"{row.rank:>3}. {row.name}: {formatted(row.result.value, self.kpi.format, self.currency)}")
        if not self.rows:
            lines.append("Nobody to rank in this scope.")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "kpi": self.kpi.key,
            "label": self.kpi.label,
            "period": _period_json(self.period),
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "rows": [
                {
                    "rank": row.rank,
                    "name": row.name,
                    "value": raw(row.result.value, self.kpi.format),
                    "formatted": formatted(row.result.value, self.kpi.format, self.currency),
                }
                for row in self.rows
            ],
            "text": self.text,
        }


@dataclass(frozen=True)
class Help:
    """The grammar with examples (``help``) or the KPI catalog (``list``)."""

    title: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    def to_json(self) -> dict[str, Any]:
        return {"help": self.title, "lines": self.lines, "text": self.text}
