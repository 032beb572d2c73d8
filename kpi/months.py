"""Local calendar months, as the rollups hold them: the whole months and days of a span, the months between two
first days, the month of an instant (a Date column's day is local; a DateTime column's is a naive UTC instant)."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from typing import Any

from kpi.periods import utc_midnight

#: The first days of a span's first month and of the month after its last (or its first and last-plus-one days).
Months = tuple[dt.date, dt.date]


def local_date(instant: Any, tz: zoneinfo.ZoneInfo, dates: bool) -> dt.date:
    """The local day of a bound (a Date column's is itself; a DateTime column's is a naive UTC instant)."""
    return instant if dates else instant.replace(tzinfo=dt.UTC).astimezone(tz).date()


def whole_days(start: Any, end: Any, tz: zoneinfo.ZoneInfo, dates: bool) -> Months | None:
    """The local days ``[start, end)`` spans (a Date column's bounds are days; a DateTime column's naive UTC
    instants, local midnights for a period's window); None if a bound falls inside a day."""
    if dates:
        return start, end
    first = start.replace(tzinfo=dt.UTC).astimezone(tz)
    last = end.replace(tzinfo=dt.UTC).astimezone(tz)
    if first.time() != dt.time(0) or last.time() != dt.time(0):
        return None
    return first.date(), last.date()


def whole_months(start: Any, end: Any, tz: zoneinfo.ZoneInfo, dates: bool) -> Months:
    """The first days of the first whole local month in ``[start, end)`` and of the month after the last
    (a Date column's bounds are local days; a DateTime column's naive UTC instants)."""
    if dates:
        first, last = start, end
    else:
        first = start.replace(tzinfo=dt.UTC).astimezone(tz).date()
        last = end.replace(tzinfo=dt.UTC).astimezone(tz).date()
    month = first.replace(day=1)
    if month < first or (not dates and utc_midnight(month, tz) < start):
        month = next_month(month)
    return month, last.replace(day=1)


def next_month(month: dt.date) -> dt.date:
    return (month + dt.timedelta(days=32)).replace(day=1)


def months_from(first: dt.date, last: dt.date) -> list[dt.date]:
    """The first days of the months from ``first`` up to, not including, ``last`` (first days both)."""
    months = []
    while first < last:
        months.append(first)
        first = next_month(first)
    return months


def month_of(value: dt.date | dt.datetime, tz: zoneinfo.ZoneInfo, dates: bool) -> dt.date:
    """The first day of the local month of a Date column's day, or of a DateTime column's naive UTC instant."""
    if dates:
        return value.replace(day=1) if not isinstance(value, dt.datetime) else value.date().replace(day=1)
    assert isinstance(value, dt.datetime)
    return value.replace(tzinfo=dt.UTC).astimezone(tz).date().replace(day=1)
