"""The pipeline: leads (created, MQL, SQL, then converted to a deal or disqualified, or still open), deals and
their accounts, the customers the first won deals make, and the customers who churn."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.assumptions import (
    COMPANY_WORDS,
    CONTRACT_MONTHS,
    CONTRACT_SHARE,
    CONVERSION_RATE,
    DEALS_PER_DAY,
    DISQUALIFY_RATE,
    EXPANSION_SHARE,
    EXPANSION_WIN_RATE,
    FIRST_NAMES,
    LAST_NAMES,
    LEAD_SOURCE_MQL_RATE,
    LEAD_SOURCE_SHARE,
    LEAD_SOURCES,
    LEADS_PER_DAY,
    LOST,
    LOST_STAGE,
    NO_INDEX,
    OPEN,
    PRODUCTS,
    SEGMENT_CYCLE_DAYS,
    SEGMENT_MEDIAN_AMOUNT,
    SEGMENT_SHARE,
    SEGMENT_WIN_FACTOR,
    SEGMENTS,
    SQL_RATE,
    TYPE_AMOUNT_FACTOR,
    WON,
    WON_STAGE,
)
from demo.calendar import (
    DAY,
    NEVER,
    Calendar,
    daily_events,
    office_seconds,
    visible,
    workdays_after,
    workdays_later,
)
from demo.org import ALICE, Org


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
    owner, created = daily_events(rng, LEADS_PER_DAY * capacity, cal)
    n = len(owner)
    source = rng.choice(len(LEAD_SOURCES), n, p=LEAD_SOURCE_SHARE)
    mql = np.where(rng.random(n) < LEAD_SOURCE_MQL_RATE[source], workdays_after(rng, created, 2), NEVER)
    sql = np.where(rng.random(n) < SQL_RATE, workdays_after(rng, mql, 4), NEVER)
    converted = np.where(rng.random(n) < CONVERSION_RATE, workdays_after(rng, sql, 4), NEVER)
    converted = np.where(converted < org.left[owner] * DAY, converted, NEVER)
    last_step = np.where(sql < NEVER, sql, np.where(mql < NEVER, mql, created))
    gives_up = (converted == NEVER) & (rng.random(n) < DISQUALIFY_RATE)
    disqualified = np.where(gives_up, workdays_after(rng, last_step, 8), NEVER)
    return Leads(
        owner=owner,
        source=source,
        name=rng.integers(0, len(FIRST_NAMES) * len(LAST_NAMES), n),
        created=created,
        mql=visible(mql, cal),
        sql=visible(sql, cal),
        converted=visible(converted, cal),
        disqualified=visible(disqualified, cal),
    )


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
    close_seconds = office_seconds(rng, n)

    def close_at(cycle_days: np.ndarray, wins: np.ndarray) -> np.ndarray:
        days = np.round(np.where(wins, cycle_days, np.maximum(10, cycle_days * lost_sooner))).astype(np.int64)
        days[examples] = 20
        return workdays_later(created // DAY, np.round(days * 5 / 7).astype(np.int64)) * DAY + close_seconds

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
    owner, created = daily_events(rng, DEALS_PER_DAY * capacity, cal)
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


def stage_entries(deals: Deals) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every stage each deal entered, as three arrays of one row per stay: the deal, the stage and when.

    A deal walks the four open stages at even steps of its cycle (as :func:`_stages` places open deals), so
    it enters open stage k at ``created + k/4 of (close - created)``, but every sixth deal stalls: it went
    through its first stages twice as fast (k/8) and has waited in its stage since. A closed deal went through
    all four open stages and entered Closed Won or Lost when it closed. No draw: the history follows from
    the deals alone, and changes no other number of the demo.
    """
    closed = deals.status != OPEN
    stays = np.where(closed, 5, deals.stage + 1)
    deal = np.repeat(np.arange(len(stays)), stays)
    step = np.arange(len(deal)) - np.repeat(np.cumsum(stays) - stays, stays)  # 0, 1... within each deal
    stage = np.where(step == 4, deals.stage[deal], step)
    created, close = deals.created[deal], deals.close[deal]
    pace = np.where(deal % 6 == 5, 8, 4)  # steps per cycle: a stalled deal's first ones take half as long
    return deal, stage, np.where(step == 4, close, created + (close - created) * step // pace)


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
    churned = workdays_after(rng, np.where(may_churn, last_close, NEVER), 120)
    return visible(churned, cal)


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
