"""The gap to a target, "what do I need to hit quota" (issue 14): the whole period's target, the actual so far,
what remains, per working day left, and for revenue in deals and pipeline (over the trailing 12 months).

Asked on Thursday 2017-06-15 in a US org: 2017-Q2 has 11 working days left (06-16, 06-19..23, 06-26..30).
The trailing 12 months are 2016-06-16..2017-06-15.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kpi.gap import Gap
from kpi.schema import Rep
from kpi.service import Kpibot
from tests.conftest import cli_env, run_kpibot

AS_OF = dt.date(2017, 6, 15)


@pytest.fixture
def alice(world) -> Rep:
    """Alice won 1,000 and 1,000 this quarter and 4,000 in December; she lost one deal in March; 5,000 is open."""
    world.two_teams()
    alice = world.session.query(Rep).filter_by(email="alice@example.com").one()
    world.deal(alice, 1000, "won", closed="2017-05-02")
    world.deal(alice, 1000, "won", closed="2017-06-01")
    world.deal(alice, 4000, "won", closed="2016-12-01")
    world.deal(alice, 700, "lost", closed="2017-03-01")
    world.deal(alice, 5000, "open", closed="2017-06-30")
    world.deal(alice, 9000, "won", closed="2016-06-15")  # a day before the trailing 12 months
    return alice


def gap(engine, config, text: str) -> Gap:
    bot = Kpibot(engine, config)
    found = bot.ask(text, bot.person("alice@example.com"), AS_OF)
    assert isinstance(found, Gap)
    return found


def test_what_do_i_need_to_hit_quota_in_working_days_deals_and_pipeline(engine, world, alice, us_config):
    world.target("revenue", 10000, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()

    found = gap(engine, us_config, "what do I need to hit my quota")

    # 10,000 - 2,000 = 8,000 to go; / 11 days = 727.27. Trailing year: 6,000 won in 3 deals (2,000 each):
    # 8,000 / 2,000 = 4 deals; 3 won of 4 closed (75%): 8,000 / 0.75 = 10,666.67 of pipeline; 5,000 open.
    assert found.text == (
        "Revenue for Alice Adams, this quarter (2017-04-01 to 2017-06-30): target $10,000.00, $2,000.00 so far, "
        "$8,000.00 to go.\n"
        "11 working days left: $727.27 per working day.\n"
        "4 more deals at an average deal size of $2,000.00 (last 12 months).\n"
        "$10,666.67 of pipeline at a win rate of 75.0% (last 12 months), against $5,000.00 open now."
    )
    data = found.to_json()
    assert {key: value for key, value in data.items() if key not in ("text", "period", "scope")} == {
        "kind": "gap",
        "kpi": "revenue",
        "target": 10000,
        "actual": 2000,
        "remaining": 8000,
        "working_days_left": 11,
        "per_working_day": pytest.approx(8000 / 11),
        "deals_needed": 4,
        "pipeline_needed": pytest.approx(8000 / 0.75),
        "pipeline": 5000,
    }
    assert data["period"] == {"label": "this quarter", "start": "2017-04-01", "end": "2017-06-30", "to_date": False}


def test_a_gap_of_a_kpi_without_deals_says_what_remains_per_working_day_only(engine, world, alice, us_config):
    world.activity(alice, "call", "2017-06-01")
    world.target("calls", 23, "2017-06-01", "2017-07-01", rep=alice)
    world.commit()

    found = gap(engine, us_config, "how far am I from my calls target this month")

    assert found.text == (
        "Calls for Alice Adams, this month (2017-06-01 to 2017-06-30): target 23, 1 so far, 22 to go.\n"
        "11 working days left: 2 per working day."
    )
    assert (found.to_json()["deals_needed"], found.to_json()["pipeline_needed"]) == (None, None)


def test_a_gap_in_a_rate_is_not_spread_over_working_days(engine, world, alice, us_config):
    world.deal(alice, 100, "lost", closed="2017-06-02")
    world.target("win-rate", 0.8, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()

    found = gap(engine, us_config, "how far am I from my win rate target")

    # 2 won of 3 closed this quarter: 66.7% of an 80% target, 13.3 points to go.
    assert found.text == (
        "Win rate for Alice Adams, this quarter (2017-04-01 to 2017-06-30): target 80.0%, 66.7% so far, 13.3% to go.\n"
        "11 working days left."
    )
    assert found.to_json()["per_working_day"] is None


def test_a_gap_where_lower_is_better_is_how_far_above_the_target_it_is(engine, world, alice, us_config):
    world.target("deals-lost", 0, "2017-04-01", "2017-07-01", rep=alice)
    world.deal(alice, 100, "lost", closed="2017-06-02", created="2017-05-01")
    world.commit()

    found = gap(engine, us_config, "how far am I from my deals lost target")

    assert found.text == (
        "Deals lost for Alice Adams, this quarter (2017-04-01 to 2017-06-30): target 0, 1 so far, 1 above it.\n"
        "11 working days left."
    )
    assert (found.to_json()["remaining"], found.to_json()["per_working_day"]) == (1, None)


def test_a_target_reached_says_so(engine, world, alice, us_config):
    world.target("revenue", 1500, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()

    found = gap(engine, us_config, "gap to target")

    assert found.text == (
        "Revenue for Alice Adams, this quarter (2017-04-01 to 2017-06-30): target reached, $2,000.00 of $1,500.00."
    )
    assert (found.to_json()["remaining"], found.to_json()["per_working_day"]) == (-500, None)


def test_a_finished_period_says_it_has_ended(engine, world, alice, us_config):
    world.target("revenue", 3000, "2017-01-01", "2017-04-01", rep=alice)
    world.commit()

    found = gap(engine, us_config, "what do I need to hit quota last quarter")

    assert found.text == (
        "Revenue for Alice Adams, last quarter (2017-01-01 to 2017-03-31) has ended: $0.00 against a target of "
        "$3,000.00."
    )
    assert found.to_json()["working_days_left"] == 0


def test_without_a_target_the_gap_says_who_sets_one_and_how(engine, world, alice, us_config):
    world.commit()

    found = gap(engine, us_config, "what do I need to hit quota")

    assert found.text == (
        "Revenue for Alice Adams, this quarter (2017-04-01 to 2017-06-30): no revenue target is set, so there is no "
        "gap to show; managers set the targets of the people and teams they manage and admins anyone's, with "
        "`/kpi targets` in Slack or `kpibot targets import`."
    )
    assert (found.to_json()["target"], found.to_json()["remaining"]) == (None, None)


def test_kpibot_ask_json_prints_the_gap_with_the_keys_the_issue_lists(engine, world, alice, us_config):
    world.target("revenue", 10000, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()
    env = cli_env(engine, us_config)

    result = run_kpibot(
        "ask", "what do I need to hit quota", "--as", "alice@example.com", "--as-of", "2017-06-15", "--json", env=env
    )

    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert list(data) == [
        "kind",
        "kpi",
        "scope",
        "period",
        "target",
        "actual",
        "remaining",
        "working_days_left",
        "per_working_day",
        "deals_needed",
        "pipeline_needed",
        "pipeline",
        "text",
    ]
    assert (data["remaining"], data["working_days_left"], data["deals_needed"], data["pipeline"]) == (8000, 11, 4, 5000)
