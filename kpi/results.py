"""What a KPI measures to for a scope and period (:class:`Result`), and for many scopes at once as columns
(:class:`Measured`): the values kpi/metrics.py computes and answers, rankings and digests read."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from kpi.periods import Period
from kpi.types import Kpi


@dataclass(frozen=True)
class Result:
    """A KPI's value for one scope and period. ``value`` is None when there is no value, with ``reason``."""

    kpi: Kpi
    period: Period
    value: Decimal | None
    numerator: Decimal | None
    denominator: Decimal | None
    reason: str | None = None
    target: Decimal | None = None  # the scope's target for the KPI and period, when asked for and set


@dataclass(frozen=True)
class Measured:
    """One KPI's results over one period for many scopes (a leaderboard's reps or teams), as columns in the order
    of ``ids``: an organisation leaderboard ranks 10,000 reps, and a :class:`Result` object each, made and then
    taken apart again into the ranking's columns, was a fifth of its Python."""

    kpi: Kpi
    period: Period
    ids: Sequence[int]
    value: Sequence[Decimal | None]
    numerator: Sequence[Decimal | None]
    denominator: Sequence[Decimal | None]
    reason: Sequence[str | None]
    target: Sequence[Decimal | None]
    #: The records the KPI counts that the CRM never supplied (every scope's reason, then): see Metrics.absent.
    absent: tuple[str, ...] = ()

    @classmethod
    def of(cls, kpi: Kpi, period: Period, results: Mapping[int, Result]) -> Measured:
        """``results`` keyed by id, each of ``kpi`` over ``period``."""
        if any(result.kpi is not kpi or result.period != period for result in results.values()):
            raise ValueError(f"results measured together are of one KPI and period: {kpi.label} over {period.label}")
        found = list(results.values())

        def column(field: str) -> list[Any]:
            return [getattr(result, field) for result in found]

        fields = ("value", "numerator", "denominator", "reason", "target")
        value, numerator, denominator, reason, target = (column(field) for field in fields)
        return cls(kpi, period, list(results), value, numerator, denominator, reason, target)

    def __len__(self) -> int:
        return len(self.ids)

    def result(self, i: int) -> Result:
        """The ``i``-th scope's result."""
        return Result(
            self.kpi, self.period, self.value[i], self.numerator[i], self.denominator[i], self.reason[i], self.target[i]
        )

    def values(self) -> dict[int, Decimal | None]:
        """Every scope's value, by id."""
        return dict(zip(self.ids, self.value, strict=True))
