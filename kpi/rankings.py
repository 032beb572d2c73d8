"""Leaderboards: reps or teams ranked on one KPI, fairly.

The rules, in one place:

* best first by the KPI's direction (``bottom``: worst first); by attainment of each one's own target with
  ``of_target``, so that a new rep with a small target can top the board;
* equal values share a rank and the next rank skips (1, 2, 2, 4), names order the tied rows;
* a share of cases (win rate) ranked on fewer cases than the KPI's ``min_sample`` is marked and placed after
  the fair rows: 1 won of 1 closed is not a better win rate than 30 of 60;
* rows without a value (or without a target, by attainment) come last;
* the asker is told their place ("You're #8 of 9"), and a team ranking tells them their team's.

A ranking is cached whole (kpi/cache.py) and read by every asker, who sees its first rows and their own: its rows
are kept as columns (:class:`Rows`), and a :class:`Row` is made only when read.
"""

from __future__ import annotations

import dataclasses
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, NamedTuple, overload

from kpi.formats import formatted, period_json, raw
from kpi.pacing import Pace
from kpi.periods import Period
from kpi.results import Measured, Result
from kpi.types import Kpi, Scope

Ranks = Literal["reps", "teams"]
_NEW = object()  # no score before the first of a group


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


#: A pace as a tuple of its fields (target, attainment, expected, projection, status).
Paced = tuple[Decimal, Decimal | None, Decimal | None, Decimal | None, str]


class Columns(NamedTuple):
    """A ranking's rows as columns, in rank order: each row's place in the ranking, its id (a person's or a
    team's), its result's fields and its pace's."""

    rank: tuple[int, ...]
    id: tuple[int, ...]
    name: tuple[str, ...]
    fair: tuple[bool, ...]
    value: tuple[Decimal | None, ...]
    numerator: tuple[Decimal | None, ...]
    denominator: tuple[Decimal | None, ...]
    reason: tuple[str | None, ...]
    target: tuple[Decimal | None, ...]
    pace: tuple[Paced | None, ...]


#: Rows per pickled chunk of a ranking (see :class:`Rows`).
CHUNK = 64


class Rows(Sequence[Row]):
    """A ranking's rows, of one KPI and period, kept as :class:`Columns`; a :class:`Row` is made when read.

    Every asker of a cached organisation leaderboard reads the ranking to see 25 rows and their own: 10,000 Row,
    Result and Pace objects took 150 to 190 ms to unpickle from Redis, most of it CPython's garbage collector
    walking the new objects; ten tuples of ints, strings and Decimals, 30 to 40 ms, most of it making 50,000
    Decimals. So a ranking is pickled in chunks of :data:`CHUNK` rows, and one read from the cache loads only the
    chunks of the rows it is asked for (the ids, to find the asker's row, load at once: they are plain ints)."""

    __slots__ = ("kpi", "period", "ranks", "_columns", "_ids", "_chunks", "_loaded")

    def __init__(self, kpi: Kpi, period: Period, ranks: Ranks, columns: Columns) -> None:
        self.kpi, self.period, self.ranks = kpi, period, ranks
        self._columns: Columns | None = columns
        self._ids = columns.id
        self._chunks: tuple[bytes, ...] = ()  # pickled chunks not yet loaded (a ranking read from the cache)
        self._loaded: dict[int, Columns] = {}

    @classmethod
    def of(
        cls,
        measured: Measured,
        names: Sequence[str],
        paces: Sequence[Pace | None],
        ranks: Ranks,
        order: list[int],
        places: list[int],
        fair: list[bool],
    ) -> Rows:
        """The entries of ``measured`` (with their ``names`` and ``paces``, in its order) put in rank ``order``
        (their indices), with their places and whether each is ranked fairly."""

        def column(of: Sequence[Any]) -> tuple[Any, ...]:
            return tuple([of[i] for i in order])

        paced = [None if p is None else (p.target, p.attainment, p.expected, p.projection, p.status) for p in paces]
        return cls(
            measured.kpi,
            measured.period,
            ranks,
            Columns(
                rank=tuple(places),
                id=column(measured.ids),
                name=column(names),
                fair=tuple(fair),
                value=column(measured.value),
                numerator=column(measured.numerator),
                denominator=column(measured.denominator),
                reason=column(measured.reason),
                target=column(measured.target),
                pace=column(paced),
            ),
        )

    @classmethod
    def _packed(cls, kpi: Kpi, period: Period, ranks: Ranks, ids: tuple[int, ...], chunks: tuple[bytes, ...]) -> Rows:
        rows = cls.__new__(cls)
        rows.kpi, rows.period, rows.ranks = kpi, period, ranks
        rows._columns, rows._ids, rows._chunks, rows._loaded = None, ids, chunks, {}
        return rows

    @property
    def columns(self) -> Columns:
        """Every row's columns (loading every chunk of a ranking read from the cache)."""
        if self._columns is None:
            self._columns = _joined([self._chunk(i) for i in range(len(self._chunks))])
        return self._columns

    def _chunk(self, i: int) -> Columns:
        if i not in self._loaded:
            self._loaded[i] = pickle.loads(self._chunks[i])
        return self._loaded[i]

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> Rows: ...

    def __getitem__(self, index: int | slice) -> Row | Rows:
        if isinstance(index, slice):
            return Rows(self.kpi, self.period, self.ranks, self._slice(index))
        index = range(len(self))[index]  # a negative index counts from the end; past it raises IndexError
        if self._columns is not None:
            return self._row(self._columns, index)
        return self._row(self._chunk(index // CHUNK), index % CHUNK)

    def _slice(self, index: slice) -> Columns:
        start, stop, step = index.indices(len(self))
        if self._columns is not None or step != 1:
            return Columns._make(column[index] for column in self.columns)
        chunks = [self._chunk(i) for i in range(start // CHUNK, -(-stop // CHUNK))] if start < stop else []
        offset = start // CHUNK * CHUNK
        return Columns._make(column[start - offset : stop - offset] for column in _joined(chunks))

    def _row(self, c: Columns, i: int) -> Row:
        result = Result(self.kpi, self.period, c.value[i], c.numerator[i], c.denominator[i], c.reason[i], c.target[i])
        paced = c.pace[i]
        pace = None if paced is None else Pace(*paced)
        person, team = (c.id[i], None) if self.ranks == "reps" else (None, c.id[i])
        return Row(c.rank[i], person, c.name[i], result, pace, team, c.fair[i])

    def __iter__(self) -> Iterator[Row]:
        return (self[index] for index in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rows):
            return NotImplemented
        mine, theirs = (self.kpi, self.period, self.ranks), (other.kpi, other.period, other.ranks)
        return mine == theirs and self.columns == other.columns

    __hash__ = None  # type: ignore[assignment]  # equal by value, like the list of rows it stands for

    def __reduce__(self) -> tuple[Callable[..., Rows], tuple[Any, ...]]:
        """The ids and the chunks go in as plain pickles: the answer cache's pickler (kpi/cache.py) asks its
        ``persistent_id`` in Python about every object, and a ranking of 10,000 reps has 100,000."""
        chunks = self._chunks
        if self._columns is not None:
            columns = self._columns
            chunks = tuple(
                pickle.dumps(Columns._make(column[i : i + CHUNK] for column in columns), pickle.HIGHEST_PROTOCOL)
                for i in range(0, len(self), CHUNK)
            )
        ids = pickle.dumps(self._ids, pickle.HIGHEST_PROTOCOL)
        return (_unpickled, (self.kpi, self.period, self.ranks, ids, chunks))

    def __repr__(self) -> str:
        return f"Rows({list(self)!r})"

    def find(self, id: int) -> Row | None:
        """The row of ``id`` (a person's or a team's), if ranked here."""
        try:
            return self[self._ids.index(id)]
        except ValueError:
            return None

    @property
    def paced(self) -> bool:
        """Whether any row has a pace (on a board by % of target: a target)."""
        return any(pace is not None for pace in self.columns.pace)


def _joined(chunks: list[Columns]) -> Columns:
    """Consecutive chunks' columns as one."""
    return Columns._make(tuple(value for chunk in chunks for value in chunk[k]) for k in range(len(Columns._fields)))


def _unpickled(kpi: Kpi, period: Period, ranks: Ranks, ids: bytes, chunks: tuple[bytes, ...]) -> Rows:
    return Rows._packed(kpi, period, ranks, pickle.loads(ids), chunks)


@dataclass(frozen=True)
class Leaderboard:
    """Members of a scope ranked by a KPI (see the module's rules)."""

    kpi: Kpi
    period: Period
    scope: Scope
    rows: Rows
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
        measured: Measured,
        names: Sequence[str],
        scope: Scope,
        currency: str,
        *,
        paces: Sequence[Pace | None] | None = None,
        ranks: Ranks = "reps",
        bottom: bool = False,
        of_target: bool = False,
        limit: int | None = None,
        you: int | None = None,
    ) -> Leaderboard:
        """Rank the reps or teams of ``measured`` (``names[i]`` and ``paces[i]``, its pace against its own
        target, are those of ``measured.ids[i]``); ``you`` is the id of the asker's (a person's or a team's)."""

        # Best first within each group (fair, then unfair, then no score), equal scores in name order: the entries
        # are put in name order first (already in it, an organisation's: see Kpibot._members), and each group is
        # sorted by score alone, stably (an organisation ranks 10,000 reps; a sort of 6-tuples took twice as long).
        kpi = measured.kpi
        best_first = (of_target or kpi.higher_is_better) != bottom
        paces = paces if paces is not None else [None] * len(measured)
        # each group sorts by score: Decimals, compared in C (None only in the last group, which is not sorted)
        scores: Sequence[Any] = [None if p is None else p.attainment for p in paces] if of_target else measured.value
        if kpi.has_sample:
            floor, values = kpi.min_sample, measured.value
            fair = [n is None or v is None or n >= floor for v, n in zip(values, measured.denominator, strict=True)]
        else:
            fair = [True] * len(measured)
        named = [i for _, _, i in sorted(zip(map(str.lower, names), measured.ids, range(len(measured)), strict=True))]
        groups = (
            [i for i in named if fair[i] and scores[i] is not None],
            [i for i in named if not fair[i] and scores[i] is not None],
            [i for i in named if scores[i] is None],
        )
        order: list[int] = []
        places: list[int] = []
        for group in groups:
            if group is not groups[-1]:
                group.sort(key=scores.__getitem__, reverse=best_first)
            before: object = _NEW
            for i in group:
                places.append(places[-1] if scores[i] == before or scores[i] is before else len(order) + 1)
                order.append(i)
                before = scores[i]
        rows = Rows.of(measured, names, paces, ranks, order, places, [fair[i] for i in order])
        board = cls(kpi, measured.period, scope, rows, currency, ranks, bottom, of_target, len(rows))
        return board.seen_by(you, limit)

    def seen_by(self, you: int | None, limit: int | None = None) -> Leaderboard:
        """The whole board as one asker sees it: told their place (``you``: the id of their row, a person's or a
        team's), the first ``limit`` rows shown. One ranking serves every asker (kpi/cache.py keeps it)."""
        mine = self.rows.find(you) if you is not None else None
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
        return "\n".join(self.lines())

    def lines(self, shown: int | None = None) -> list[str]:
        """The text's lines: the title, the rows, a note and the asker's place. With ``shown``, a text longer
        than ``shown`` rows and two lines is cut to the title, the first ``shown`` rows and the place (a Slack
        message's text, whose rows are formatted only as far as they are shown)."""
        note = self._note()
        place = [self.place] if self.place else []
        title = f"{self.title}:"
        if shown is not None and 1 + len(self.rows) + len(note) + len(place) > shown + 2:
            return [title, *self._lines(self.rows[:shown]), *place]
        return [title, *self._lines(self.rows), *note, *place]

    def _lines(self, rows: Rows) -> list[str]:
        return [f"{row.rank:>3}. {row.name}: {self.value(row)}" for row in rows]

    def _note(self) -> list[str]:
        """Why there are no rows, or none to rank by, or how many are shown of those ranked."""
        if not self.rows:
            return ["Nobody to rank in this scope." if self.ranks == "reps" else "No team to rank here."]
        if self.of_target and not self.rows.paced:
            label, period = self.kpi.label.lower(), self.period.label
            return [f"No one here has a {label} target for {period}: nothing to rank by."]
        if len(self.rows) < self.ranked:
            return [f"Top {len(self.rows)} of {self.ranked} shown."]
        return []

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
