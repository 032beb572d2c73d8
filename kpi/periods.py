"""Periods and the fiscal calendar: what "2017-Q2" or "this month" covers, once a phrase has been read.

Every KPI answer is about a period, so this module is the single place that decides what a period phrase
means. The rules come from the "Time rules" of KPIS.md:

* A period is a half-open interval ``[start, end)`` of local days in the organisation's time zone; it is
  shown to people with inclusive dates ("2017-04-01 to 2017-06-30").
* Fiscal quarters, halves and years start at ``fiscal_year_start_month``. When that is not January, a fiscal
  year is named by the calendar year in which it *ends*: with an April start, FY2017 is 2016-04-01 to
  2017-03-31 and "2017-Q1" is 2016-04-01 to 2016-06-30. Months and weeks are always calendar months and weeks.
* A period that is still running on the as-of day is measured *to date*: ``end`` is the day after the
  as-of day, while ``full_end`` keeps the end of the whole calendar period for targets and pacing.
* Everything depends on an explicit as-of day so that every answer is reproducible.

The words people use for periods ("last month", "since october", "ytd") are read by
:mod:`kpi.grammar.periods`; this module holds what they resolve to.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from kpi.config import WEEKDAYS

if TYPE_CHECKING:
    from kpi.config import OrgConfig

ONE_DAY = dt.timedelta(days=1)

#: The dates a period may cover: wide enough for any CRM's history and plans, narrow enough that a period, its
#: previous period and a trailing year stay inside the calendar (year 1 has no previous period).
EARLIEST, LATEST = dt.date(1900, 1, 1), dt.date(2200, 1, 1)

#: Length in months of each calendar grain measured in months; used to step back to the previous period.
_GRAIN_MONTHS = {"month": 1, "quarter": 3, "half": 6, "year": 12}

#: English month names for labels (not strftime's %B, which follows the process locale).
MONTH_NAMES = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def utc_midnight(day: dt.date, tz: dt.tzinfo) -> dt.datetime:
    """Local midnight starting ``day``, as the naive UTC datetime the database stores."""
    return dt.datetime.combine(day, dt.time(0), tzinfo=tz).astimezone(dt.UTC).replace(tzinfo=None)


def utc_now() -> dt.datetime:
    """The present as the naive UTC datetime the database stores."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


class PeriodError(ValueError):
    """A period phrase that cannot be used; the message is written for the person who typed it."""


# --------------------------------------------------------------------------------------------------------
# Date arithmetic


def _add_months(day: dt.date, months: int) -> dt.date:
    """Move ``day`` by whole calendar months, clamping the day of month (03-31 minus one month = 02-28).

    Months and quarters are compared by calendar, not by day counts, so every shift goes through here.
    """
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = _stdlib_calendar.monthrange(year, month + 1)[1]
    return dt.date(year, month + 1, min(day.day, last))


def _iso(day: dt.date) -> str:
    return day.isoformat()


def parse_iso(text: str) -> dt.date:
    """Read YYYY-MM-DD (one-digit month and day tolerated, as people type them)."""
    try:
        year, month, day = (int(part) for part in text.split("-"))
        return dt.date(year, month, day)
    except ValueError:
        raise PeriodError(f"{text} is not a valid date; write dates as YYYY-MM-DD, e.g. 2017-03-05.") from None


# --------------------------------------------------------------------------------------------------------
# Calendar


@dataclass(frozen=True)
class Calendar:
    """The organisation's time zone, fiscal year start and week start: everything a period depends on."""

    tz: zoneinfo.ZoneInfo
    fiscal_year_start_month: int = 1  # 1 = January
    week_start: int = 0  # 0 = Monday ... 6 = Sunday

    def __post_init__(self) -> None:
        if not 1 <= self.fiscal_year_start_month <= 12:
            raise ValueError(f"fiscal_year_start_month must be 1..12, not {self.fiscal_year_start_month}")
        if not 0 <= self.week_start <= 6:
            raise ValueError(f"week_start must be 0 (Monday) .. 6 (Sunday), not {self.week_start}")

    @classmethod
    def from_org(cls, org: OrgConfig) -> Calendar:
        """Build the calendar from ``org.yaml`` settings (``week_start`` is a lowercase weekday name)."""
        return cls(
            tz=zoneinfo.ZoneInfo(org.timezone),
            fiscal_year_start_month=org.fiscal_year_start_month,
            week_start=WEEKDAYS.index(org.week_start.lower()),
        )

    def today(self) -> dt.date:
        """Today in the calendar's time zone: the default as-of day (the server's clock may be elsewhere)."""
        return dt.datetime.now(self.tz).date()

    # Fiscal arithmetic. A fiscal year is identified by its *name* (the year in which it ends, or the
    # calendar year when the fiscal year starts in January).

    def fiscal_year_start(self, name: int) -> dt.date:
        """First day of the fiscal year called ``name`` (FY2017 starts 2016-04-01 with an April start)."""
        shift = 0 if self.fiscal_year_start_month == 1 else 1
        return dt.date(name - shift, self.fiscal_year_start_month, 1)

    def fiscal_year_name(self, day: dt.date) -> int:
        """Name of the fiscal year that contains ``day``."""
        start_year = day.year if day.month >= self.fiscal_year_start_month else day.year - 1
        return start_year if self.fiscal_year_start_month == 1 else start_year + 1

    def week_start_of(self, day: dt.date) -> dt.date:
        return day - dt.timedelta(days=(day.weekday() - self.week_start) % 7)

    def containing(self, grain: str, day: dt.date) -> tuple[dt.date, dt.date, str]:
        """The calendar period of ``grain`` that contains ``day``: ``(start, full_end, canonical label)``.

        Used both to build periods and to find the previous one (the period containing ``start - 1``), so
        that labels are always the same for the same period.
        """
        if grain == "day":
            return day, day + ONE_DAY, _iso(day)
        if grain == "week":
            start = self.week_start_of(day)
            return start, start + dt.timedelta(days=7), f"week of {_iso(start)}"
        if grain == "month":
            start = day.replace(day=1)
            return start, _add_months(start, 1), f"{MONTH_NAMES[start.month - 1]} {start.year}"
        name = self.fiscal_year_name(day)
        year_start = self.fiscal_year_start(name)
        if grain == "year":
            return year_start, _add_months(year_start, 12), f"FY{name}"
        months_in = (day.month - self.fiscal_year_start_month) % 12
        size = _GRAIN_MONTHS[grain]
        number = months_in // size + 1
        start = _add_months(year_start, (number - 1) * size)
        label = f"{name}-Q{number}" if grain == "quarter" else f"H{number} {name}"
        return start, _add_months(start, size), label

    def fiscal_part(self, grain: str, number: int, name: int) -> dt.date:
        """First day of quarter/half ``number`` of fiscal year ``name``."""
        return _add_months(self.fiscal_year_start(name), (number - 1) * _GRAIN_MONTHS[grain])


# --------------------------------------------------------------------------------------------------------
# Period


@dataclass(frozen=True)
class Period:
    """A measured span of local days ``[start, end)`` inside a calendar period ``[start, full_end)``.

    ``end`` is what KPIs count (cut to the as-of day for a period still running); ``full_end`` is where the
    calendar period ends, which targets and pacing need ("62% of the quarter's target with 40% of the
    quarter gone"). ``label`` is how people name the period and is shown in answers.
    """

    label: str
    start: dt.date
    end: dt.date
    full_end: dt.date
    grain: str  # "day" | "week" | "month" | "quarter" | "half" | "year" | "range"
    calendar: Calendar
    # How a "range" period steps back in previous(): by whole months (trailing(), value = months) or,
    # when 0, by its number of days. ``_rolling`` marks "last N days", whose previous period is labelled
    # "previous N days". Internal: callers never pass these.
    _months: int = field(default=0, repr=False, compare=False)
    _rolling: bool = field(default=False, repr=False, compare=False)
    #: A period that starts after the as-of day ("next quarter"), measured whole: only KPIs that can lie in the
    #: future (the catalog's ``ahead:``) have a value for one.
    ahead: bool = False

    @property
    def to_date(self) -> bool:
        """True when only part of the calendar period is measured (it was still running on the as-of day)."""
        return self.end < self.full_end

    def utc_bounds(self) -> tuple[dt.datetime, dt.datetime]:
        """start 00:00 local and end 00:00 local, converted to NAIVE UTC datetimes (tzinfo=None).

        The database stores naive UTC timestamps; converting each bound separately keeps DST right (a day
        in spring is 23 hours long).
        """
        return self._utc_midnight(self.start), self._utc_midnight(self.end)

    def _utc_midnight(self, day: dt.date) -> dt.datetime:
        return utc_midnight(day, self.calendar.tz)

    def dates(self) -> str:
        """Inclusive display of the measured days: "2017-04-01 to 2017-06-30", or one date for one day."""
        last = self.end - ONE_DAY
        return _iso(self.start) if last == self.start else f"{_iso(self.start)} to {_iso(last)}"

    def contains(self, day: dt.date) -> bool:
        """Whether ``day`` is one of the measured days."""
        return self.start <= day < self.end

    def previous(self) -> Period:
        """The comparable period just before this one ("vs last quarter").

        Calendar periods step back one period (Q2 -> Q1, March -> February, week -> week). A period cut to
        date is compared with the previous period cut at the same point: by calendar for month-based grains
        (03-01..03-15 -> 02-01..02-15, clamped to the previous period's end, so 03-01..03-31 -> all of
        February), by day count for weeks. Ranges step back by their own length in days (or in months for
        :meth:`trailing`).
        """
        whole = self.previous_whole()
        if self.grain == "range" or not self.to_date:
            return whole
        start, full_end = whole.start, whole.full_end
        if self.grain in _GRAIN_MONTHS:
            last = _add_months(self.end - ONE_DAY, -_GRAIN_MONTHS[self.grain])
            end = min(last + ONE_DAY, full_end)
        else:
            end = min(start + (self.end - self.start), full_end)
        label = f"{whole.label} through {_iso(end - ONE_DAY)}" if end < full_end else whole.label
        return Period(label, start, end, full_end, self.grain, self.calendar)

    def previous_whole(self) -> Period:
        """The whole period just before this one, even when this one is cut to date (for KPIs measured on
        whole periods only, whose comparison is the last whole period)."""
        if self.grain == "range":
            return self._previous_range()
        start, full_end, label = self.calendar.containing(self.grain, self.start - ONE_DAY)
        return Period(label, start, full_end, full_end, self.grain, self.calendar)

    def over(self, as_of: dt.date) -> bool:
        """Whether every day of the period is before ``as_of``."""
        return self.full_end <= as_of

    def _previous_range(self) -> Period:
        if self._months:
            start = _add_months(self.start, -self._months)
            label = f"{self._months} months to {_iso(self.start - ONE_DAY)}"
            return Period(label, start, self.start, self.start, "range", self.calendar, _months=self._months)
        length = self.end - self.start
        start = self.start - length
        label = f"previous {length.days} days" if self._rolling else _range_label(start, self.start)
        return Period(label, start, self.start, self.start, "range", self.calendar)

    def trailing(self, months: int) -> Period:
        """The ``months`` calendar months ending where this period's measured days end (e.g. a trailing
        12-month win rate next to a quarter's)."""
        if months < 1:
            raise ValueError(f"months must be at least 1, not {months}")
        start = _add_months(self.end, -months)
        label = f"{months} months to {_iso(self.end - ONE_DAY)}"
        return Period(label, start, self.end, self.end, "range", self.calendar, _months=months)


def _range_label(start: dt.date, end: dt.date) -> str:
    last = end - ONE_DAY
    return _iso(start) if last == start else f"{_iso(start)} to {_iso(last)}"


def _measured(label: str, start: dt.date, full_end: dt.date, grain: str, calendar: Calendar, as_of: dt.date) -> Period:
    """Build a period, cutting it to date when it runs past the as-of day and refusing one in the future."""
    if start > as_of:
        raise PeriodError(f"{label} has not started yet on {_iso(as_of)}.")
    end = min(full_end, as_of + ONE_DAY)
    return Period(label, start, end, full_end, grain, calendar)


def calendar_period(grain: str, day: dt.date, calendar: Calendar, as_of: dt.date, label: str = "") -> Period:
    """The calendar ``grain`` (day, week, month, quarter, half, year) holding ``day``, measured on ``as_of``."""
    start, full_end, canonical = calendar.containing(grain, day)
    return _measured(label or canonical, start, full_end, grain, calendar, as_of)


def period_ahead(grain: str, day: dt.date, calendar: Calendar, label: str) -> Period:
    """The whole calendar ``grain`` holding ``day``, a day after the as-of day ("next quarter")."""
    start, full_end, _canonical = calendar.containing(grain, day)
    return Period(label, start, full_end, full_end, grain, calendar, ahead=True)


def date_range(first: dt.date, last: dt.date, calendar: Calendar, as_of: dt.date) -> Period:
    """The days from ``first`` to ``last`` (inclusive), measured on ``as_of``."""
    return _measured(_range_label(first, last + ONE_DAY), first, last + ONE_DAY, "range", calendar, as_of)
