"""Customer KPIs of KPIS.md: new customers, churn, retention, lifetime value, NPS and acquisition cost.

Expected values are worked out by hand in each test. An account becomes a customer with its first won
deal (unless the CRM gives a date) and counts for the account owner, else for the owner of that deal.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from tests import test_kpis as kpis

evaluate, of_rep, of_team = kpis.evaluate, kpis.of_rep, kpis.of_team
assert_near, assert_no_value = kpis.assert_near, kpis.assert_no_value


# --- new customers ----------------------------------------------------------------------------------


def test_new_customers_are_accounts_whose_first_won_deal_closed_in_period(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    acme = world.account("Acme")  # no account owner: the owner of the deal that made it a customer
    world.deal(alice, 1000, "won", closed="2017-04-10", account=acme)
    world.deal(bob, 1000, "won", closed="2017-05-10", account=acme)
    beta = world.account("Beta", owner=bob)  # the CRM's account owner wins
    world.deal(alice, 1000, "won", closed="2017-06-30 23:59:59", account=beta)
    gamma = world.account("Gamma")  # first won in Q1
    world.deal(alice, 1000, "won", closed="2017-03-31 23:59:59", account=gamma)
    world.deal(alice, 1000, "won", closed="2017-05-01", account=gamma)
    delta = world.account("Delta", customer_since="2017-02-01")  # the CRM's date wins
    world.deal(alice, 1000, "won", closed="2017-05-05", account=delta)
    world.account("Epsilon", owner=bob, customer_since="2017-04-20")  # a customer without any deal
    world.deal(alice, 1000, "lost", closed="2017-05-06", account=world.account("Zeta"))
    world.deal(alice, 1000, "won", closed="2017-05-07", account=world.account("Eta"), deleted=True)
    world.deal(alice, 1000, "won", closed="2017-07-01 00:00", account=world.account("Theta"))
    world.commit()

    assert evaluate(engine, "new-customers").value == 3  # Acme, Beta, Epsilon
    assert evaluate(engine, "new-customers", scope=of_rep(engine, alice)).value == 1  # Acme
    assert evaluate(engine, "new-customers", scope=of_rep(engine, bob)).value == 2  # Beta, Epsilon


# --- churn and retention --------------------------------------------------------------------------------


@pytest.fixture
def customers(world):
    """Six customers seen from 2017-Q1 and from the 12 months to 2017-06-30.

    A since 2016-01-10 (CRM), B 2016-03-01 churned 2017-02-01, C 2016-09-01, D 2016-05-01 churned
    2016-06-15, E 2017-03-10, F 2016-11-01 churned 2017-04-02. Alice owns A, B, D, F; Bob owns C, E.
    """
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    a = world.account("A", owner=alice, customer_since="2016-01-10")
    world.deal(alice, 2400, "won", closed="2016-08-01", account=a)
    b = world.account("B", churned="2017-02-01")
    world.deal(alice, 500, "won", closed="2016-03-01", account=b)
    c = world.account("C")
    world.deal(bob, 1200, "won", closed="2016-09-01", account=c)
    d = world.account("D", churned="2016-06-15")
    world.deal(alice, 300, "won", closed="2016-05-01", account=d)
    e = world.account("E")
    world.deal(bob, 600, "won", closed="2017-03-10", account=e)
    f = world.account("F", churned="2017-04-02")
    world.deal(alice, 1800, "won", closed="2016-11-01", account=f)
    world.deal(alice, 5000, "won", closed="2016-12-01")  # no account: no customer's revenue
    world.commit()
    return alice, bob


def test_churn_rate_is_customers_lost_in_period_over_customers_active_at_its_start(engine, customers):
    alice, bob = customers

    org = evaluate(engine, "churn-rate", "2017-Q1")
    mine = evaluate(engine, "churn-rate", "2017-Q1", scope=of_rep(engine, alice))
    his = evaluate(engine, "churn-rate", "2017-Q1", scope=of_rep(engine, bob))

    # Active on 2017-01-01: A, B, C, F (D churned in 2016, E is not yet a customer); lost in Q1: B.
    assert (org.value, org.numerator, org.denominator) == (Decimal(1) / 4, 1, 4)
    assert (mine.value, mine.numerator, mine.denominator) == (Decimal(1) / 3, 1, 3)  # A, B, F
    assert (his.value, his.numerator, his.denominator) == (0, 0, 1)  # C


def test_customer_retention_is_customers_at_end_minus_new_over_customers_at_start(engine, customers):
    alice, bob = customers

    org = evaluate(engine, "customer-retention", "2017-Q1")
    his = evaluate(engine, "customer-retention", "2017-Q1", scope=of_rep(engine, bob))

    # Active on 2017-04-01: A, C, E, F; new in Q1: E; active at the start: A, B, C, F.
    assert (org.value, org.numerator, org.denominator) == (Decimal(4 - 1) / 4, 3, 4)
    # Bob: C and E at the end, E new, C at the start.
    assert (his.value, his.numerator, his.denominator) == (Decimal(2 - 1) / 1, 1, 1)


def test_churn_and_retention_without_customers_at_the_start_have_no_value(engine, customers):
    assert_no_value(evaluate(engine, "churn-rate", "2015-Q4"), "no active customers at the start of 2015-Q4")
    assert_no_value(evaluate(engine, "customer-retention", "2015-Q4"), "no active customers at the start of 2015-Q4")


def test_a_customer_churned_at_midnight_of_the_first_day_was_active_at_the_start(engine, world):
    alice = world.rep("Alice Adams")
    world.account("Stays", owner=alice, customer_since="2016-01-10")
    world.account("Leaves", owner=alice, customer_since="2016-01-10", churned="2017-04-01 00:00")  # a CRM date
    world.commit()

    q1_retention = evaluate(engine, "customer-retention", "2017-Q1")
    q2_churn = evaluate(engine, "churn-rate", "2017-Q2")
    q2_retention = evaluate(engine, "customer-retention", "2017-Q2")

    # Both were customers at the end of Q1; "Leaves" is lost in Q2, so Q2 starts with both of them.
    assert (q1_retention.numerator, q1_retention.denominator) == (2, 2)
    assert (q2_churn.value, q2_churn.numerator, q2_churn.denominator) == (Decimal(1) / 2, 1, 2)
    assert (q2_retention.value, q2_retention.numerator, q2_retention.denominator) == (Decimal(1) / 2, 1, 2)


# --- customer lifetime value -----------------------------------------------------------------------------


def test_clv_is_monthly_revenue_per_customer_over_monthly_churn_for_the_trailing_12_months(engine, customers):
    result = evaluate(engine, "clv")

    # 12 months to 2017-06-30: revenue of customers' deals 2400 + 1200 + 600 + 1800 = 6000 (B's and D's
    # deals are older, the 5000 deal has no account); customers active in those months: A, B, C, E, F.
    monthly_revenue_per_customer = Decimal(6000) / 12 / 5
    # Active on 2016-07-01: A, B; lost in the 12 months: B and F.
    monthly_churn = Decimal(2) / 2 / 12
    assert_near(result.value, monthly_revenue_per_customer / monthly_churn)


def test_clv_without_churn_in_the_trailing_12_months_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    acme = world.account("Acme", owner=alice, customer_since="2016-01-10")
    world.deal(alice, 1000, "won", closed="2017-02-01", account=acme)
    world.commit()

    assert_no_value(evaluate(engine, "clv"), "no customer churned in the 12 months to 2017-06-30")


def test_clv_without_customers_at_the_start_of_the_12_months_has_no_value(engine, world):
    alice = world.rep("Alice Adams")
    world.deal(alice, 500, "won", closed="2016-09-01", account=world.account("Gone", churned="2017-03-01"))
    world.deal(alice, 1000, "won", closed="2016-10-01", account=world.account("Stays"))
    world.commit()

    result = evaluate(engine, "clv")

    # On 2016-07-01 nobody was a customer: the churn rate (1 lost / 0 customers) and so CLV are undefined.
    assert result.value is None
    assert result.reason


# --- net promoter score ----------------------------------------------------------------------------------


def test_nps_is_percent_promoters_minus_percent_detractors_attributed_like_accounts(engine, world):
    alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
    acme = world.account("Acme", owner=alice)
    beta = world.account("Beta")  # owned through its first won deal
    world.deal(bob, 1000, "won", closed="2016-05-01", account=beta)
    for score, answered in ((10, "2017-04-01 00:00"), (9, "2017-05-01"), (3, "2017-06-30 23:59:59")):
        world.nps(acme, score, answered)
    world.nps(beta, 9, "2017-05-02")
    world.nps(beta, 7, "2017-05-03")
    world.nps(acme, 0, "2017-03-31 23:59:59")  # Q1
    world.nps(acme, 0, "2017-05-04").deleted_at = dt.datetime(2017, 8, 1)
    world.commit()

    org = evaluate(engine, "nps")
    mine = evaluate(engine, "nps", scope=of_rep(engine, alice))
    his = evaluate(engine, "nps", scope=of_rep(engine, bob))

    # Org: promoters 10, 9, 9; detractors 3; 5 answers. 7 is passive.
    assert org.value == (Decimal(3) / 5 - Decimal(1) / 5) * 100
    assert_near(mine.value, (Decimal(2) / 3 - Decimal(1) / 3) * 100)
    assert his.value == (Decimal(1) / 2 - Decimal(0) / 2) * 100


def test_nps_without_answers_has_no_value(engine, world):
    world.nps(world.account("Acme"), 10, "2017-03-31 23:59:59")
    world.commit()

    assert_no_value(evaluate(engine, "nps"), "no survey answers in 2017-Q2")


# --- customer acquisition cost ---------------------------------------------------------------------------


@pytest.fixture
def acquisition(world):
    west, east, north = world.team("West"), world.team("East"), world.team("North")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=east)
    world.rep("Nora North", team=north)
    world.spend(3000, "2017-04-01", "2017-07-01", team=west)
    world.spend(1000, "2017-05-01", "2017-06-01", team=east)
    world.spend(2000, "2017-04-01", "2017-07-01")  # the organisation's own spend
    world.spend(500, "2017-06-01", "2017-07-01", team=north)
    world.spend(9000, "2017-01-01", "2017-04-01", team=west)  # Q1
    world.deal(alice, 1000, "won", closed="2017-04-10", account=world.account("Acme"))
    world.deal(alice, 1000, "won", closed="2017-05-10", account=world.account("Beta"))
    world.deal(bob, 1000, "won", closed="2017-06-10", account=world.account("Gamma"))
    world.deal(bob, 1000, "won", closed="2017-03-10", account=world.account("Delta"))  # Q1
    world.commit()
    return west, east, north, alice


def test_cac_of_a_team_divides_its_spend_by_its_new_customers(engine, acquisition):
    west, east, _, _ = acquisition

    west_cac = evaluate(engine, "cac", scope=of_team(engine, west))
    east_cac = evaluate(engine, "cac", scope=of_team(engine, east))

    assert (west_cac.value, west_cac.numerator, west_cac.denominator) == (Decimal(3000) / 2, 3000, 2)
    assert (east_cac.value, east_cac.numerator, east_cac.denominator) == (Decimal(1000) / 1, 1000, 1)


def test_cac_of_the_organisation_includes_org_level_spend(engine, acquisition):
    result = evaluate(engine, "cac")

    # 3000 + 1000 + 2000 + 500 over Acme, Beta, Gamma
    assert (result.value, result.numerator, result.denominator) == (Decimal(6500) / 3, 6500, 3)


def test_cac_has_no_value_without_new_customers_or_for_one_person(engine, acquisition):
    _, _, north, alice = acquisition

    assert_no_value(evaluate(engine, "cac", scope=of_team(engine, north)), "no new customers in 2017-Q2")
    assert_no_value(
        evaluate(engine, "cac", scope=of_rep(engine, alice)),
        "marketing spend is recorded per team, so customer acquisition cost has no value for one person",
    )
