"""Demo data: a believable B2B sales organisation, generated fast and the same way every time.

Why it exists: ``kpibot demo``, the README walkthrough, the tests and the benchmarks all need a CRM copy that
exercises every KPI of KPIS.md (won, lost and open deals, funnels, activities, customers who churn, forecasts,
targets) without a CRM account. Why it looks like this:

* **Deterministic.** Everything comes from ``numpy.random.default_rng(seed)`` and is placed relative to
  ``as_of``; the wall clock is never read, so a seed and an as-of date always give the same rows.
* **Fast.** Every column is a numpy array built in one vectorised step (never a Python loop per deal or per
  activity) and rows get their ids here, so they can be bulk-written without round trips: chunked
  ``INSERT`` executemany in general, ``COPY`` on PostgreSQL. 2,000 reps over 24 months (about 1M deals, 5M
  activities) takes a few minutes on PostgreSQL.
* **Causal.** Records are simulated in the order real life makes them: reps are hired (and ramp up, and some
  leave); leads arrive and move through MQL, SQL and conversion; deals are opened by reps or by converted leads,
  and close won or lost after a cycle that depends on the segment; an account becomes a customer when its first
  deal is won, later deals on a customer are upsells, cross-sells or renewals, and some customers churn. Each
  outcome is drawn for the deal's whole life; what has not happened by the end of ``as_of`` is simply not
  visible yet (the deal is open, the lead has not converted). So nothing exists after ``as_of`` except the
  expected close dates of open deals (and targets/budgets for the current period, which are plans).

Time: the history runs from the first day of the month ``months`` months before as_of's month to the end of
``as_of``. The CRM starts empty then, so the first two or three months ramp up while the first deals close;
later periods are in a steady state. Moments are generated as *local* wall-clock seconds (office hours in
``timezone``, whole int64 seconds since 1970) and converted to naive UTC only when written, as kpi/schema.py
requires; calendar facts (hire dates, target and spend periods) are local dates with exclusive period ends.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import math
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import pandas as pd
import sqlalchemy as sa
from psycopg.copy import QueuedLibpqWriter

from kpi.schema import (
    CONFIG_CRM,
    Account,
    Activity,
    Deal,
    Forecast,
    Lead,
    MarketingSpend,
    NpsResponse,
    Quote,
    Rep,
    SlackUser,
    Target,
    Team,
)

CRM = "demo"
DATA_TABLES = [  # what the demo writes (and what fresh=True empties)
    model.__table__
    for model in (Team, Rep, Account, Lead, Deal, Activity, Quote, MarketingSpend, NpsResponse, Forecast, Target)
]
DAY = 86_400  # seconds
NEVER_DAY = 1_000_000  # a day number far in the future (year 4707): "has not happened"
NEVER = NEVER_DAY * DAY  # the same as a moment; small enough that adding days to it cannot overflow int64
EPOCH = dt.date(1970, 1, 1)

# How busy a fully ramped rep is, per working day (Saturdays and Sundays see a trickle, see WEEKDAY_WEIGHT).
# With hires, leavers and ramp-up this gives, per rep and month of history: ~21 deals, ~10 leads, ~105 activities.
DEALS_PER_DAY = 1.015
LEADS_PER_DAY = 0.54
PROSPECTING_TOUCHES_PER_DAY = 2.5  # calls and emails to people who are not (yet) in a deal
DEAL_TOUCHES = (0.8, 0.05)  # activities on a deal: 0.8 at the start plus 0.05 per day it is worked
WEEKDAY_WEIGHT = np.array([1.0, 1.0, 1.0, 1.0, 1.0, 0.05, 0.02])  # Monday .. Sunday

SEGMENTS = ("smb", "mid-market", "enterprise")
SEGMENT_SHARE = (0.55, 0.32, 0.13)
SEGMENT_MEDIAN_AMOUNT = np.array([5_000.0, 25_000.0, 120_000.0])
SEGMENT_CYCLE_DAYS = np.array([[15, 45], [30, 80], [60, 120]])  # a won deal's life, low and high
SEGMENT_WIN_FACTOR = np.array([1.1, 1.0, 0.8])  # big deals are harder to win

DEAL_TYPES = ("new", "upsell", "cross-sell", "renewal")
EXPANSION_SHARE = (0.45, 0.30, 0.25)  # of deals on existing customers: upsell, cross-sell, renewal
TYPE_AMOUNT_FACTOR = np.array([1.0, 0.35, 0.3, 0.8])
TYPE_LABEL = np.array(["new business", "upsell", "cross-sell", "renewal"], dtype=object)
EXPANSION_WIN_RATE = 0.5  # customers who already trust you say yes more often
PRODUCTS = np.array(["Platform", "Analytics", "Integrations", "Premium support"], dtype=object)
CONTRACT_MONTHS = (12, 24, 36, 0)  # 0: no term recorded
CONTRACT_SHARE = (0.45, 0.2, 0.15, 0.2)

STAGES = np.array(
    ["Prospecting", "Qualification", "Proposal", "Negotiation", "Closed Won", "Closed Lost"], dtype=object
)
STAGE_PROBABILITY = np.array([0.1, 0.25, 0.5, 0.8, 1.0, 0.0])
PROPOSAL = 2  # index of the first stage at which a quote has been sent
WON_STAGE, LOST_STAGE = 4, 5
STATUSES = np.array(["open", "won", "lost"], dtype=object)
OPEN, WON, LOST = 0, 1, 2

LEAD_SOURCES = np.array(["referral", "website", "event", "outbound", "partner", "paid"], dtype=object)
LEAD_SOURCE_SHARE = (0.12, 0.30, 0.12, 0.25, 0.08, 0.13)
LEAD_SOURCE_MQL_RATE = np.array([0.6, 0.4, 0.45, 0.3, 0.5, 0.35])  # about 40% overall
SQL_RATE, CONVERSION_RATE, DISQUALIFY_RATE = 0.5, 0.6, 0.8

ACTIVITY_TYPES = np.array(["call", "meeting", "demo", "email"], dtype=object)
CALL, MEETING, DEMO, EMAIL = 0, 1, 2, 3
DEAL_TOUCH_MIX = (0.35, 0.18, 0.12, 0.35)  # call, meeting, demo, email
PROSPECTING_CALL_SHARE = 0.6  # the rest are emails

NPS_SCORE_SHARE = (0.01, 0.01, 0.01, 0.02, 0.03, 0.04, 0.06, 0.12, 0.20, 0.24, 0.26)  # 0..10, NPS about 35
NPS_SCORE_SHARE_CHURNED = (0.04, 0.04, 0.06, 0.08, 0.10, 0.12, 0.14, 0.16, 0.12, 0.08, 0.06)

REGION_NAMES = ("West", "East", "Central", "EMEA", "APAC", "LATAM", "North", "South", "Nordics", "DACH", "ANZ")
FIRST_NAMES = (
    "James", "Mary", "John", "Patricia", "Robert", "Jennifer", "Michael", "Linda", "William", "Elizabeth",
    "David", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Nancy", "Matthew", "Lisa", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenneth", "Carol", "Kevin", "Amanda",
    "Brian", "Melissa", "George", "Deborah", "Timothy", "Stephanie", "Ronald", "Rebecca", "Jason", "Laura",
    "Ryan", "Sharon", "Jacob", "Cynthia", "Gary", "Kathleen", "Nicholas", "Amy", "Eric", "Angela",
    "Priya", "Wei", "Fatima", "Diego",
)  # fmt: skip
LAST_NAMES = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
    "Green", "Baker", "Nelson", "Carter", "Mitchell", "Roberts", "Campbell", "Parker", "Evans", "Edwards",
    "Collins", "Stewart", "Morris", "Murphy", "Cook", "Rogers", "Morgan", "Peterson", "Cooper", "Reed",
    "Patel", "Chen", "Kim", "Okafor",
)  # fmt: skip
COMPANY_WORDS = (
    ("Acme", "Apex", "Blue", "Bright", "Cedar", "Clear", "Copper", "Crystal", "Delta", "Eagle", "Ember", "First",
     "Golden", "Granite", "Green", "Harbor", "Iron", "Lake", "Maple", "Meridian", "North", "Nova", "Oak",
     "Orbit", "Pacific", "Pine", "Prime", "Quantum", "Red", "River", "Silver", "Solar", "Stone", "Summit",
     "True", "Union", "Vertex", "West", "Willow", "Zenith"),
    ("Arc", "Bay", "Bridge", "Cloud", "Crest", "Field", "Forge", "Gate", "Grove", "Hill", "Key", "Leaf",
     "Line", "Link", "Loop", "Mark", "Mill", "Path", "Peak", "Point", "Port", "Ridge", "Rock", "Sky", "Spring",
     "Star", "Stream", "Tide", "Tower", "Trail", "Vale", "View", "Wave", "Way", "Well", "Wind", "Wood", "Works",
     "Yard", "Zone"),
    ("Analytics", "Bank", "Capital", "Construction", "Consulting", "Dental", "Energy", "Foods", "Freight",
     "Group", "Health", "Hotels", "Insurance", "Labs", "Logistics", "Media", "Motors", "Partners", "Retail",
     "Systems"),
)  # fmt: skip

NO_INDEX = -1
Parts = TypeVar("Parts")


@dataclass(frozen=True)
class DemoSummary:
    """How many rows each table received, for the CLI to print."""

    teams: int
    reps: int
    accounts: int
    leads: int
    deals: int
    activities: int
    quotes: int
    marketing_spend: int
    nps_responses: int
    forecasts: int
    targets: int

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)

    @property
    def total(self) -> int:
        return sum(self.as_dict().values())

    def __str__(self) -> str:
        counts = ", ".join(f"{count:,} {table.replace('_', ' ')}" for table, count in self.as_dict().items())
        return f"{self.total:,} rows ({counts})"


def generate(
    engine: sa.Engine,
    *,
    seed: int = 7,
    reps: int = 40,
    months: int = 24,
    as_of: dt.date,
    timezone: str = "UTC",
    fresh: bool = True,
    progress: Callable[[str], None] | None = None,
) -> DemoSummary:
    """Write a demo company with ``reps`` sales reps and ``months`` months of history ending at ``as_of``.

    ``fresh`` empties every CRM data table first (demo or not); without it the demo is added next to the
    existing data (ids continue after theirs), which is refused when demo data is already there.
    ``timezone`` is the organisation's: office hours are local, stored moments are naive UTC.
    """
    if reps < 1 or months < 1:
        raise ValueError("a demo needs at least one rep and one month of history")
    if isinstance(as_of, dt.datetime):
        as_of = as_of.date()
    tz = zoneinfo.ZoneInfo(timezone)
    tell = progress or (lambda _message: None)
    rng = np.random.default_rng(seed)
    cal = Calendar.ending(as_of, months)

    tell(f"Simulating {reps:,} reps over {months} months up to {as_of.isoformat()}")
    world = simulate(rng, cal, reps)
    tell("Writing to the database")
    with engine.begin() as connection:
        if fresh:
            _refuse_to_replace_other_data(connection)
            _clear_data_tables(connection)
        elif connection.execute(sa.select(sa.func.count()).where(Rep.crm == CRM)).scalar():
            raise ValueError("demo data is already loaded: generate with fresh=True to replace it")
        rows = RowBuilder(world, _id_offsets(connection), tz)
        counts: dict[str, int] = {}
        with _checks_deferred_to_the_end(connection, DATA_TABLES, tell):
            for table, build in rows.builders().items():  # one table at a time, to keep memory low
                frame = build()
                tell(f"  {table.name}: {len(frame):,} rows")
                _write(connection, table, frame)
                counts[table.name] = len(frame)
            _link_team_managers(connection, rows.team_managers())
        _advance_id_sequences(connection, DATA_TABLES)
    _analyze(engine, DATA_TABLES)
    summary = DemoSummary(**counts)
    tell(f"Done: {summary.total:,} rows")
    return summary


# ---------------------------------------------------------------------------------------------------------
# Calendar: day numbers (days since 1970-01-01) and moments (seconds since 1970-01-01, local wall clock)
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Calendar:
    """The days of the history, from ``start`` to ``as_of`` inclusive."""

    start: dt.date
    as_of: dt.date

    @classmethod
    def ending(cls, as_of: dt.date, months: int) -> Calendar:
        return cls(start=_add_months(as_of.replace(day=1), -months), as_of=as_of)

    @property
    def first_day(self) -> int:
        return _day(self.start)

    @property
    def last_day(self) -> int:
        return _day(self.as_of)

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
            month = _add_months(month, 1)
        return months

    def quarter_starts(self) -> list[dt.date]:
        """First days of the calendar quarters that overlap the history (fiscal year = calendar year)."""
        return self.month_starts(_quarter_start(self.start), self.as_of)[::3]

    def week_starts(self) -> list[dt.date]:
        """Mondays of the weeks that overlap the history."""
        monday = self.start - dt.timedelta(days=self.start.weekday())
        return [monday + dt.timedelta(weeks=k) for k in range((self.as_of - monday).days // 7 + 1)]


def _day(date: dt.date) -> int:
    return (date - EPOCH).days


def _date(day: int) -> dt.date:
    return EPOCH + dt.timedelta(days=int(day))


def _add_months(date: dt.date, months: int) -> dt.date:
    index = date.year * 12 + date.month - 1 + months
    return date.replace(year=index // 12, month=index % 12 + 1)


def _quarter_start(date: dt.date) -> dt.date:
    return dt.date(date.year, 3 * ((date.month - 1) // 3) + 1, 1)


def _weekday(days: np.ndarray) -> np.ndarray:
    """Monday = 0 (1970-01-01 was a Thursday)."""
    return (days + 3) % 7


def _workday_number(days: np.ndarray) -> np.ndarray:
    """Number the workdays (Monday to Friday) consecutively; a weekend day gets the next Monday's number.

    Adding and subtracting workday numbers moves through workdays only, evenly: pushing weekend moments to
    the nearest Monday or Friday instead would give those days two or three times their share.
    """
    weeks, weekday = np.divmod(days + 3, 7)  # 1970-01-01 was a Thursday
    return weeks * 5 + np.minimum(weekday, 5)


def _workday(numbers: np.ndarray) -> np.ndarray:
    """The day of each workday number (the inverse of _workday_number)."""
    weeks, weekday = np.divmod(numbers, 5)
    return weeks * 7 + weekday - 3


def _workdays_later(days: np.ndarray, workdays: np.ndarray | int) -> np.ndarray:
    return _workday(_workday_number(days) + workdays)


def _office_seconds(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after midnight, within office hours (about 8:00 to 19:00) and busiest around midday."""
    hours = rng.normal(12.9, 2.3, n)
    hours = np.where((hours < 7.75) | (hours > 18.9), rng.uniform(8.0, 18.0, n), hours)
    return (hours * 3600).astype(np.int64)


def _at_work(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """A moment during office hours of each day."""
    return days * DAY + _office_seconds(rng, len(days))


def _workdays_after(rng: np.random.Generator, moments: np.ndarray, mean_workdays: float) -> np.ndarray:
    """The next step of a process: office hours of a workday at least one workday after each moment.

    A moment that never happened (``NEVER``) has no next step either.
    """
    gap = 1 + np.floor(rng.exponential(mean_workdays, len(moments))).astype(np.int64)
    later = _at_work(rng, _workdays_later(moments // DAY, gap))
    return np.where(moments >= NEVER, NEVER, later)


def _moment_between(rng: np.random.Generator, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """A moment in ``[start, end)``: office hours of a workday drawn evenly, when the interval has one."""
    first, last = _workday_number(start // DAY), _workday_number((end - 1) // DAY)
    number = first + np.floor(rng.random(len(start)) * np.maximum(0, last - first + 1)).astype(np.int64)
    return np.clip(_at_work(rng, _workday(number)), start, end - 1)


def _visible(moments: np.ndarray, cal: Calendar) -> np.ndarray:
    """Hide what happens after the history: those steps have not happened yet."""
    return np.where(moments < cal.end, moments, NEVER)


# ---------------------------------------------------------------------------------------------------------
# The organisation: regions, teams, people
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Org:
    """Teams and people as parallel arrays. People are ordered reps first (Alice is 0), then one manager per
    team (in team order), then admins; teams are ordered regions first, then selling teams."""

    team_name: list[str]
    team_parent: np.ndarray  # team index or NO_INDEX
    team_manager: np.ndarray  # person index
    name: list[str]
    email: list[str]
    slack_user_id: list[str | None]
    role: np.ndarray
    team: np.ndarray  # team index or NO_INDEX
    hired: np.ndarray  # day
    left: np.ndarray  # day, NEVER_DAY while still employed
    n_reps: int
    skill: np.ndarray  # per rep: chance to win a new-business deal
    drive: np.ndarray  # per rep: how much work they get through (1 = average)
    ramp_days: np.ndarray  # per rep: days from hire to full productivity

    @property
    def rep_team(self) -> np.ndarray:
        return self.team[: self.n_reps]

    @property
    def rep_hired(self) -> np.ndarray:
        return self.hired[: self.n_reps]

    @property
    def rep_left(self) -> np.ndarray:
        return self.left[: self.n_reps]


ALICE = 0


def make_org(rng: np.random.Generator, cal: Calendar, reps: int) -> Org:
    """About one region per 200 reps (at least 2), one team per 10 reps, a manager for every team and region."""
    n_regions = max(2, round(reps / 200))
    n_teams = max(n_regions, math.ceil(reps / 10))
    regions = [REGION_NAMES[i] if i < len(REGION_NAMES) else f"Region {i + 1}" for i in range(n_regions)]
    team_region = np.arange(n_teams) % n_regions
    team_name = regions + [f"{regions[r]} {t // n_regions + 1}" for t, r in enumerate(team_region)]
    team_parent = np.concatenate([np.full(n_regions, NO_INDEX), team_region])
    n_managers, n_admins = len(team_name), max(1, reps // 500)
    first_manager, first_admin = reps, reps + n_managers
    n_people = first_admin + n_admins

    name, email = _person_names(rng, n_people)
    slack: list[str | None] = [None] * n_people
    morgan = first_manager + n_regions  # the manager of "West 1", Alice's team
    for person, (full_name, address, slack_id) in {
        ALICE: ("Alice Adams", "alice@example.com", "U0ALICE"),
        morgan: ("Morgan Manager", "manager@example.com", "U0MANAGER"),
        first_admin: ("Ada Admin", "admin@example.com", "U0ADMIN"),
    }.items():
        name[person], email[person], slack[person] = full_name, address, slack_id

    role = np.array(["rep"] * reps + ["manager"] * n_managers + ["admin"] * n_admins, dtype=object)
    rep_team = n_regions + (np.arange(reps) * n_teams) // reps
    team = np.concatenate([rep_team, np.arange(n_managers), np.full(n_admins, NO_INDEX)])
    hired_reps, left_reps = _rep_tenures(rng, cal, reps)
    hired = np.concatenate([hired_reps, cal.first_day - rng.integers(200, 3000, n_managers + n_admins)])
    left = np.concatenate([left_reps, np.full(n_managers + n_admins, NEVER_DAY)])
    skill = np.clip(rng.normal(0.27, 0.05, reps), 0.15, 0.4)
    drive = rng.lognormal(0.0, 0.2, reps)
    ramp_days = rng.integers(60, 150, reps)
    skill[ALICE], drive[ALICE], ramp_days[ALICE] = 0.3, 1.0, 90
    return Org(
        team_name=team_name,
        team_parent=team_parent,
        team_manager=first_manager + np.arange(n_managers),
        name=name,
        email=email,
        slack_user_id=slack,
        role=role,
        team=team,
        hired=hired,
        left=left,
        n_reps=reps,
        skill=skill,
        drive=drive,
        ramp_days=ramp_days,
    )


def _rep_tenures(rng: np.random.Generator, cal: Calendar, reps: int) -> tuple[np.ndarray, np.ndarray]:
    """Hire and leave days: a quarter of the reps join during the history and one in eight leaves (at least
    one of each from 5 reps up, so rep retention and ramp time always have someone to measure), spread
    evenly through the history. Fixed shares and steady hiring rather than coin flips, so that a company
    twice the size is twice as busy.

    Alice was hired 800 days before as_of and stays, so "her" numbers exist for every period.
    """
    window = cal.last_day - cal.first_day + 1
    others = 1 + rng.permutation(reps - 1)  # everyone but Alice, in random order
    joiners = others[: _share_of(reps, 0.25)]
    hired = cal.first_day - rng.integers(30, 6 * 365, reps)
    hired[joiners] = cal.first_day + np.floor(_spread(rng, len(joiners)) * max(1, window - 21)).astype(np.int64)
    hired[ALICE] = cal.last_day - 800
    earliest_leave = np.maximum(hired + 90, cal.first_day)
    leavers = others[earliest_leave[others] < cal.last_day][: _share_of(reps, 0.12)]
    left = np.full(reps, NEVER_DAY)
    span = cal.last_day - earliest_leave[leavers]
    left[leavers] = earliest_leave[leavers] + np.floor(_spread(rng, len(leavers)) * span).astype(np.int64)
    return hired, left


def _spread(rng: np.random.Generator, n: int) -> np.ndarray:
    """``n`` fractions in [0, 1), one in each n-th of the interval, in random order: random but steady."""
    return rng.permutation((np.arange(n) + rng.random(n)) / max(1, n))


def _share_of(reps: int, share: float) -> int:
    """How many reps make ``share`` of the company: at least one from 5 reps up."""
    return max(int(reps >= 5), round(share * reps))


def _person_names(rng: np.random.Generator, n: int) -> tuple[list[str], list[str]]:
    """Distinct "First Last" names and first.last@example.com addresses (numbered once the pairs run out)."""
    pairs = len(FIRST_NAMES) * len(LAST_NAMES)
    order = rng.permutation(pairs)
    names, emails = [], []
    for i in range(n):  # one iteration per person: a few thousand at most
        pair, round_ = order[i % pairs], i // pairs
        first, last = FIRST_NAMES[pair // len(LAST_NAMES)], LAST_NAMES[pair % len(LAST_NAMES)]
        names.append(f"{first} {last}")
        emails.append(f"{first}.{last}{round_ + 1 if round_ else ''}@example.com".lower())
    return names, emails


def _company_names(rng: np.random.Generator, n: int) -> np.ndarray:
    """Company names such as "StoneBridge Logistics", numbered once the combinations run out."""
    first, second, third = (np.array(words, dtype=object) for words in COMPANY_WORDS)
    combinations = len(first) * len(second) * len(third)
    pick = rng.permutation(combinations)[np.arange(n) % combinations]
    names = first[pick % len(first)] + second[pick // len(first) % len(second)] + " "
    names = names + third[pick // (len(first) * len(second))]
    rounds = np.arange(n) // combinations
    suffix = np.array([""] + [f" {k + 1}" for k in range(1, int(rounds.max(initial=0)) + 1)], dtype=object)
    return names + suffix[rounds]


def _employment(org: Org, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Two (rep, day) matrices over the history: whether the rep is employed that day, and how far they have
    ramped up (from 20% of a seasoned rep's results on their first day to 100% after ``ramp_days``)."""
    days = cal.days[np.newaxis, :]
    tenure = days - org.rep_hired[:, np.newaxis]
    employed = (tenure >= 0) & (days < org.rep_left[:, np.newaxis])
    return employed, np.clip(0.2 + 0.8 * tenure / org.ramp_days[:, np.newaxis], 0.0, 1.0)


def _working_capacity(org: Org, cal: Calendar, *, ramped: bool) -> np.ndarray:
    """A (rep, day) matrix of how much work each rep does each day of the history: 1 for an average rep on
    a weekday, more for driven reps, a trickle at weekends, 0 when not employed, less while ramping up
    when ``ramped`` (prospecting calls do not need experience; winning deals does)."""
    employed, ramp = _employment(org, cal)
    weekday = WEEKDAY_WEIGHT[_weekday(cal.days)][np.newaxis, :]
    return np.where(employed, ramp if ramped else 1.0, 0.0) * org.drive[:, np.newaxis] * weekday


def _daily_events(rng: np.random.Generator, rates: np.ndarray, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Draw a Poisson number of events in every (rep, day) cell of ``rates``; return each event's rep and
    moment (office hours that day), ordered by rep then day."""
    counts = rng.poisson(rates).ravel()
    cells = np.repeat(np.arange(counts.size), counts)
    rep, day_index = np.divmod(cells, rates.shape[1])
    return rep, _at_work(rng, cal.first_day + day_index)


# ---------------------------------------------------------------------------------------------------------
# Leads: created, MQL, SQL, then converted to a deal or disqualified (or still open)
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Leads:
    owner: np.ndarray
    source: np.ndarray
    name: np.ndarray  # index of a (first name, last name) pair
    created: np.ndarray
    mql: np.ndarray  # NEVER when it did not (yet) happen, as for the columns below
    sql: np.ndarray
    converted: np.ndarray
    disqualified: np.ndarray


def make_leads(rng: np.random.Generator, org: Org, cal: Calendar, capacity: np.ndarray) -> Leads:
    """About 40% of leads become MQL, half of those SQL, 60% of SQLs convert (12% of all leads); 80% of the
    others are disqualified in time. A lead cannot convert after its owner has left."""
    owner, created = _daily_events(rng, LEADS_PER_DAY * capacity, cal)
    n = len(owner)
    source = rng.choice(len(LEAD_SOURCES), n, p=LEAD_SOURCE_SHARE)
    mql = np.where(rng.random(n) < LEAD_SOURCE_MQL_RATE[source], _workdays_after(rng, created, 2), NEVER)
    sql = np.where(rng.random(n) < SQL_RATE, _workdays_after(rng, mql, 4), NEVER)
    converted = np.where(rng.random(n) < CONVERSION_RATE, _workdays_after(rng, sql, 4), NEVER)
    converted = np.where(converted < org.left[owner] * DAY, converted, NEVER)
    last_step = np.where(sql < NEVER, sql, np.where(mql < NEVER, mql, created))
    gives_up = (converted == NEVER) & (rng.random(n) < DISQUALIFY_RATE)
    disqualified = np.where(gives_up, _workdays_after(rng, last_step, 8), NEVER)
    return Leads(
        owner=owner,
        source=source,
        name=rng.integers(0, len(FIRST_NAMES) * len(LAST_NAMES), n),
        created=created,
        mql=_visible(mql, cal),
        sql=_visible(sql, cal),
        converted=_visible(converted, cal),
        disqualified=_visible(disqualified, cal),
    )


# ---------------------------------------------------------------------------------------------------------
# Deals and accounts
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Deals:
    owner: np.ndarray
    account: np.ndarray
    lead: np.ndarray  # index of the converted lead that opened the deal, or NO_INDEX
    created: np.ndarray
    close: np.ndarray  # actual close for closed deals, expected close for open ones
    wins: np.ndarray  # the outcome, also for deals still open (it is not visible yet)
    status: np.ndarray  # OPEN, WON or LOST as of the end of the history
    stage: np.ndarray  # index into STAGES
    type: np.ndarray  # index into DEAL_TYPES
    amount: np.ndarray
    cost: np.ndarray  # NaN when unknown
    contract_months: np.ndarray  # 0 when unknown
    product: np.ndarray
    updated: np.ndarray


@dataclass
class Accounts:
    owner: np.ndarray
    segment: np.ndarray
    name: np.ndarray
    became_customer: np.ndarray  # NEVER for prospects
    churned: np.ndarray  # NEVER while still a customer


def make_deals(
    rng: np.random.Generator, org: Org, cal: Calendar, capacity: np.ndarray, leads: Leads
) -> tuple[Deals, Accounts]:
    """Open deals, give them accounts and outcomes, then derive customers and churn from the outcomes."""
    owner, created, lead = _deal_openings(rng, cal, capacity, leads)
    account, opens_account = _assign_accounts(rng, owner, lead)
    n, n_accounts = len(owner), int(opens_account.sum())
    segment = rng.choice(len(SEGMENTS), n_accounts, p=SEGMENT_SHARE)
    account_owner = np.zeros(n_accounts, dtype=np.int64)
    account_owner[account[opens_account]] = owner[opens_account]

    # Alice's first two deals open their own small accounts: one is won and one lost, early enough to close.
    examples = np.flatnonzero(owner == ALICE)[:2]
    segment[account[examples]] = 0
    chance = rng.random(n)  # the deal is won when chance < its win probability
    chance[examples] = [0.0, 0.999][: len(examples)]

    cycle = _cycle_days(rng, segment[account])
    cycle[examples] = 20
    lost_sooner = rng.uniform(0.6, 1.0, n)  # lost deals die before their full cycle
    close_seconds = _office_seconds(rng, n)

    def close_at(cycle_days: np.ndarray, wins: np.ndarray) -> np.ndarray:
        days = np.round(np.where(wins, cycle_days, np.maximum(10, cycle_days * lost_sooner))).astype(np.int64)
        days[examples] = 20
        return _workdays_later(created // DAY, np.round(days * 5 / 7).astype(np.int64)) * DAY + close_seconds

    # First pass: every deal as new business, to find when each account's first deal was won.
    wins_as_new = chance < org.skill[owner] * SEGMENT_WIN_FACTOR[segment[account]]
    close_as_new = close_at(cycle, wins_as_new)
    became_customer = np.full(n_accounts, NEVER)
    first_wins = wins_as_new & (close_as_new < cal.end)
    np.minimum.at(became_customer, account[first_wins], close_as_new[first_wins])

    # Deals opened on a customer are expansions: likelier to win, smaller and quicker. They start after the
    # first win, so they cannot change when the account became a customer.
    expansion = created > became_customer[account]
    wins = np.where(expansion, chance < EXPANSION_WIN_RATE, wins_as_new)
    cycle = np.where(expansion, np.maximum(15, cycle * 0.6), cycle)
    close = close_at(cycle, wins)
    deal_type = np.where(expansion, 1 + rng.choice(3, n, p=EXPANSION_SHARE), 0)

    status = np.where(close < cal.end, np.where(wins, WON, LOST), OPEN)
    amount = np.round(
        rng.lognormal(np.log(SEGMENT_MEDIAN_AMOUNT[segment[account]]), 0.55) * TYPE_AMOUNT_FACTOR[deal_type], 2
    )
    deals = Deals(
        owner=owner,
        account=account,
        lead=lead,
        created=created,
        close=close,
        wins=wins,
        status=status,
        stage=_stages(status, created, close, cal),
        type=deal_type,
        amount=amount,
        cost=_costs(rng, amount),
        contract_months=np.array(CONTRACT_MONTHS)[rng.choice(len(CONTRACT_MONTHS), n, p=CONTRACT_SHARE)],
        product=PRODUCTS[rng.integers(0, len(PRODUCTS), n)],
        updated=np.where(status == OPEN, created + (rng.random(n) * (cal.end - 1 - created)).astype(np.int64), close),
    )
    accounts = Accounts(
        owner=account_owner,
        segment=segment,
        name=_company_names(rng, n_accounts),
        became_customer=became_customer,
        churned=_churn(rng, cal, deals, became_customer),
    )
    return deals, accounts


def _deal_openings(
    rng: np.random.Generator, cal: Calendar, capacity: np.ndarray, leads: Leads
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Deals a rep opens directly plus deals opened by converted leads (same owner, same moment), ordered by
    owner then creation so that ids follow each rep's history."""
    owner, created = _daily_events(rng, DEALS_PER_DAY * capacity, cal)
    converted = np.flatnonzero(leads.converted < NEVER)
    owner = np.concatenate([owner, leads.owner[converted]])
    created = np.concatenate([created, leads.converted[converted]])
    lead = np.concatenate([np.full(len(created) - len(converted), NO_INDEX), converted])
    order = np.lexsort((created, owner))
    return owner[order], created[order], lead[order]


def _assign_accounts(rng: np.random.Generator, owner: np.ndarray, lead: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each rep builds a book of accounts: a deal opens a new account (always for a converted lead, a rep's
    first deal and Alice's first two) or else goes back to one of the rep's earlier accounts, at random.
    Going back to a customer is what makes expansion deals. Needs deals ordered by owner then time."""
    n = len(owner)
    first_of_owner = np.r_[True, owner[1:] != owner[:-1]] if n else np.zeros(0, dtype=bool)
    opens = (rng.random(n) < 0.55) | (lead != NO_INDEX) | first_of_owner
    opens[np.flatnonzero(owner == ALICE)[:2]] = True
    newest = np.cumsum(opens) - 1  # the latest account opened so far (global index)
    owners_first = np.maximum.accumulate(np.where(first_of_owner, newest, 0))
    earlier = owners_first + np.floor(rng.random(n) * (newest - owners_first + 1)).astype(np.int64)
    return np.where(opens, newest, earlier), opens


def _cycle_days(rng: np.random.Generator, segment: np.ndarray) -> np.ndarray:
    """Days from creation to close for a won deal: 15-45 (smb), 30-80 (mid-market), 60-120 (enterprise)."""
    low, high = SEGMENT_CYCLE_DAYS[segment, 0], SEGMENT_CYCLE_DAYS[segment, 1]
    return low + (high - low) * rng.beta(2.0, 2.0, len(segment))


def _stages(status: np.ndarray, created: np.ndarray, close: np.ndarray, cal: Calendar) -> np.ndarray:
    """Closed deals are Closed Won/Lost; open deals are as far along the four open stages as their age
    is along their expected cycle."""
    progress = (cal.end - created) / np.maximum(1, close - created)
    open_stage = np.minimum(3, np.floor(progress * 4)).astype(np.int64)
    return np.select([status == WON, status == LOST], [WON_STAGE, LOST_STAGE], open_stage)


def _costs(rng: np.random.Generator, amount: np.ndarray) -> np.ndarray:
    """Cost for 70% of deals, for a profit margin of 30% give or take (NaN: no cost recorded)."""
    margin = np.clip(rng.normal(0.3, 0.06, len(amount)), 0.12, 0.5)
    known = rng.random(len(amount)) < 0.7
    return np.where(known, np.round(amount * (1 - margin), 2), np.nan)


def _churn(rng: np.random.Generator, cal: Calendar, deals: Deals, became_customer: np.ndarray) -> np.ndarray:
    """A quarter of the customers with nothing open drift away, months after their last deal closed: about
    2% of the customers churn each month."""
    n_accounts = len(became_customer)
    has_open = np.zeros(n_accounts, dtype=bool)
    has_open[deals.account[deals.status == OPEN]] = True
    last_close = became_customer.copy()
    closed = deals.status != OPEN
    np.maximum.at(last_close, deals.account[closed], deals.close[closed])
    may_churn = (became_customer < NEVER) & ~has_open & (rng.random(n_accounts) < 0.25)
    churned = _workdays_after(rng, np.where(may_churn, last_close, NEVER), 120)
    return _visible(churned, cal)


# ---------------------------------------------------------------------------------------------------------
# Activities, quotes, NPS
# ---------------------------------------------------------------------------------------------------------


@dataclass
class Activities:
    owner: np.ndarray
    type: np.ndarray  # index into ACTIVITY_TYPES
    deal: np.ndarray  # deal index or NO_INDEX
    account: np.ndarray  # account index or NO_INDEX
    created: np.ndarray
    occurred: np.ndarray


def make_activities(
    rng: np.random.Generator, org: Org, cal: Calendar, deals: Deals, capacity: np.ndarray
) -> Activities:
    """Work on deals (calls, meetings, demos, emails while the deal is worked), prospecting calls and emails
    not tied to a deal, and calls by Alice's team on as_of itself so "this week" always has some.

    A meeting is created (booked) a few days before it takes place; anything else is created when it happens.
    """
    parts = [_deal_work(rng, cal, deals), _prospecting(rng, cal, capacity), _calls_on_as_of(rng, org, cal)]
    joined = _concatenate(Activities, parts)
    meeting = np.flatnonzero(joined.type == MEETING)
    booked = _at_work(rng, _workdays_later(joined.occurred[meeting] // DAY, -1 - rng.poisson(3, len(meeting))))
    deal = joined.deal[meeting]
    not_before = np.where(deal == NO_INDEX, booked, deals.created[deal])  # booked once the deal existed
    joined.created[meeting] = np.clip(booked, not_before, joined.occurred[meeting])
    return joined


def _deal_work(rng: np.random.Generator, cal: Calendar, deals: Deals) -> Activities:
    worked_until = np.minimum(deals.close, cal.end)
    base, per_day = DEAL_TOUCHES
    touches = rng.poisson(base + per_day * (worked_until - deals.created) / DAY)
    deal = np.repeat(np.arange(len(touches)), touches)
    occurred = _moment_between(rng, deals.created[deal], worked_until[deal])
    return Activities(
        owner=deals.owner[deal],
        type=rng.choice(len(ACTIVITY_TYPES), len(deal), p=DEAL_TOUCH_MIX),
        deal=deal,
        account=deals.account[deal],
        created=occurred,
        occurred=occurred,
    )


def _prospecting(rng: np.random.Generator, cal: Calendar, capacity: np.ndarray) -> Activities:
    owner, occurred = _daily_events(rng, PROSPECTING_TOUCHES_PER_DAY * capacity, cal)
    kind = np.where(rng.random(len(owner)) < PROSPECTING_CALL_SHARE, CALL, EMAIL)
    return _untied(owner, kind, occurred)


def _calls_on_as_of(rng: np.random.Generator, org: Org, cal: Calendar) -> Activities:
    """Three calls on as_of by Alice and each teammate still employed: the week of as_of is never empty."""
    team = np.flatnonzero((org.rep_team == org.rep_team[ALICE]) & (org.rep_left == NEVER_DAY))
    owner = np.repeat(team, 3)
    occurred = cal.last_day * DAY + np.tile([9 * 3600, 11 * 3600, 14 * 3600], len(team))
    occurred = occurred + rng.integers(0, 3600, len(owner))
    return _untied(owner, np.full(len(owner), CALL), occurred)


def _untied(owner: np.ndarray, kind: np.ndarray, occurred: np.ndarray) -> Activities:
    none = np.full(len(owner), NO_INDEX)
    return Activities(owner=owner, type=kind, deal=none, account=none, created=occurred, occurred=occurred)


@dataclass
class Quotes:
    deal: np.ndarray
    amount: np.ndarray
    sent: np.ndarray


def make_quotes(rng: np.random.Generator, cal: Calendar, deals: Deals) -> Quotes:
    """A quote for 85% of the deals that reached Proposal (most won deals, 45% of lost ones, open deals at
    Proposal or Negotiation), sent in the second half of the deal's life, a little above the final amount."""
    n = len(deals.owner)
    reached_proposal = np.select(
        [deals.status == OPEN, deals.wins], [deals.stage >= PROPOSAL, rng.random(n) < 0.9], rng.random(n) < 0.45
    )
    deal = np.flatnonzero(reached_proposal & (rng.random(n) < 0.85))
    worked_until = np.minimum(deals.close[deal], cal.end)
    halfway = deals.created[deal] + (worked_until - deals.created[deal]) // 2
    return Quotes(
        deal=deal,
        amount=np.round(deals.amount[deal] * rng.uniform(1.0, 1.12, len(deal)), 2),
        sent=_moment_between(rng, halfway, worked_until),
    )


@dataclass
class NpsAnswers:
    account: np.ndarray
    score: np.ndarray
    answered: np.ndarray


def make_nps(rng: np.random.Generator, cal: Calendar, accounts: Accounts) -> NpsAnswers:
    """Customers answer the survey about 1.5 times a year from two weeks after they signed until they churn;
    customers who later churn were less happy."""
    asked_from = accounts.became_customer + 14 * DAY
    asked_until = np.minimum(accounts.churned, cal.end)
    span = np.where(accounts.became_customer < NEVER, np.maximum(0, asked_until - asked_from), 0)
    account = np.repeat(np.arange(len(span)), rng.poisson(1.5 * span / (365 * DAY)))
    churns = accounts.churned[account] < NEVER
    happy = rng.choice(11, len(account), p=NPS_SCORE_SHARE)
    unhappy = rng.choice(11, len(account), p=NPS_SCORE_SHARE_CHURNED)
    return NpsAnswers(
        account=account,
        score=np.where(churns, unhappy, happy),
        answered=_moment_between(rng, asked_from[account], asked_until[account]),
    )


# ---------------------------------------------------------------------------------------------------------
# Plans: quotas and targets, forecasts, marketing spend
# ---------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Quotas:
    """What a fully ramped rep is expected to do: the median rep's pace, rounded up a little (a stretch)."""

    revenue_per_month: float
    wins_per_month: float
    calls_per_week: float


def measure_quotas(org: Org, cal: Calendar, deals: Deals, activities: Activities) -> Quotas:
    """Quotas from the reps' eventual results (deals still open count with their outcome to come), per month
    of ramped selling time, so that some reps end above target and some below."""
    reps = org.n_reps
    employed, ramp = _employment(org, cal)
    ramped_months = np.where(employed, ramp, 0.0).sum(axis=1) / 30.44
    weeks = employed.sum(axis=1) / 7
    revenue = np.bincount(deals.owner, weights=np.where(deals.wins, deals.amount, 0.0), minlength=reps)
    wins = np.bincount(deals.owner, weights=deals.wins, minlength=reps)
    calls = np.bincount(activities.owner[activities.type == CALL], minlength=reps)
    seasoned = ramped_months >= 1
    if not seasoned.any():
        seasoned = ramped_months > 0
    return Quotas(
        revenue_per_month=max(1000.0, round(np.median(revenue[seasoned] / ramped_months[seasoned]) * 1.05, -3)),
        wins_per_month=max(1.0, round(np.median(wins[seasoned] / ramped_months[seasoned]) * 1.05)),
        calls_per_week=max(5.0, 5 * round(np.median(calls[seasoned] / weeks[seasoned]) * 1.1 / 5)),
    )


@dataclass
class Targets:
    kpi: list[str]
    scope_type: list[str]
    scope: list[int]  # rep or team index, NO_INDEX for the organisation
    start: list[dt.date]
    end: list[dt.date]
    value: list[float]

    def add(self, kpi: str, scope_type: str, scope: int, start: dt.date, end: dt.date, value: float) -> None:
        for column, item in zip(
            (self.kpi, self.scope_type, self.scope, self.start, self.end, self.value),
            (kpi, scope_type, scope, start, end, value),
            strict=True,
        ):
            column.append(item)


def make_targets(org: Org, cal: Calendar, quotas: Quotas) -> Targets:
    """Revenue targets per rep per month and quarter, per team and region per quarter, for the organisation
    per quarter and year; deals-won per rep per month; calls per rep per week. A rep's first month is
    pro-rated from the hire date; quarter and team targets add up the rep targets below them.

    Targets cover whole periods (the current month, quarter and week included): they are plans. There is
    one row per rep and period (a few hundred thousand at most), so plain loops keep this readable.
    """
    targets = Targets([], [], [], [], [], [])
    reps = np.arange(org.n_reps)
    hired, left = org.rep_hired, org.rep_left
    quarters = cal.quarter_starts()
    months = cal.month_starts(quarters[0], _add_months(quarters[-1], 2))
    month_target = np.zeros((org.n_reps, len(months)))
    for m, start in enumerate(months):
        if start < cal.start:
            continue  # before the history: the first quarter's targets cover its months in the history
        end = _add_months(start, 1)
        employed_days = np.clip(np.minimum(left, _day(end)) - np.maximum(hired, _day(start)), 0, None)
        share = np.where(hired > _day(start), employed_days / (end - start).days, 1.0)
        month_target[:, m] = np.where(employed_days > 0, np.round(quotas.revenue_per_month * share, -2), 0)
        for rep in reps[month_target[:, m] > 0]:
            targets.add("revenue", "rep", rep, start, end, month_target[rep, m])
            targets.add("deals-won", "rep", rep, start, end, max(1, round(quotas.wins_per_month * share[rep])))

    quarter_total: dict[int, float] = {}
    for q, start in enumerate(quarters):
        end = _add_months(start, 3)
        per_rep = month_target[:, 3 * q : 3 * q + 3].sum(axis=1)
        for rep in reps[per_rep > 0]:
            targets.add("revenue", "rep", rep, start, end, per_rep[rep])
        for team, total in _team_totals(org, per_rep).items():
            targets.add("revenue", "team", team, start, end, total)
        targets.add("revenue", "org", NO_INDEX, start, end, per_rep.sum())
        quarter_total[q] = per_rep.sum()

    for year in sorted({start.year for start in quarters}):
        known = [quarter_total[q] for q, start in enumerate(quarters) if start.year == year]
        targets.add("revenue", "org", NO_INDEX, dt.date(year, 1, 1), dt.date(year + 1, 1, 1), 4 * np.mean(known))

    for start in cal.week_starts():
        end = start + dt.timedelta(weeks=1)
        for rep in reps[(hired < _day(end)) & (left > _day(start))]:
            targets.add("calls", "rep", rep, start, end, quotas.calls_per_week)
    return targets


def _team_totals(org: Org, per_rep: np.ndarray) -> dict[int, float]:
    """Sum a per-rep value over every team and region (a region holds its teams' reps)."""
    totals: dict[int, float] = {}
    for team in range(len(org.team_name)):
        members = (org.rep_team == team) | (org.team_parent[org.rep_team] == team)
        if per_rep[members].sum() > 0:
            totals[team] = float(per_rep[members].sum())
    return totals


@dataclass
class Forecasts:
    owner: np.ndarray
    quarter: np.ndarray  # index into cal.quarter_starts()
    amount: np.ndarray
    submitted: np.ndarray


def make_forecasts(rng: np.random.Generator, org: Org, cal: Calendar, deals: Deals) -> Forecasts:
    """Each rep employed when a quarter begins forecasts it 3-10 days before, within about 20% of what they
    will actually win; 30% send a better revision a day or two before the quarter starts."""
    quarters = np.array([_day(start) for start in cal.quarter_starts()])
    quarter_of_close = np.searchsorted(quarters, deals.close // DAY, side="right") - 1
    counted = deals.wins & (quarter_of_close >= 0) & (deals.close // DAY < _day(_add_months(_date(quarters[-1]), 3)))
    eventual = np.zeros((org.n_reps, len(quarters)))
    np.add.at(eventual, (deals.owner[counted], quarter_of_close[counted]), deals.amount[counted])

    employed = (org.rep_hired[:, np.newaxis] < quarters) & (org.rep_left[:, np.newaxis] > quarters)
    owner, quarter = np.nonzero(employed)
    first = Forecasts(
        owner=owner,
        quarter=quarter,
        amount=np.round(eventual[owner, quarter] * rng.lognormal(0.0, 0.2, len(owner)), -2),
        submitted=_at_work(rng, _workdays_later(quarters[quarter], -rng.integers(3, 8, len(owner)))),
    )
    revises = rng.random(len(owner)) < 0.3
    revision = Forecasts(
        owner=owner[revises],
        quarter=quarter[revises],
        amount=np.round(eventual[owner[revises], quarter[revises]] * rng.lognormal(0.0, 0.1, revises.sum()), -2),
        submitted=_at_work(rng, _workdays_later(quarters[quarter[revises]], -rng.integers(1, 3, revises.sum()))),
    )
    return _concatenate(Forecasts, [first, revision])


@dataclass
class Spend:
    team: np.ndarray  # team index or NO_INDEX for organisation-level spend
    month: list[dt.date]
    amount: np.ndarray


def make_spend(rng: np.random.Generator, org: Org, cal: Calendar) -> Spend:
    """Monthly sales and marketing spend: about 12,000 per rep on each selling team, plus 4,000 per rep at
    the organisation level (brand, tools, events). The current month is budgeted in full."""
    selling_teams = np.unique(org.rep_team)
    rows_team, rows_month, rows_amount = [], [], []
    for start in cal.month_starts(cal.start, cal.as_of):
        middle = _day(start) + 14
        employed = (org.rep_hired <= middle) & (org.rep_left > middle)
        headcount = np.bincount(org.rep_team[employed], minlength=len(org.team_name))[selling_teams]
        team_amount = np.maximum(1, headcount) * 12_000 * rng.lognormal(0.0, 0.15, len(selling_teams))
        org_amount = max(1, employed.sum()) * 4_000 * rng.lognormal(0.0, 0.1)
        rows_team += [*selling_teams, NO_INDEX]
        rows_month += [start] * (len(selling_teams) + 1)
        rows_amount += [*team_amount, org_amount]
    return Spend(team=np.array(rows_team), month=rows_month, amount=np.round(np.array(rows_amount), 2))


def _concatenate(cls: type[Parts], parts: list[Parts]) -> Parts:
    """Join dataclasses of parallel arrays (Activities, Forecasts) field by field."""
    return cls(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in dataclasses.fields(cls)})


# ---------------------------------------------------------------------------------------------------------
# The whole world, and its rows
# ---------------------------------------------------------------------------------------------------------


@dataclass
class World:
    cal: Calendar
    org: Org
    leads: Leads
    deals: Deals
    accounts: Accounts
    activities: Activities
    quotes: Quotes
    nps: NpsAnswers
    forecasts: Forecasts
    spend: Spend
    targets: Targets


def simulate(rng: np.random.Generator, cal: Calendar, reps: int) -> World:
    """Everything, in the order it happens: people, leads, deals (some from leads), work, plans."""
    org = make_org(rng, cal, reps)
    selling = _working_capacity(org, cal, ramped=True)
    leads = make_leads(rng, org, cal, selling)
    deals, accounts = make_deals(rng, org, cal, selling, leads)
    activities = make_activities(rng, org, cal, deals, _working_capacity(org, cal, ramped=False))
    quotas = measure_quotas(org, cal, deals, activities)
    return World(
        cal=cal,
        org=org,
        leads=leads,
        deals=deals,
        accounts=accounts,
        activities=activities,
        quotes=make_quotes(rng, cal, deals),
        nps=make_nps(rng, cal, accounts),
        forecasts=make_forecasts(rng, org, cal, deals),
        spend=make_spend(rng, org, cal),
        targets=make_targets(org, cal, quotas),
    )


class RowBuilder:
    """Turns the simulated arrays into table rows: ids numbered after ``offsets`` (the largest ids already
    in use), foreign keys, strings, and moments converted from local time to naive UTC."""

    def __init__(self, world: World, offsets: dict[str, int], tz: zoneinfo.ZoneInfo) -> None:
        self.world, self.offsets, self.tz = world, offsets, tz

    def builders(self) -> dict[sa.Table, Callable[[], pd.DataFrame]]:
        """What makes each table's DataFrame, in an order that satisfies the foreign keys (but see
        team_managers)."""
        return {
            Team.__table__: self.teams,
            Rep.__table__: self.reps,
            Account.__table__: self.accounts,
            Deal.__table__: self.deals,
            Lead.__table__: self.leads,
            Activity.__table__: self.activities,
            Quote.__table__: self.quotes,
            MarketingSpend.__table__: self.marketing_spend,
            NpsResponse.__table__: self.nps_responses,
            Forecast.__table__: self.forecasts,
            Target.__table__: self.targets,
        }

    def team_managers(self) -> list[dict[str, int]]:
        """teams.manager_id, set after the reps are written since teams and reps point at each other."""
        org = self.world.org
        teams = self.ids("teams", np.arange(len(org.team_name)))
        managers = self.ids("reps", org.team_manager)
        return [{"team": int(t), "manager": int(m)} for t, m in zip(teams, managers, strict=True)]

    # ids and conversions -------------------------------------------------------------------------------

    def ids(self, table: str, index: np.ndarray) -> np.ndarray:
        return self.offsets[table] + 1 + np.asarray(index, dtype=np.int64)

    def optional_ids(self, table: str, index: np.ndarray) -> pd.arrays.IntegerArray:
        index = np.asarray(index, dtype=np.int64)
        return pd.arrays.IntegerArray(self.ids(table, index), index == NO_INDEX)

    def stamps(self, moments: np.ndarray) -> np.ndarray:
        """Local moments (NEVER: none) as naive UTC datetime64[s]."""
        local = np.where(moments >= NEVER, np.iinfo(np.int64).min, moments).view("datetime64[s]")
        if self.tz.key == "UTC":
            return local
        utc = pd.DatetimeIndex(local).tz_localize(
            self.tz, ambiguous=np.ones(len(local), dtype=bool), nonexistent="shift_forward"
        )
        return utc.tz_convert("UTC").tz_localize(None).as_unit("s").to_numpy()

    def source(self, table: str, n: int) -> dict[str, object]:
        """The columns every CRM record has: crm, crm_id (the demo's id) and id."""
        ids = self.ids(table, np.arange(n))
        return {"id": ids, "crm": CRM, "crm_id": ids}  # crm_id is a String column: converted when written

    # tables --------------------------------------------------------------------------------------------

    def teams(self) -> pd.DataFrame:
        org = self.world.org
        return pd.DataFrame(
            {
                **self.source("teams", len(org.team_name)),
                "name": org.team_name,
                "parent_id": self.optional_ids("teams", org.team_parent),
            }
        )

    def reps(self) -> pd.DataFrame:
        org = self.world.org
        return pd.DataFrame(
            {
                **self.source("reps", len(org.name)),
                "name": org.name,
                "email": org.email,
                "slack_user_id": np.array(org.slack_user_id, dtype=object),
                "team_id": self.optional_ids("teams", org.team),
                "role": org.role,
                "hired_at": _dates(org.hired),
                "left_at": _dates(org.left),
                "active": org.left == NEVER_DAY,
            }
        )

    def accounts(self) -> pd.DataFrame:
        accounts = self.world.accounts
        return pd.DataFrame(
            {
                **self.source("accounts", len(accounts.owner)),
                "name": accounts.name,
                "owner_id": self.ids("reps", accounts.owner),
                "segment": np.array(SEGMENTS, dtype=object)[accounts.segment],
                "became_customer_at": self.stamps(accounts.became_customer),
                "churned_at": self.stamps(accounts.churned),
            }
        )

    def deals(self) -> pd.DataFrame:
        deals, accounts = self.world.deals, self.world.accounts
        months = deals.contract_months
        return pd.DataFrame(
            {
                **self.source("deals", len(deals.owner)),
                "owner_id": self.ids("reps", deals.owner),
                "account_id": self.ids("accounts", deals.account),
                "name": accounts.name[deals.account] + " - " + TYPE_LABEL[deals.type],
                "product": deals.product,
                "amount": deals.amount,
                "cost": deals.cost,
                "currency": "USD",
                "stage": STAGES[deals.stage],
                "status": STATUSES[deals.status],
                "type": np.array(DEAL_TYPES, dtype=object)[deals.type],
                "probability": STAGE_PROBABILITY[deals.stage],
                "contract_months": pd.arrays.IntegerArray(months.astype(np.int64), months == 0),
                "created_at": self.stamps(deals.created),
                "close_date": self.stamps(deals.close),
                "updated_at": self.stamps(deals.updated),
            }
        )

    def leads(self) -> pd.DataFrame:
        leads, deals = self.world.leads, self.world.deals
        n = len(leads.owner)
        converted_deal = np.full(n, NO_INDEX)
        from_lead = np.flatnonzero(deals.lead != NO_INDEX)
        converted_deal[deals.lead[from_lead]] = from_lead
        first = np.array(FIRST_NAMES, dtype=object)[leads.name // len(LAST_NAMES)]
        last = np.array(LAST_NAMES, dtype=object)[leads.name % len(LAST_NAMES)]
        status = np.select(
            [leads.converted < NEVER, leads.disqualified < NEVER], ["converted", "disqualified"], "open"
        ).astype(object)
        return pd.DataFrame(
            {
                **self.source("leads", n),
                "owner_id": self.ids("reps", leads.owner),
                "name": first + " " + last,
                "lead_source": LEAD_SOURCES[leads.source],
                "status": status,
                "created_at": self.stamps(leads.created),
                "mql_at": self.stamps(leads.mql),
                "sql_at": self.stamps(leads.sql),
                "converted_at": self.stamps(leads.converted),
                "disqualified_at": self.stamps(leads.disqualified),
                "converted_deal_id": self.optional_ids("deals", converted_deal),
            }
        )

    def activities(self) -> pd.DataFrame:
        activities = self.world.activities
        return pd.DataFrame(
            {
                **self.source("activities", len(activities.owner)),
                "owner_id": self.ids("reps", activities.owner),
                "type": ACTIVITY_TYPES[activities.type],
                "deal_id": self.optional_ids("deals", activities.deal),
                "account_id": self.optional_ids("accounts", activities.account),
                "created_at": self.stamps(activities.created),
                "occurred_at": self.stamps(activities.occurred),
            }
        )

    def quotes(self) -> pd.DataFrame:
        quotes, deals = self.world.quotes, self.world.deals
        return pd.DataFrame(
            {
                **self.source("quotes", len(quotes.deal)),
                "owner_id": self.ids("reps", deals.owner[quotes.deal]),
                "deal_id": self.ids("deals", quotes.deal),
                "amount": quotes.amount,
                "sent_at": self.stamps(quotes.sent),
            }
        )

    def marketing_spend(self) -> pd.DataFrame:
        spend = self.world.spend
        return pd.DataFrame(
            {
                **self.source("marketing_spend", len(spend.month)),
                "team_id": self.optional_ids("teams", spend.team),
                "period_start": spend.month,
                "period_end": [_add_months(month, 1) for month in spend.month],
                "amount": spend.amount,
            }
        )

    def nps_responses(self) -> pd.DataFrame:
        nps = self.world.nps
        return pd.DataFrame(
            {
                **self.source("nps_responses", len(nps.account)),
                "account_id": self.ids("accounts", nps.account),
                "score": nps.score,
                "answered_at": self.stamps(nps.answered),
            }
        )

    def forecasts(self) -> pd.DataFrame:
        forecasts = self.world.forecasts
        quarters = self.world.cal.quarter_starts()
        return pd.DataFrame(
            {
                **self.source("forecasts", len(forecasts.owner)),
                "owner_id": self.ids("reps", forecasts.owner),
                "period_start": [quarters[q] for q in forecasts.quarter],
                "period_end": [_add_months(quarters[q], 3) for q in forecasts.quarter],
                "amount": forecasts.amount,
                "submitted_at": self.stamps(forecasts.submitted),
            }
        )

    def targets(self) -> pd.DataFrame:
        targets = self.world.targets
        scope_type = np.array(targets.scope_type, dtype=object)
        scope = np.array(targets.scope, dtype=np.int64)
        scope_id = np.select(
            [scope_type == "rep", scope_type == "team"],
            [self.ids("reps", scope), self.ids("teams", scope)],
            0,
        )
        set_on = np.array([_day(start) - 7 for start in targets.start], dtype=np.int64)
        set_at = np.minimum(set_on, self.world.cal.last_day) * DAY + 9 * 3600
        return pd.DataFrame(
            {
                "id": self.ids("targets", np.arange(len(scope))),
                "kpi": targets.kpi,
                "scope_type": scope_type,
                "scope_id": pd.arrays.IntegerArray(scope_id, scope_type == "org"),
                "period_start": targets.start,
                "period_end": targets.end,
                "value": np.array(targets.value, dtype=float),
                "set_by": "demo",
                "set_at": self.stamps(set_at),
            }
        )


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as ``datetime.date`` objects (None for NEVER_DAY)."""
    return np.array([_date(day) if day < NEVER_DAY else None for day in days], dtype=object)


# ---------------------------------------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------------------------------------

INSERT_CHUNK = 10_000
COPY_CHUNK = 200_000


def _is_postgres_psycopg(connection: sa.Connection) -> bool:
    return connection.dialect.name == "postgresql" and connection.dialect.driver == "psycopg"


class NotDemoData(ValueError):
    """The database holds records the demo did not create; replacing them would lose a real CRM copy."""


#: Records the demo may replace: its own, and people.yaml's (re-applied from the file after every demo).
REPLACEABLE = (CRM, CONFIG_CRM)


def _refuse_to_replace_other_data(connection: sa.Connection) -> None:
    """Raise :class:`NotDemoData` naming what is there when any record comes from another source.

    Targets are checked by who set them: the demo signs its own ``demo``.
    """
    found = []
    for table in DATA_TABLES:
        if "crm" in table.c:
            query = sa.select(table.c.crm, sa.func.count()).where(table.c.crm.not_in(REPLACEABLE))
            for crm, count in connection.execute(query.group_by(table.c.crm).order_by(table.c.crm)):
                found.append(f"{count:,} {table.name.replace('_', ' ')} from {crm}")
        else:
            query = sa.select(sa.func.count()).where(sa.func.coalesce(table.c.set_by, "") != CRM)
            count = connection.execute(query).scalar_one()
            if count:
                found.append(f"{count:,} {table.name} set by people")
    if found:
        raise NotDemoData(
            f"this database holds records the demo did not create ({', '.join(found)}); the demo never "
            "replaces them. Point DATABASE_URL at another database for the demo, for example "
            "DATABASE_URL=sqlite:///kpibot-demo.db"
        )


def _clear_data_tables(connection: sa.Connection) -> None:
    """Empty every CRM data table: TRUNCATE on PostgreSQL (instant), else DELETE children before parents.

    The Slack identity cache points at people, so it goes too: the new people get new ids.
    """
    if connection.dialect.name == "postgresql":
        tables = [SlackUser.__tablename__, *(table.name for table in DATA_TABLES)]
        connection.execute(sa.text("TRUNCATE " + ", ".join(tables)))
        return
    for model in (SlackUser, Target, Forecast, NpsResponse, Quote, Activity, Lead, Deal, Account, MarketingSpend):
        connection.execute(sa.delete(model))
    connection.execute(sa.update(Team).values(manager_id=None, parent_id=None))
    connection.execute(sa.delete(Rep))
    connection.execute(sa.delete(Team))


def _id_offsets(connection: sa.Connection) -> dict[str, int]:
    """The largest id in use per table: new rows are numbered after it."""
    return {
        table.name: connection.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
        for table in DATA_TABLES
    }


@contextlib.contextmanager
def _checks_deferred_to_the_end(
    connection: sa.Connection, tables: list[sa.Table], tell: Callable[[str], None]
) -> Iterator[None]:
    """On PostgreSQL, drop the tables' foreign keys, unique constraints and secondary indexes for the load and
    put the very same definitions back afterwards, in the same transaction.

    Why: checking a foreign key (a locking lookup per row) and maintaining five B-trees row by row makes
    COPY several times slower than building each index once by sorting and validating each key with one
    join. Nothing else can see the tables meanwhile (the DDL locks them until commit), and a failed load
    rolls the drops back with everything else. Primary keys stay: other tables' foreign keys need them.
    """
    if connection.dialect.name != "postgresql":
        yield
        return
    names = {"tables": [table.name for table in tables]}
    constraints = connection.execute(
        sa.text(
            "SELECT conrelid::regclass::text, quote_ident(conname), pg_get_constraintdef(oid) FROM pg_constraint"
            " WHERE conrelid::regclass::text = ANY(:tables) AND contype IN ('u', 'f') ORDER BY contype DESC"
        ),
        names,
    ).all()  # unique constraints before foreign keys, the order to put them back in
    indexes = connection.execute(
        sa.text(
            "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
            " WHERE i.indrelid::regclass::text = ANY(:tables) AND NOT EXISTS"
            " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid)"
        ),
        names,
    ).all()
    for table, name, _definition in reversed(constraints):
        connection.execute(sa.text(f"ALTER TABLE {table} DROP CONSTRAINT {name}"))
    for name, _definition in indexes:
        connection.execute(sa.text(f"DROP INDEX {name}"))
    yield
    tell("  rebuilding indexes and checking foreign keys")
    connection.execute(sa.text("SET LOCAL maintenance_work_mem = '512MB'"))
    for _name, definition in indexes:
        connection.execute(sa.text(definition))
    for table, name, definition in constraints:
        connection.execute(sa.text(f"ALTER TABLE {table} ADD CONSTRAINT {name} {definition}"))


def _write(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    if _is_postgres_psycopg(connection):
        _copy_rows(connection, table, frame)
    else:
        for start in range(0, len(frame), INSERT_CHUNK):
            connection.execute(table.insert(), _records(table, frame.iloc[start : start + INSERT_CHUNK]))


def _copy_rows(connection: sa.Connection, table: sa.Table, frame: pd.DataFrame) -> None:
    """Stream the frame into PostgreSQL with COPY (text format), a chunk of rows at a time; a writer thread
    sends one chunk while the next is being formatted."""
    columns = ", ".join(frame.columns)
    dbapi = connection.connection.dbapi_connection
    with (
        dbapi.cursor() as cursor,
        cursor.copy(f"COPY {table.name} ({columns}) FROM STDIN", writer=QueuedLibpqWriter(cursor)) as copy,
    ):
        for start in range(0, len(frame), COPY_CHUNK):
            chunk = frame.iloc[start : start + COPY_CHUNK]
            texts = [_copy_texts(chunk[name]) for name in chunk.columns]
            copy.write("".join(line + "\n" for line in map("\t".join, zip(*texts, strict=True))))


COPY_NULL = "\\N"
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_texts(column: pd.Series) -> list[str]:
    """A column as COPY text values, converted by numpy where possible (pandas' to_csv costs a microsecond
    per value, which is minutes for the big tables)."""
    missing = column.isna().to_numpy()
    if column.dtype.kind in "iuf":  # numpy and nullable (Int64) numbers
        texts = column.to_numpy(dtype=np.float64 if column.dtype.kind == "f" else np.int64, na_value=0).astype(str)
    elif column.dtype.kind == "M":
        texts = column.to_numpy().astype(str)  # ISO 8601: 2026-11-18T09:30:00
    elif column.dtype.kind == "b":
        texts = np.where(column.to_numpy(), "t", "f")
    else:  # text and dates: escape each distinct value once (most text columns hold a handful of values)
        codes, distinct = pd.factorize(column)
        escaped = np.array([str(value).translate(COPY_ESCAPES) for value in distinct] + [COPY_NULL], dtype=object)
        texts = escaped[codes]  # code -1 (missing) picks the last item
    return np.where(missing, COPY_NULL, texts).tolist()


def _records(table: sa.Table, frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows as dicts of plain Python values (int, float, str, date, datetime, None) for executemany."""
    columns = {name: _python_values(frame[name], table.c[name].type) for name in frame.columns}
    return [dict(zip(columns, row, strict=True)) for row in zip(*columns.values(), strict=True)]


def _python_values(column: pd.Series, sql_type: sa.types.TypeEngine) -> list[object]:
    if column.dtype.kind == "M":
        return column.to_numpy().astype("datetime64[us]").astype(object).tolist()
    if isinstance(sql_type, sa.String) and column.dtype.kind in "iu":
        return column.astype(str).tolist()
    return column.astype(object).where(column.notna(), None).tolist()


def _link_team_managers(connection: sa.Connection, links: list[dict[str, int]]) -> None:
    """Set teams.manager_id once the managers exist (teams and reps point at each other)."""
    statement = sa.update(Team).where(Team.id == sa.bindparam("team")).values(manager_id=sa.bindparam("manager"))
    connection.execute(statement, links)


def _advance_id_sequences(connection: sa.Connection, tables: list[sa.Table]) -> None:
    """Rows were written with explicit ids, so move PostgreSQL's id sequences past them for later inserts."""
    if connection.dialect.name != "postgresql":
        return
    for table in tables:
        connection.execute(
            sa.text(
                f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
                f"(SELECT COALESCE(MAX(id), 0) + 1 FROM {table.name}), false)"
            )
        )


def _analyze(engine: sa.Engine, tables: list[sa.Table]) -> None:
    """Refresh the planner's statistics after a bulk load, so the first KPI queries are planned well."""
    if engine.dialect.name != "postgresql":
        return
    with engine.begin() as connection:
        connection.execute(sa.text("ANALYZE " + ", ".join(table.name for table in tables)))
