"""Where a ranked row goes: its score, whether it is ranked fairly and its group, and how two scores compare.

The rules of :mod:`kpi.rankings` (best first, a share on too few cases after the fair rows, no score last), as
:meth:`kpi.rankings.Leaderboard.rank` applies them to every member and :meth:`~kpi.rankings.Leaderboard.respliced`
to the members measured again.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

from kpi.pacing import Pace
from kpi.results import Measured

#: Where a row is ranked among the others: among the fair rows, after them on too few cases, or last without a score.
FAIR, UNFAIR, UNSCORED = 0, 1, 2


def placing(
    measured: Measured, paces: Sequence[Pace | None], of_target: bool
) -> tuple[Sequence[Any], list[bool], list[int]]:
    """Each entry's score (its value, or its attainment ``of_target``), whether it is ranked fairly (a share on
    at least the KPI's ``min_sample`` cases), and its group: fair, unfair or without a score."""
    kpi = measured.kpi
    # each group sorts by score: Decimals, compared in C (None only in the last group, which is not sorted)
    scores: Sequence[Any] = [None if p is None else p.attainment for p in paces] if of_target else measured.value
    if kpi.has_sample:
        floor, values = kpi.min_sample, measured.value
        fair = [n is None or v is None or n >= floor for v, n in zip(values, measured.denominator, strict=True)]
    else:
        fair = [True] * len(measured)
    groups = [UNSCORED if s is None else FAIR if f else UNFAIR for s, f in zip(scores, fair, strict=True)]
    return scores, fair, groups


def gatherer(order: Sequence[int]) -> Callable[[Sequence[Any]], tuple[Any, ...]]:
    """Picks the items at ``order`` from a sequence, as a tuple (C's itemgetter, which returns one item bare)."""
    if len(order) < 2:
        return lambda items: tuple(items[i] for i in order)
    return operator.itemgetter(*order)


def same_place(group: int, score: str | None, its_group: int, other: str | None) -> bool:
    """Whether two rows' scores (as text) are equal in one group: they share a place."""
    if group != its_group:
        return False
    return score == other or (score is not None and other is not None and Decimal(score) == Decimal(other))


def key_of(score: Decimal | None, best_first: bool) -> Decimal:
    """A score as rows are placed by it within their group, least first (those without one are all equal). Negated
    exactly: a Decimal's unary minus rounds to the context's 28 digits, and a value may have more."""
    if score is None:
        return Decimal(0)
    return score.copy_negate() if best_first else score


def keyed(scores: Sequence[str | None], best_first: bool) -> Callable[[int], Decimal]:
    """The key (:func:`key_of`) of a scored row's score kept as text, by its position."""
    return lambda p: key_of(Decimal(scores[p]), best_first)  # type: ignore[arg-type]  # a scored row has a score
