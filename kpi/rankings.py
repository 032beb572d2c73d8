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

import bisect
import dataclasses
import itertools
import operator
import pickle
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal, NamedTuple, overload

from kpi.formats import formatted, period_json, raw
from kpi.pacing import Pace
from kpi.periods import Period
from kpi.placing import FAIR, UNFAIR, UNSCORED, gatherer, key_of, keyed, placing, same_place
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


#: Rows per pickled chunk of a ranking (see :class:`Rows`).
CHUNK = 64


class Slots(NamedTuple):
    """Rows' own columns (name, fairness, result and pace): of a chunk of a ranking's slots (see :class:`Rows`), or
    of every row in rank order (:class:`Columns`)."""

    name: tuple[str, ...]
    fair: tuple[bool, ...]
    value: tuple[Decimal | None, ...]
    numerator: tuple[Decimal | None, ...]
    denominator: tuple[Decimal | None, ...]
    reason: tuple[str | None, ...]
    target: tuple[Decimal | None, ...]
    pace: tuple[Paced | None, ...]


class Columns(NamedTuple):
    """A ranking's rows as columns, in rank order: each row's place, its id (a person's or a team's), and the rest."""

    rank: tuple[int, ...]
    id: tuple[int, ...]
    rows: Slots


class Rows(Sequence[Row]):
    """A ranking's rows, of one KPI and period; a :class:`Row` is made when read.

    Every asker of a cached organisation leaderboard reads the ranking to see 25 rows and their own: 10,000 Row,
    Result and Pace objects took 150 to 190 ms to unpickle from Redis, most of it CPython's garbage collector
    walking the new objects; ten tuples of ints, strings and Decimals, 30 to 40 ms, most of it making 50,000
    Decimals. So a ranking keeps, in rank order, each row's id, place, score (as text: a Decimal is made only to
    compare one) and group, and the **slot** where the rest of the row is: its name, result and pace are kept by slot
    in chunks of :data:`CHUNK`, pickled one by one. A read from the cache loads only the chunks of the rows it is
    asked for, and a ranking kept across a change of the data (:meth:`Leaderboard.respliced`) rewrites only the
    chunks of the rows measured again: the others keep their slots, wherever their rows move."""

    __slots__ = ("kpi", "period", "ranks", "_ids", "_places", "_slots", "_scores", "_groups", "_chunks", "_pickled")

    def __init__(
        self,
        kpi: Kpi,
        period: Period,
        ranks: Ranks,
        ids: Sequence[int],
        places: Sequence[int],
        slots: Sequence[int] | None,
        scores: Sequence[str | None],
        groups: bytes,
        chunks: list[Slots | bytes],
        pickled: list[bytes | None] | None = None,
    ) -> None:
        self.kpi, self.period, self.ranks = kpi, period, ranks
        self._ids, self._places, self._scores, self._groups = tuple(ids), tuple(places), tuple(scores), groups
        self._slots = None if slots is None else tuple(slots)  # None: row i is in slot i
        self._chunks = chunks  # shared by the slices of a ranking: a chunk loaded by one is loaded for all
        #: each chunk's pickle when it was read from one: a ranking read from Redis, brought up to date and stored
        #: again pickles only its new chunks
        self._pickled = pickled if pickled is not None else [c if isinstance(c, bytes) else None for c in chunks]

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
        scores: Sequence[Decimal | None],
        groups: Sequence[int],
    ) -> Rows:
        """The entries of ``measured`` (with their ``names``, ``paces``, ``fair``, ``scores`` and ``groups``, in its
        order) put in rank ``order`` (their indices) at their ``places``, each in the slot of its rank."""

        def column(of: Sequence[Any]) -> list[Any]:
            return [of[i] for i in order]

        paced = [_paced(p) for p in paces]
        columns = (
            column(names),
            column(fair),
            column(measured.value),
            column(measured.numerator),
            column(measured.denominator),
            column(measured.reason),
            column(measured.target),
            column(paced),
        )
        return cls(
            measured.kpi,
            measured.period,
            ranks,
            column(measured.ids),
            places,
            None,
            _shared([None if scores[i] is None else str(scores[i]) for i in order]),
            bytes(column(groups)),
            list(_chunked(columns)),
        )

    @property
    def columns(self) -> Columns:
        """Every row's columns, in rank order (loading every chunk they are in)."""
        slots = [self._slot(i) for i in range(len(self))]
        of = [self._chunk(slot // CHUNK) for slot in slots]
        data = (tuple(chunk[k][slot % CHUNK] for chunk, slot in zip(of, slots, strict=True)) for k in range(8))
        return Columns(self._places, self._ids, Slots._make(data))

    def _slot(self, i: int) -> int:
        return i if self._slots is None else self._slots[i]

    def _chunk(self, i: int) -> Slots:
        chunk = self._chunks[i]
        if isinstance(chunk, bytes):
            chunk = self._chunks[i] = pickle.loads(chunk)
        return chunk

    def _pickle(self, i: int) -> bytes:
        """A chunk's pickle: the one it was read from, or made now (not kept: a ranking in this process's store
        would hold each chunk twice)."""
        packed = self._pickled[i]
        return pickle.dumps(self._chunks[i], pickle.HIGHEST_PROTOCOL) if packed is None else packed

    @property
    def _loaded(self) -> list[int]:
        """The chunks loaded (a ranking read from the cache loads those of the rows read)."""
        return [i for i, chunk in enumerate(self._chunks) if not isinstance(chunk, bytes)]

    def __len__(self) -> int:
        return len(self._ids)

    @overload
    def __getitem__(self, index: int) -> Row: ...

    @overload
    def __getitem__(self, index: slice) -> Rows: ...

    def __getitem__(self, index: int | slice) -> Row | Rows:
        if isinstance(index, slice):
            picked = range(len(self))[index]
            return Rows(
                self.kpi,
                self.period,
                self.ranks,
                self._ids[index],
                self._places[index],
                [self._slot(i) for i in picked],
                self._scores[index],
                bytes(self._groups[i] for i in picked),
                self._chunks,
                self._pickled,
            )
        index = range(len(self))[index]  # a negative index counts from the end; past it raises IndexError
        slot = self._slot(index)
        c, k = self._chunk(slot // CHUNK), slot % CHUNK
        result = Result(self.kpi, self.period, c.value[k], c.numerator[k], c.denominator[k], c.reason[k], c.target[k])
        paced = c.pace[k]
        pace = None if paced is None else Pace(*paced)
        person, team = (self._ids[index], None) if self.ranks == "reps" else (None, self._ids[index])
        return Row(self._places[index], person, c.name[k], result, pace, team, c.fair[k])

    def __iter__(self) -> Iterator[Row]:
        return (self[index] for index in range(len(self)))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Rows):
            return NotImplemented
        mine, theirs = (self.kpi, self.period, self.ranks), (other.kpi, other.period, other.ranks)
        return mine == theirs and self.columns == other.columns

    __hash__ = None  # type: ignore[assignment]  # equal by value, like the list of rows it stands for

    def __reduce__(self) -> tuple[Callable[..., Rows], tuple[Any, ...]]:
        """Each sequence and each chunk goes in as a plain pickle: the answer cache's pickler (kpi/cache.py) asks
        its ``persistent_id`` in Python about every object, and a ranking of 10,000 reps has 100,000."""

        def plain(value: object) -> bytes:
            return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)

        chunks = tuple(map(self._pickle, range(len(self._chunks))))
        arrays = (self._ids, self._places, self._slots, self._scores)
        return (_unpickled, (self.kpi, self.period, self.ranks, *map(plain, arrays), self._groups, chunks))

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
        return any(
            self._chunk(slot // CHUNK).pace[slot % CHUNK] is not None for slot in map(self._slot, range(len(self)))
        )


def _shared(texts: list[str | None]) -> list[str | None]:
    """Equal texts as one object, which a pickle writes once and refers to after: 10,000 win rates are some 900
    values of 28 digits, 270 of a ranking's 800 KB in Redis as separate strings and 65 as shared ones."""
    one = dict(zip(texts, texts, strict=True))
    return list(map(one.__getitem__, texts))


def _chunked(columns: Sequence[Sequence[Any]]) -> list[Slots]:
    """Rows' own columns (:class:`Slots`' fields, in order) cut into chunks of :data:`CHUNK` slots."""
    rows = len(columns[0])
    return [Slots._make(tuple(c[i : i + CHUNK]) for c in columns) for i in range(0, rows, CHUNK)]


def _paced(pace: Pace | None) -> Paced | None:
    return None if pace is None else (pace.target, pace.attainment, pace.expected, pace.projection, pace.status)


def _unpickled(
    kpi: Kpi,
    period: Period,
    ranks: Ranks,
    ids: bytes,
    places: bytes,
    slots: bytes,
    scores: bytes,
    groups: bytes,
    chunks: tuple[bytes, ...],
) -> Rows:
    loads = pickle.loads
    return Rows(kpi, period, ranks, loads(ids), loads(places), loads(slots), loads(scores), groups, list(chunks))


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
    absent: tuple[str, ...] = ()  # the records the CRM had never supplied when it was measured (Measured.absent)

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
        scores, fair, grouped = placing(measured, paces, of_target)
        named = [i for _, _, i in sorted(zip(map(str.lower, names), measured.ids, range(len(measured)), strict=True))]
        groups = tuple([i for i in named if grouped[i] == group] for group in (FAIR, UNFAIR, UNSCORED))
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
        rows = Rows.of(measured, names, paces, ranks, order, places, fair, scores, grouped)
        board = cls(
            kpi, measured.period, scope, rows, currency, ranks, bottom, of_target, len(rows), absent=measured.absent
        )
        return board.seen_by(you, limit)

    def seen_by(self, you: int | None, limit: int | None = None) -> Leaderboard:
        """The whole board as one asker sees it: told their place (``you``: the id of their row, a person's or a
        team's), the first ``limit`` rows shown. One ranking serves every asker (kpi/cache.py keeps it)."""
        mine = self.rows.find(you) if you is not None else None
        return dataclasses.replace(self, rows=self.rows[:limit] if limit else self.rows, you=mine)

    def respliced(
        self, measured: Measured, name_of: Callable[[int], str], paces: Sequence[Pace | None] | None
    ) -> Leaderboard | None:
        """This whole ranking with the members of ``measured`` measured again (their data changed; ``paces`` theirs;
        ``name_of`` a member's id): each taken out and put back where :meth:`rank`'s rules place it, the others kept
        in their slots. The same as ranking every member again (tests/test_rankings.py), at the cost of those
        measured again: the rows kept are moved as whole sequences and share a place when they shared one before.
        None when what the CRM never supplied has changed (every row's reason would), or when the slots left behind
        would outnumber the rows: then it is ranked afresh."""
        old, kpi, n = self.rows, self.kpi, len(self.rows)
        if measured.absent != self.absent or (len(old._chunks) + 2) * CHUNK + len(measured) > 2 * n + 4 * CHUNK:
            return None
        best_first = (self.of_target or kpi.higher_is_better) != self.bottom
        paces = paces if paces is not None else [None] * len(measured)
        scores, fair, groups = placing(measured, paces, self.of_target)
        texts = [None if score is None else str(score) for score in scores]

        def named(id: int) -> tuple[str, int]:
            return name_of(id).lower(), id

        again = {id: i for i, id in enumerate(measured.ids)}
        kept = list(itertools.compress(range(n), map(operator.not_, map(again.__contains__, old._ids))))
        # The rows kept, by group: each group's rows follow the one before's in rank order, so each is a span of
        # ``kept`` (positions in rank order, ascending), bisected by score (:func:`~kpi.placing.key_of`), then name.
        ends = [bisect.bisect_left(kept, bisect.bisect_left(old._groups, group)) for group in (UNFAIR, UNSCORED)]
        spans = {FAIR: (0, ends[0]), UNFAIR: (ends[0], ends[1]), UNSCORED: (ends[1], len(kept))}
        keys = keyed(old._scores, best_first)
        # The final order as positions in the rows before, extended by those measured again (n + i): C-speed gathers
        order: list[int] = []
        arrived: list[int] = []  # where in ``order`` the rows measured again are
        taken = 0
        arriving = sorted((groups[i], key_of(scores[i], best_first), named(id), i) for id, i in again.items())
        for group, key, name, i in arriving:
            # by score first; among the rows of an equal score (hundreds share a count), and without one, by name
            lo, hi = spans[group]
            lo = max(lo, taken)
            if group != UNSCORED:  # those without a score are all equal
                lo = bisect.bisect_left(kept, key, lo, hi, key=keys)
                hi = bisect.bisect_right(kept, key, lo, hi, key=keys) if lo < hi and keys(kept[lo]) == key else lo
            at = bisect.bisect_left(kept, name, lo, hi, key=lambda p: named(old._ids[p]))
            order += kept[taken:at]
            arrived.append(len(order))
            order.append(n + i)
            taken = at
        order += kept[taken:]
        gather = gatherer(order)
        ids = gather((*old._ids, *measured.ids))
        free = len(old._chunks) * CHUNK  # the rows measured again go in new slots, after every chunk
        slots = gather((*(old._slots or range(n)), *range(free, free + len(measured))))
        scored = gather((*old._scores, *texts))
        grouping = gather((*old._groups, *groups))
        # A row kept shares the place of the row kept before it when they shared one before (those between, equal to
        # both, may have left); a row measured again compares its score with its neighbours'.
        before = gather((*old._places, *(-1 - i for i in range(len(measured)))))
        tied = [False, *map(operator.eq, before[:-1], before[1:])]
        for k in arrived:
            for j in (k, k + 1) if k + 1 < n else (k,):
                tied[j] = j > 0 and same_place(grouping[j - 1], scored[j - 1], grouping[j], scored[j])
        # each row not tied to the one before starts a place (tied[0] is False), which the tied rows after it share
        starts = list(itertools.compress(range(1, n + 1), map(operator.not_, tied)))
        runs = map(operator.sub, [*starts[1:], n + 1], starts)
        places = list(itertools.chain.from_iterable(map(itertools.repeat, starts, runs)))
        rows = Rows(
            kpi,
            self.period,
            self.ranks,
            ids,
            places,
            slots,
            scored,
            bytes(grouping),
            *self._appended(measured, name_of, fair, paces),
        )
        return dataclasses.replace(self, rows=rows, ranked=n, you=None)

    def _appended(
        self, measured: Measured, name_of: Callable[[int], str], fair: Sequence[bool], paces: Sequence[Pace | None]
    ) -> tuple[list[Slots | bytes], list[bytes | None]]:
        """The ranking's chunks and their pickles, with the rows of ``measured`` in new chunks after them: the
        slots they had are left unread, and no chunk is loaded or pickled again."""
        columns = (
            [name_of(id) for id in measured.ids],
            fair,
            measured.value,
            measured.numerator,
            measured.denominator,
            measured.reason,
            measured.target,
            [_paced(pace) for pace in paces],
        )
        added = _chunked(columns)
        return [*self.rows._chunks, *added], [*self.rows._pickled, *[None] * len(added)]

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
