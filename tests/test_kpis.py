"""The KPI catalog of KPIS.md, one small hand-built world per behaviour (customer KPIs: test_kpis_customers.py).

Every expected value is worked out by hand in the test, from the definitions of KPIS.md, never computed
by the code under test. Unless a test says otherwise the organisation is in UTC, the as-of day is
2018-01-15 and the period is 2017-Q2 (2017-04-01 to 2017-06-30, i.e. [2017-04-01, 2017-07-01)).
Day counts used below: 2017-03-01 -> 2017-07-01 is 31 + 30 + 31 + 30 = 122 days; 2017-02 has 28 days.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest

from kpi import access
from kpi.catalog import load_catalog
from kpi.compiler import checked, compile_query
from kpi.config import ConfigError
from kpi.directory import Directory
from kpi.grammar.periods import parse_period
from kpi.metrics import Metrics
from kpi.periods import Calendar
from kpi.results import Result
from kpi.service import Kpibot
from kpi.types import Scope

UTC = zoneinfo.ZoneInfo("UTC")
NEW_YORK = zoneinfo.ZoneInfo("America/New_York")
AS_OF = dt.date(2018, 1, 15)
# A folder without kpis.yaml: the standard catalog of kpi/kpis.yaml only, whatever config/ holds today.
CATALOG = load_catalog(Path(__file__).parent / "no-config-here")


def evaluate(
    engine,
    key: str,
    period: str = "2017-Q2",
    *,
    scope: Scope | None = None,
    as_of: dt.date = AS_OF,
    tz: zoneinfo.ZoneInfo = UTC,
) -> Result:
    """One KPI for one scope (the whole organisation by default) and one period phrase."""
    measured = parse_period(period, Calendar(tz), as_of)
    return Metrics(engine).result(CATALOG[key], measured, scope or access.org_scope(), as_of)


def of_rep(engine, person) -> Scope:
    return access.rep_scope(Directory.load(engine).people[person.id])


def of_team(engine, team) -> Scope:
    directory = Directory.load(engine)
    return access.team_scope(directory, [directory.teams[team.id]], team.name)


def assert_near(value: Decimal | None, expected: Decimal | float | str, tolerance: str = "0.000001") -> None:
    """For values that go through a division or a float day count in the database (a failure shows both)."""
    assert value == pytest.approx(Decimal(expected), abs=Decimal(tolerance))


def assert_no_value(result: Result, reason: str) -> None:
    """No value, and the reason the asker is told (a failure shows the value and the reason there were)."""
    assert (result.value, result.reason) == (None, reason)


@pytest.fixture
def config(tmp_path) -> Path:
    """An empty config folder: default org settings (UTC) and the standard catalog."""
    folder = tmp_path / "config"
    folder.mkdir()
    return folder


# --- revenue, deals won, deals lost, average deal size ------------------------------------------------


def test_revenue_sums_won_deals_closed_in_period_without_deleted_open_or_lost(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.deal(alice, "2500.50", "won", closed="2017-06-30 23:59:59")
    world.deal(bob, 700, "won", closed="2017-05-01")
    world.deal(alice, 9999, "won", closed="2017-05-01", deleted=True)
    world.deal(alice, 300, "lost", closed="2017-05-02")
    world.deal(alice, 800, "open", closed="2017-05-20")
    world.deal(bob, 400, "won", closed="2017-07-01 00:00")
    world.deal(bob, 100, "won", closed="2017-03-31 23:59:59")
    world.commit()

    assert evaluate(engine, "revenue").value == Decimal("1000") + Decimal("2500.50") + Decimal("700")
    assert evaluate(engine, "revenue", scope=of_rep(engine, alice)).value == Decimal("1000") + Decimal("2500.50")


def test_deals_won_and_lost_count_deals_closed_in_period_without_deleted(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.deal(alice, 500, "won", closed="2017-06-30 23:59:59")
    world.deal(alice, 200, "won", closed="2017-05-05", deleted=True)
    world.deal(alice, 300, "lost", closed="2017-05-02")
    world.deal(alice, 300, "lost", closed="2017-07-01 00:00")
    world.deal(alice, 300, "lost", closed="2017-05-03", deleted=True)
    world.deal(alice, 800, "open", closed="2017-05-20")
    world.commit()

    assert evaluate(engine, "deals-won").value == 2
    assert evaluate(engine, "deals-lost").value == 1


@pytest.mark.parametrize(
    ("tz", "inside", "outside"),
    [
        # UTC: the last second of June counts, midnight of July 1st does not; same at the start.
        (UTC, ["2017-06-30 23:59:59", "2017-04-01 00:00"], ["2017-07-01 00:00", "2017-03-31 23:59:59"]),
        # New York is UTC-4 in summer: 2017-07-01 03:30 UTC is 2017-06-30 23:30 there, 04:00 UTC is midnight.
        (NEW_YORK, ["2017-07-01 03:30", "2017-04-01 04:00"], ["2017-07-01 04:00", "2017-04-01 03:59:59"]),
    ],
    ids=["utc", "new-york"],
)
def test_period_boundaries_follow_the_org_time_zone(engine, world, tz, inside, outside):
    alice = world.rep("Alice Adams")
    for closed in inside:
        world.deal(alice, 1000, "won", closed=closed)
    for closed in outside:
        world.deal(alice, 1, "won", closed=closed)
    world.commit()

    assert evaluate(engine, "deals-won", tz=tz).value == 2
    assert evaluate(engine, "revenue", tz=tz).value == 1000 + 1000


def test_new_york_org_counts_a_deal_closed_after_midnight_utc_in_june_end_to_end(engine, world, config):
    (config / "org.yaml").write_text("timezone: America/New_York\n")
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-07-01 03:30")  # 2017-06-30 23:30 in New York
    world.deal(alice, 50, "won", closed="2017-07-01 04:00")  # 2017-07-01 00:00 in New York
    world.commit()
    bot = Kpibot(engine, config)

    answer = bot.ask("my revenue 2017-Q2", bot.person("alice"), AS_OF)

    assert answer.result.value == 1000
    assert bot.ask("my revenue 2017-Q3", bot.person("alice"), AS_OF).result.value == 50


def test_avg_deal_size_is_revenue_over_deals_won(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.deal(alice, 2000, "won", closed="2017-05-10")
    world.deal(alice, 600, "won", closed="2017-06-10")
    world.deal(alice, 5000, "lost", closed="2017-06-11")
    world.commit()

    result = evaluate(engine, "avg-deal-size")

    assert result.value == (Decimal(1000) + 2000 + 600) / 3
    assert (result.numerator, result.denominator) == (3600, 3)


def test_avg_deal_size_without_won_deals_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 5000, "lost", closed="2017-06-11")
    world.commit()

    assert_no_value(evaluate(engine, "avg-deal-size"), "no deals won in 2017-Q2")


# --- sales growth ---------------------------------------------------------------------------------


def test_sales_growth_compares_a_quarter_with_the_previous_quarter(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1500, "won", closed="2017-01-05")
    world.deal(alice, 500, "won", closed="2017-03-31 23:59")
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.deal(alice, 9000, "won", closed="2016-12-31 23:59")  # Q4 2016: neither quarter
    world.commit()

    result = evaluate(engine, "sales-growth")

    # (3000 - 2000) / 2000
    assert result.value == Decimal("0.5")
    assert (result.numerator, result.denominator) == (1000, 2000)


def test_sales_growth_compares_month_to_date_with_last_month_to_the_same_day(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 600, "won", closed="2017-03-01 00:00")
    world.deal(alice, 400, "won", closed="2017-03-15 23:59")
    world.deal(alice, 5000, "won", closed="2017-03-16 00:00")  # after the as-of day
    world.deal(alice, 300, "won", closed="2017-02-01 00:00")
    world.deal(alice, 500, "won", closed="2017-02-15 23:59")
    world.deal(alice, 700, "won", closed="2017-02-16 00:00")  # after "the same day" of February
    world.commit()

    result = evaluate(engine, "sales-growth", "this month", as_of=dt.date(2017, 3, 15))

    # March 1-15: 600 + 400 = 1000; February 1-15: 300 + 500 = 800; (1000 - 800) / 800
    assert result.value == Decimal("0.25")
    assert (result.numerator, result.denominator) == (200, 800)


def test_sales_growth_compares_quarter_to_date_with_last_quarter_to_the_same_day(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 2000, "won", closed="2017-05-15 23:59")
    world.deal(alice, 7000, "won", closed="2017-05-16 00:00")  # after the as-of day
    world.deal(alice, 1600, "won", closed="2017-02-15 23:59")
    world.deal(alice, 9000, "won", closed="2017-02-16 00:00")  # after "the same day" of Q1
    world.commit()

    result = evaluate(engine, "sales-growth", "this quarter", as_of=dt.date(2017, 5, 15))

    # 2017-04-01..05-15: 2000; 2017-01-01..02-15: 1600; (2000 - 1600) / 1600
    assert (result.value, result.numerator, result.denominator) == (Decimal(400) / 1600, 400, 1600)


def test_sales_growth_compares_a_month_with_the_previous_month(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 900, "won", closed="2017-03-31 23:00")
    world.deal(alice, 1200, "won", closed="2017-02-28 23:00")
    world.commit()

    # (900 - 1200) / 1200
    assert evaluate(engine, "sales-growth", "march 2017").value == Decimal("-0.25")


def test_sales_growth_without_previous_revenue_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.commit()

    assert_no_value(evaluate(engine, "sales-growth"), "no revenue in 2017-Q1")
    month = evaluate(engine, "sales-growth", "this month", as_of=dt.date(2017, 3, 15))
    assert_no_value(month, "no revenue in February 2017 through 2017-02-15")


# --- annual contract value, revenue per rep, profit margin, upsell rate --------------------------------


def test_acv_annualises_each_won_deal_by_its_contract_months(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1200, "won", closed="2017-04-10", months=12)  # 1200
    world.deal(alice, 1000, "won", closed="2017-04-11", months=24)  # 500
    world.deal(alice, 2000, "won", closed="2017-04-12", months=6)  # 4000
    world.deal(alice, 8000, "lost", closed="2017-04-13", months=1)
    world.commit()

    assert evaluate(engine, "acv").value == (Decimal(1200) + 500 + 4000) / 3


def test_acv_counts_a_deal_without_contract_months_as_twelve_months(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 600, "won", closed="2017-04-10")  # no term: 600 x 12 / 12 = 600
    world.deal(alice, 1000, "won", closed="2017-04-11", months=9)  # 1000 x 12 / 9 = 1333.33...
    world.commit()

    # Money sums come back to the cent: allow half a cent.
    assert_near(evaluate(engine, "acv").value, (Decimal(600) + Decimal(12000) / 9) / 2, tolerance="0.005")


def test_acv_counts_a_deal_with_zero_contract_months_as_twelve_months(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1200, "won", closed="2017-04-10", months=0)  # no term: 1200 x 12 / 12 = 1200
    world.deal(alice, 600, "won", closed="2017-04-11", months=12)  # 600
    world.commit()

    assert evaluate(engine, "acv").value == (Decimal(1200) + 600) / 2


def test_acv_without_won_deals_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 600, "lost", closed="2017-04-10", months=12)
    world.commit()

    assert_no_value(evaluate(engine, "acv"), "no deals won in 2017-Q2")


def test_revenue_per_rep_divides_by_reps_active_at_any_time_in_the_period(engine, world):
    west, east, empty = world.team("West"), world.team("East"), world.team("Empty")
    morgan = world.rep("Morgan Manager", team=west, role="manager")
    world.manage(west, morgan)
    world.manage(empty, world.rep("Nina Newteam", team=empty, role="manager"))
    alice = world.rep("Alice Adams", team=west, hired="2016-01-01")
    dave = world.rep("Dave Departed", team=west, hired="2016-01-01", left="2017-05-15")  # left mid-period
    world.rep("Erin Early", team=west, hired="2017-07-10")  # hired after the period
    hank = world.rep("Hank Gone", team=west, hired="2015-01-01", left="2017-04-01")  # last day 2017-03-31
    bob = world.rep("Bob Brown", team=east)
    world.deal(alice, 3000, "won", closed="2017-05-10")
    world.deal(dave, 1500, "won", closed="2017-04-20")
    world.deal(hank, 800, "won", closed="2017-03-20")
    world.deal(bob, 1000, "won", closed="2017-06-01")
    world.commit()

    team = evaluate(engine, "revenue-per-rep", scope=of_team(engine, west))
    org = evaluate(engine, "revenue-per-rep")

    assert (team.value, team.numerator, team.denominator) == ((Decimal(3000) + 1500) / 2, 4500, 2)
    assert (org.value, org.numerator, org.denominator) == ((Decimal(3000) + 1500 + 1000) / 3, 5500, 3)
    assert_no_value(evaluate(engine, "revenue-per-rep", scope=of_team(engine, empty)), "no reps were active in 2017-Q2")


def test_profit_margin_counts_only_won_deals_that_have_a_cost(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10", cost=600)
    world.deal(alice, 500, "won", closed="2017-04-11", cost=400)
    world.deal(alice, 2000, "won", closed="2017-04-12")  # no cost: left out of both sums
    world.deal(alice, 800, "lost", closed="2017-04-13", cost=100)
    world.commit()

    result = evaluate(engine, "profit-margin")

    # (1000 + 500 - 600 - 400) / (1000 + 500)
    assert result.value == Decimal(500) / 1500
    assert (result.numerator, result.denominator) == (500, 1500)


def test_profit_margin_without_costed_won_deals_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 2000, "won", closed="2017-04-12")
    world.commit()

    assert_no_value(evaluate(engine, "profit-margin"), "no won deals with a cost in 2017-Q2")


def test_upsell_rate_is_won_upsell_and_cross_sell_deals_over_all_won_deals(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10", type="new")
    world.deal(alice, 500, "won", closed="2017-04-11", type="upsell")
    world.deal(alice, 300, "won", closed="2017-04-12", type="cross-sell")
    world.deal(alice, 200, "won", closed="2017-04-13", type="renewal")
    world.deal(alice, 900, "lost", closed="2017-04-14", type="upsell")
    world.deal(alice, 900, "won", closed="2017-03-14", type="upsell")  # Q1
    world.commit()

    result = evaluate(engine, "upsell-rate")

    assert (result.value, result.numerator, result.denominator) == (Decimal(2) / 4, 2, 4)


def test_upsell_rate_without_won_deals_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 900, "lost", closed="2017-04-14", type="upsell")
    world.commit()

    assert_no_value(evaluate(engine, "upsell-rate"), "no deals won in 2017-Q2")


# --- activities and quotes -------------------------------------------------------------------------


def test_calls_demos_and_emails_count_activities_held_in_the_period(engine, world, session):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    world.activity(alice, "call", "2017-04-01 00:00")
    world.activity(alice, "call", "2017-06-30 23:59:59", created="2017-03-01")
    world.activity(bob, "call", "2017-05-05 10:00")
    world.activity(alice, "call", "2017-07-01 00:00")
    world.activity(alice, "call", "2017-05-06 10:00").deleted_at = dt.datetime(2017, 8, 1)
    world.activity(alice, "demo", "2017-05-07 10:00", created="2017-03-20")
    world.activity(alice, "demo", "2017-03-31 23:59", created="2017-03-20")
    world.activity(alice, "email", "2017-05-08 10:00")
    world.activity(alice, "email", "2017-05-09 10:00")
    world.activity(bob, "email", "2017-05-10 10:00")
    session.flush()
    world.commit()

    assert evaluate(engine, "calls").value == 3
    assert evaluate(engine, "calls", scope=of_rep(engine, alice)).value == 2
    assert evaluate(engine, "demos").value == 1
    assert evaluate(engine, "emails").value == 3


def test_meetings_count_meetings_booked_in_the_period_whenever_they_are_held(engine, world):
    alice = world.rep("Alice Adams")
    world.activity(alice, "meeting", "2017-04-05 10:00", created="2017-03-28 09:00")  # booked in Q1
    world.activity(alice, "meeting", "2017-07-05 10:00", created="2017-06-20 09:00")  # booked in Q2
    world.activity(alice, "meeting", "2017-05-05 10:00", created="2017-05-02 09:00")  # booked in Q2
    world.activity(alice, "call", "2017-05-05 10:00")
    world.commit()

    assert evaluate(engine, "meetings").value == 2


def test_proposals_count_quotes_sent_in_the_period(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    world.quote(alice, "2017-04-01 00:00")
    world.quote(alice, "2017-06-30 23:59:59")
    world.quote(bob, "2017-05-05")
    world.quote(bob, "2017-03-31 23:59:59")
    world.quote(bob, "2017-05-06").deleted_at = dt.datetime(2017, 8, 1)
    world.commit()

    assert evaluate(engine, "proposals").value == 3
    assert evaluate(engine, "proposals", scope=of_rep(engine, alice)).value == 2


# --- win rate and closing ratio -----------------------------------------------------------------------


def test_win_rate_excludes_open_and_deleted_deals(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.deal(alice, 1000, "won", closed="2017-06-30 23:59:59")
    world.deal(alice, 1000, "won", closed="2017-05-10", deleted=True)
    world.deal(alice, 1000, "lost", closed="2017-05-11")
    world.deal(alice, 1000, "lost", closed="2017-05-12", deleted=True)
    world.deal(alice, 1000, "open", closed="2017-05-13")
    world.deal(alice, 1000, "open", closed="2017-05-14")
    world.commit()

    result = evaluate(engine, "win-rate")

    assert (result.value, result.numerator, result.denominator) == (Decimal(2) / 3, 2, 3)


def test_win_rate_with_only_open_deals_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "open", closed="2017-05-13")
    world.commit()

    result = evaluate(engine, "win-rate")

    assert_no_value(result, "no deals closed in 2017-Q2")
    assert result.denominator == 0


def test_closing_ratio_is_deals_won_over_quotes_sent_in_the_period(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.deal(alice, 1000, "won", closed="2017-05-10")
    world.deal(alice, 1000, "lost", closed="2017-05-11")
    for sent in ("2017-04-02", "2017-04-03", "2017-05-04", "2017-06-05", "2017-03-30"):
        world.quote(alice, sent)
    world.commit()

    result = evaluate(engine, "closing-ratio")

    assert (result.value, result.numerator, result.denominator) == (Decimal(2) / 4, 2, 4)


def test_closing_ratio_without_quotes_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.quote(alice, "2017-03-30")
    world.commit()

    assert_no_value(evaluate(engine, "closing-ratio"), "no quotes sent in 2017-Q2")


# --- cohort conversions ("as of now") ----------------------------------------------------------------


@pytest.fixture
def leads_world(world):
    """Leads created in 2017-Q2 with conversions before and after the as-of day 2018-01-15."""
    alice = world.rep("Alice Adams")
    won = world.deal(alice, 1000, "won", closed="2017-06-10", created="2017-05-01")
    open_deal = world.deal(alice, 1000, "open", closed="2017-09-10", created="2017-08-01")
    won_later = world.deal(alice, 1000, "won", closed="2018-03-01", created="2017-09-01")  # after as-of
    won_before = world.deal(alice, 1000, "won", closed="2017-12-01", created="2017-12-01")
    world.lead(alice, "2017-04-03", converted="2017-05-01", deal=won)  # converted, deal won
    world.lead(alice, "2017-05-03", converted="2017-08-01", deal=open_deal)  # converted after Q2: counts
    world.lead(alice, "2017-05-04", converted="2017-09-01", deal=won_later)  # converted, deal won after as-of
    world.lead(alice, "2017-06-03", converted="2018-02-01", deal=won_before)  # converted after the as-of day
    world.lead(alice, "2017-06-30 23:59")  # never converted
    world.lead(alice, "2017-03-31 23:59", converted="2017-04-15", deal=won)  # created in Q1: not in the cohort
    world.commit()
    return world


def test_lead_conversion_counts_conversions_up_to_the_as_of_day_only(engine, leads_world):
    result = evaluate(engine, "lead-conversion")

    # Cohort: the 5 leads created in Q2; converted by 2018-01-15: the first three.
    assert (result.value, result.numerator, result.denominator) == (Decimal(3) / 5, 3, 5)


def test_lead_conversion_as_of_an_earlier_day_ignores_later_conversions(engine, leads_world):
    result = evaluate(engine, "lead-conversion", as_of=dt.date(2017, 7, 31))

    # On 2017-07-31 only the lead converted on 2017-05-01 had converted.
    assert (result.value, result.numerator, result.denominator) == (Decimal(1) / 5, 1, 5)


def test_end_to_end_conversion_counts_leads_whose_converted_deal_is_won_as_of_now(engine, leads_world):
    result = evaluate(engine, "end-to-end-conversion")

    # Won as of 2018-01-15 through a conversion made by then: only the first lead's deal.
    assert (result.value, result.numerator, result.denominator) == (Decimal(1) / 5, 1, 5)


def test_cohort_conversions_without_leads_have_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.lead(alice, "2017-03-31 23:59", converted="2017-04-15")
    world.commit()

    assert_no_value(evaluate(engine, "lead-conversion"), "no leads created in 2017-Q2")
    assert_no_value(evaluate(engine, "end-to-end-conversion"), "no leads created in 2017-Q2")


def test_pipeline_conversion_is_the_share_of_deals_created_in_period_won_so_far(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", created="2017-04-01 00:00", closed="2017-06-01")
    world.deal(alice, 1000, "won", created="2017-05-01", closed="2017-09-01")  # won after Q2: counts
    world.deal(alice, 1000, "won", created="2017-05-02", closed="2018-03-01")  # won after the as-of day
    world.deal(alice, 1000, "lost", created="2017-05-03", closed="2017-06-03")
    world.deal(alice, 1000, "open", created="2017-06-30 23:59", closed="2018-06-03")
    world.deal(alice, 1000, "won", created="2017-05-04", closed="2017-06-04", deleted=True)
    world.deal(alice, 1000, "won", created="2017-03-31 23:59", closed="2017-04-20")  # created in Q1
    world.commit()

    result = evaluate(engine, "pipeline-conversion")

    assert (result.value, result.numerator, result.denominator) == (Decimal(2) / 5, 2, 5)


def test_pipeline_conversion_without_deals_created_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", created="2017-03-31 23:59", closed="2017-04-20")
    world.commit()

    assert_no_value(evaluate(engine, "pipeline-conversion"), "no deals created in 2017-Q2")


# --- sales cycle ---------------------------------------------------------------------------------------


def test_sales_cycle_averages_days_from_creation_to_close_of_won_deals(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", created="2017-04-01", closed="2017-04-11")  # 10 days
    world.deal(alice, 1000, "won", created="2017-03-02", closed="2017-04-21")  # 30 + 20 = 50 days
    world.deal(alice, 1000, "lost", created="2016-01-01", closed="2017-04-23")
    world.deal(alice, 1000, "won", created="2017-01-01", closed="2017-07-01 00:00")  # Q3
    world.commit()

    result = evaluate(engine, "sales-cycle")

    assert_near(result.value, (10 + 50) / 2)
    assert result.denominator == 2


def test_sales_cycle_leaves_out_won_deals_without_a_creation_date(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "won", created="2017-04-01", closed="2017-04-11")  # 10 days
    world.deal(alice, 1000, "won", created=None, closed="2017-04-22")
    world.commit()

    result = evaluate(engine, "sales-cycle")

    assert_near(result.value, 10)
    assert result.denominator == 1


def test_sales_cycle_without_won_deals_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 1000, "lost", created="2016-01-01", closed="2017-04-23")
    world.commit()

    assert_no_value(evaluate(engine, "sales-cycle"), "no deals won in 2017-Q2")


# --- leads: new leads, referrals, MQLs, SQLs, cost per lead ------------------------------------------------


def test_lead_counts_use_creation_mql_and_sql_times(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    world.lead(alice, "2017-04-01 00:00", source="referral", mql="2017-04-02")
    world.lead(alice, "2017-06-30 23:59:59", source="referral")
    world.lead(bob, "2017-05-01", source="website", mql="2017-05-02", sql="2017-07-01 00:00")
    world.lead(bob, "2017-03-31 23:59:59", source="referral", mql="2017-04-05", sql="2017-04-06")
    world.lead(bob, "2017-05-05", source="referral", mql="2017-05-06", sql="2017-05-07").deleted_at = dt.datetime(
        2017, 8, 1
    )
    world.commit()

    assert evaluate(engine, "new-leads").value == 3
    assert evaluate(engine, "new-leads", scope=of_rep(engine, alice)).value == 2
    assert evaluate(engine, "referrals").value == 2
    assert evaluate(engine, "mqls").value == 3  # 04-02, 05-02 and 04-05 (a lead created in Q1)
    assert evaluate(engine, "sqls").value == 1  # 04-06; 07-01 00:00 is Q3


def test_cost_per_lead_divides_team_spend_by_the_team_new_leads(engine, world):
    west, east = world.team("West"), world.team("East")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=east)
    world.spend(3000, "2017-04-01", "2017-07-01", team=west)
    world.spend(1000, "2017-05-01", "2017-06-01", team=east)
    world.spend(2000, "2017-04-01", "2017-07-01")  # the organisation's own spend
    world.spend(9000, "2017-01-01", "2017-04-01", team=west)  # Q1
    for created in ("2017-04-02", "2017-05-02", "2017-06-02"):
        world.lead(alice, created)
    world.lead(bob, "2017-04-02")
    world.commit()

    west_result = evaluate(engine, "cost-per-lead", scope=of_team(engine, west))
    org_result = evaluate(engine, "cost-per-lead")

    assert (west_result.value, west_result.numerator, west_result.denominator) == (Decimal(3000) / 3, 3000, 3)
    assert (org_result.value, org_result.numerator, org_result.denominator) == (
        (Decimal(3000) + 1000 + 2000) / 4,
        6000,
        4,
    )


def test_cost_per_lead_has_no_value_without_leads_or_for_one_person(engine, world):
    west = world.team("West")
    alice = world.rep("Alice Adams", team=west)
    world.spend(3000, "2017-04-01", "2017-07-01", team=west)
    world.lead(alice, "2017-03-02")
    world.commit()

    assert_no_value(evaluate(engine, "cost-per-lead", scope=of_team(engine, west)), "no leads created in 2017-Q2")
    assert_no_value(
        evaluate(engine, "cost-per-lead", scope=of_rep(engine, alice)),
        "marketing spend is recorded per team, so cost per lead has no value for one person",
    )


# --- stocks: pipeline, weighted pipeline, lead age ----------------------------------------------------------


@pytest.fixture
def pipeline_world(world):
    """Deals seen from the end of 2017-Q2 (a past period) and from 2017-05-15 (Q2 still running)."""
    alice = world.rep("Alice Adams")
    world.deal(alice, 900, "open", created="2017-03-01", closed="2017-08-15", probability=0.5)
    world.deal(alice, 400, "won", created="2017-05-01", closed="2017-08-01", probability=0.25)
    world.deal(alice, 300, "lost", created="2017-01-01", closed="2017-07-10")
    world.deal(alice, 1000, "won", created="2017-01-01", closed="2017-06-15", probability=0.9)
    world.deal(alice, 700, "open", created="2017-07-05", closed="2017-09-01", probability=1)
    world.deal(alice, 5000, "open", created="2017-01-01", closed="2017-09-01", probability=1, deleted=True)
    world.commit()
    return world


def test_pipeline_of_a_past_period_is_measured_at_the_period_end(engine, pipeline_world):
    # Open on 2017-07-01: 900 (still open), 400 (won in August), 300 (lost in July).
    assert evaluate(engine, "pipeline").value == 900 + 400 + 300


def test_pipeline_of_a_running_period_is_measured_at_the_as_of_day(engine, pipeline_world):
    result = evaluate(engine, "pipeline", as_of=dt.date(2017, 5, 15))

    # Open at the end of 2017-05-15: 900, 400 (created 05-01), 300 and 1000 (won on 06-15).
    assert result.value == 900 + 400 + 300 + 1000


def test_weighted_pipeline_weights_open_deals_by_probability_at_the_period_end(engine, pipeline_world):
    past = evaluate(engine, "weighted-pipeline")
    running = evaluate(engine, "weighted-pipeline", as_of=dt.date(2017, 5, 15))

    # 900 x 0.5 + 400 x 0.25 + 300 x (no probability: 0)
    assert past.value == Decimal(450) + 100
    # ... and 1000 x 0.9 on 2017-05-15
    assert running.value == Decimal(450) + 100 + 900


def test_every_reps_pipeline_reads_the_open_deals_and_those_closed_after_the_end_each_on_its_own(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    world.deal(alice, 900, "open", created="2017-03-01", closed="2017-08-15")
    world.deal(alice, 400, "won", created="2017-05-01", closed="2017-08-01")  # open on 2017-07-01
    world.deal(alice, 700, "open", created="2017-07-05", closed="2017-09-01")  # created after the end
    world.deal(bob, 250, "lost", created=None, closed="2017-07-02")  # no creation time: open since ever
    world.deal(bob, 80, "open", created=None, closed="2017-09-01")
    world.deal(bob, 60, "won", created="2017-03-01", closed="2017-06-30")  # closed before the end
    world.deal(bob, 5000, "open", created="2017-01-01", closed="2017-09-01", deleted=True)
    world.commit()
    pipeline, period = CATALOG["pipeline"], parse_period("2017-Q2", Calendar(UTC), AS_OF)
    metrics = Metrics(engine)
    members = {rep.id: of_rep(engine, rep) for rep in (alice, bob)}

    statement = compile_query(pipeline, [metrics.windows(pipeline, period, AS_OF)], access.org_scope().filter)
    measured = metrics.results_by_owner(pipeline, period, members, access.org_scope(), AS_OF)

    # One scan of the open deals and one of those won or lost on or after the window's end, summed by owner.
    assert str(statement).count("FROM deals") == 2
    assert measured.values() == {alice.id: 900 + 400, bob.id: 250 + 80}
    assert [evaluate(engine, "pipeline", scope=scope).value for scope in members.values()] == [1300, 330]


def test_a_win_rates_rows_are_read_as_one_range_of_won_and_lost_deals_and_counted_apart(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 900, "won", closed="2017-05-01")
    world.deal(alice, 400, "lost", closed="2017-05-02")
    world.deal(alice, 300, "lost", closed="2017-05-03")
    world.deal(alice, 700, "open", closed="2017-05-04")
    world.commit()
    win_rate, period = CATALOG["win-rate"], parse_period("2017-Q2", Calendar(UTC), AS_OF)
    windows = [Metrics(engine).windows(win_rate, period, AS_OF)]

    statement = compile_query(win_rate, windows, access.org_scope().filter)
    bounds = statement.compile().params

    # won OR (won or lost) reads as status IN (lost, won): one range of the (status, close_date) index, not a
    # bitmap of the two (kpi.compiler.any_of); each measure still counts its own deals.
    assert ["lost", "won"] in bounds.values()
    result = evaluate(engine, "win-rate")
    assert (result.numerator, result.denominator) == (1, 3)  # the won deal, of the won and lost ones


@pytest.fixture
def lead_age_world(world):
    alice = world.rep("Alice Adams")
    world.lead(alice, "2017-06-01")  # open
    world.lead(alice, "2017-05-01", converted="2017-08-01")  # open until August
    world.lead(alice, "2017-04-01", converted="2017-06-01")
    world.lead(alice, "2017-04-02", disqualified="2017-06-15")
    world.lead(alice, "2017-07-05")  # created after Q2
    world.deal(alice, 900, "open", created="2017-03-01", closed="2017-08-15")
    world.deal(alice, 900, "won", created="2017-02-01", closed="2017-06-10")
    world.commit()
    return world


def test_lead_age_of_a_past_period_averages_ages_at_the_period_end(engine, lead_age_world):
    result = evaluate(engine, "lead-age")

    # At 2017-07-01: leads of 06-01 (30 days) and 05-01 (61 days), deal of 03-01 (122 days).
    assert_near(result.value, Decimal(30 + 61 + 122) / 3)


def test_lead_age_of_a_running_period_averages_ages_at_the_as_of_day(engine, lead_age_world):
    result = evaluate(engine, "lead-age", as_of=dt.date(2017, 6, 15))

    # At the end of 2017-06-15 (06-16 00:00): lead 06-01 (15 days), lead 05-01 (31 + 15 = 46 days),
    # the lead disqualified on 06-15 is closed, deal 03-01 (31 + 30 + 31 + 15 = 107 days).
    assert_near(result.value, Decimal(15 + 46 + 107) / 3)


def test_lead_age_leaves_out_open_deals_without_a_creation_date(engine, world):
    alice = world.rep("Alice Adams")
    world.lead(alice, "2017-06-01")  # 30 days at 2017-07-01
    world.deal(alice, 900, "open", created=None, closed="2017-08-15")
    world.commit()

    assert_near(evaluate(engine, "lead-age").value, 30)
    assert evaluate(engine, "pipeline").value == 900  # still in the pipeline, just without an age


def test_lead_age_with_nothing_open_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.lead(alice, "2017-04-01", converted="2017-06-01")
    world.commit()

    assert_no_value(evaluate(engine, "lead-age"), "nothing open at the end of 2017-Q2")


# --- forecasts and targets ------------------------------------------------------------------------------


def test_forecast_accuracy_uses_the_latest_forecast_submitted_before_the_period(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.forecast(alice, 2500, "2017-04-01", "2017-07-01", submitted="2017-03-01 10:00")
    world.forecast(alice, 2800, "2017-04-01", "2017-07-01", submitted="2017-03-31 23:00")  # the latest before
    world.forecast(alice, 3500, "2017-04-01", "2017-07-01", submitted="2017-04-10 10:00")  # after it began
    world.forecast(alice, 9000, "2017-07-01", "2017-10-01", submitted="2017-03-31 23:30")  # another period
    world.commit()

    result = evaluate(engine, "forecast-accuracy")

    # 1 - |2800 - 3000| / 3000
    assert result.value == 1 - Decimal(200) / 3000


def test_forecast_accuracy_of_a_team_sums_each_reps_latest_forecast(engine, world):
    west = world.team("West")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=west)
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.deal(bob, 1000, "won", closed="2017-05-06")
    world.forecast(alice, 2000, "2017-04-01", "2017-07-01", submitted="2017-03-01")
    world.forecast(alice, 2800, "2017-04-01", "2017-07-01", submitted="2017-03-02")
    world.forecast(bob, 1400, "2017-04-01", "2017-07-01", submitted="2017-02-01")
    world.commit()

    result = evaluate(engine, "forecast-accuracy", scope=of_team(engine, west))

    # forecast 2800 + 1400 = 4200, revenue 4000: 1 - 200 / 4000
    assert result.value == 1 - Decimal(200) / 4000


def test_forecast_accuracy_without_an_earlier_forecast_or_revenue_has_no_value(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.forecast(alice, 3500, "2017-04-01", "2017-07-01", submitted="2017-04-01 00:00")  # the period has begun
    world.forecast(bob, 1000, "2017-04-01", "2017-07-01", submitted="2017-03-01")
    world.commit()

    alone = evaluate(engine, "forecast-accuracy", scope=of_rep(engine, alice))
    no_revenue = evaluate(engine, "forecast-accuracy", scope=of_rep(engine, bob))

    assert_no_value(alone, "no forecast for 2017-Q2 was submitted before it began")
    assert_no_value(no_revenue, "no revenue in 2017-Q2")


def test_quota_attainment_is_revenue_over_the_revenue_target_of_the_same_scope(engine, world):
    west, east = world.team("West"), world.team("East")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=west)
    carl = world.rep("Carl Cole", team=east)
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.deal(bob, 1000, "won", closed="2017-05-06")
    world.deal(carl, 2000, "won", closed="2017-05-06")
    world.target("revenue", 4000, "2017-04-01", "2017-07-01", rep=alice)
    world.target("revenue", 1000, "2017-04-01", "2017-07-01", rep=bob)
    world.target("revenue", 8000, "2017-01-01", "2017-04-01", rep=alice)  # Q1's target
    world.target("revenue", 2500, "2017-04-01", "2017-07-01", team=east)
    world.commit()

    mine = evaluate(engine, "quota-attainment", scope=of_rep(engine, alice))
    west_result = evaluate(engine, "quota-attainment", scope=of_team(engine, west))
    east_result = evaluate(engine, "quota-attainment", scope=of_team(engine, east))

    assert (mine.value, mine.numerator, mine.denominator) == (Decimal(3000) / 4000, 3000, 4000)
    # West has no target of its own: the sum of its reps' targets.
    assert west_result.value == (Decimal(3000) + 1000) / (4000 + 1000)
    assert east_result.value == Decimal(2000) / 2500


def test_quota_attainment_without_a_revenue_target_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.target("revenue", 8000, "2017-01-01", "2017-04-01", rep=alice)
    world.commit()

    result = evaluate(engine, "quota-attainment", scope=of_rep(engine, alice))

    assert_no_value(result, "no revenue target is set for Alice Adams in 2017-Q2")


def test_quota_attainment_with_a_zero_revenue_target_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 3000, "won", closed="2017-05-05")
    world.target("revenue", 0, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()

    result = evaluate(engine, "quota-attainment", scope=of_rep(engine, alice))

    assert_no_value(result, "the revenue target for 2017-Q2 is zero")


@pytest.fixture
def coverage_alice(world):
    """Alice's Q2 seen on 2017-05-15: 4000 won so far and deals still open on that day."""
    alice = world.rep("Alice Adams")
    world.deal(alice, 4000, "won", created="2017-01-01", closed="2017-04-20")
    world.deal(alice, 3000, "open", created="2017-01-01", closed="2017-06-20")
    world.deal(alice, 2000, "won", created="2017-01-01", closed="2017-06-10")  # still open on 2017-05-15
    world.deal(alice, 5000, "open", created="2017-01-01", closed="2017-08-01")  # closes after Q2
    world.deal(alice, 800, "open", created="2017-05-20", closed="2017-06-25")  # created after the as-of day
    world.commit()
    return alice


def test_pipeline_coverage_divides_pipeline_closing_in_period_by_the_target_left(engine, world, coverage_alice):
    alice = coverage_alice
    world.target("revenue", 10000, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()

    result = evaluate(engine, "pipeline-coverage", scope=of_rep(engine, alice), as_of=dt.date(2017, 5, 15))

    # Open on 2017-05-15 and closing in Q2: 3000 + 2000; target left: 10000 - 4000.
    assert (result.value, result.numerator, result.denominator) == (Decimal(5000) / 6000, 5000, 6000)


def test_pipeline_coverage_without_a_revenue_target_has_no_value(engine, coverage_alice):
    alice = coverage_alice

    result = evaluate(engine, "pipeline-coverage", scope=of_rep(engine, alice), as_of=dt.date(2017, 5, 15))

    assert_no_value(result, "no revenue target is set for Alice Adams in 2017-Q2")


def test_pipeline_coverage_once_the_target_is_reached_has_no_value(engine, world, coverage_alice):
    alice = coverage_alice
    world.target("revenue", 4000, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()

    result = evaluate(engine, "pipeline-coverage", scope=of_rep(engine, alice), as_of=dt.date(2017, 5, 15))

    assert_no_value(result, "the revenue target for 2017-Q2 is already reached")


# --- people: rep retention and ramp time ---------------------------------------------------------------


def test_rep_retention_is_reps_active_at_start_still_active_at_end(engine, world):
    west, empty = world.team("West"), world.team("Empty")
    world.manage(west, world.rep("Morgan Manager", team=west, role="manager", hired="2010-01-01"))
    world.manage(empty, world.rep("Nina Newteam", team=empty, role="manager"))
    world.rep("Alice Adams", team=west, hired="2016-01-01")  # stays
    world.rep("Dave Departed", team=west, hired="2016-01-01", left="2017-05-15")  # leaves mid-period
    world.rep("Fay First", team=west, hired="2017-04-01")  # hired on the first day: active at the start
    world.rep("Gus Later", team=west, hired="2017-04-02")  # not active at the start
    world.rep("Hal Gone", team=west, hired="2015-01-01", left="2017-04-01")  # last day 2017-03-31
    world.commit()

    result = evaluate(engine, "rep-retention", scope=of_team(engine, west))

    # At the start: Alice, Dave, Fay; still there at the end: Alice, Fay.
    assert (result.value, result.numerator, result.denominator) == (Decimal(2) / 3, 2, 3)
    empty_result = evaluate(engine, "rep-retention", scope=of_team(engine, empty))
    assert_no_value(empty_result, "no reps were active at the start of 2017-Q2")


def _monthly_revenue(world, rep, amounts: dict[str, int]) -> None:
    """One won deal per month, on the 10th: {"2017-03": 800}."""
    for month, amount in amounts.items():
        world.deal(rep, amount, "won", closed=f"{month}-10 12:00", created=f"{month}-01")


def test_ramp_time_averages_days_to_the_end_of_the_first_month_at_80_percent(engine, world):
    west, east = world.team("West"), world.team("East")
    # Alice has a monthly target of 1000 and first reaches 80% (800) in her 3rd month, March:
    # 2017-01-01 -> 2017-04-01 is 31 + 28 + 31 = 90 days.
    alice = world.rep("Alice Adams", team=west, hired="2017-01-01")
    for first, following in (("2017-01-01", "2017-02-01"), ("2017-02-01", "2017-03-01"), ("2017-03-01", "2017-04-01")):
        world.target("revenue", 1000, first, following, rep=alice)
    _monthly_revenue(world, alice, {"2017-01": 500, "2017-02": 790, "2017-03": 800, "2017-04": 2000})
    # Carol has no target: her bar is 80% of East's median month (3 active reps: the middle one).
    carol = world.rep("Carol Cole", team=east, hired="2017-02-15")
    vic = world.rep("Vic Veteran", team=east, hired="2014-01-01")
    wes = world.rep("Wes Veteran", team=east, hired="2014-01-01")
    months = ("2017-02", "2017-03", "2017-04", "2017-05")
    _monthly_revenue(world, vic, dict.fromkeys(months, 1000))
    _monthly_revenue(world, wes, dict.fromkeys(months, 2000))
    # Medians: March [600, 1000, 2000] -> 1000, bar 800: no; April [900, 1000, 2000] -> 1000, bar 800: yes.
    # 2017-02-15 -> 2017-05-01 is 14 + 31 + 30 = 75 days.
    _monthly_revenue(world, carol, {"2017-03": 600, "2017-04": 900})
    # Hired in the window but never ramped: left out of the average.
    dan = world.rep("Dan Slow", team=west, hired="2017-05-01")
    world.target("revenue", 1000, "2017-05-01", "2017-06-01", rep=dan)
    _monthly_revenue(world, dan, {"2017-05": 100})
    world.commit()

    result = evaluate(engine, "ramp-time")

    assert_near(result.value, Decimal(90 + 75) / 2)
    assert_near(evaluate(engine, "ramp-time", scope=of_rep(engine, alice)).value, 90)
    assert_near(evaluate(engine, "ramp-time", scope=of_team(engine, east)).value, 75)


def test_ramp_time_without_a_ramped_new_rep_has_no_value(engine, world):
    east = world.team("East")
    world.rep("Vic Veteran", team=east, hired="2014-01-01")  # hired before the 24 months
    dan = world.rep("Dan Slow", team=east, hired="2017-05-01")
    world.target("revenue", 1000, "2017-05-01", "2017-06-01", rep=dan)
    _monthly_revenue(world, dan, {"2017-05": 100})
    world.commit()

    assert_no_value(evaluate(engine, "ramp-time"), "no rep hired in the 24 months to 2017-06-30 has ramped yet")


def test_ramp_time_team_median_of_an_even_team_is_the_mean_of_the_two_middle_months(engine, world):
    east = world.team("East")
    carol = world.rep("Carol Cole", team=east, hired="2017-02-15")
    vic = world.rep("Vic Veteran", team=east, hired="2014-01-01")
    _monthly_revenue(world, vic, dict.fromkeys(("2017-02", "2017-03", "2017-04", "2017-05"), 1000))
    # March: median (500 + 1000) / 2 = 750, bar 600: no. April: median (700 + 1000) / 2 = 850, bar 680: yes.
    _monthly_revenue(world, carol, {"2017-03": 500, "2017-04": 700, "2017-05": 900})
    world.commit()

    # 2017-02-15 -> 2017-05-01: 14 + 31 + 30 = 75 days.
    assert_near(evaluate(engine, "ramp-time").value, 75)


# --- leaderboards ------------------------------------------------------------------------------------


@pytest.fixture
def board(engine, world, config):
    """West: four reps and a manager, plus a rep who left before Q2; East: one rep."""
    west, east = world.team("West"), world.team("East")
    world.manage(west, world.rep("Morgan Manager", team=west, role="manager"))
    zed, alice = world.rep("Zed Zorro", team=west), world.rep("Alice Adams", team=west)
    bob = world.rep("Bob Brown", team=west)
    world.rep("Carl Cole", team=west)  # closes nothing in Q2
    gone = world.rep("Gina Gone", team=west, left="2017-03-01")
    erin = world.rep("Erin East", team=east)
    world.deal(zed, 3000, "won", created="2017-04-01", closed="2017-04-11")  # 10 days
    world.deal(alice, 1000, "won", created="2017-04-01", closed="2017-05-01")  # 30 days
    world.deal(alice, 500, "lost", created="2017-04-01", closed="2017-05-02")
    world.deal(bob, 1000, "won", created="2017-04-01", closed="2017-04-21")  # 20 days
    world.deal(bob, 700, "lost", created="2017-04-01", closed="2017-04-22")
    world.deal(bob, 700, "lost", created="2017-04-01", closed="2017-04-23")
    world.deal(erin, 9000, "won", created="2017-04-01", closed="2017-04-05")
    world.deal(gone, 100, "won", created="2017-01-01", closed="2017-02-01")
    world.commit()
    return Kpibot(engine, config)


def _rows(leaderboard) -> list[tuple[str, Decimal | None]]:
    return [(row.name, row.result.value) for row in leaderboard.rows]


def test_leaderboard_ranks_best_first_and_ties_share_a_rank_in_name_order(board):
    answer = board.ask("leaderboard revenue 2017-Q2", board.person("Alice Adams"), AS_OF)

    # The asker's team, reps active in Q2 only (no manager, nobody who left before Q2).
    assert _rows(answer) == [("Zed Zorro", 3000), ("Alice Adams", 1000), ("Bob Brown", 1000), ("Carl Cole", 0)]
    assert [row.rank for row in answer.rows] == [1, 2, 2, 4]


def test_leaderboard_puts_members_without_a_value_last(board):
    answer = board.ask("leaderboard win-rate 2017-Q2", board.person("Alice Adams"), AS_OF)

    # Zed 1/1, Alice 1/2, Bob 1/3, Carl closed nothing.
    assert _rows(answer) == [
        ("Zed Zorro", Decimal(1)),
        ("Alice Adams", Decimal(1) / 2),
        ("Bob Brown", Decimal(1) / 3),
        ("Carl Cole", None),
    ]


def test_leaderboard_of_a_lower_is_better_kpi_ranks_ascending(board):
    answer = board.ask("leaderboard sales-cycle 2017-Q2", board.person("Alice Adams"), AS_OF)

    assert [name for name, _ in _rows(answer)] == ["Zed Zorro", "Bob Brown", "Alice Adams", "Carl Cole"]
    for (_, value), days in zip(_rows(answer)[:3], (10, 20, 30), strict=True):
        assert_near(value, days)
    assert answer.rows[-1].result.value is None


def test_org_leaderboard_ranks_every_active_rep(board):
    answer = board.ask("leaderboard revenue org 2017-Q2", board.person("Alice Adams"), AS_OF)

    assert [name for name, _ in _rows(answer)] == ["Erin East", "Zed Zorro", "Alice Adams", "Bob Brown", "Carl Cole"]


# --- KPIs defined in a config folder --------------------------------------------------------------------

BIG_DEALS = """\
big-deals:
  label: Big deals won
  aliases: [big wins]
  description: Count of deals won in the period with an amount of at least 10,000.
  format: {format}
  type: count
  from: {model}
  where: {{status: won, {column}: {{">=": 10000}}}}
  time: close_date
"""


def test_a_kpi_added_in_the_config_folder_works_without_code(engine, world, config):
    (config / "kpis.yaml").write_text(BIG_DEALS.format(format="number", model="deals", column="amount"))
    alice = world.rep("Alice Adams")
    world.deal(alice, 10000, "won", closed="2017-05-01")
    world.deal(alice, 25000, "won", closed="2017-06-01")
    world.deal(alice, "9999.99", "won", closed="2017-06-02")
    world.deal(alice, 50000, "lost", closed="2017-06-03")
    world.deal(alice, 50000, "won", closed="2017-07-03")
    world.commit()
    bot = Kpibot(engine, config)

    answer = bot.ask("my big-deals 2017-Q2", bot.person("alice"), AS_OF)

    assert answer.result.value == 2
    assert bot.ask("my big wins 2017-Q2", bot.person("alice"), AS_OF).result.value == 2
    assert len(bot.catalog) == 39 + 1


@pytest.mark.parametrize(
    ("fields", "fragments"),
    [
        # An unknown column: the message lists the model's columns.
        ({"format": "number", "model": "deals", "column": "amount_usd"}, ["unknown column 'amount_usd'", "amount"]),
        # An unknown model: the message lists the models.
        ({"format": "number", "model": "dealz", "column": "amount"}, ["unknown model 'dealz'", "deals"]),
        # A bad format: the message lists the allowed formats.
        ({"format": "money", "model": "deals", "column": "amount"}, ["format", "'money'", "currency", "percent"]),
    ],
    ids=["unknown-column", "unknown-model", "bad-format"],
)
def test_a_broken_kpis_yaml_raises_config_error_naming_file_kpi_and_fix(config, fields, fragments):
    path = config / "kpis.yaml"
    path.write_text(BIG_DEALS.format(**fields))

    with pytest.raises(ConfigError) as raised:
        checked(load_catalog(config))

    message = str(raised.value)
    assert str(path) in message
    assert "big-deals" in message
    for fragment in fragments:
        assert fragment in message
