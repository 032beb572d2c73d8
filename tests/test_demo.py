"""The demo generator writes a small, consistent, reproducible company on every backend."""

from __future__ import annotations

import datetime as dt
import itertools
import re

import numpy as np
import pytest
from sqlalchemy import Engine, func, insert, select

import demo
from demo.calendar import add_months, date_of, day_of, weekday_of, workday, workday_number, workdays_later
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

AS_OF = dt.date(2026, 11, 16)  # a Monday: "this week" is as_of alone
END = dt.datetime(2026, 11, 17)  # the first moment after as_of, in UTC
SMALL = {"seed": 11, "reps": 12, "months": 6, "as_of": AS_OF}


@pytest.fixture(scope="module")
def demo_engine(module_engine: Engine) -> Engine:
    """The small company, generated once for the module's tests that only read it."""
    demo.generate(module_engine, **SMALL)
    return module_engine


@pytest.fixture
def own_demo(engine: Engine) -> Engine:
    """The small company, generated for one test that writes to it."""
    demo.generate(engine, **SMALL)
    return engine


def scalar(engine: Engine, statement):
    with engine.connect() as connection:
        return connection.execute(statement).scalar()


def rows(engine: Engine, statement) -> list:
    with engine.connect() as connection:
        return connection.execute(statement).all()


def person(engine: Engine, email: str):
    return rows(engine, select(Rep).where(Rep.email == email))[0]


def test_the_example_people_exist_with_their_roles_team_and_manager(demo_engine):
    alice = person(demo_engine, "alice@example.com")
    manager = person(demo_engine, "manager@example.com")
    admin = person(demo_engine, "admin@example.com")
    team = rows(demo_engine, select(Team).where(Team.id == alice.team_id))[0]

    assert (alice.name, alice.role, alice.slack_user_id, alice.active) == ("Alice Adams", "rep", "U0ALICE", True)
    assert alice.hired_at < AS_OF - dt.timedelta(days=365) and alice.left_at is None
    assert team.name == "West 1" and team.manager_id == manager.id and team.parent_id is not None
    assert (manager.name, manager.role, manager.team_id, manager.slack_user_id) == (
        "Morgan Manager",
        "manager",
        team.id,
        "U0MANAGER",
    )
    assert (admin.name, admin.role, admin.team_id, admin.slack_user_id) == ("Ada Admin", "admin", None, "U0ADMIN")


def test_everyone_else_has_a_unique_generated_address(demo_engine):
    emails = [row.email for row in rows(demo_engine, select(Rep.email))]
    assert len(emails) == len(set(emails))
    examples = {"alice@example.com", "manager@example.com", "admin@example.com"}
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d*@example\.com", email) for email in set(emails) - examples)
    assert scalar(demo_engine, select(func.count()).where(Rep.slack_user_id.is_not(None))) == 3
    assert scalar(demo_engine, select(func.count()).where(Rep.role == "rep")) == SMALL["reps"]


def test_every_team_has_a_manager_and_regions_hold_the_teams(demo_engine):
    teams = rows(demo_engine, select(Team))
    regions = {team.id for team in teams if team.parent_id is None}
    assert len(regions) >= 2
    assert all(team.manager_id is not None for team in teams)
    assert all(team.parent_id in regions for team in teams if team.parent_id is not None)


def test_a_demo_can_have_fewer_regions_than_one_per_200_reps_and_spreads_the_teams_over_them(engine):
    summary = demo.generate(engine, **{**SMALL, "reps": 40, "regions": 3})

    teams = rows(engine, select(Team))
    regions = {team.id: team.name for team in teams if team.parent_id is None}
    below = [team for team in teams if team.parent_id is not None]
    assert sorted(regions.values()) == ["Central", "East", "West"]
    assert len(below) == 4 and {team.parent_id for team in below} == set(regions)  # 40 reps: a team per 10
    assert summary.teams == 7


def test_the_same_seed_gives_the_same_company_and_another_seed_another(engine):
    total = select(func.sum(Deal.amount))
    first = demo.generate(engine, **SMALL)
    first_total = scalar(engine, total)
    second = demo.generate(engine, **SMALL)
    assert second == first and scalar(engine, total) == first_total

    other = demo.generate(engine, **{**SMALL, "seed": SMALL["seed"] + 1})
    assert other != first and scalar(engine, total) != first_total


def test_the_summary_counts_the_rows_written(own_demo):
    summary = demo.generate(own_demo, **SMALL)  # fresh: replaces, never adds
    for model in (Team, Rep, Account, Lead, Deal, Activity, Quote, MarketingSpend, NpsResponse, Forecast, Target):
        assert scalar(own_demo, select(func.count()).select_from(model)) == summary.as_dict()[model.__tablename__]
    assert min(summary.as_dict().values()) > 0


def test_nothing_happens_after_as_of_except_open_deals_expected_close(demo_engine):
    moments = [
        Deal.created_at, Deal.updated_at, Lead.created_at, Lead.mql_at, Lead.sql_at, Lead.converted_at,
        Lead.disqualified_at, Activity.created_at, Activity.occurred_at, Quote.sent_at, NpsResponse.answered_at,
        Forecast.submitted_at, Account.became_customer_at, Account.churned_at, Target.set_at,
    ]  # fmt: skip
    for column in moments:
        assert scalar(demo_engine, select(func.max(column))) < END, column
    assert scalar(demo_engine, select(func.max(Deal.close_date)).where(Deal.status != "open")) < END
    assert scalar(demo_engine, select(func.min(Deal.close_date)).where(Deal.status == "open")) >= END
    assert scalar(demo_engine, select(func.max(Rep.left_at))) < AS_OF
    assert scalar(demo_engine, select(func.count()).where(Rep.left_at.is_not(None), Rep.active)) == 0


def test_history_covers_the_requested_months(demo_engine):
    first_deal = scalar(demo_engine, select(func.min(Deal.created_at)))
    assert dt.datetime(2026, 5, 1) <= first_deal < dt.datetime(2026, 5, 8)
    for month in (dt.date(2026, 5, 1), dt.date(2026, 8, 1), dt.date(2026, 11, 1)):  # first, middle, current
        later = dt.datetime.combine(month, dt.time()) + dt.timedelta(days=31)
        created = Deal.created_at.between(dt.datetime.combine(month, dt.time()), later)
        assert scalar(demo_engine, select(func.count()).where(created)) > 0


def test_every_deal_status_agrees_with_its_stage_and_probability(demo_engine):
    combinations = {
        (row.status, row.stage, float(row.probability))
        for row in rows(demo_engine, select(Deal.status, Deal.stage, Deal.probability).distinct())
    }
    expected = {
        ("open", "Prospecting", 0.1),
        ("open", "Qualification", 0.25),
        ("open", "Proposal", 0.5),
        ("open", "Negotiation", 0.8),
        ("won", "Closed Won", 1.0),
        ("lost", "Closed Lost", 0.0),
    }
    assert combinations == expected


def test_every_deal_walks_the_stages_in_order_and_its_last_stay_is_its_stage_since_stage_changed_at(demo_engine):
    deals = {row.id: row for row in rows(demo_engine, select(Deal))}
    query = select(DealStage).order_by(DealStage.deal_id, DealStage.entered_at, DealStage.id)
    stays: dict[int, list] = {}
    for stay in rows(demo_engine, query):
        stays.setdefault(stay.deal_id, []).append(stay)

    assert stays.keys() == deals.keys()
    for deal_id, path in stays.items():
        deal, last = deals[deal_id], path[-1]
        opening = ["Prospecting", "Qualification", "Proposal", "Negotiation"]
        assert [stay.stage for stay in path] == (
            opening + [deal.stage] if deal.status != "open" else opening[: len(path)]
        )
        assert (last.stage, last.entered_at, last.left_at) == (deal.stage, deal.stage_changed_at, None)
        assert path[0].entered_at == deal.created_at and deal.stage_changed_at < END
        assert all(stay.left_at == after.entered_at for stay, after in itertools.pairwise(path))
    open_days = [(END - deal.stage_changed_at).days for deal in deals.values() if deal.status == "open"]
    assert min(open_days) == 0 and max(open_days) > 30  # some deals just moved, a few are stuck


def test_deals_look_like_b2b_sales(demo_engine):
    deals = rows(demo_engine, select(Deal.status, Deal.amount, Deal.cost, Deal.created_at, Deal.close_date))
    closed = [deal for deal in deals if deal.status != "open"]
    win_rate = sum(deal.status == "won" for deal in closed) / len(closed)
    assert 0.2 <= win_rate <= 0.4
    assert all(deal.close_date > deal.created_at and deal.amount > 0 for deal in deals)
    costed = [deal for deal in deals if deal.status == "won" and deal.cost is not None]
    margin = 1 - float(sum(deal.cost for deal in costed)) / float(sum(deal.amount for deal in costed))
    assert 0.2 <= margin <= 0.4
    assert {row.currency for row in rows(demo_engine, select(Deal.currency).distinct())} == {"USD"}


def test_converted_leads_point_at_a_deal_of_their_owner_opened_at_conversion(demo_engine):
    converted = rows(
        demo_engine,
        select(Lead.owner_id, Lead.converted_at, Deal.owner_id.label("deal_owner"), Deal.created_at)
        .join(Deal, Deal.id == Lead.converted_deal_id, isouter=True)
        .where(Lead.status == "converted"),
    )
    assert converted
    assert all(lead.owner_id == lead.deal_owner and lead.converted_at == lead.created_at for lead in converted)
    orphans = select(func.count()).where(Lead.status != "converted", Lead.converted_deal_id.is_not(None))
    assert scalar(demo_engine, orphans) == 0
    statuses = {row.status for row in rows(demo_engine, select(Lead.status).distinct())}
    assert statuses == {"open", "converted", "disqualified"}


def test_customers_are_made_by_their_first_won_deal(demo_engine):
    first_win = (
        select(Deal.account_id, func.min(Deal.close_date).label("closed"))
        .where(Deal.status == "won")
        .group_by(Deal.account_id)
        .subquery()
    )
    accounts = rows(
        demo_engine,
        select(Account.became_customer_at, Account.churned_at, first_win.c.closed).join(
            first_win, first_win.c.account_id == Account.id, isouter=True
        ),
    )
    assert all(account.became_customer_at == account.closed for account in accounts)
    churned = [account for account in accounts if account.churned_at is not None]
    assert churned and all(account.churned_at > account.became_customer_at for account in churned)
    expansions = select(func.count()).select_from(Deal).join(Account).where(Deal.type != "new")
    assert scalar(demo_engine, expansions.where(Deal.created_at <= Account.became_customer_at)) == 0
    assert scalar(demo_engine, expansions) > 0


def test_alice_has_won_lost_and_open_deals_calls_this_week_and_targets(demo_engine):
    alice = person(demo_engine, "alice@example.com")
    statuses = {row.status for row in rows(demo_engine, select(Deal.status).where(Deal.owner_id == alice.id))}
    assert statuses == {"won", "lost", "open"}

    monday = dt.datetime.combine(AS_OF - dt.timedelta(days=AS_OF.weekday()), dt.time())
    calls = select(func.count()).where(
        Activity.owner_id == alice.id, Activity.type == "call", Activity.occurred_at.between(monday, END)
    )
    assert scalar(demo_engine, calls) >= 3

    def revenue_target(start: dt.date, end: dt.date):
        return scalar(
            demo_engine,
            select(Target.value).where(
                Target.kpi == "revenue",
                Target.scope_type == "rep",
                Target.scope_id == alice.id,
                Target.period_start == start,
                Target.period_end == end,
            ),
        )

    assert revenue_target(dt.date(2026, 11, 1), dt.date(2026, 12, 1)) > 0
    assert revenue_target(dt.date(2026, 10, 1), dt.date(2027, 1, 1)) > 0


def test_alice_teammates_call_on_as_of_too(demo_engine):
    alice = person(demo_engine, "alice@example.com")
    teammates = select(Rep.id).where(Rep.team_id == alice.team_id, Rep.role == "rep", Rep.active)
    callers = select(func.count(func.distinct(Activity.owner_id))).where(
        Activity.type == "call", Activity.occurred_at >= END - dt.timedelta(days=1), Activity.owner_id.in_(teammates)
    )
    assert scalar(demo_engine, callers) == scalar(demo_engine, select(func.count()).select_from(teammates.subquery()))


def test_periods_are_stored_with_exclusive_ends(demo_engine):
    spend = rows(demo_engine, select(MarketingSpend.team_id, MarketingSpend.period_start, MarketingSpend.period_end))
    assert all(row.period_start.day == 1 and row.period_end == add_months(row.period_start, 1) for row in spend)
    assert any(row.team_id is None for row in spend) and any(row.team_id is not None for row in spend)

    forecasts = rows(demo_engine, select(Forecast))
    assert all(add_months(row.period_start, 3) == row.period_end for row in forecasts)
    assert all(row.submitted_at < dt.datetime.combine(row.period_start, dt.time()) for row in forecasts)

    scopes = {(row.kpi, row.scope_type) for row in rows(demo_engine, select(Target.kpi, Target.scope_type).distinct())}
    assert scopes == {
        ("revenue", "rep"),
        ("revenue", "team"),
        ("revenue", "org"),
        ("calls", "rep"),
        ("deals-won", "rep"),
    }
    weeks = rows(demo_engine, select(Target.period_start, Target.period_end).where(Target.kpi == "calls"))
    assert all(row.period_start.weekday() == 0 and (row.period_end - row.period_start).days == 7 for row in weeks)


def test_meetings_are_booked_before_they_happen_and_quotes_sent_before_the_close(demo_engine):
    meetings = rows(demo_engine, select(Activity.created_at, Activity.occurred_at).where(Activity.type == "meeting"))
    assert meetings and all(row.created_at <= row.occurred_at for row in meetings)
    assert any(row.created_at < row.occurred_at for row in meetings)
    quotes = rows(demo_engine, select(Quote.sent_at, Deal.created_at, Deal.close_date).join(Deal))
    assert quotes and all(row.created_at <= row.sent_at < row.close_date for row in quotes)
    scores = [row.score for row in rows(demo_engine, select(NpsResponse.score))]
    assert scores and min(scores) >= 0 and max(scores) <= 10


def test_volume_grows_linearly_with_reps(engine):
    small = demo.generate(engine, **{**SMALL, "reps": 12})
    double = demo.generate(engine, **{**SMALL, "reps": 24})
    for table in ("deals", "activities", "leads", "accounts"):
        ratio = double.as_dict()[table] / small.as_dict()[table]
        assert 1.6 < ratio < 2.4, (table, ratio)


def test_fresh_false_adds_next_to_other_data_but_not_a_second_demo(own_demo):
    with pytest.raises(ValueError, match="already loaded"):
        demo.generate(own_demo, **SMALL, fresh=False)
    with own_demo.begin() as connection:  # ids keep counting after the demo's own (PostgreSQL sequences too)
        connection.execute(insert(Team).values(name="Imported", crm="csv", crm_id="t-1"))
    assert scalar(own_demo, select(func.count()).select_from(Team).where(Team.crm == "csv")) == 1


def test_a_fresh_demo_replaces_demo_and_people_yaml_records_but_refuses_anything_else(own_demo):
    with own_demo.begin() as connection:
        connection.execute(insert(Team).values(name="From people.yaml", crm="config", crm_id="t-1"))
    demo.generate(own_demo, **SMALL)  # demo data and people.yaml's are made again: replaced
    with own_demo.begin() as connection:
        connection.execute(insert(Team).values(name="Imported", crm="csv", crm_id="t-1"))
        connection.execute(insert(Target).values(kpi="revenue", scope_type="org", value=1, set_by="ops@example.com",
            period_start=dt.date(2026, 1, 1), period_end=dt.date(2027, 1, 1)))  # fmt: skip

    with pytest.raises(demo.NotDemoData, match=r"\(1 teams from csv, 1 targets set by people\)"):
        demo.generate(own_demo, **SMALL)
    assert scalar(own_demo, select(func.count()).select_from(Team).where(Team.crm == "csv")) == 1


def test_office_hours_follow_the_organisation_time_zone(engine):
    demo.generate(engine, **SMALL, timezone="America/New_York")  # UTC-5 in November
    alice = person(engine, "alice@example.com")
    calls_on_as_of = select(func.min(Activity.occurred_at), func.max(Activity.occurred_at)).where(
        Activity.owner_id == alice.id,
        Activity.type == "call",
        Activity.occurred_at >= dt.datetime(2026, 11, 16, 5),
        Activity.occurred_at < dt.datetime(2026, 11, 17, 5),
    )
    first, last = rows(engine, calls_on_as_of)[0]
    assert first >= dt.datetime(2026, 11, 16, 12) and last < dt.datetime(2026, 11, 17, 0)  # 7:00-19:00 local
    assert scalar(engine, select(func.max(Activity.occurred_at))) < dt.datetime(2026, 11, 17, 5)


def test_workday_numbers_skip_weekends_evenly():
    days = np.arange(day_of(dt.date(2026, 1, 1)), day_of(dt.date(2027, 1, 1)))
    workdays = days[weekday_of(days) < 5]
    assert np.array_equal(workday(workday_number(workdays)), workdays)
    saturday = day_of(dt.date(2026, 11, 14))
    assert date_of(workdays_later(np.array([saturday]), 0)[0]) == dt.date(2026, 11, 16)
    assert date_of(workdays_later(np.array([saturday]), -1)[0]) == dt.date(2026, 11, 13)
