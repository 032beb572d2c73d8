"""The work: activities (calls, meetings, demos, emails), quotes sent on deals, and customers' NPS answers."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.assumptions import (
    ACTIVITY_TYPES,
    CALL,
    DEAL_TOUCH_MIX,
    DEAL_TOUCHES,
    EMAIL,
    MEETING,
    NO_INDEX,
    NPS_SCORE_SHARE,
    NPS_SCORE_SHARE_CHURNED,
    OPEN,
    PROPOSAL,
    PROSPECTING_CALL_SHARE,
    PROSPECTING_TOUCHES_PER_DAY,
)
from demo.calendar import (
    DAY,
    NEVER,
    NEVER_DAY,
    Calendar,
    at_work,
    concatenate,
    daily_events,
    moment_between,
    workdays_later,
)
from demo.org import ALICE, Org
from demo.pipeline import Accounts, Deals


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
    joined = concatenate(Activities, parts)
    meeting = np.flatnonzero(joined.type == MEETING)
    booked = at_work(rng, workdays_later(joined.occurred[meeting] // DAY, -1 - rng.poisson(3, len(meeting))))
    deal = joined.deal[meeting]
    not_before = np.where(deal == NO_INDEX, booked, deals.created[deal])  # booked once the deal existed
    joined.created[meeting] = np.clip(booked, not_before, joined.occurred[meeting])
    return joined


def _deal_work(rng: np.random.Generator, cal: Calendar, deals: Deals) -> Activities:
    worked_until = np.minimum(deals.close, cal.end)
    base, per_day = DEAL_TOUCHES
    touches = rng.poisson(base + per_day * (worked_until - deals.created) / DAY)
    deal = np.repeat(np.arange(len(touches)), touches)
    occurred = moment_between(rng, deals.created[deal], worked_until[deal])
    return Activities(
        owner=deals.owner[deal],
        type=rng.choice(len(ACTIVITY_TYPES), len(deal), p=DEAL_TOUCH_MIX),
        deal=deal,
        account=deals.account[deal],
        created=occurred,
        occurred=occurred,
    )


def _prospecting(rng: np.random.Generator, cal: Calendar, capacity: np.ndarray) -> Activities:
    owner, occurred = daily_events(rng, PROSPECTING_TOUCHES_PER_DAY * capacity, cal)
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
        sent=moment_between(rng, halfway, worked_until),
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
        answered=moment_between(rng, asked_from[account], asked_until[account]),
    )
