"""Time in the demo: day numbers (days since 1970-01-01) and moments (seconds since 1970-01-01, local wall
clock), workdays and office hours, and how events are placed on the days of the history.

Why integers rather than dates and datetimes: every column of the simulation is a numpy array built in one
vectorised step, and int64 days and seconds are what numpy computes with fastest; they become dates and
naive UTC datetimes only when the rows are built (demo/rows.py).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import numpy as np

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

DAY = 86_400  # seconds
NEVER_DAY = 1_000_000  # a day number far in the future (year 4707): "has not happened"
NEVER = NEVER_DAY * DAY  # the same as a moment; small enough that adding days to it cannot overflow int64
EPOCH = dt.date(1970, 1, 1)
Parts = TypeVar("Parts", bound="DataclassInstance")  # a dataclass of parallel arrays


@dataclass(frozen=True)
class Calendar:
    """The days of the history, from ``start`` to ``as_of`` inclusive."""

    start: dt.date
    as_of: dt.date

    @classmethod
    def ending(cls, as_of: dt.date, months: int) -> Calendar:
        return cls(start=add_months(as_of.replace(day=1), -months), as_of=as_of)

    @property
    def first_day(self) -> int:
        return day_of(self.start)

    @property
    def last_day(self) -> int:
        return day_of(self.as_of)

    @property
    def end(self) -> int:
        """The first moment after the history (midnight after as_of): everything visible is before it."""
        return (self.last_day + 1) * DAY

    @property
    def days(self) -> np.ndarray:
        return np.arange(self.first_day, self.last_day + 1)

    def month_starts(self, first: dt.date, last: dt.date) -> list[dt.date]:
        """First days of the months from ``first``'s month to ``last``'s month, inclusive."""
        months, month = [], first.replace(day=1)
        while month <= last:
            months.append(month)
            month = add_months(month, 1)
        return months

    def quarter_starts(self) -> list[dt.date]:
        """First days of the calendar quarters that overlap the history (fiscal year = calendar year)."""
        return self.month_starts(_quarter_start(self.start), self.as_of)[::3]

    def week_starts(self) -> list[dt.date]:
        """Mondays of the weeks that overlap the history."""
        monday = self.start - dt.timedelta(days=self.start.weekday())
        return [monday + dt.timedelta(weeks=k) for k in range((self.as_of - monday).days // 7 + 1)]


def day_of(date: dt.date) -> int:
    return (date - EPOCH).days


def date_of(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def add_months(date: dt.date, months: int) -> dt.date:
    index = date.year * 12 + date.month - 1 + months
    return date.replace(year=index // 12, month=index % 12 + 1)


def _quarter_start(date: dt.date) -> dt.date:
    return dt.date(date.year, 3 * ((date.month - 1) // 3) + 1, 1)


def weekday_of(days: np.ndarray) -> np.ndarray:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def workday_number(days: np.ndarray) -> np.ndarray:
    """Number the workdays (Monday to Friday) consecutively; a weekend day gets the next Monday's number.

    Adding and subtracting workday numbers moves through workdays only, evenly: pushing weekend moments to
    the nearest Monday or Friday instead would give those days two or three times their share.
    """
    weeks, weekday = np.divmod(days + 3, 7)  # 1970-01-01 was a Thursday
    return weeks * 5 + np.minimum(weekday, 5)


def workday(numbers: np.ndarray) -> np.ndarray:
    """The day of each workday number (the inverse of workday_number)."""
    weeks, weekday = np.divmod(numbers, 5)
    return weeks * 7 + weekday - 3


def workdays_later(days: np.ndarray, workdays: np.ndarray | int) -> np.ndarray:
    return workday(workday_number(days) + workdays)


def office_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, within office hours (about 8:00 to 19:00) and busiest around midday."""
    hours = rng.normal(12.9, 2.3, n)
    hours = np.where((hours < 7.75) | (hours > 18.9), rng.uniform(8.0, 18.0, n), hours)
    return (hours * 3600).astype(np.int64)


def at_work(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """A moment during office hours of each day."""
    return days * DAY + office_seconds(rng, len(days))


def workdays_after(rng: np.random.Generator, moments: np.ndarray, mean_workdays: float) -> np.ndarray:
    """The next step of a process: office hours of a workday at least one workday after each moment.

    A moment that never happened (``NEVER``) has no next step either.
    """
    gap = 1 + np.floor(rng.exponential(mean_workdays, len(moments))).astype(np.int64)
    later = at_work(rng, workdays_later(moments // DAY, gap))
    return np.where(moments >= NEVER, NEVER, later)


def moment_between(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A moment in ``[start, end)``: office hours of a workday drawn evenly, when the interval has one."""
    first, last = workday_number(start // DAY), workday_number((end - 1) // DAY)
    number = first + np.floor(rng.random(len(start)) * np.maximum(0, last - first + 1)).astype(np.int64)
    return np.clip(at_work(rng, workday(number)), start, end - 1)


def visible(moments: np.ndarray, cal: Calendar) -> np.ndarray:
    """Hide what happens after the history: those steps have not happened yet."""
    return np.where(moments < cal.end, moments, NEVER)


def daily_events(rng: np.random.Generator, rates: np.ndarray, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Draw a Poisson number of events in every (rep, day) cell of ``rates``; return each event's rep and
    moment (office hours that day), ordered by rep then day."""
    counts = rng.poisson(rates).ravel()
    cells = np.repeat(np.arange(counts.size), counts)
    rep, day_index = np.divmod(cells, rates.shape[1])
    return rep, at_work(rng, cal.first_day + day_index)


def concatenate(cls: type[Parts], parts: list[Parts]) -> Parts:
    """Join dataclasses of parallel arrays (Activities, Forecasts) field by field."""
    return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)})
