"""The simulated company as table rows (pandas DataFrames), ready to be bulk-written."""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Callable

import numpy as np
import pandas as pd
import sqlalchemy as sa

from demo.assumptions import (
    ACTIVITY_TYPES,
    CRM,
    DEAL_TYPES,
    FIRST_NAMES,
    LAST_NAMES,
    LEAD_SOURCES,
    NO_INDEX,
    SEGMENTS,
    STAGE_PROBABILITY,
    STAGES,
    STATUSES,
    TYPE_LABEL,
)
from demo.calendar import DAY, NEVER, NEVER_DAY, add_months, date_of, day_of
from demo.pipeline import stage_entries
from demo.world import World
from kpi.schema import (
    Account,
    Activity,
    Deal,
    DealStage,
    Forecast,
    Lead,
    MarketingSpend,
    NpsResponse,
    Quote,
    Rep,
    Target,
    Team,
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
            DealStage.__table__: self.deal_stage_history,
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
                "stage_changed_at": self.stamps(self.stays[2][_last_of_each(self.stays[0])]),
            }
        )

    @functools.cached_property
    def stays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(deal, stage, entered) of every stage each deal entered, in order (demo.pipeline.stage_entries)."""
        return stage_entries(self.world.deals)

    def deal_stage_history(self) -> pd.DataFrame:
        """The deals' stays: each left when the next one of the same deal began; the last one is current."""
        deal, stage, entered = self.stays
        last = np.zeros(len(deal), dtype=bool)
        last[_last_of_each(deal)] = True
        left = np.where(last, NEVER, np.roll(entered, -1))
        return pd.DataFrame(
            {
                "id": self.ids("deal_stage_history", np.arange(len(deal))),
                "deal_id": self.ids("deals", deal),
                "stage": STAGES[stage],
                "entered_at": self.stamps(entered),
                "left_at": self.stamps(left),
                "origin": "crm",
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
                "period_end": [add_months(month, 1) for month in spend.month],
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
                "period_end": [add_months(quarters[q], 3) for q in forecasts.quarter],
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
        set_on = np.array([day_of(start) - 7 for start in targets.start], dtype=np.int64)
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


def _last_of_each(group: np.ndarray) -> np.ndarray:
    """The index of the last row of each run of equal values in ``group`` (sorted, every value present)."""
    return np.flatnonzero(np.r_[group[1:] != group[:-1], True]) if len(group) else np.zeros(0, dtype=np.int64)


def _dates(days: np.ndarray) -> np.ndarray:
    """Day numbers as ``datetime.date`` objects (None for NEVER_DAY)."""
    return np.array([date_of(day) if day < NEVER_DAY else None for day in days], dtype=object)
