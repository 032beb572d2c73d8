"""The organisation: regions, teams, people, and how much each rep works on each day of the history."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from demo.assumptions import FIRST_NAMES, LAST_NAMES, NO_INDEX, REGION_NAMES, WEEKDAY_WEIGHT
from demo.calendar import NEVER_DAY, Calendar, weekday_of
from kpi.types import Role


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


def make_org(rng: np.random.Generator, cal: Calendar, reps: int, regions: int | None = None) -> Org:
    """About one region per 200 reps (at least 2) unless ``regions`` is given, one team per 10 reps, a manager
    for every team and region. ``regions`` is for companies whose regions grow slower than their teams (the
    10,000-rep benchmark company has 1,000 teams under 20 regions, not 50)."""
    n_regions = regions or max(2, round(reps / 200))
    n_teams = max(n_regions, math.ceil(reps / 10))
    names = [REGION_NAMES[i] if i < len(REGION_NAMES) else f"Region {i + 1}" for i in range(n_regions)]
    team_region = np.arange(n_teams) % n_regions
    team_name = names + [f"{names[r]} {t // n_regions + 1}" for t, r in enumerate(team_region)]
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

    role = np.array([Role.REP] * reps + [Role.MANAGER] * n_managers + [Role.ADMIN] * n_admins, dtype=object)
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


def employment(org: Org, cal: Calendar) -> tuple[np.ndarray, np.ndarray]:
    """Two (rep, day) matrices over the history: whether the rep is employed that day, and how far they have
    ramped up (from 20% of a seasoned rep's results on their first day to 100% after ``ramp_days``)."""
    days = cal.days[np.newaxis, :]
    tenure = days - org.rep_hired[:, np.newaxis]
    employed = (tenure >= 0) & (days < org.rep_left[:, np.newaxis])
    return employed, np.clip(0.2 + 0.8 * tenure / org.ramp_days[:, np.newaxis], 0.0, 1.0)


def working_capacity(org: Org, cal: Calendar, *, ramped: bool) -> np.ndarray:
    """A (rep, day) matrix of how much work each rep does each day of the history: 1 for an average rep on
    a weekday, more for driven reps, a trickle at weekends, 0 when not employed, less while ramping up
    when ``ramped`` (prospecting calls do not need experience; winning deals does)."""
    employed, ramp = employment(org, cal)
    weekday = WEEKDAY_WEIGHT[weekday_of(cal.days)][np.newaxis, :]
    return np.where(employed, ramp if ramped else 1.0, 0.0) * org.drive[:, np.newaxis] * weekday
