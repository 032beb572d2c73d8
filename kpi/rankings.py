"""Leaderboards: reps or teams ranked on one KPI, fairly.

The rules, in one place:

* best first by the KPI's direction (``bottom``: worst first); by attainment of each one's own target with
  ``of_target``, so that a new rep with a small target can top the board;
* equal values share a rank and the next rank skips (1, 2, 2, 4), names order the tied rows;
* a share of cases (win rate) ranked on fewer cases than the KPI's ``min_sample`` is marked and placed after
  the fair rows: 1 won of 1 closed is not a better win rate than 30 of 60;
* rows without a value (or without a target, by attainment) come last;
* the asker is told their place ("You're #8 of 9"), and a team ranking tells them their team's.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from kpi.formats import formatted, period_json, raw
from kpi.metrics import Result
from kpi.pacing import Pace
from kpi.periods import Period
from kpi.types import Kpi, Scope

Ranks = Literal["reps", "teams"]


@dataclass(frozen=True)
class Row:
    """One ranked rep (``person_id``) or team (``team_id``)."""

    rank: int
    person_id: int | None
    name: str
    result: Result
    pace: Pace | None = None  # progress against the member's target, when asked with paces or by attainment
    team_id: int | None = None
    fair: bool = True  # enough cases to be ranked among the others (see min_sample)

    @property
    def id(self) -> int | None:
        return self.person_id if self.person_id is not None else self.team_id

    @property
    def sample(self) -> Decimal | None:
        """The number of cases a share is measured on (a win rate's deals closed), when the KPI has one."""
        return self.result.denominator if self.result.kpi.has_sample else None


@dataclass(frozen=True)
class Entry:
    """What is ranked: one rep or team with its result (and its pace against its own target)."""

    id: int
    name: str
    result: Result
    pace: Pace | None = None


@dataclass(frozen=True)
class Leaderboard:
    """Members of a scope ranked by a KPI (see the module's rules)."""

    kpi: Kpi
    period: Period
    scope: Scope
    rows: list[Row]
    currency: str
    ranks: Ranks = "reps"
    bottom: bool = False
    of_target: bool = False
    ranked: int = 0  # rows before ``limit`` cut them
    you: Row | None = None  # the asker's row (their team's, for teams), wherever it is

    def by_person(self) -> dict[int, Row]:
        """A ranking of people's rows by person id, in rank order (a ranking of teams has none)."""
        return {row.person_id: row for row in self.rows if row.person_id is not None}

    @classmethod
    def rank(
        cls,
        kpi: Kpi,
        period: Period,
        scope: Scope,
        entries: list[Entry],
        currency: str,
        *,
        ranks: Ranks = "reps",
        bottom: bool = False,
        of_target: bool = False,
        limit: int | None = None,
        you: int | None = None,
    ) -> Leaderboard:
        """Rank ``entries``; ``you`` is the id of the asker's entry (a person's or a team's)."""

        def score(entry: Entry) -> Decimal | None:
            if of_target:
                return entry.pace.attainment if entry.pace else None
            return entry.result.value

        def fair(entry: Entry) -> bool:
            sample = entry.result.denominator if kpi.has_sample else None
            return sample is None or entry.result.value is None or sample >= kpi.min_sample

        def standing(entry: Entry) -> tuple[bool, bool, Decimal]:
            """Equal standings share a rank: unfair after fair, no score last, then the score, best first."""
            value = score(entry)
            if value is None:
                return (True, True, Decimal(0))
            better_high = of_target or kpi.higher_is_better
            return (not fair(entry), False, value if better_high == bottom else -value)

        ordered = sorted(entries, key=lambda entry: (standing(entry), entry.name.lower(), entry.id))
        rows: list[Row] = []
        for place, entry in enumerate(ordered, start=1):
            tied = rows and standing(ordered[place - 2]) == standing(entry)
            rank = rows[-1].rank if tied else place
            person, team = (entry.id, None) if ranks == "reps" else (None, entry.id)
            rows.append(Row(rank, person, entry.name, entry.result, entry.pace, team, fair(entry)))
        return cls(kpi, period, scope, rows, currency, ranks, bottom, of_target, len(rows)).seen_by(you, limit)

    def seen_by(self, you: int | None, limit: int | None = None) -> Leaderboard:
        """The whole board as one asker sees it: told their place (``you``: the id of their row, a person's or a
        team's), the first ``limit`` rows shown. One ranking serves every asker (kpi/cache.py keeps it)."""
        mine = next((row for row in self.rows if row.id == you), None) if you is not None else None
        return dataclasses.replace(self, rows=self.rows[:limit] if limit else self.rows, you=mine)

    def value(self, row: Row) -> str:
        """How a row's number reads: money compact, a share with its cases, attainment with its target."""
        kpi, currency = self.kpi, self.currency
        text = formatted(row.result.value, kpi.format, currency, compact=True)
        if row.sample is not None and row.result.value is not None:
            cases = f"{raw(row.sample)} {kpi.part_names[1]}" if kpi.part_names else f"n={raw(row.sample)}"
            text += f" ({cases})"
        pace = row.pace
        if self.of_target and pace is None:
            text += ", no target"
        elif self.of_target and pace is not None and pace.attainment is not None:
            target = formatted(pace.target, kpi.format, currency, compact=True)
            text = f"{pace.attainment * 100:.0f}% of {target} ({text})"
        if not row.fair:
            text += f", fewer than {kpi.min_sample} cases: not ranked among the others"
        return text

    @property
    def title(self) -> str:
        ranking = "team ranking" if self.ranks == "teams" else "leaderboard"
        how = ", by % of target" if self.of_target else ""
        how += ", from the bottom" if self.bottom else ""
        return f"{self.kpi.label} {ranking}{how}, {self.scope.name}, {self.period.label} ({self.period.dates()})"

    @property
    def unplaced(self) -> bool:
        """The asker is not on the board, or has no target on a board by % of target."""
        return self.you is None or (self.of_target and self.you.pace is None)

    @property
    def place(self) -> str | None:
        """ "You're #8 of 9." (or "Your team, West 1, is #2 of 4."), when the asker is on the board."""
        if self.you is None:
            return None
        if self.unplaced:
            mine = "Your team has" if self.ranks == "teams" else "You have"
            return f"{mine} no {self.kpi.label.lower()} target for {self.period.label}, so no place on this board."
        if self.ranks == "teams":
            return f"Your team, {self.you.name}, is #{self.you.rank} of {self.ranked}."
        return f"You're #{self.you.rank} of {self.ranked}."

    @property
    def text(self) -> str:
        lines = [f"{self.title}:"]
        lines += [f"{row.rank:>3}. {row.name}: {self.value(row)}" for row in self.rows]
        if not self.rows:
            lines.append("Nobody to rank in this scope." if self.ranks == "reps" else "No team to rank here.")
        elif self.of_target and all(row.pace is None for row in self.rows):
            label, period = self.kpi.label.lower(), self.period.label
            lines.append(f"No one here has a {label} target for {period}: nothing to rank by.")
        elif len(self.rows) < self.ranked:
            lines.append(f"Top {len(self.rows)} of {self.ranked} shown.")
        if self.place:
            lines.append(self.place)
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        kpi = self.kpi
        return {
            "kind": "leaderboard",
            "ranks": self.ranks,
            "kpi": kpi.key,
            "label": kpi.label,
            "period": period_json(self.period),
            "scope": {"type": self.scope.type, "name": self.scope.name},
            "bottom": self.bottom,
            "of_target": self.of_target,
            "rows": [self._row_json(row) for row in self.rows],
            "ranked": self.ranked,
            "you": None if self.you is None or self.unplaced else {"rank": self.you.rank, "of": self.ranked},
            "text": self.text,
        }

    def _row_json(self, row: Row) -> dict[str, Any]:
        kpi = self.kpi
        pace = row.pace
        return {
            "rank": row.rank,
            "name": row.name,
            "value": raw(row.result.value, kpi.format),
            "formatted": formatted(row.result.value, kpi.format, self.currency, compact=True),
            "sample": raw(row.sample),
            "fair": row.fair,
            "target": None if pace is None else raw(pace.target, kpi.format),
            "attainment": None if pace is None or pace.attainment is None else float(round(pace.attainment, 4)),
        }


def entries(results: Mapping[int, tuple[str, Result]], paces: Mapping[int, Pace | None] | None = None) -> list[Entry]:
    """Entries from results keyed by id, with names (and paces)."""
    paces = paces or {}
    return [Entry(key, name, result, paces.get(key)) for key, (name, result) in results.items()]
