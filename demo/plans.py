"""Plans: quotas and the targets made from them, forecasts, and marketing spend."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from demo.activities import Activities
from demo.assumptions import CALL, NO_INDEX
from demo.calendar import DAY, Calendar, add_months, at_work, concatenate, date_of, day_of, workdays_later
from demo.org import Org, employment
from demo.pipeline import Deals


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
    employed, ramp = employment(org, cal)
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
        self.kpi.append(kpi)
        self.scope_type.append(scope_type)
        self.scope.append(scope)
        self.start.append(start)
        self.end.append(end)
        self.value.append(value)


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
    months = cal.month_starts(quarters[0], add_months(quarters[-1], 2))
    month_target = np.zeros((org.n_reps, len(months)))
    for m, start in enumerate(months):
        if start < cal.start:
            continue  # before the history: the first quarter's targets cover its months in the history
        end = add_months(start, 1)
        employed_days = np.clip(np.minimum(left, day_of(end)) - np.maximum(hired, day_of(start)), 0, None)
        share = np.where(hired > day_of(start), employed_days / (end - start).days, 1.0)
        month_target[:, m] = np.where(employed_days > 0, np.round(quotas.revenue_per_month * share, -2), 0)
        for rep in reps[month_target[:, m] > 0]:
            targets.add("revenue", "rep", rep, start, end, month_target[rep, m])
            targets.add("deals-won", "rep", rep, start, end, max(1, round(quotas.wins_per_month * share[rep])))

    quarter_total: dict[int, float] = {}
    for q, start in enumerate(quarters):
        end = add_months(start, 3)
        per_rep = month_target[:, 3 * q : 3 * q + 3].sum(axis=1)
        for rep in reps[per_rep > 0]:
            targets.add("revenue", "rep", rep, start, end, per_rep[rep])
        for team, total in _team_totals(org, per_rep).items():
            targets.add("revenue", "team", team, start, end, total)
        targets.add("revenue", "org", NO_INDEX, start, end, per_rep.sum())
        quarter_total[q] = per_rep.sum()

    for year in sorted({start.year for start in quarters}):
        known = [quarter_total[q] for q, start in enumerate(quarters) if start.year == year]
        targets.add("revenue", "org", NO_INDEX, dt.date(year, 1, 1), dt.date(year + 1, 1, 1), 4 * float(np.mean(known)))

    for start in cal.week_starts():
        end = start + dt.timedelta(weeks=1)
        for rep in reps[(hired < day_of(end)) & (left > day_of(start))]:
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
    quarters = np.array([day_of(start) for start in cal.quarter_starts()])
    quarter_of_close = np.searchsorted(quarters, deals.close // DAY, side="right") - 1
    counted = deals.wins & (quarter_of_close >= 0) & (deals.close // DAY < day_of(add_months(date_of(quarters[-1]), 3)))
    eventual = np.zeros((org.n_reps, len(quarters)))
    np.add.at(eventual, (deals.owner[counted], quarter_of_close[counted]), deals.amount[counted])

    employed = (org.rep_hired[:, np.newaxis] < quarters) & (org.rep_left[:, np.newaxis] > quarters)
    owner, quarter = np.nonzero(employed)
    first = Forecasts(
        owner=owner,
        quarter=quarter,
        amount=np.round(eventual[owner, quarter] * rng.lognormal(0.0, 0.2, len(owner)), -2),
        submitted=at_work(rng, workdays_later(quarters[quarter], -rng.integers(3, 8, len(owner)))),
    )
    revises = rng.random(len(owner)) < 0.3
    revision = Forecasts(
        owner=owner[revises],
        quarter=quarter[revises],
        amount=np.round(eventual[owner[revises], quarter[revises]] * rng.lognormal(0.0, 0.1, revises.sum()), -2),
        submitted=at_work(rng, workdays_later(quarters[quarter[revises]], -rng.integers(1, 3, revises.sum()))),
    )
    return concatenate(Forecasts, [first, revision])


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
        middle = day_of(start) + 14
        employed = (org.rep_hired <= middle) & (org.rep_left > middle)
        headcount = np.bincount(org.rep_team[employed], minlength=len(org.team_name))[selling_teams]
        team_amount = np.maximum(1, headcount) * 12_000 * rng.lognormal(0.0, 0.15, len(selling_teams))
        org_amount = max(1, employed.sum()) * 4_000 * rng.lognormal(0.0, 0.1)
        rows_team += [*selling_teams, NO_INDEX]
        rows_month += [start] * (len(selling_teams) + 1)
        rows_amount += [*team_amount, org_amount]
    return Spend(team=np.array(rows_team), month=rows_month, amount=np.round(np.array(rows_amount), 2))
