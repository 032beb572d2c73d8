"""Questions that list deals rather than count them: "my open deals closing this month", "my biggest open deals",
"deals I won last week", "team deals stuck in stage for more than 30 days", "deals over 50k in my pipeline",
"show me Acme's deals".

A question is one when it names deals (``deal_lists.nouns`` in lexicon.yaml), asks for no quantity ("how many
deals": a count, the KPI) and names no KPI that holds the noun ("deals won", "lost deals": the KPIs). Then
every word must be understood, as a filter, an amount, days in stage, a period, a scope, an account before
"'s", or filler; a word left over means it is not a list of deals after all, and the question goes on to
the KPI grammar (which explains what it did not understand).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from kpi.catalog import Catalog, normalise
from kpi.directory import fold
from kpi.grammar.lexicon import Lexicon, book
from kpi.grammar.periods import split_period
from kpi.periods import Calendar, Period

#: 50k, $50,000, 1.5m, 250000: an amount after "over".
_AMOUNT = re.compile(r"^\$?(\d+(?:[.,]\d+)*)([km]?)$")
_SCALE = {"": 1, "k": 1_000, "m": 1_000_000}


@dataclass(frozen=True)
class DealAsk:
    """What a question listing deals says, before names are looked up."""

    where: dict[str, Any] = field(default_factory=dict)
    time: str | None = None
    period: Period | None = None
    period_words: str = ""
    scope: str = ""  # "my", "team", "org", or ""
    owner: str = ""  # the words before "'s" that are no scope: an account (or a person or team) by name
    stuck_days: int | None = None


def deal_question(
    tokens: list[str], lex: Lexicon, catalog: Catalog, calendar: Calendar, as_of: dt.date
) -> DealAsk | None:
    """The deals a question lists, or None when it is not such a question."""
    words = lex.deal_lists
    lows = [fold(token) for token in tokens]
    if not set(lows) & words.nouns or book(words.not_a_list).find(lows) or _names_a_kpi(lows, words.nouns, catalog):
        return None
    texts = list(tokens)
    where: dict[str, Any] = {}
    time, stuck = None, None

    def take(phrases: frozenset[str]) -> tuple[int, int] | None:
        found = book(phrases).find(lows)
        if found is None:
            return None
        start, end, _slot = found[1]
        del texts[start:end], lows[start:end]
        return start, end

    if (at := take(words.stuck)) is not None:
        if at[0] >= len(lows) or not lows[at[0]].isdigit():
            return None
        stuck, where = int(lows[at[0]]), {**where, **words.stuck_where}
        drop = 2 if at[0] + 1 < len(lows) and lows[at[0] + 1] in words.units else 1
        del texts[at[0] : at[0] + drop], lows[at[0] : at[0] + drop]
    if (at := take(words.over)) is not None:
        amount = _amount(lows[at[0]]) if at[0] < len(lows) else None
        if amount is None:
            return None
        where["amount"] = {">": amount}
        del texts[at[0]], lows[at[0]]
    for kept in words.filters:
        while take(kept.words) is not None:
            where, time = {**where, **kept.where}, kept.time or time
    period, rest = split_period(texts, calendar, as_of)
    first = next((i for i, (a, b) in enumerate(zip(texts, rest, strict=False)) if a != b), len(rest))
    phrase = " ".join(texts[first : first + len(texts) - len(rest)]).lower()
    lows = [fold(word) for word in rest]
    owner, scope = _possessive(lows, lex)
    scopes = [_scope(low, lex) for low in lows if low in lex.scopes.words]
    scope = scope or next((s for s in ("org", "team", "my") if s in scopes), "")
    meaningless = words.nouns | words.words | lex.filler | lex.scopes.words
    if any(low not in meaningless for low in lows):
        return None
    return DealAsk(where, time, period, phrase, scope, owner, stuck)


def _names_a_kpi(lows: list[str], nouns: frozenset[str], catalog: Catalog) -> bool:
    """Whether a run of the words holding a deal noun is a KPI's name ("deals won", "lost deals", "deal size")."""
    for start in range(len(lows)):
        for end in range(start + 1, min(len(lows), start + catalog.max_words) + 1):
            span = lows[start:end]
            if set(span) & nouns and catalog.lookup(normalise(" ".join(span))):
                return True
    return False


def _amount(word: str) -> Decimal | None:
    match = _AMOUNT.match(word.replace(",", ""))
    if match is None:
        return None
    return Decimal(match.group(1)) * _SCALE[match.group(2)]


def _scope(low: str, lex: Lexicon) -> str:
    return "my" if low in lex.scopes.me else "team" if low in lex.scopes.my_team else "org"


def _possessive(lows: list[str], lex: Lexicon) -> tuple[str, str]:
    """ "Acme's deals": the words before "'s" back to a word with a meaning, as (owner, "") or, for "my
    team's", ("", scope); they are taken out of ``lows``."""
    if "'s" not in lows:
        return "", ""
    at = lows.index("'s")
    start = at
    meaningful = lex.filler | lex.scopes.words | lex.deal_lists.nouns | lex.deal_lists.words
    while start > 0 and lows[start - 1] not in meaningful:
        start -= 1
    said = " ".join(lows[start:at])
    if not said:
        said = lows[at - 1] if at > 0 else ""
        start = max(at - 1, 0)
    del lows[start : at + 1]
    if said in lex.scopes.words:
        return "", _scope(said, lex)
    return said, ""
