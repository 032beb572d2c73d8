"""The question grammar shared by `kpibot ask` and `/kpi`.

    [leaderboard] [SCOPE] KPI [PERIOD]        or        [leaderboard] KPI [PERIOD] for SCOPE

SCOPE is ``my`` (the default), ``team``, ``org`` (also company, all, everyone), a person (name, first name,
email or @handle) or a team by name. KPI is a key, label or alias, typos tolerated. PERIOD is anything
kpi.periods understands; without one, ``org.default_period`` applies.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

from kpi.catalog import Catalog
from kpi.periods import PERIOD_WORD, Calendar, Period, PeriodError, parse_period, split_period
from kpi.types import Kpi

LEADERBOARD_WORDS = {"leaderboard", "leaderboards", "top", "rank", "ranking", "leaders"}
HELP_WORDS = {"", "help", "?", "how", "usage"}
LIST_WORDS = {"list", "kpis", "catalog", "metrics", "list kpis"}
SCOPE_JOINERS = {"for", "of", "by"}

EXAMPLES = [
    "my win-rate",
    "team revenue last month",
    "org pipeline 2017-Q2",
    "alice calls this week",
    "leaderboard calls this week",
    "leaderboard revenue org last quarter",
    "avg deal size from 2017-03-01 to 2017-03-15",
]


@dataclass(frozen=True)
class Question:
    kind: Literal["value", "leaderboard", "help", "list"]
    kpi: Kpi | None = None
    period: Period | None = None
    scope: str = ""


def parse_question(text: str, catalog: Catalog, calendar: Calendar, as_of: dt.date, default_period: str) -> Question:
    """Split a question into kind, scope words, KPI and period; raise UnknownKpi or PeriodError."""
    words = text.replace("\u00a0", " ").split()
    lowered = " ".join(words).lower()
    if lowered in HELP_WORDS:
        return Question("help")
    if lowered in LIST_WORDS:
        return Question("list")
    kind: Literal["value", "leaderboard"] = "value"
    if words and words[0].lower() in LEADERBOARD_WORDS:
        kind, words = "leaderboard", words[1:]
    period, words = split_period(words, calendar, as_of)
    scope, kpi_words, leftover = _split_scope_and_kpi(words, catalog)
    if leftover:
        parse_period(" ".join(leftover), calendar, as_of)  # raises the helpful PeriodError
        raise PeriodError(f"I don't understand '{' '.join(leftover)}' in your question.")
    kpi = catalog.find(" ".join(kpi_words))
    return Question(kind, kpi, period or parse_period(default_period, calendar, as_of), scope)


def _split_scope_and_kpi(words: list[str], catalog: Catalog) -> tuple[str, list[str], list[str]]:
    """Find the KPI inside the words: before it is the scope, after it a scope ("revenue for alice",
    "revenue org") or words that are left over (an unknown period, reported as such).
    """
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
        if after[0] in SCOPE_JOINERS and not before:
            return " ".join(words[end + 1 :]), words[start:end], []
        if " ".join(after) in SCOPE_WORDS and not before:
            return " ".join(words[end:]), words[start:end], []
        if _looks_like_period(after):
            return before, words[start:end], words[end:]
    # No exact name: the first word is scope when it looks like one, the rest is a (misspelt) KPI.
    if len(words) > 1 and _looks_like_scope(lowered[0]):
        return words[0], words[1:], []
    return "", words, []


SCOPE_WORDS = {"my", "team", "my team", "org", "company", "all", "everyone", "organisation", "organization"}


def _looks_like_period(words: list[str]) -> bool:
    return bool(PERIOD_WORD.search(" ".join(words)))


def _looks_like_scope(word: str) -> bool:
    return word in SCOPE_WORDS or word.startswith("@") or "@" in word


def with_period(text: str, period: str, calendar: Calendar, as_of: dt.date) -> str:
    """The same question for another period: "my win-rate 2017-Q2" + "this month" -> "my win-rate this month"."""
    _, words = split_period(text.split(), calendar, as_of)
    return " ".join([*words, period])
