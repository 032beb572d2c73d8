"""The periods a digest reports, from the day it is sent.

Periods are whole, finished days. A digest sent on ``as_of`` reports:

* daily: the day before ``as_of``, and month-to-date pace through that day;
* weekly: the last full week before the week of ``as_of`` (as of Monday 2017-06-05: 2017-05-29..06-04),
  against the week before, and target progress for the fiscal quarter in which that week started, through
  the week's last day (on a quarter's first Monday, the quarter that just ended, final);
* monthly: the month before the month of ``as_of``, against the month before it, and a 6-month trend.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from kpi.config import WEEKDAYS
from kpi.periods import Calendar, Period, calendar_period, date_range

ONE_DAY = dt.timedelta(days=1)
WEEKS_IN_TREND, MONTHS_IN_TREND = 8, 6


@dataclass(frozen=True)
class Span:
    """A calendar period (``grain`` day, week, month or quarter) or a range of days, asked as of ``as_of``."""

    grain: str
    start: dt.date
    last: dt.date
    label: str
    as_of: dt.date

    @property
    def dates(self) -> str:
        return self.start.isoformat() if self.start == self.last else f"{self.start} to {self.last}"

    def period(self, calendar: Calendar) -> Period:
        """The core's period for this span, as the core measures it on ``as_of``."""
        if self.grain == "range":
            return date_range(self.start, self.last, calendar, self.as_of)
        return calendar_period(self.grain, self.start, calendar, self.as_of)


@dataclass(frozen=True)
class Windows:
    main: Span
    previous: Span
    progress: Span | None
    trend: list[Span]


def _day(calendar: Calendar, day: dt.date, as_of: dt.date) -> Span:
    return Span("day", day, day, f"{WEEKDAYS[day.weekday()].capitalize()} {day}", as_of)


def _week(calendar: Calendar, start: dt.date, as_of: dt.date) -> Span:
    last = start + dt.timedelta(days=6)
    return Span("range", start, last, calendar.containing("week", start)[2], as_of)


def _calendar_span(calendar: Calendar, grain: str, day: dt.date, as_of: dt.date) -> Span:
    start, full_end, label = calendar.containing(grain, day)
    return Span(grain, start, full_end - ONE_DAY, label, as_of)


def windows(kind: str, as_of: dt.date, calendar: Calendar) -> Windows:
    """The periods a digest of ``kind`` sent on ``as_of`` reports (see the module docstring)."""
    day = as_of - ONE_DAY
    if kind == "daily":
        progress = _calendar_span(calendar, "month", day, day)
        return Windows(_day(calendar, day, as_of), _day(calendar, day - ONE_DAY, as_of), progress, [])
    if kind == "weekly":
        start = calendar.week_start_of(as_of) - dt.timedelta(days=7)
        weeks = [_week(calendar, start - dt.timedelta(days=7 * k), as_of) for k in range(WEEKS_IN_TREND)]
        progress = _calendar_span(calendar, "quarter", start, weeks[0].last)
        return Windows(weeks[0], weeks[1], progress, weeks[::-1])
    start = (as_of.replace(day=1) - ONE_DAY).replace(day=1)
    months, first = [], start
    for _ in range(MONTHS_IN_TREND):
        months.append(_calendar_span(calendar, "month", first, as_of))
        first = (first - ONE_DAY).replace(day=1)
    return Windows(months[0], months[1], months[0], months[::-1])
