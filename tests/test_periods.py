"""The period grammar and the fiscal calendar (KPIS.md, "Time rules").

Every expected date below was worked out by hand from a paper calendar, never computed by the code under
test. Useful facts: 2017-03-15 is a Wednesday (2017-03-13 Monday, 2017-03-12 Sunday); 2016 is a leap year;
with an April fiscal start, FY2017 runs 2016-04-01 to 2017-03-31 and FY2018 starts 2017-04-01.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from kpi.config import OrgConfig
from kpi.grammar.periods import parse_period, split_period
from kpi.periods import Calendar, Period, PeriodError

UTC = zoneinfo.ZoneInfo("UTC")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")


def d(text: str) -> dt.date:
    return dt.date.fromisoformat(text)


def cal(fiscal_start: int = 1, week_start: int = 0, tz: zoneinfo.ZoneInfo = UTC) -> Calendar:
    return Calendar(tz=tz, fiscal_year_start_month=fiscal_start, week_start=week_start)


# (phrase, as_of, fiscal start month, start, end, full_end, label)
CASES = [
    # Days.
    ("today", "2017-03-15", 1, "2017-03-15", "2017-03-16", "2017-03-16", "today"),
    ("yesterday", "2017-03-15", 1, "2017-03-14", "2017-03-15", "2017-03-15", "yesterday"),
    ("2017-03-05", "2017-03-15", 1, "2017-03-05", "2017-03-06", "2017-03-06", "2017-03-05"),
    ("2017-03-15", "2017-03-15", 1, "2017-03-15", "2017-03-16", "2017-03-16", "2017-03-15"),
    # This / last week (Monday weeks; 2017-03-15 is a Wednesday).
    ("this week", "2017-03-15", 1, "2017-03-13", "2017-03-16", "2017-03-20", "this week"),
    ("wtd", "2017-03-15", 1, "2017-03-13", "2017-03-16", "2017-03-20", "week to date"),
    ("last week", "2017-03-15", 1, "2017-03-06", "2017-03-13", "2017-03-13", "last week"),
    ("previous week", "2017-03-15", 1, "2017-03-06", "2017-03-13", "2017-03-13", "last week"),
    # A Sunday is the last day of a Monday week: the week is complete, not cut.
    ("this week", "2017-03-12", 1, "2017-03-06", "2017-03-13", "2017-03-13", "this week"),
    # Months.
    ("this month", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "this month"),
    ("mtd", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "month to date"),
    ("month to date", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "month to date"),
    ("last month", "2017-03-15", 1, "2017-02-01", "2017-03-01", "2017-03-01", "last month"),
    ("previous month", "2017-03-15", 1, "2017-02-01", "2017-03-01", "2017-03-01", "last month"),
    ("last month", "2017-01-10", 1, "2016-12-01", "2017-01-01", "2017-01-01", "last month"),
    ("march", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "March 2017"),
    ("Mar", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "March 2017"),
    ("feb", "2017-03-15", 1, "2017-02-01", "2017-03-01", "2017-03-01", "February 2017"),
    ("april", "2017-03-15", 1, "2016-04-01", "2016-05-01", "2016-05-01", "April 2016"),
    ("december", "2017-03-15", 1, "2016-12-01", "2017-01-01", "2017-01-01", "December 2016"),
    ("march 2016", "2017-03-15", 1, "2016-03-01", "2016-04-01", "2016-04-01", "March 2016"),
    ("mar 2016", "2017-03-15", 1, "2016-03-01", "2016-04-01", "2016-04-01", "March 2016"),
    ("2016-03", "2017-03-15", 1, "2016-03-01", "2016-04-01", "2016-04-01", "March 2016"),
    ("2016-02", "2017-03-15", 1, "2016-02-01", "2016-03-01", "2016-03-01", "February 2016"),
    ("march 2017", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "March 2017"),
    # A month is a calendar month whatever the fiscal year.
    ("march", "2017-03-15", 4, "2017-03-01", "2017-03-16", "2017-04-01", "March 2017"),
    # Quarters, January fiscal year = calendar year.
    ("this quarter", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2017-04-01", "this quarter"),
    ("qtd", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2017-04-01", "quarter to date"),
    ("last quarter", "2017-03-15", 1, "2016-10-01", "2017-01-01", "2017-01-01", "last quarter"),
    ("q1", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2017-04-01", "2017-Q1"),
    ("q3", "2017-03-15", 1, "2016-07-01", "2016-10-01", "2016-10-01", "2016-Q3"),
    ("q3", "2017-08-01", 1, "2017-07-01", "2017-08-02", "2017-10-01", "2017-Q3"),
    ("Q3 2016", "2017-03-15", 1, "2016-07-01", "2016-10-01", "2016-10-01", "2016-Q3"),
    ("2016-Q3", "2017-03-15", 1, "2016-07-01", "2016-10-01", "2016-10-01", "2016-Q3"),
    ("2016 q3", "2017-03-15", 1, "2016-07-01", "2016-10-01", "2016-10-01", "2016-Q3"),
    ("q3-2016", "2017-03-15", 1, "2016-07-01", "2016-10-01", "2016-10-01", "2016-Q3"),
    ("2017-Q2", "2017-08-01", 1, "2017-04-01", "2017-07-01", "2017-07-01", "2017-Q2"),
    # Any period running past the as-of day is cut to date, whatever its wording.
    ("2017-Q1", "2017-02-10", 1, "2017-01-01", "2017-02-11", "2017-04-01", "2017-Q1"),
    # Halves.
    ("this half", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2017-07-01", "this half"),
    ("last half", "2017-03-15", 1, "2016-07-01", "2017-01-01", "2017-01-01", "last half"),
    ("H1 2016", "2017-03-15", 1, "2016-01-01", "2016-07-01", "2016-07-01", "H1 2016"),
    ("2016-H2", "2017-03-15", 1, "2016-07-01", "2017-01-01", "2017-01-01", "H2 2016"),
    ("h2", "2017-03-15", 1, "2016-07-01", "2017-01-01", "2017-01-01", "H2 2016"),
    ("h1", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2017-07-01", "H1 2017"),
    # Years.
    ("this year", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2018-01-01", "this year"),
    ("ytd", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2018-01-01", "year to date"),
    ("YTD", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2018-01-01", "year to date"),
    ("last year", "2017-03-15", 1, "2016-01-01", "2017-01-01", "2017-01-01", "last year"),
    ("2016", "2017-03-15", 1, "2016-01-01", "2017-01-01", "2017-01-01", "FY2016"),
    ("2017", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2018-01-01", "FY2017"),
    ("FY2016", "2017-03-15", 1, "2016-01-01", "2017-01-01", "2017-01-01", "FY2016"),
    ("fy 2016", "2017-03-15", 1, "2016-01-01", "2017-01-01", "2017-01-01", "FY2016"),
    ("fy16", "2017-03-15", 1, "2016-01-01", "2017-01-01", "2017-01-01", "FY2016"),
    # April fiscal start: FY2017 = 2016-04-01 .. 2017-03-31, named by the year in which it ends.
    ("FY2017", "2017-03-15", 4, "2016-04-01", "2017-03-16", "2017-04-01", "FY2017"),
    ("fy 2016", "2017-03-15", 4, "2015-04-01", "2016-04-01", "2016-04-01", "FY2016"),
    ("2017", "2017-03-15", 4, "2016-04-01", "2017-03-16", "2017-04-01", "FY2017"),
    ("2017-Q1", "2017-03-15", 4, "2016-04-01", "2016-07-01", "2016-07-01", "2017-Q1"),
    ("2017-Q2", "2017-03-15", 4, "2016-07-01", "2016-10-01", "2016-10-01", "2017-Q2"),
    ("q3 2017", "2017-03-15", 4, "2016-10-01", "2017-01-01", "2017-01-01", "2017-Q3"),
    ("2017 q4", "2017-03-15", 4, "2017-01-01", "2017-03-16", "2017-04-01", "2017-Q4"),
    ("this quarter", "2017-03-15", 4, "2017-01-01", "2017-03-16", "2017-04-01", "this quarter"),
    ("last quarter", "2017-03-15", 4, "2016-10-01", "2017-01-01", "2017-01-01", "last quarter"),
    ("q4", "2017-03-15", 4, "2017-01-01", "2017-03-16", "2017-04-01", "2017-Q4"),
    ("q1", "2017-03-15", 4, "2016-04-01", "2016-07-01", "2016-07-01", "2017-Q1"),
    # On 2017-05-10 FY2018 (from 2017-04-01) is running; its Q2 (from 2017-07-01) has not started.
    ("q1", "2017-05-10", 4, "2017-04-01", "2017-05-11", "2017-07-01", "2018-Q1"),
    ("q2", "2017-05-10", 4, "2016-07-01", "2016-10-01", "2016-10-01", "2017-Q2"),
    ("ytd", "2017-05-10", 4, "2017-04-01", "2017-05-11", "2018-04-01", "year to date"),
    ("this year", "2017-05-10", 4, "2017-04-01", "2017-05-11", "2018-04-01", "this year"),
    ("last year", "2017-05-10", 4, "2016-04-01", "2017-04-01", "2017-04-01", "last year"),
    ("this half", "2017-05-10", 4, "2017-04-01", "2017-05-11", "2017-10-01", "this half"),
    ("last half", "2017-05-10", 4, "2016-10-01", "2017-04-01", "2017-04-01", "last half"),
    ("H1 2018", "2017-05-10", 4, "2017-04-01", "2017-05-11", "2017-10-01", "H1 2018"),
    ("2017-h2", "2017-05-10", 4, "2016-10-01", "2017-04-01", "2017-04-01", "H2 2017"),
    # Last N days: N days ending with the as-of day, inclusive of it.
    ("last 7 days", "2017-03-15", 1, "2017-03-09", "2017-03-16", "2017-03-16", "last 7 days"),
    ("last 30 days", "2017-03-15", 1, "2017-02-14", "2017-03-16", "2017-03-16", "last 30 days"),
    ("last 90 days", "2017-03-15", 1, "2016-12-16", "2017-03-16", "2017-03-16", "last 90 days"),
    ("last 1 day", "2017-03-15", 1, "2017-03-15", "2017-03-16", "2017-03-16", "last 1 day"),
    ("last 14 days", "2017-03-15", 1, "2017-03-02", "2017-03-16", "2017-03-16", "last 14 days"),
    # Explicit ranges, both dates inclusive.
    ("2017-03-01 to 2017-03-15", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-03-16", None),
    ("2017-03-01..2017-03-10", "2017-03-15", 1, "2017-03-01", "2017-03-11", "2017-03-11", None),
    ("2017-03-01 .. 2017-03-10", "2017-03-15", 1, "2017-03-01", "2017-03-11", "2017-03-11", None),
    ("2017-03-01 - 2017-03-10", "2017-03-15", 1, "2017-03-01", "2017-03-11", "2017-03-11", None),
    ("2017-03-01 through 2017-03-10", "2017-03-15", 1, "2017-03-01", "2017-03-11", "2017-03-11", None),
    ("2017-03-01 until 2017-03-10", "2017-03-15", 1, "2017-03-01", "2017-03-11", "2017-03-11", None),
    ("from 2017-03-01 to 2017-03-10", "2017-03-15", 1, "2017-03-01", "2017-03-11", "2017-03-11", None),
    ("2017-03-10 to 2017-03-10", "2017-03-15", 1, "2017-03-10", "2017-03-11", "2017-03-11", "2017-03-10"),
    # A range running past the as-of day is cut to date.
    ("2017-03-10 to 2017-03-20", "2017-03-15", 1, "2017-03-10", "2017-03-16", "2017-03-21", None),
    # Case, spacing, punctuation and a leading preposition do not matter.
    ("  This   QUARTER ", "2017-03-15", 1, "2017-01-01", "2017-03-16", "2017-04-01", "this quarter"),
    ("Last Month?", "2017-03-15", 1, "2017-02-01", "2017-03-01", "2017-03-01", "last month"),
    ("in the last 7 days", "2017-03-15", 1, "2017-03-09", "2017-03-16", "2017-03-16", "last 7 days"),
    ("for march", "2017-03-15", 1, "2017-03-01", "2017-03-16", "2017-04-01", "March 2017"),
    # "past" is "last"; "fiscal" names the grains that already are fiscal (an April fiscal year here).
    ("over the past quarter", "2017-03-15", 1, "2016-10-01", "2017-01-01", "2017-01-01", "last quarter"),
    ("this fiscal year", "2017-03-15", 4, "2016-04-01", "2017-03-16", "2017-04-01", "this year"),
    ("last fiscal quarter", "2017-03-15", 4, "2016-10-01", "2017-01-01", "2017-01-01", "last quarter"),
    # Since: from the start of a day or period to date, whatever kind of phrase follows.
    ("since october", "2017-03-15", 1, "2016-10-01", "2017-03-16", "2017-03-16", "since October 1, 2016"),
    ("since 2017-03-05", "2017-03-15", 1, "2017-03-05", "2017-03-16", "2017-03-16", "since March 5, 2017"),
    ("since q1", "2017-03-15", 4, "2016-04-01", "2017-03-16", "2017-03-16", "since April 1, 2016"),
    ("since last month", "2017-03-15", 1, "2017-02-01", "2017-03-16", "2017-03-16", "since February 1, 2017"),
]


@pytest.mark.parametrize(("phrase", "as_of", "fiscal_start", "start", "end", "full_end", "label"), CASES)
def test_parse_period(phrase, as_of, fiscal_start, start, end, full_end, label):
    period = parse_period(phrase, cal(fiscal_start), d(as_of))
    assert (period.start, period.end, period.full_end) == (d(start), d(end), d(full_end))
    # Ranges are labelled by their inclusive dates, as typed.
    expected_label = label or f"{start} to {(d(full_end) - dt.timedelta(days=1)).isoformat()}"
    assert period.label == expected_label
    assert period.to_date == (end != full_end)


@pytest.mark.parametrize(
    ("phrase", "grain"),
    [
        ("today", "day"),
        ("2017-03-05", "day"),
        ("this week", "week"),
        ("mtd", "month"),
        ("march 2016", "month"),
        ("2016-q3", "quarter"),
        ("h1 2016", "half"),
        ("fy2016", "year"),
        ("last 7 days", "range"),
        ("2017-03-01 to 2017-03-15", "range"),
    ],
)
def test_grain(phrase, grain):
    assert parse_period(phrase, cal(), d("2017-03-15")).grain == grain


@pytest.mark.parametrize(
    ("phrase", "as_of", "start", "end", "full_end"),
    [
        # Sunday weeks: 2017-03-12 is a Sunday.
        ("this week", "2017-03-15", "2017-03-12", "2017-03-16", "2017-03-19"),
        ("wtd", "2017-03-15", "2017-03-12", "2017-03-16", "2017-03-19"),
        ("last week", "2017-03-15", "2017-03-05", "2017-03-12", "2017-03-12"),
        ("this week", "2017-03-12", "2017-03-12", "2017-03-13", "2017-03-19"),
        ("this week", "2017-03-18", "2017-03-12", "2017-03-19", "2017-03-19"),
    ],
)
def test_sunday_weeks(phrase, as_of, start, end, full_end):
    period = parse_period(phrase, cal(week_start=6), d(as_of))
    assert (period.start, period.end, period.full_end) == (d(start), d(end), d(full_end))


# (phrase, as_of, fiscal start, previous start, previous end, previous full_end, previous label)
PREVIOUS = [
    ("2017-03-05", "2017-03-15", 1, "2017-03-04", "2017-03-05", "2017-03-05", "2017-03-04"),
    ("today", "2017-03-15", 1, "2017-03-14", "2017-03-15", "2017-03-15", "2017-03-14"),
    ("today", "2017-03-01", 1, "2017-02-28", "2017-03-01", "2017-03-01", "2017-02-28"),
    ("last week", "2017-03-15", 1, "2017-02-27", "2017-03-06", "2017-03-06", "week of 2017-02-27"),
    # This week to date (Mon 03-13 .. Wed 03-15) -> Mon 03-06 .. Wed 03-08.
    (
        "this week",
        "2017-03-15",
        1,
        "2017-03-06",
        "2017-03-09",
        "2017-03-13",
        "week of 2017-03-06 through 2017-03-08",
    ),
    ("march 2016", "2017-03-15", 1, "2016-02-01", "2016-03-01", "2016-03-01", "February 2016"),
    ("last month", "2017-03-15", 1, "2017-01-01", "2017-02-01", "2017-02-01", "January 2017"),
    ("january 2017", "2017-03-15", 1, "2016-12-01", "2017-01-01", "2017-01-01", "December 2016"),
    # This month to date on 03-15 -> the first 15 days of February.
    (
        "this month",
        "2017-03-15",
        1,
        "2017-02-01",
        "2017-02-16",
        "2017-03-01",
        "February 2017 through 2017-02-15",
    ),
    # On 03-31 (and 03-29: there is no 02-29 in 2017) the cut is clamped: all of February.
    ("this month", "2017-03-31", 1, "2017-02-01", "2017-03-01", "2017-03-01", "February 2017"),
    ("mtd", "2017-03-29", 1, "2017-02-01", "2017-03-01", "2017-03-01", "February 2017"),
    # In a leap year February has a 29th.
    ("mtd", "2016-03-29", 1, "2016-02-01", "2016-03-01", "2016-03-01", "February 2016"),
    ("mtd", "2016-03-28", 1, "2016-02-01", "2016-02-29", "2016-03-01", "February 2016 through 2016-02-28"),
    ("2017-Q2", "2017-08-01", 1, "2017-01-01", "2017-04-01", "2017-04-01", "2017-Q1"),
    ("2017-Q1", "2017-08-01", 1, "2016-10-01", "2017-01-01", "2017-01-01", "2016-Q4"),
    ("2017-Q2", "2017-03-15", 4, "2016-04-01", "2016-07-01", "2016-07-01", "2017-Q1"),
    ("2017-Q1", "2017-03-15", 4, "2016-01-01", "2016-04-01", "2016-04-01", "2016-Q4"),
    # Quarter to date on 05-15 (2017-04-01 .. 05-15) -> same point of Q1 by calendar: 01-01 .. 02-15.
    ("qtd", "2017-05-15", 1, "2017-01-01", "2017-02-16", "2017-04-01", "2017-Q1 through 2017-02-15"),
    # Quarter to date on 05-31 -> 01-01 .. 02-28 (no 02-31): clamped to the day, not to the quarter.
    ("qtd", "2017-05-31", 1, "2017-01-01", "2017-03-01", "2017-04-01", "2017-Q1 through 2017-02-28"),
    ("h1 2017", "2017-08-01", 1, "2016-07-01", "2017-01-01", "2017-01-01", "H2 2016"),
    ("h2 2016", "2017-03-15", 4, "2015-04-01", "2015-10-01", "2015-10-01", "H1 2016"),
    # H2 FY2017 to date (2016-10-01 .. 2017-03-15) -> H1 FY2017 to the same point: 2016-04-01 .. 2016-09-15.
    ("h2 2017", "2017-03-15", 4, "2016-04-01", "2016-09-16", "2016-10-01", "H1 2017 through 2016-09-15"),
    ("fy2017", "2018-02-01", 1, "2016-01-01", "2017-01-01", "2017-01-01", "FY2016"),
    ("fy2016", "2017-03-15", 4, "2014-04-01", "2015-04-01", "2015-04-01", "FY2015"),
    ("ytd", "2017-03-15", 1, "2016-01-01", "2016-03-16", "2017-01-01", "FY2016 through 2016-03-15"),
    ("ytd", "2017-05-10", 4, "2016-04-01", "2016-05-11", "2017-04-01", "FY2017 through 2016-05-10"),
    ("last 7 days", "2017-03-15", 1, "2017-03-02", "2017-03-09", "2017-03-09", "previous 7 days"),
    ("last 30 days", "2017-03-15", 1, "2017-01-15", "2017-02-14", "2017-02-14", "previous 30 days"),
    # A 15-day range -> the 15 days before it.
    (
        "2017-03-01 to 2017-03-15",
        "2017-03-15",
        1,
        "2017-02-14",
        "2017-03-01",
        "2017-03-01",
        "2017-02-14 to 2017-02-28",
    ),
]


@pytest.mark.parametrize(("phrase", "as_of", "fiscal_start", "start", "end", "full_end", "label"), PREVIOUS)
def test_previous(phrase, as_of, fiscal_start, start, end, full_end, label):
    current = parse_period(phrase, cal(fiscal_start), d(as_of))
    previous = current.previous()
    assert (previous.start, previous.end, previous.full_end) == (d(start), d(end), d(full_end))
    assert previous.label == label
    assert previous.grain == current.grain


def test_previous_of_previous_keeps_the_cut():
    period = parse_period("this month", cal(), d("2017-03-15")).previous().previous()
    assert (period.start, period.end, period.full_end) == (d("2017-01-01"), d("2017-01-16"), d("2017-02-01"))
    assert period.label == "January 2017 through 2017-01-15"


def test_trailing():
    quarter = parse_period("2017-Q2", cal(), d("2017-08-01"))
    trailing = quarter.trailing(12)
    assert (trailing.start, trailing.end, trailing.full_end) == (
        d("2016-07-01"),
        d("2017-07-01"),
        d("2017-07-01"),
    )
    assert trailing.grain == "range"
    assert trailing.label == "12 months to 2017-06-30"
    # Twelve months back, by calendar (2016 is a leap year, so not 365 days back).
    previous = trailing.previous()
    assert (previous.start, previous.end, previous.full_end) == (
        d("2015-07-01"),
        d("2016-07-01"),
        d("2016-07-01"),
    )
    assert previous.label == "12 months to 2016-06-30"


def test_trailing_of_a_period_to_date_ends_with_the_as_of_day():
    trailing = parse_period("this quarter", cal(), d("2017-03-15")).trailing(3)
    assert (trailing.start, trailing.end) == (d("2016-12-16"), d("2017-03-16"))
    assert trailing.label == "3 months to 2017-03-15"


def test_utc_bounds_follow_daylight_saving_time():
    # New York moves to EDT on 2017-03-12: midnight is 05:00 UTC that day, 04:00 UTC the next.
    calendar = cal(tz=NEW_YORK)
    day = parse_period("2017-03-12", calendar, d("2017-03-15"))
    assert day.utc_bounds() == (dt.datetime(2017, 3, 12, 5), dt.datetime(2017, 3, 13, 4))
    month = parse_period("march 2017", calendar, d("2017-04-15"))
    assert month.utc_bounds() == (dt.datetime(2017, 3, 1, 5), dt.datetime(2017, 4, 1, 4))
    # Back to EST on 2017-11-05.
    november = parse_period("2017-11-05", calendar, d("2017-11-15"))
    assert november.utc_bounds() == (dt.datetime(2017, 11, 5, 4), dt.datetime(2017, 11, 6, 5))
    assert all(bound.tzinfo is None for bound in month.utc_bounds())


def test_utc_bounds_in_utc_are_midnights():
    period = parse_period("this month", cal(), d("2017-03-15"))
    assert period.utc_bounds() == (dt.datetime(2017, 3, 1), dt.datetime(2017, 3, 16))


def test_dates_are_shown_inclusive():
    calendar = cal()
    assert parse_period("2017-q2", calendar, d("2017-08-01")).dates() == "2017-04-01 to 2017-06-30"
    assert parse_period("this month", calendar, d("2017-03-15")).dates() == "2017-03-01 to 2017-03-15"
    assert parse_period("2017-03-05", calendar, d("2017-03-15")).dates() == "2017-03-05"
    assert parse_period("this month", calendar, d("2017-03-01")).dates() == "2017-03-01"


def test_contains_counts_measured_days_only():
    period = parse_period("this month", cal(), d("2017-03-15"))
    assert period.contains(d("2017-03-01"))
    assert period.contains(d("2017-03-15"))
    assert not period.contains(d("2017-03-16"))
    assert not period.contains(d("2017-02-28"))


def test_period_is_a_plain_value():
    calendar = cal()
    made = Period("March 2016", d("2016-03-01"), d("2016-04-01"), d("2016-04-01"), "month", calendar)
    assert parse_period("march 2016", calendar, d("2017-03-15")) == made
    assert made.previous().label == "February 2016"


def test_calendar_from_org():
    org = OrgConfig(timezone="America/New_York", fiscal_year_start_month=4, week_start="Sunday")
    assert Calendar.from_org(org) == Calendar(tz=NEW_YORK, fiscal_year_start_month=4, week_start=6)
    assert Calendar.from_org(OrgConfig()) == Calendar(tz=UTC, fiscal_year_start_month=1, week_start=0)


def test_calendar_today_is_in_its_time_zone():
    calendar = cal(tz=zoneinfo.ZoneInfo("Pacific/Kiritimati"))  # UTC+14: often a day ahead of UTC
    before = dt.datetime.now(calendar.tz).date()
    assert calendar.today() in (before, before + dt.timedelta(days=1))


def test_calendar_rejects_impossible_settings():
    with pytest.raises(ValueError):
        Calendar(tz=UTC, fiscal_year_start_month=13)
    with pytest.raises(ValueError):
        Calendar(tz=UTC, week_start=7)


@pytest.mark.parametrize(
    ("words", "label", "rest"),
    [
        (["team", "revenue", "last", "month"], "last month", ["team", "revenue"]),
        (["my", "win-rate", "2017-Q2"], "2017-Q2", ["my", "win-rate"]),
        (["leaderboard", "calls", "this", "week"], "this week", ["leaderboard", "calls"]),
        (["revenue", "from", "2017-03-01", "to", "2017-03-15"], "2017-03-01 to 2017-03-15", ["revenue"]),
        (["Team", "Revenue", "Last", "Month"], "last month", ["Team", "Revenue"]),
        (["revenue", "in", "the", "last", "30", "days", "please"], "last 30 days", ["revenue", "please"]),
        (["last", "month", "revenue"], "last month", ["revenue"]),
        (["revenue", "march", "2016"], "March 2016", ["revenue"]),
    ],
)
def test_split_period(words, label, rest):
    period, remaining = split_period(words, cal(), d("2017-08-01"))
    assert period is not None
    assert period.label == label
    assert remaining == rest


def test_split_period_prefers_the_run_at_the_end():
    period, remaining = split_period(["march", "revenue", "april"], cal(), d("2017-03-15"))
    assert period is not None
    assert period.label == "April 2016"
    assert remaining == ["march", "revenue"]


@pytest.mark.parametrize(
    "words", [["win", "rate"], [], ["top", "10", "reps"], ["last", "deals"], ["deals", "over", "5000"]]
)
def test_split_period_without_a_period(words):
    assert split_period(words, cal(), d("2017-03-15")) == (None, words)


def test_split_period_in_a_long_message():
    words = ["blah"] * 150 + ["For", "the", "fiscal", "year", "to", "date"] + ["blah"] * 150
    period, remaining = split_period(words, cal(), d("2017-03-15"))
    assert period is not None
    assert (period.label, period.start, period.end) == ("year to date", d("2017-01-01"), d("2017-03-16"))
    assert remaining == ["blah"] * 300


def test_split_period_reports_a_future_period():
    with pytest.raises(PeriodError, match="2019-Q1 has not started yet on 2018-01-15"):
        split_period(["revenue", "2019-q1"], cal(), d("2018-01-15"))


@pytest.mark.parametrize(
    "text", ["next tuesday", "last fortnight", "q5 2017", "", "2017-13", "since since q1", "since blorp"]
)
def test_unknown_text_lists_what_is_understood(text):
    with pytest.raises(PeriodError) as caught:
        parse_period(text, cal(), d("2017-03-15"))
    message = str(caught.value)
    if text != "2017-13":
        assert message.startswith(f"I don't understand the period '{text}'.")
        for example in (
            "last 7 days",
            "this quarter",
            "ytd",
            "march 2017",
            "2017-Q3",
            "2017-03-01 to 2017-03-15",
        ):
            assert example.lower() in message.lower()
    else:
        assert "2017-13" in message


@pytest.mark.parametrize(
    ("text", "as_of", "fragment"),
    [
        ("2019-Q1", "2018-01-15", "2019-Q1 has not started yet on 2018-01-15"),
        ("april 2018", "2018-01-15", "April 2018 has not started yet on 2018-01-15"),
        ("2018-02-01", "2018-01-15", "2018-02-01 has not started yet on 2018-01-15"),
        ("fy2019", "2018-01-15", "FY2019 has not started yet on 2018-01-15"),
        ("2018-01-20 to 2018-01-25", "2018-01-15", "has not started yet on 2018-01-15"),
        ("2017-03-15 to 2017-03-01", "2018-01-15", "ends before it starts"),
        ("2017-02-30", "2018-01-15", "2017-02-30 is not a valid date"),
        ("last 0 days", "2018-01-15", "at least 1 day"),
    ],
)
def test_unusable_periods_are_explained(text, as_of, fragment):
    with pytest.raises(PeriodError, match=fragment):
        parse_period(text, cal(), d(as_of))


def test_period_error_is_a_value_error():
    assert issubclass(PeriodError, ValueError)
