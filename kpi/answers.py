"""Answers: a KPI result dressed for people (text) and machines (JSON), with comparison and pace.

Pace (progress against a target) is computed in :mod:`kpi.pacing`; ``Pace`` is re-exported here, as are the
leaderboard's types from :mod:`kpi.rankings`.

These objects know nothing of Slack or the command line; bot/ renders them as Block Kit or JSON.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from kpi.formats import change, formatted, period_json, raw
from kpi.pacing import Pace
from kpi.rankings import Leaderboard, Row
from kpi.results import Result
from kpi.types import Kpi, Scope

__all__ = ["Answer", "Comparison", "Help", "Leaderboard", "Pace", "Row"]


@dataclass(frozen=True)
class Comparison:
    """What an answer was asked beside: the same days a year earlier, another period, or the team.

    ``other`` is the other period's result, or the team's; for the team, ``median`` is the median of its
    reps' values (``reps`` of them had one)."""

    kind: Literal["year-ago", "period", "team"]
    other: Result
    team: Scope | None = None
    median: Decimal | None = None
    reps: int = 0

    @property
    def name(self) -> str:
        """How the comparison is named: "the same days a year earlier (dates)", "last quarter (dates)", "West 1"."""
        if self.kind == "team" and self.team is not None:
            return self.team.name
        period = self.other.period
        return f"{'the same days a year earlier' if self.kind == 'year-ago' else period.label} ({period.dates()})"


@dataclass(frozen=True)
class Answer:
    """One KPI for one scope and period."""

    result: Result
    scope: Scope
    previous: Result
    currency: str
    pace: Pace | None = None
    against: Comparison | None = None

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
        if kpi.part_names:
            return f"{numerator} {kpi.part_names[0]} of {denominator} {kpi.part_names[1]}"
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
        return self.change_from(self.previous)

    def change_from(self, other: Result) -> tuple[float | None, str]:
        """The change from another result of the same KPI (the previous period, a comparison), and its words."""
        kpi = self.kpi
        return change(self.result.value, other.value, kpi.format, points=kpi.change == "points")

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
        if self.against:
            lines.append(self._against_line(self.against))
        if self.pace and self.pace.status == "no working day":
            lines.append(f"No target: {r.period.label} has no working day.")
        elif self.pace:
            target = formatted(self.pace.target, kpi.format, self.currency)
            line = f"Target {target}"
            if self.pace.attainment is not None:
                line += f": {self.pace.attainment * 100:.0f}% attained"
            if self.pace.expected is not None:
                line += f", {formatted(self.pace.expected, kpi.format, self.currency)} expected by now"
            lines.append(f"{line}, {self.pace.status}.")
        return "\n".join(lines)

    def _against_line(self, against: Comparison) -> str:
        kpi, other = self.kpi, against.other
        value = formatted(other.value, kpi.format, self.currency)
        if against.kind != "team":
            return f"Against {against.name}: {value} ({self.change_from(other)[1]})."
        median = formatted(against.median, kpi.format, self.currency)
        reps = f"{against.reps} rep" + ("" if against.reps == 1 else "s")
        change_text = self.change_from(other)[1]
        return f"Against {against.name}: {value} for the team ({change_text}), median of its {reps} {median}."

    def _against_json(self, against: Comparison) -> dict[str, Any]:
        kpi, other = self.kpi, against.other
        delta, delta_text = self.change_from(other)
        found: dict[str, Any] = {
            "kind": against.kind,
            "name": against.name,
            "period": period_json(other.period),
            "value": raw(other.value, kpi.format),
            "formatted": formatted(other.value, kpi.format, self.currency),
            "reason": other.reason,
            "change": delta,
            "change_formatted": delta_text,
        }
        if against.kind == "team":
            found["median"] = raw(against.median, kpi.format)
            found["median_formatted"] = formatted(against.median, kpi.format, self.currency)
            found["reps"] = against.reps
        return found

    def to_json(self) -> dict[str, Any]:
        r, kpi = self.result, self.kpi
        delta, delta_text = self.change
        return {
            "kind": "value",
            "kpi": kpi.key,
            "label": kpi.label,
            "value": raw(r.value, kpi.format),
            "formatted": self.formatted,
            "numerator": raw(r.numerator) if r.denominator is not None else None,
            "denominator": raw(r.denominator),
            "reason": r.reason,
            "period": period_json(r.period),
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "previous": {
                "value": raw(self.previous.value, kpi.format),
                "formatted": formatted(self.previous.value, kpi.format, self.currency),
                "reason": self.previous.reason,
                "period": period_json(self.previous.period),
                "change": delta,
                "change_formatted": delta_text,
            },
            "target": self.pace.to_json(kpi, self.currency) if self.pace else None,
            "against": self._against_json(self.against) if self.against else None,
            "text": self.text,
        }


@dataclass(frozen=True)
class Help:
    """The grammar with examples (``help``) or the KPI catalog (``list``)."""

    title: str
    lines: list[str] = field(default_factory=list)
    kind: Literal["help", "list"] = "help"

    @property
    def text(self) -> str:
        return "\n".join([self.title, *self.lines])

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "help": self.title, "lines": self.lines, "text": self.text}
