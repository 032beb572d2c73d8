"""Goal alerts (kpi/grammar/alerts.py, digests/alerts.py): parsed from what people type, fired once when the
condition becomes true, not again while the value hovers at the threshold, re-armed by a 5% margin and a new
period, snoozed for a week, and asked as their subscriber.

The world: team West (managed by Morgan Manager) with Alice Adams (UALICE) and Bob Brown; Alice's open deal
is her pipeline. Checks run as of days in 2026-Q4 and 2027-Q1 (UTC org).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest

from bot.app import create_app, web_client
from digests.alerts import alerts_of, check_alerts, create_alert, delete_alert, snooze_alert
from kpi.access import AccessDenied
from kpi.directory import Person
from kpi.grammar.alerts import AlertCondition, AlertSyntaxError, parse_alert
from kpi.schema import Deal
from kpi.service import Kpibot
from tests.fakes import FakeSlack
from tests.test_slack_app import SECRET, press
from tests.waiting import wait_for

NOV, JAN = dt.date(2026, 11, 25), dt.date(2027, 1, 12)  # pipeline is watched by quarter, its default period


@pytest.mark.parametrize(
    ("text", "condition"),
    [
        ("alert me when my pipeline drops below 50k", AlertCondition("my pipeline", "below", Decimal(50000))),
        (
            "alert me when my team reaches 100% of the revenue target",
            AlertCondition("my team revenue", "above", Decimal(1), "attainment", percent=True),
        ),
        (
            "alert me when my win rate falls under 25%",
            AlertCondition("my win rate", "below", Decimal("0.25"), percent=True),
        ),
        ("Alert me if my revenue goes over $1,200.50", AlertCondition("my revenue", "above", Decimal("1200.50"))),
    ],
)
def test_an_alert_is_read_as_the_question_it_watches_a_direction_and_a_threshold(text, condition):
    assert parse_alert(text) == condition


def test_words_that_state_no_condition_are_refused_with_examples():
    with pytest.raises(AlertSyntaxError, match=r"couldn't read 'lots' as a number.*`/kpi alert me when my pipeline"):
        parse_alert("alert me when my pipeline drops below lots")


@pytest.fixture
def bot(engine, world, us_config) -> Kpibot:
    west = world.team("West")
    world.manage(west, world.rep("Morgan Manager", team=west, role="manager"))
    alice = world.rep("Alice Adams", team=west)
    alice.slack_user_id = "UALICE"
    world.rep("Bob Brown", team=west)
    world.deal(alice, 60000, "open", created="2026-01-05")
    world.commit()
    return Kpibot(engine, us_config)


def alice(bot: Kpibot) -> Person:
    return bot.person("Alice Adams")


def pipeline(world, amount: int) -> None:
    """Alice's pipeline is now ``amount`` (her one open deal's amount), committed as a sync would."""
    world.session.query(Deal).one().amount = Decimal(amount)
    world.commit()


def test_an_alert_fires_once_does_not_refire_while_hovering_and_rearms_by_the_margin_in_a_new_period(bot, world):
    alert = create_alert(bot, alice(bot), "UALICE", "alert me when my pipeline drops below 50k")
    fired = []
    with FakeSlack() as slack:
        slack.add_user("UALICE")
        client = slack.client()

        def check(amount: int, day: dt.date) -> None:
            pipeline(world, amount)
            fired.append([o.key for o in check_alerts(bot, client, as_of=day)])

        check(60000, NOV)  # above: nothing
        check(45000, NOV)  # became true: fires
        check(51000, NOV)  # hovers above 50k, under 52.5k: not re-armed
        check(49000, NOV)  # true again: silent
        check(49000, JAN)  # a new period, but it never went back over 52.5k: silent
        check(53000, JAN)  # false by more than 5%: re-armed
        check(48000, JAN)  # true again in a period it has not fired in: fires
        check(47000, JAN)  # still true: once per period
        messages = [m for m in slack.messages if m["channel"] == slack.im_for("UALICE")]

    q4, q1 = "2026-10-01..2026-12-31", "2027-01-01..2027-03-31"
    key = f"alert:{alert.id}"
    assert fired == [[], [f"{key}:{q4}"], [], [], [], [], [f"{key}:{q1}"], []]
    assert [m["text"] for m in messages] == [
        ":bell: Pipeline for Alice Adams is *$45,000.00* (this quarter), below your alert's $50,000.00.",
        ":bell: Pipeline for Alice Adams is *$48,000.00* (this quarter), below your alert's $50,000.00.",
    ]


def test_every_alert_post_carries_message_metadata(bot, world):
    create_alert(bot, alice(bot), "UALICE", "alert me when my pipeline drops below 50k")
    pipeline(world, 45000)
    with FakeSlack() as slack:
        slack.add_user("UALICE")
        check_alerts(bot, slack.client(), as_of=NOV)
        (posted,) = slack.messages

    assert posted["metadata"] == {
        "event_type": "kpibot_alert",
        "event_payload": {
            "kpi": "pipeline",
            "scope": "Alice Adams",
            "period": "2026-10-01..2026-12-31",
            "value": 45000.0,
            "target": 50000.0,
        },
    }


def test_a_snoozed_alert_stays_quiet_for_a_week_then_fires(bot, world):
    alert = create_alert(bot, alice(bot), "UALICE", "alert me when my pipeline drops below 50k")
    pipeline(world, 45000)
    with FakeSlack() as slack:
        slack.add_user("UALICE")
        snooze_alert(bot.engine, "UALICE", alert.id, now=dt.datetime(2026, 11, 20, 9, 0))
        during = check_alerts(bot, slack.client(), now=dt.datetime(2026, 11, 27, 8, 59), as_of=NOV)
        after = check_alerts(bot, slack.client(), now=dt.datetime(2026, 11, 27, 9, 1), as_of=NOV)

    assert (during, [o.status for o in after]) == ([], ["sent"])


def test_an_alert_asks_as_its_subscriber_so_a_rep_cannot_watch_another_rep(bot):
    with pytest.raises(AccessDenied, match="not another rep's numbers"):
        create_alert(bot, alice(bot), "UALICE", "alert me when Bob Brown's pipeline drops below 50k")

    assert alerts_of(bot.engine, "UALICE") == []


def test_alerts_are_listed_and_deleted_by_their_owner_only(bot):
    alert = create_alert(bot, alice(bot), "UALICE", "alert me when my win rate falls under 25%")

    assert delete_alert(bot.engine, "UMORGAN", alert.id) is False
    assert [a.text for a in alerts_of(bot.engine, "UALICE")] == ["alert me when my win rate falls under 25%"]
    assert delete_alert(bot.engine, "UALICE", alert.id) is True
    assert alerts_of(bot.engine, "UALICE") == []


def test_an_alert_on_a_number_counted_from_records_offers_them_and_the_button_lists_them(bot, world):
    create_alert(bot, alice(bot), "UALICE", "alert me when my pipeline drops below 50k")
    world.session.query(Deal).one().name = "Acme <renewal>"
    pipeline(world, 45000)
    with FakeSlack() as slack:
        slack.add_user("UALICE", email="alice@example.com", real_name="Alice Adams")
        check_alerts(bot, slack.client(), as_of=NOV)
        (posted,) = slack.messages
        (opener,) = [e for b in posted["blocks"] if b["type"] == "actions" for e in b["elements"]]
        app = create_app(bot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))
        press(app, slack, "UALICE", {k: opener[k] for k in ("action_id", "value")})
        listed = wait_for(lambda: slack.responses)[0].params

    assert (opener["text"]["text"], json.loads(opener["value"])) == (
        "Show the deals",
        {"k": "value", "kpi": "pipeline", "s": "me", "p": None},
    )
    assert [b["text"]["text"] for b in listed["blocks"]] == [
        "*Pipeline, Alice Adams, this quarter: the records behind it*",
        "*pipeline*: 1 records, $45,000.00\n• Acme &lt;renewal&gt; · Alice Adams · $45,000.00 · Proposal",
    ]
