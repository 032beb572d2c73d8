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

from kpi.catalog import Catalog, Kpi
from kpi.periods import Calendar, Period, PeriodError, parse_period, split_period

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
    """Find the KPI inside the words: what comes before it is the scope, what follows is left over.

    "for/of/by NAME" after the KPI is a scope too ("win rate for alice").
    """
    lowered = [w.lower() for w in words]
    for joiner in SCOPE_JOINERS:
        if joiner in lowered[1:]:
            at = len(lowered) - 1 - lowered[::-1].index(joiner)
            if catalog.lookup(" ".join(words[:at])):
                return " ".join(words[at + 1 :]), words[:at], []
    for start in range(len(words)):
        for end in range(len(words), start, -1):
            if catalog.lookup(" ".join(words[start:end])):
                return " ".join(words[:start]), words[start:end], words[end:]
    # No exact name: the first word is scope when it looks like one, the rest is a (misspelt) KPI.
    if len(words) > 1 and _looks_like_scope(lowered[0]):
        return words[0], words[1:], []
    return "", words, []


def _looks_like_scope(word: str) -> bool:
    return word in {"my", "team", "org", "company", "all", "everyone"} or word.startswith("@") or "@" in word
