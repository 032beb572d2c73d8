"""The one producer of queries from human text, shared by `kpibot ask` and `/kpi`.

    [leaderboard] [SCOPE] KPI [PERIOD]        or        [leaderboard] KPI [PERIOD] for SCOPE

SCOPE is ``my`` (the default), ``team``, ``org`` (also company, all, everyone), a person (name, first name,
email or @handle) or a team by name. KPI is a key, label or alias, typos tolerated. PERIOD is anything
kpi.periods understands; without one, ``org.default_period`` applies. The words are data
(:mod:`kpi.grammar.lexicon`).

Reading happens in two steps: :func:`parse_question` splits the words into kind, scope words, KPI and
period (no directory needed); :func:`to_query` looks the scope words up and gives a typed query.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from kpi.catalog import Catalog
from kpi.directory import Directory
from kpi.grammar.lexicon import lexicon
from kpi.grammar.queries import HelpQuery, LeaderboardQuery, ListQuery, Query, ValueQuery
from kpi.periods import PERIOD_WORD, Calendar, Period, PeriodError, parse_period, split_period
from kpi.types import ME, MY_TEAM, WHOLE_ORG, Kpi, ScopeRef


@dataclass(frozen=True)
class Question:
    """What the words of a question say, before any name is looked up."""

    kind: Literal["value", "leaderboard", "help", "list"]
    kpi: Kpi | None = None
    period: Period | None = None
    scope: str = ""
    period_words: str = ""  # the phrase that named the period, "" when the default applies


def parse_question(text: str, catalog: Catalog, calendar: Calendar, as_of: dt.date, default_period: str) -> Question:
    """Split a question into kind, scope words, KPI and period; raise UnknownKpi or PeriodError."""
    words = text.replace("\u00a0", " ").split()
    lowered = " ".join(words).lower()
    lex = lexicon()
    if lowered in lex.help:
        return Question("help")
    if lowered in lex.catalog:
        return Question("list")
    kind: Literal["value", "leaderboard"] = "value"
    if words and words[0].lower() in lex.ranking:
        kind, words = "leaderboard", words[1:]
    before = words
    period, words = split_period(words, calendar, as_of)
    phrase = _removed_run(before, words) if period is not None else ""
    scope, kpi_words, leftover = _split_scope_and_kpi(words, catalog)
    if leftover:
        parse_period(" ".join(leftover), calendar, as_of)  # raises the helpful PeriodError
        raise PeriodError(f"I don't understand '{' '.join(leftover)}' in your question.")
    kpi = catalog.find(" ".join(kpi_words))
    return Question(kind, kpi, period or parse_period(default_period, calendar, as_of), scope, phrase)


def to_query(question: Question, directory: Directory) -> Query:
    """The typed query a question asks; names are looked up (raises UnknownPerson, or LookupError for a
    leaderboard of a team that does not exist)."""
    if question.kind == "help":
        return HelpQuery()
    if question.kind == "list":
        return ListQuery()
    assert question.kpi is not None  # a value or leaderboard question always names its KPI
    period = question.period_words or None
    if question.kind == "leaderboard":
        return LeaderboardQuery(question.kpi, period, scope_ref(question.scope, directory, people=False))
    return ValueQuery(question.kpi, period, scope_ref(question.scope, directory))


def scope_ref(words: str, directory: Directory, *, people: bool = True) -> ScopeRef:
    """Scope words as a reference: my, team, org, a team by name, else a person (raises UnknownPerson).
    Without ``people`` (a leaderboard ranks a team or the organisation, never one person) a name that is no
    team raises LookupError listing the teams."""
    text, scopes = words.strip().lower(), lexicon().scopes
    if not text or text in scopes.me:
        return ME
    if text in scopes.org:
        return WHOLE_ORG
    if text in scopes.my_team:
        return MY_TEAM
    team = directory.find_team(text.removeprefix("team ").strip())
    if team is not None:
        return ScopeRef("team", team.id, team.name)
    if not people:
        names = ", ".join(sorted(t.name for t in directory.teams.values())[:8])
        raise LookupError(f"I don't know the team '{words}'. Teams: {names}.")
    person = directory.find_person(text)
    return ScopeRef("person", person.id, person.name)


def _split_scope_and_kpi(words: list[str], catalog: Catalog) -> tuple[str, list[str], list[str]]:
    """Find the KPI inside the words: before it is the scope, after it a scope ("revenue for alice",
    "revenue org") or words that are left over (an unknown period, reported as such).
    """
    lex = lexicon()
    lowered = [w.lower() for w in words]
    longest = catalog.max_words  # spans no longer than a name: linear in the words, not cubic
    exact = [
        (start, end)
        for start in range(len(words))
        for end in range(min(len(words), start + longest), start, -1)
        if catalog.lookup(" ".join(words[start:end]))
    ]
    for start, end in sorted(exact, key=lambda span: (span[1] != len(words), span[0], -span[1])):
        before, after = " ".join(words[:start]), lowered[end:]
        if not after:
            return before, words[start:end], []
        if after[0] in lex.scope_joiners and not before:
            return " ".join(words[end + 1 :]), words[start:end], []
        if " ".join(after) in lex.scopes.words and not before:
            return " ".join(words[end:]), words[start:end], []
        if _looks_like_period(after):
            return before, words[start:end], words[end:]
    # No exact name: the first word is scope when it looks like one, the rest is a (misspelt) KPI.
    if len(words) > 1 and _looks_like_scope(lowered[0]):
        return words[0], words[1:], []
    return "", words, []


def _removed_run(before: list[str], after: list[str]) -> str:
    """The consecutive words ``split_period`` took out of ``before`` to leave ``after``."""
    first = next((i for i, (a, b) in enumerate(zip(before, after, strict=False)) if a != b), len(after))
    return " ".join(before[first : first + len(before) - len(after)])


def _looks_like_period(words: list[str]) -> bool:
    return bool(PERIOD_WORD.search(" ".join(words)))


def _looks_like_scope(word: str) -> bool:
    return word in lexicon().scopes.words or word.startswith("@") or "@" in word
