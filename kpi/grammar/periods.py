"""Period phrases: the words people use for time ("last month", "2017-Q2", "ytd", "since october").

The grammar is a table of phrase families (:data:`_RULES`): one regular expression and one small builder
per family, plus the examples that :class:`~kpi.periods.PeriodError` shows when nothing matches. What a phrase
resolves to (a :class:`~kpi.periods.Period` of the fiscal calendar) lives in :mod:`kpi.periods`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from kpi.periods import (
    EARLIEST,
    LATEST,
    MONTH_NAMES,
    ONE_DAY,
    Calendar,
    Period,
    PeriodError,
    calendar_period,
    date_range,
    parse_iso,
    period_ahead,
)

#: A word that can be part of a period phrase (a number, a month, "last", "ytd"...): phrases without one are not
#: tried against the period rules. Generous on purpose: it only saves work.
PERIOD_WORD = re.compile(
    r"\d|\b(last|this|next|past|previous|prev|prior|since|ago|today|yesterday|week|month|quarter|half|year|days?|fy"
    r"|ytd|qtd|mtd|wtd|q[1-4]|h[12]|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec|so far|to date)"
)


#: Month names and abbreviations people type.
_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}


Builder = Callable[[re.Match[str], Calendar, dt.date], Period]

#: "fiscal" is a word people add ("this fiscal year", "last fiscal quarter"): quarters, halves and years here are
#: always the fiscal ones.
_UNIT = r"(?:fiscal )?(?P<unit>week|month|quarter|half|year|fy)"
_FY_YEAR = r"(?:fy ?-?)?(?P<year>\d{4})"
_DATE = r"\d{4}-\d{1,2}-\d{1,2}"
_RANGE_SEPARATOR = r" ?(?:to|\.\.|-|through|thru|until|till|and) ?"


def _unit(match: re.Match[str]) -> str:
    unit = match["unit"]
    return "year" if unit == "fy" else unit


def _day(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    if match["word"] == "today":
        return calendar_period("day", as_of, calendar, as_of, "today")
    return calendar_period("day", as_of - ONE_DAY, calendar, as_of, "yesterday")


def _this(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    unit = _unit(match)
    return calendar_period(unit, as_of, calendar, as_of, f"this {unit}")


def _last(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    unit = _unit(match)
    this_start = calendar.containing(unit, as_of)[0]
    return calendar_period(unit, this_start - ONE_DAY, calendar, as_of, f"last {unit}")


_TO_DATE = {"wtd": "week", "mtd": "month", "qtd": "quarter", "htd": "half", "ytd": "year"}


def _to_date(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    unit = _TO_DATE[match["abbr"]] if match["abbr"] else _unit(match)
    return calendar_period(unit, as_of, calendar, as_of, f"{unit} to date")


def _last_days(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    days = int(match["n"])
    if days < 1:
        raise PeriodError(f"'{match.group(0)}' is empty; ask for at least 1 day, e.g. last 7 days.")
    end = as_of + ONE_DAY
    label = f"last {days} day" if days == 1 else f"last {days} days"
    return Period(label, end - dt.timedelta(days=days), end, end, "range", calendar, _rolling=True)


def _month_number(match: re.Match[str]) -> int:
    if match["name"]:
        return _MONTHS[match["name"]]
    month = int(match["mm"])
    if not 1 <= month <= 12:
        raise PeriodError(f"{match.group(0)} is not a month; write months as YYYY-MM, e.g. 2017-03.")
    return month


def _month(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    month = _month_number(match)
    # Without a year: the most recent such month that has started.
    latest = as_of.year if month <= as_of.month else as_of.year - 1
    year = int(match["year"]) if match["year"] else latest
    return calendar_period("month", dt.date(year, month, 1), calendar, as_of)


def _year_name(match: re.Match[str]) -> int:
    if match["year"]:
        return int(match["year"])
    return 2000 + int(match["yy"])


def _year(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    return calendar_period("year", calendar.fiscal_year_start(_year_name(match)), calendar, as_of)


def _part(grain: str) -> Builder:
    """Builder for a fiscal quarter ("q3 2017") or half ("h1 2017"); without a year, the most recent one
    that has started (this fiscal year's if it has started, else last fiscal year's)."""

    def build(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
        number = int(match["n"])
        if match["year"]:
            name = int(match["year"])
        else:
            name = calendar.fiscal_year_name(as_of)
            if calendar.fiscal_part(grain, number, name) > as_of:
                name -= 1
        return calendar_period(grain, calendar.fiscal_part(grain, number, name), calendar, as_of)

    return build


def _next(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    unit = _unit(match)
    next_start = calendar.containing(unit, as_of)[1]
    return period_ahead(unit, next_start, calendar, f"next {unit}")


def _next_days(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    days = int(match["n"])
    if days < 1:
        raise PeriodError(f"'{match.group(0)}' is empty; ask for at least 1 day, e.g. next 7 days.")
    start = as_of + ONE_DAY
    end = start + dt.timedelta(days=days)
    label = "next day" if days == 1 else f"next {days} days"
    return Period(label, start, end, end, "range", calendar, ahead=True)


def _since(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    """From the start of any other period phrase ("october", "2017-10-15", "q3", "last month") to date."""
    recognised = _since_what(match)
    assert recognised is not None, "the rule accepts only what _since_what reads"
    rule, found = recognised
    start = rule.build(found, calendar, as_of).start
    return replace(date_range(start, as_of, calendar, as_of), label=f"since {_day_label(start)}")


def _since_what(match: re.Match[str]) -> tuple[_Rule, re.Match[str]] | None:
    """The period phrase after "since" (not another "since")."""
    recognised = _recognise(match["rest"])
    return None if recognised is None or recognised[0].build is _since else recognised


def _day_label(day: dt.date) -> str:
    return f"{MONTH_NAMES[day.month - 1]} {day.day}, {day.year}"


def _date(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    return calendar_period("day", parse_iso(match["date"]), calendar, as_of)


def _range(match: re.Match[str], calendar: Calendar, as_of: dt.date) -> Period:
    first, last = parse_iso(match["first"]), parse_iso(match["last"])
    if last < first:
        raise PeriodError(f"The period '{match.group(0)}' ends before it starts; put the earlier date first.")
    return date_range(first, last, calendar, as_of)


@dataclass(frozen=True)
class _Rule:
    family: str  # what the help message calls this kind of phrase
    examples: str
    patterns: tuple[str, ...]
    build: Builder
    #: Whether the words a pattern captured also read right ("since" takes only a period after it), so that a
    #: question's longer runs of words ("since q1 how many deals") are not mistaken for one phrase.
    accepts: Callable[[re.Match[str]], bool] = lambda found: True

    def match(self, text: str) -> re.Match[str] | None:
        for pattern in self.patterns:
            found = re.fullmatch(pattern, text)
            if found and self.accepts(found):
                return found
        return None


_RULES = (
    _Rule("a day", "today, yesterday", (r"(?P<word>today|yesterday)",), _day),
    _Rule(
        "the current period, to date",
        "this week, this month, this quarter, this half, this year",
        (rf"(?:this|current) {_UNIT}",),
        _this,
    ),
    _Rule(
        "the whole previous period",
        "last week, last month, last quarter, last fiscal year (or 'previous month', 'the past quarter')",
        (rf"(?:last|past|previous|prev|prior) {_UNIT}",),
        _last,
    ),
    _Rule(
        "ahead, for what can lie in the future (pipeline closing in it, meetings scheduled in it)",
        "next week, next month, next quarter, next 30 days",
        (rf"(?:next|coming) {_UNIT}",),
        _next,
    ),
    _Rule("the days ahead", "next 7 days, next 30 days", (r"(?:next|coming) (?P<n>\d+) days?",), _next_days),
    _Rule(
        "to date",
        "wtd, mtd, qtd, ytd, year to date",
        (r"(?P<abbr>wtd|mtd|qtd|htd|ytd)", rf"(?P<abbr>){_UNIT}[ -]to[ -]date"),
        _to_date,
    ),
    _Rule(
        "recent days, including today",
        "last 7 days, last 30 days, last 90 days, last N days",
        (r"(?:last|past) (?P<n>\d+) days?",),
        _last_days,
    ),
    _Rule(
        "a month",
        "march, mar, march 2017, mar 2017, 2017-03",
        (
            rf"(?P<name>{'|'.join(_MONTHS)})(?:,? (?P<year>\d{{4}}))?",
            r"(?P<name>)(?P<year>\d{4})[-/](?P<mm>\d{1,2})",
        ),
        _month,
    ),
    _Rule(
        "a fiscal quarter",
        "q3 (the latest q3), q3 2017, 2017-q3, fy2017 q3",
        (rf"q(?P<n>[1-4])(?:[ -]?{_FY_YEAR})?", rf"{_FY_YEAR}[ -]?q(?P<n>[1-4])"),
        _part("quarter"),
    ),
    _Rule(
        "a fiscal half",
        "h1 (the latest h1), h1 2017, 2017-h2",
        (rf"h(?P<n>[12])(?:[ -]?{_FY_YEAR})?", rf"{_FY_YEAR}[ -]?h(?P<n>[12])"),
        _part("half"),
    ),
    _Rule(
        "a fiscal year",
        "2017, fy2017, fy 2017, fy17",
        # A bare number is a year only from 1900 to 2099, so that "deals over 5000" keeps its amount.
        (r"(?P<year>(?:19|20)\d{2})", r"fy ?-?(?P<year>\d{4})", r"fy ?-?(?P<year>)(?P<yy>\d{2})"),
        _year,
    ),
    _Rule("a date", "2017-03-05", (rf"(?P<date>{_DATE})",), _date),
    _Rule(
        "from a day or the start of a period, to date",
        "since october, since 2017-03-05, since q3, since last month",
        (r"since (?P<rest>.+)",),
        _since,
        accepts=lambda found: _since_what(found) is not None,
    ),
    _Rule(
        "an inclusive range of dates",
        "2017-03-01 to 2017-03-15, from 2017-03-01 until 2017-03-15, 2017-03-01..2017-03-15",
        (rf"(?:from |between )?(?P<first>{_DATE}){_RANGE_SEPARATOR}(?P<last>{_DATE})",),
        _range,
    ),
)

#: Words that may introduce a period in a question ("revenue for last month", "calls in the last 7 days").
_LEADING_WORDS = re.compile(r"^(?:(?:in|for|during|over|of) )?(?:the )?")


def _normalise(text: str) -> str:
    """Lower-case, unify dashes and spaces, drop sentence punctuation and a leading preposition."""
    text = text.lower().replace("\u2013", "-").replace("\u2014", "-")
    text = " ".join(text.split()).strip(" ?!,;:")
    text = text.removesuffix(".") if not text.endswith("..") else text
    text = re.sub(r" ?\.\. ?", "..", text)
    text = re.sub(r" - ", "-", text)
    return _LEADING_WORDS.sub("", text, count=1)


@functools.lru_cache(maxsize=4096)
def _recognise(text: str) -> tuple[_Rule, re.Match[str]] | None:
    """The rule that reads ``text`` as a period (cached: a question tries many overlapping phrases)."""
    normal = _normalise(text)
    if not normal:
        return None
    for rule in _RULES:
        found = rule.match(normal)
        if found:
            return rule, found
    return None


def understood_phrases() -> str:
    """The help text listing every phrase family with examples (also used by the bot's help command)."""
    lines = [f"• {rule.family}: {rule.examples}" for rule in _RULES]
    return "I understand:\n" + "\n".join(lines)


def parse_period(text: str, calendar: Calendar, as_of: dt.date) -> Period:
    """Turn a period phrase into a :class:`Period` measured on ``as_of``.

    Raises :class:`PeriodError` when the phrase is not understood (the message lists what is), names an
    invalid date, or names a period that has not started on ``as_of``.
    """
    recognised = _recognise(text)
    if recognised is None:
        raise PeriodError(f"I don't understand the period '{text.strip()}'. {understood_phrases()}")
    rule, found = recognised
    try:
        period = rule.build(found, calendar, as_of)
    except PeriodError:
        raise
    except (ValueError, OverflowError) as exc:  # a year out of range, e.g. "fy0001" with an April start
        raise PeriodError(f"The period '{text.strip()}' is outside the calendar ({exc}).") from None
    if period.start < EARLIEST or period.full_end > LATEST:
        raise PeriodError(
            f"The period '{text.strip()}' is out of range: kpibot answers for dates from {EARLIEST.year} "
            f"to {LATEST.year - 1}."
        )
    return period


#: No period phrase is longer ("for the fiscal year to date" has 6 words); bounds the work on long messages.
_MAX_PHRASE_WORDS = 8


def split_period(words: list[str], calendar: Calendar, as_of: dt.date) -> tuple[Period | None, list[str]]:
    """Find a period phrase inside a list of words of a question (e.g. ["team","revenue","last","month"]):
    try the longest run of consecutive words that parses as a period (prefer runs at the end of the list);
    return (period, the remaining words in order) or (None, words) when none parses. Words are already
    lower-cased or not: be case-insensitive.

    A run that is recognised as a period but cannot be used ("2019-q1" before 2019) raises
    :class:`PeriodError` rather than being left among the words, so the person learns why.
    """
    count = len(words)
    hinted = [PERIOD_WORD.search(word.lower()) is not None for word in words]
    for length in range(min(count, _MAX_PHRASE_WORDS), 0, -1):
        for first in range(count - length, -1, -1):
            if not any(hinted[first : first + length]):
                continue  # no word of a period: not worth the rules
            phrase = " ".join(words[first : first + length])
            if _recognise(phrase) is not None:
                period = parse_period(phrase, calendar, as_of)
                return period, words[:first] + words[first + length :]
    return None, list(words)
