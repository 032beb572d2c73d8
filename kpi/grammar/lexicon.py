"""The grammar's words, loaded once from ``lexicon.yaml``: adding a word is a data change, not a code change."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

from kpi.config import Strict, read_yaml

LEXICON = Path(__file__).with_name("lexicon.yaml")

#: In a phrase, stands for one to four words that are kept ("how is ... doing" keeps the scope).
SLOT = "..."

Phrase = tuple[str, ...]
#: Where a phrase was found in a list of words: start, end, and the slot's range (empty without a slot).
Match = tuple[int, int, tuple[int, int]]


class Phrasebook:
    """Phrases indexed by their first word, so that finding them is one pass over a question's words."""

    def __init__(self, texts: frozenset[str]) -> None:
        self.by_first: dict[str, list[Phrase]] = {}
        for phrase in sorted((tuple(t.split()) for t in texts if t.strip()), key=lambda p: (-len(p), p)):
            self.by_first.setdefault(phrase[0], []).append(phrase)

    def find(self, lows: list[str], start: int = 0) -> tuple[Phrase, Match] | None:
        """The first phrase in ``lows`` from ``start`` (the longest where two begin at the same word)."""
        for at in range(start, len(lows)):
            for phrase in self.by_first.get(lows[at], ()):
                match = _match_at(lows, at, phrase)
                if match is not None:
                    return phrase, match
        return None


def _match_at(lows: list[str], at: int, phrase: Phrase) -> Match | None:
    cut = phrase.index(SLOT) if SLOT in phrase else len(phrase)
    head, tail = phrase[:cut], phrase[cut + 1 :]
    slot_start = at + len(head)
    if tuple(lows[at:slot_start]) != head:
        return None
    if cut == len(phrase):
        return at, slot_start, (slot_start, slot_start)
    for slot_end in range(slot_start + 1, min(len(lows), slot_start + 4) + 1):
        if tuple(lows[slot_end : slot_end + len(tail)]) == tail:
            return at, slot_end + len(tail), (slot_start, slot_end)
    return None


@functools.cache
def book(texts: frozenset[str]) -> Phrasebook:
    return Phrasebook(texts)


class Scopes(Strict):
    """Words that name a scope by themselves, by what they mean."""

    me: frozenset[str]
    my_team: frozenset[str]
    org: frozenset[str]

    @property
    def words(self) -> frozenset[str]:
        return self.me | self.my_team | self.org


class Form(Strict):
    """A form of question, for help: what it is, how it is put, and examples (shown to those they work for)."""

    name: str
    syntax: str
    examples: tuple[str, ...]


class Verb(Strict):
    """Verbs of one event, and the KPI they name when a question asks how much, how many, or neither."""

    words: frozenset[str]
    amount: str | None = None
    count: str | None = None
    default: str


class DealFilter(Strict):
    """Words that keep some deals: a ``where`` over the deals model and the time column the period bounds."""

    words: frozenset[str]
    where: dict[str, Any] = {}
    time: str | None = None


class DealLists(Strict):
    """The words of a question that lists deals (see lexicon.yaml, ``deal_lists``)."""

    nouns: frozenset[str]
    not_a_list: frozenset[str]
    filters: tuple[DealFilter, ...]
    over: frozenset[str]
    stuck: frozenset[str]
    stuck_where: dict[str, Any]
    units: frozenset[str]
    words: frozenset[str]


class Lexicon(Strict):
    help: frozenset[str]
    catalog: frozenset[str]
    scorecard: frozenset[str]
    gap: frozenset[str]
    target_words: frozenset[str]
    ranking: frozenset[str]
    ranking_bottom: frozenset[str]
    ranks_teams: frozenset[str]
    ranks_reps: frozenset[str]
    of_target: frozenset[str]
    compare: frozenset[str]
    compare_start: frozenset[str]
    compare_alone: frozenset[str]
    compare_joiners: frozenset[str]
    year_ago: frozenset[str]
    team_words: frozenset[str]
    scope_joiners: frozenset[str]
    scopes: Scopes
    verbs: tuple[Verb, ...]
    amount_words: frozenset[str]
    count_words: frozenset[str]
    deal_lists: DealLists
    filler: frozenset[str]
    forms: tuple[Form, ...]
    examples: tuple[str, ...]


@functools.cache
def lexicon() -> Lexicon:
    return Lexicon.model_validate(read_yaml(LEXICON))
