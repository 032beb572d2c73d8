"""Every kind of post carries Slack message metadata (event_type and a small payload), so that Workflow Builder and
other apps can react to kpibot's posts: celebrations (kpibot_target_reached, kpibot_big_deal), YAML digests and
subscriptions (kpibot_digest) and alerts (kpibot_alert, tests/test_alerts.py).

The world: team West 1 (managed by Morgan Manager, UMORGAN) with Alice Adams (UALICE), who won $1,200 on
2017-05-31 against a May target of $1,000.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from digests.celebrations import celebrate
from digests.config import load_digests
from digests.jobs import run_digest
from digests.subscriptions import Request, run_due, subscribe
from kpi.schema import Deal
from kpi.service import Kpibot
from tests.fakes import FakeSlack


@pytest.fixture
def bot(engine, world, tmp_path) -> Kpibot:
    (tmp_path / "digests.yaml").write_text(
        "digests:\n  - name: weekly\n    cadence: weekly\n    audience: West 1\n    recipients: ['#sales']\n"
    )
    west = world.team("West 1")
    morgan = world.rep("Morgan Manager", team=west, role="manager")
    morgan.slack_user_id = "UMORGAN"
    world.manage(west, morgan)
    alice = world.rep("Alice Adams", team=west)
    alice.slack_user_id = "UALICE"
    world.deal(alice, 1200, "won", closed="2017-05-31 10:00")
    world.target("revenue", 1000, "2017-05-01", "2017-06-01", rep=alice)
    world.commit()
    return Kpibot(engine, tmp_path)


def parents(slack: FakeSlack) -> list[dict]:
    return [m for m in slack.messages if m["thread_ts"] is None]


def test_a_celebration_and_a_big_deal_carry_their_event_and_numbers(bot, session):
    with FakeSlack() as slack:
        slack.add_channel("C0WINS", "wins")
        celebrate(bot, slack.client(), "C0WINS", dt.date(2017, 5, 31), [1.0], big_deal_amount=Decimal(1000))
        metadata = [m["metadata"] for m in parents(slack)]

    assert metadata[0] == {
        "event_type": "kpibot_target_reached",
        "event_payload": {
            "kpi": "revenue",
            "scope": "Alice Adams",
            "period": "2017-05-01..2017-05-31",
            "value": 1200.0,
            "target": 1000.0,
            "threshold": 1.0,
        },
    }
    assert metadata[1] == {
        "event_type": "kpibot_big_deal",
        "event_payload": {"deal": str(session.query(Deal).one().id)},
    }


def test_a_yaml_digest_carries_the_digest_event_with_its_scope_and_period(bot):
    spec = load_digests(bot.config_dir, bot.catalog).get("weekly")
    with FakeSlack() as slack:
        slack.add_channel("C0SALES", "sales")
        run_digest(bot, slack.client(), bot.config_dir, spec, dt.datetime(2017, 6, 5, 8, 0, tzinfo=dt.UTC))
        (posted,) = parents(slack)

    assert posted["metadata"] == {
        "event_type": "kpibot_digest",
        "event_payload": {
            "digest": "weekly",
            "kpi": "revenue",
            "scope": "West 1",
            "period": "2017-05-29..2017-06-04",
            "recipient": "channel",
        },
    }


def test_a_subscribed_digest_carries_the_digest_event_with_the_subscribers_local_date(bot):
    with FakeSlack() as slack:
        slack.add_user("UALICE")
        request = Request("weekly", "me", "daily", "08:00")
        row = subscribe(bot, bot.person("Alice Adams"), "UALICE", request, "Asia/Kolkata")
        run_due(bot, slack.client(), bot.config_dir, dt.datetime(2017, 6, 5, 2, 30, tzinfo=dt.UTC), dt.timedelta(0))
        (posted,) = parents(slack)

    assert posted["metadata"] == {
        "event_type": "kpibot_digest",
        "event_payload": {
            "digest": f"sub-{row.id}",
            "kpi": "revenue",
            "scope": "West 1",
            "period": "2017-06-05",
            "recipient": "rep",
        },
    }
