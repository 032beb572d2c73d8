"""The whole simulated company, made in the order real life makes it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from demo.activities import Activities, NpsAnswers, Quotes, make_activities, make_nps, make_quotes
from demo.calendar import Calendar
from demo.org import Org, make_org, working_capacity
from demo.pipeline import Accounts, Deals, Leads, make_deals, make_leads
from demo.plans import Forecasts, Spend, Targets, make_forecasts, make_spend, make_targets, measure_quotas


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


def simulate(rng: np.random.Generator, cal: Calendar, reps: int, regions: int | None = None) -> World:
    """Everything, in the order it happens: people, leads, deals (some from leads), work, plans."""
    org = make_org(rng, cal, reps, regions)
    selling = working_capacity(org, cal, ramped=True)
    leads = make_leads(rng, org, cal, selling)
    deals, accounts = make_deals(rng, org, cal, selling, leads)
    activities = make_activities(rng, org, cal, deals, working_capacity(org, cal, ramped=False))
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
