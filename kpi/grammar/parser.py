"""The one producer of queries from human text, shared by `kpibot ask` and `/kpi`.

People ask "what's my win rate this quarter?", "top 5 reps by revenue", "how is West 1 doing", "what do I need
to hit quota", "my revenue vs last year". The grammar is generous with words and strict with meaning: it
finds, in this order,

1. a comparison ("vs last year", "compare ... to last quarter", "vs the team"), split off the end;
2. what is asked (a scorecard, the gap to a target, a ranking of people or of teams, from the top or the
   bottom, by attainment of target), from phrases in the lexicon;
3. the period (anything :mod:`kpi.periods` understands), the KPI (a key, label or alias; else a verb such
   as "win" or "close"), and the scope (my, my team, the company, a possessive, a known name);
4. filler ("what is", "please", "did"), which is dropped.

Whatever is left is a name to look up, or is reported with what was understood ("I understood *win rate* and
*this quarter*, but not *blorp*"). Every word is data (:mod:`kpi.grammar.lexicon`); this module only says in
which order they are looked for.

Reading happens in two steps: :func:`parse_question` splits the words (no directory needed, though known
names of several words are kept whole); :func:`to_query` looks the scope up and gives a typed query.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from kpi.catalog import Catalog, UnknownKpi, normalise
from kpi.directory import Directory, UnknownPerson, fold
from kpi.grammar.deals import DealAsk, deal_question
from kpi.grammar.lexicon import SLOT, Lexicon, Phrase, book, lexicon
from kpi.grammar.periods import parse_period, split_period
from kpi.grammar.queries import (
    Against,
    GapQuery,
    HelpQuery,
    LeaderboardQuery,
    ListQuery,
    Query,
    RecordsQuery,
    ScorecardQuery,
    ValueQuery,
)
from kpi.periods import Calendar, Period, PeriodError
from kpi.types import ME, MY_TEAM, WHOLE_ORG, Kpi, ScopeRef

Kind = Literal["value", "leaderboard", "scorecard", "gap", "records", "help", "list"]

#: The KPI a gap question is about when it names none ("what do I need to hit quota").
GAP_DEFAULT_KPI = "revenue"
#: Words left over that begin like a period ("last fortnight") are reported as a period not understood.
_PERIOD_START = re.compile(r"(last|this|next|past|previous|prev|prior|since|current)\b")
#: The most rows a "top N" may ask for.
MAX_LIMIT = 100


class NotUnderstood(LookupError):
    """Part of a question was not understood: the message says what was, and what was not."""

    def __init__(self, understood: Iterable[str], missing: str, hint: str = "") -> None:
        parts = [f"*{_clipped(part)}*" for part in understood if part]
        said = (", ".join(parts[:-1]) + " and " + parts[-1]) if len(parts) > 1 else "".join(parts)
        head = f"I understood {said}, but not {missing}." if said else f"I didn't understand {missing}."
        super().__init__(f"{head} {hint}".strip())


def _clipped(text: str, limit: int = 60) -> str:
    """Words quoted back to the asker, short enough to read (a question may be 3,000 characters)."""
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Ranking:
    """How a ranking was asked for: of people or of teams, from which end, how many rows, by what."""

    ranks: Literal["reps", "teams"] = "reps"
    bottom: bool = False
    limit: int | None = None
    of_target: bool = False


@dataclass(frozen=True)
class Question:
    """What the words of a question say, before any name is looked up."""

    kind: Kind
    kpi: Kpi | None = None
    period: Period | None = None
    scope: str = ""  # "my", "team", "org", a name, or "" when none was said
    period_words: str = ""  # the phrase that named the period, "" when the default applies
    ranking: Ranking | None = None  # how a leaderboard ranks
    against: Against | None = None
    understood: tuple[str, ...] = ()  # the phrases understood, in the asker's words, for messages
    deals: DealAsk | None = None  # what a question listing deals keeps


@dataclass
class _Word:
    text: str  # as typed
    at: int  # where it was in the question: what was understood is quoted back in the asker's order
    name: bool = False  # a known name of several words, kept whole

    @functools.cached_property
    def low(self) -> str:
        return fold(self.text)

    @functools.cached_property
    def normal(self) -> str:
        """As KPI names are compared (:func:`kpi.catalog.normalise`)."""
        return normalise(self.text)


@dataclass
class _Reading:
    """The words still to be read, and what was understood so far (in the asker's words)."""

    words: list[_Word]
    understood: list[tuple[int, str]] = field(default_factory=list)
    kpi_at: int = -1  # where in ``understood`` the KPI's name is

    def note(self, at: int, said: str) -> None:
        self.understood.append((at, said))

    def said(self) -> tuple[str, ...]:
        """What was understood, in the order the asker said it."""
        return tuple(text for _at, text in sorted(self.understood))

    def take(self, texts: frozenset[str], note: bool = True) -> tuple[Phrase, int] | None:
        """Remove the first phrase of ``texts`` found and return it with where it was. A phrase's slot keeps
        its words in place (they name the scope); a known name is never part of a phrase, only of a slot."""
        found = book(texts).find([w.low if not w.name else "\0" for w in self.words])
        if found is None:
            return None
        phrase, (start, end, (slot_start, slot_end)) = found
        if note:
            said = self.words[start:slot_start] + self.words[slot_end:end]
            self.note(said[0].at, " ".join(w.text for w in said))
        self.words = self.words[:start] + self.words[slot_start:slot_end] + self.words[end:]
        return phrase, start

    def take_all(self, texts: frozenset[str]) -> list[tuple[str, int]]:
        """Remove every phrase of ``texts``, in one pass; return each as said, with where it was."""
        taken: list[tuple[str, int]] = []
        lows = [w.low if not w.name else "\0" for w in self.words]
        at = 0
        while (found := book(texts).find(lows, at)) is not None:
            _phrase, (start, end, _slot) = found
            taken.append((" ".join(w.text for w in self.words[start:end]), self.words[start].at))
            del self.words[start:end], lows[start:end]
            at = start
        return taken

    def lows(self) -> list[str]:
        return [w.low for w in self.words]


_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "`": "'", "\u00a0": " "})
_CONTRACTIONS = {
    "what's": "what is",
    "whats": "what is",
    "how's": "how is",
    "hows": "how is",
    "who's": "who is",
    "whos": "who is",
    "i'm": "i am",
    "we're": "we are",
    "they're": "they are",
    "where's": "where is",
    "what're": "what are",
}


def _tokens(text: str) -> list[str]:
    """Words, with sentence punctuation dropped, contractions opened and possessives split ("alice's" →
    "alice", "'s")."""
    words: list[str] = []
    for raw in text.translate(_APOSTROPHES).split():
        word = raw.strip(',;!?"()[]{}')
        if word.endswith(".") and not word.endswith(".."):
            word = word.rstrip(".")
        if not word:
            continue
        low = word.lower()
        if low in _CONTRACTIONS:
            words.extend(_CONTRACTIONS[low].split())
        elif low.endswith("'s") and len(word) > 2 and "@" not in word:
            words.extend([word[:-2], "'s"])
        elif low.endswith("s'") and len(word) > 2:
            words.extend([word[:-1], "'s"])
        else:
            words.append(word)
    return words


def parse_question(
    text: str,
    catalog: Catalog,
    calendar: Calendar,
    as_of: dt.date,
    default_period: str,
    names: frozenset[str] = frozenset(),
) -> Question:
    """Split a question into what is asked, scope words, KPI and period.

    ``names``: people's and teams' names, so that one of several words ("West 1", "Mary Ann Lee") is read
    whole. Raises UnknownKpi, PeriodError or NotUnderstood."""
    lex = lexicon()
    tokens = _tokens(text)
    whole = " ".join(fold(t) for t in tokens)
    if whole in lex.help:
        return Question("help")
    if whole in lex.catalog:
        return Question("list")
    if (deals := deal_question(tokens, lex, catalog, calendar, as_of)) is not None:
        return Question("records", period=deals.period, scope=deals.scope, period_words=deals.period_words, deals=deals)
    reading = _Reading(_protect_names(tokens, names))
    kind: Kind = "value"
    against = _comparison(reading, lex, calendar, as_of)
    if reading.take(lex.scorecard):
        kind = "scorecard"
    elif reading.take(lex.gap):
        kind = "gap"
        reading.take_all(lex.gap)  # "how much more do I need ... to hit": one question, said twice
    ranking = _ranking(reading, lex)
    if ranking is not None:
        kind = "leaderboard" if kind == "value" else kind
    period, phrase = _period(reading, calendar, as_of)
    if kind == "gap":  # "my quota" names the target, not the quota-attainment KPI
        reading.take_all(lex.target_words)
    scope = _possessive(reading, lex)
    kpi = _kpi_span(reading, catalog)
    scope = scope or _scope_words(reading, lex)
    kpi = _verb(reading, lex, catalog, whole, kpi)
    if ranking is not None:
        reading.take_all(lex.ranks_reps)  # "top reps by revenue"; after the KPI, so that "sales per rep" stays one
    reading.take_all(lex.filler | lex.target_words | lex.amount_words | lex.count_words)
    left = [w.text for w in reading.words if not w.name]
    if left and _PERIOD_START.match(fold(left[0])):
        parse_period(" ".join(left), calendar, as_of)  # "last fortnight": raises the error listing what is understood
    kpi, scope = _leftover(reading, catalog, kpi, scope, kind)
    if kind == "scorecard" and kpi is not None:
        kind = "value"  # "how am I doing on calls": the one KPI, with its target and pace
    if kind == "gap" and kpi is None:
        kpi = catalog.lookup(GAP_DEFAULT_KPI)
    if kind in ("value", "leaderboard") and kpi is None:
        raise NotUnderstood(reading.said(), "which KPI", "Type `list` to see every KPI, or ask `my revenue`.")
    return Question(
        kind,
        kpi,
        period or parse_period(default_period, calendar, as_of),
        scope,
        phrase,
        ranking,
        against,
        reading.said(),
    )


def _ranking(reading: _Reading, lex: Lexicon) -> Ranking | None:
    """A ranking, if the words ask for one: of people or of teams, from which end, how many rows, by what."""
    found, bottom, limit = False, False, None
    for words, is_bottom in ((lex.ranking_bottom, True), (lex.ranking, False)):
        while (taken := reading.take(words)) is not None:
            found, bottom = True, bottom or is_bottom
            _phrase, at = taken
            if at < len(reading.words) and reading.words[at].text.isdigit():
                limit = max(1, min(int(reading.words[at].text), MAX_LIMIT))
                where, said = reading.understood.pop()
                reading.note(where, f"{said} {reading.words[at].text}")
                del reading.words[at]
    of_target = reading.take(lex.of_target) is not None
    teams = reading.take(lex.ranks_teams) is not None
    if not (found or teams or of_target):
        return None
    return Ranking("teams" if teams else "reps", bottom, limit, of_target)


def _comparison(reading: _Reading, lex: Lexicon, calendar: Calendar, as_of: dt.date) -> Against | None:
    """Split off "vs last year" / "compare X to last quarter" / "vs the team" and read what follows."""
    if (alone := reading.take(lex.compare_alone, note=False)) is not None:
        reading.note(alone[1], " ".join(alone[0]))
        return Against("year-ago")
    lows = reading.lows()
    cut = None
    if lows and lows[0] in lex.compare_start:
        del reading.words[0]
        lows = reading.lows()
        joiners = [i for i, low in enumerate(lows) if low in lex.compare_joiners and i > 0]
        cut = (joiners[-1], joiners[-1] + 1) if joiners else None
    else:
        at = 0
        while (found := book(lex.compare).find(lows, at)) is not None:
            _phrase, (start, end, _slot) = found
            if not _is_of_target(lows, start, lex):
                cut = (start, end)
                break
            at = start + 1
    if cut is None:
        return None
    other = reading.words[cut[1] :]
    reading.words = reading.words[: cut[0]]
    said = " ".join(w.text for w in other)
    words = " ".join(w.low for w in other)
    at = other[0].at if other else len(lows)
    if words in lex.team_words:
        reading.note(at, f"compared with {said}")
        return Against("team")
    if words in lex.year_ago:
        reading.note(at, f"compared with {said}")
        return Against("year-ago")
    try:
        parse_period(said, calendar, as_of)
    except PeriodError:
        raise NotUnderstood(
            reading.said(),
            f"what to compare with (*{_clipped(said)}*)",
            "Compare with a period (`my revenue vs last year`) or with your team (`my win rate vs the team`).",
        ) from None
    reading.note(at, f"compared with {said}")
    return Against("period", said)


def _is_of_target(lows: list[str], at: int, lex: Lexicon) -> bool:
    """ "against target" / "vs target" ranks by attainment: not a comparison."""
    found = book(lex.of_target).find(lows, at)
    return found is not None and found[1][0] == at


@functools.lru_cache(maxsize=8)
def _names_of_several_words(names: frozenset[str]) -> tuple[dict[str, str], int]:
    """Each name of several words by its folded words, and the most words a name has (read once per directory,
    not once per question)."""
    known: dict[str, str] = {}
    for name in names:
        parts = [fold(part) for part in _tokens(name)]
        if len(parts) > 1:
            known[" ".join(parts)] = name
    return known, max((len(key.split()) for key in known), default=0)


def _protect_names(tokens: list[str], names: frozenset[str]) -> list[_Word]:
    """Keep each known name of several words as one word, as the directory spells it, longest first ("West 1",
    "Mary Ann Lee", "West (Enterprise)" typed as "west enterprise")."""
    known, longest = _names_of_several_words(names)
    lows = [fold(t) for t in tokens]
    words: list[_Word] = []
    i = 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 1, -1):
            if (spelt := known.get(" ".join(lows[i : i + size]))) is not None:
                words.append(_Word(spelt, i, name=True))
                i += size
                break
        else:
            words.append(_Word(tokens[i], i))
            i += 1
    return words


def _period(reading: _Reading, calendar: Calendar, as_of: dt.date) -> tuple[Period | None, str]:
    """Take the period phrase out of the words (a known name is never part of one)."""
    texts = [w.text if not w.name else "\0" for w in reading.words]
    period, rest = split_period(texts, calendar, as_of)
    if period is None:
        return None, ""
    first = next((i for i, (a, b) in enumerate(zip(texts, rest, strict=False)) if a != b), len(rest))
    size = len(texts) - len(rest)
    phrase = " ".join(texts[first : first + size]).lower()
    reading.words = reading.words[:first] + reading.words[first + size :]
    reading.note(reading.words[first].at if first < len(reading.words) else len(texts), phrase)
    return period, phrase


def _possessive(reading: _Reading, lex: Lexicon) -> str:
    """ "alice's revenue", "West 1's pipeline", "my team's calls": the words before "'s" name the scope."""
    lows = reading.lows()
    if "'s" not in lows:
        return ""
    at = lows.index("'s")
    start = at
    while start > 0 and (reading.words[start - 1].name or lows[start - 1] not in _RESERVED - lex.scopes.words):
        start -= 1
    owner = reading.words[start:at]
    if not owner:
        return ""
    reading.words = reading.words[:start] + reading.words[at + 1 :]
    said = " ".join(w.text for w in owner)
    reading.note(owner[0].at, said)
    return _canonical_scope(said, lex)


def _canonical_scope(said: str, lex: Lexicon) -> str:
    low = fold(said)
    if low in lex.scopes.me:
        return "my"
    if low in lex.scopes.my_team:
        return "team"
    if low in lex.scopes.org:
        return "org"
    return said


def _kpi_span(reading: _Reading, catalog: Catalog) -> Kpi | None:
    """The longest run of words that is a KPI's key, label or alias (the later one when two are as long)."""
    words = reading.words
    spans = []
    for start in range(len(words)):
        said = ""
        for end in range(start + 1, min(len(words), start + catalog.max_words) + 1):
            if words[end - 1].name:
                break
            said = f"{said} {words[end - 1].normal}".strip()
            if said and not catalog.begins_a_name(said):
                break
            if catalog.lookup(said):
                spans.append((end - start, start, end))
    if not spans:
        return None
    _size, start, end = max(spans)
    said = " ".join(w.text for w in words[start:end])
    reading.kpi_at = len(reading.understood)
    reading.note(words[start].at, said)
    reading.words = words[:start] + words[end:]
    return catalog.lookup(said)


def _scope_words(reading: _Reading, lex: Lexicon) -> str:
    """Words that name a scope by themselves; a team or the company outweighs "I" ("how many deals did I win
    for my team")."""
    found = reading.take_all(lex.scopes.words)
    if not found:
        return ""
    canonical = [_canonical_scope(said, lex) for said, _at in found]
    strongest = next((c for c in ("org", "team") if c in canonical), "my")
    said, at = found[canonical.index(strongest)]
    reading.note(at, said)
    return strongest


def _verb(reading: _Reading, lex: Lexicon, catalog: Catalog, whole: str, named: Kpi | None) -> Kpi | None:
    """ "how many deals did I win" (deals-won), "how much did I close" (revenue): a verb names the KPI,
    unless one was ``named`` ("calls did I make": the verb is only taken out)."""
    asks_amount = book(lex.amount_words).find(whole.split()) is not None
    asks_count = book(lex.count_words).find(whole.split()) is not None
    said: list[tuple[int, str, str]] = []  # where, the verb as said, the KPI it names
    for verb in lex.verbs:
        key = (verb.amount if asks_amount else None) or (verb.count if asks_count else None) or verb.default
        said += [(at, text, key) for text, at in reading.take_all(verb.words)]
    if named is not None or not said:
        return named
    at, text, key = min(said)
    reading.note(at, f"{text} ({catalog[key].label.lower()})")
    return catalog[key]


def _leftover(reading: _Reading, catalog: Catalog, kpi: Kpi | None, scope: str, kind: Kind) -> tuple[Kpi | None, str]:
    """What no rule took: a name (the scope), a misspelt KPI, a period not understood, or words that are
    reported as not understood."""
    names = [w.text for w in reading.words if w.name]
    plain = [w.text for w in reading.words if not w.name]
    if len(names) > 1 or (names and scope not in ("", "team")):
        raise NotUnderstood(
            reading.said(), f"*{_clipped(' and '.join(names))}*", "Ask about one person or team at a time."
        )
    if names:
        scope = names[0]
    if not plain:
        return kpi, scope
    if kpi is None and kind in ("value", "leaderboard"):
        return _misspelt_kpi(plain, catalog, scope)
    if kpi is None and kind == "gap":  # "what does West need": a name, unless it is a misspelt KPI
        with contextlib.suppress(UnknownKpi):
            return _misspelt_kpi(plain, catalog, scope)
    if kpi is not None and (longer := _longer_misspelt(reading, plain, kpi, catalog)) is not None:
        return longer, scope  # "my wins rates": not "wins" and "rates", but win rate misspelt
    if scope == "team" and not names:
        return kpi, " ".join(plain)  # "team West revenue": the team called West
    if not scope:
        return kpi, " ".join(plain)
    raise NotUnderstood(reading.said(), f"*{_clipped(' '.join(plain))}*")


def _longer_misspelt(reading: _Reading, plain: list[str], found: Kpi, catalog: Catalog) -> Kpi | None:
    """Another KPI that the found name and the words left beside it spell together ("wins rates" is win rate
    misspelt, not "wins" and "rates"); the same KPI again means the words are something else (a name)."""
    at, said = reading.understood[reading.kpi_at]
    for text in (f"{said} {' '.join(plain)}", f"{' '.join(plain)} {said}"):
        with contextlib.suppress(UnknownKpi):
            if (kpi := catalog.find(text)) != found:
                reading.understood[reading.kpi_at] = (at, text)
                return kpi
    return None


def _misspelt_kpi(words: list[str], catalog: Catalog, scope: str) -> tuple[Kpi, str]:
    """A KPI name with a typo, perhaps beside a name ("alice revnue"): the whole, else a name then the KPI."""
    try:
        return catalog.find(" ".join(words)), scope
    except UnknownKpi:
        if scope or len(words) < 2:
            raise
        for cut in range(1, len(words)):
            try:
                return catalog.find(" ".join(words[cut:])), " ".join(words[:cut])
            except UnknownKpi:
                continue
        raise


def to_query(question: Question, directory: Directory) -> Query:
    """The typed query a question asks; names are looked up (raises NotUnderstood for a name nobody has)."""
    if question.kind == "help":
        return HelpQuery()
    if question.kind == "list":
        return ListQuery()
    period = question.period_words or None
    if question.deals is not None:
        return _deals_query(question.deals, period, directory)
    try:
        if question.kind == "scorecard":
            return ScorecardQuery(period, scope_ref(question.scope, directory))
        assert question.kpi is not None  # the parser names a KPI for every other kind
        if question.kind == "gap":
            return GapQuery(question.kpi, period, scope_ref(question.scope, directory))
        if question.kind == "leaderboard":
            ref, how = scope_ref(question.scope, directory, people=False), question.ranking or Ranking()
            return LeaderboardQuery(question.kpi, period, ref, how.ranks, how.bottom, how.limit, how.of_target)
        return ValueQuery(question.kpi, period, scope_ref(question.scope, directory), question.against)
    except UnknownPerson as unknown:
        understood = [part for part in question.understood if part != question.scope]
        hint = f"Did you mean {', '.join(unknown.suggestions)}?" if unknown.suggestions else ""
        raise NotUnderstood(
            understood, f"*{_clipped(question.scope)}*: I can't find anyone or any team called that", hint
        ) from None


def _deals_query(deals: DealAsk, period: str | None, directory: Directory) -> RecordsQuery:
    """The deals a question lists; the words before "'s" name a person or a team when someone is called so,
    else an account ("Acme's deals")."""
    scope, account = scope_ref(deals.scope, directory), None
    if deals.owner:
        try:
            scope = scope_ref(deals.owner, directory)
        except LookupError:  # UnknownPerson is one
            account = deals.owner
    return RecordsQuery("deals", deals.where, deals.time, period, scope, deals.stuck_days, account)


def scope_ref(words: str, directory: Directory, *, people: bool = True) -> ScopeRef:
    """Scope words as a reference: my, team, org, a team by name, else a person (raises UnknownPerson).
    Without ``people`` (a leaderboard ranks a team or the organisation, never one person) a name that is no
    team raises LookupError listing the teams."""
    text, scopes = fold(words.strip()), lexicon().scopes
    if not text or text in scopes.me:
        return ME
    if text in scopes.org:
        return WHOLE_ORG
    if text in scopes.my_team:
        return MY_TEAM
    team = directory.find_team(re.sub(r"^team ", "", text).strip())
    if team is not None:
        return ScopeRef("team", team.id, team.name)
    if not people:
        names = ", ".join(sorted(t.name for t in directory.teams.values())[:8])
        raise LookupError(f"I don't know the team '{words}'. Teams: {names}.")
    person = directory.find_person(words)
    return ScopeRef("person", person.id, person.name)


def _reserved(lex: Lexicon) -> frozenset[str]:
    """Every single word the lexicon gives a meaning to: never part of a name before "'s"."""
    texts = (
        lex.filler
        | lex.ranking
        | lex.ranking_bottom
        | lex.scorecard
        | lex.gap
        | lex.compare
        | lex.scope_joiners
        | lex.amount_words
        | lex.count_words
        | lex.target_words
        | lex.scopes.words
    )
    return frozenset(word for text in texts for word in text.split() if word != SLOT)


_RESERVED = _reserved(lexicon())
