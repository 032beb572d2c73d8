"""Self-serve digest subscriptions (digests/subscriptions.py): who may subscribe to what, and delivery at the
subscriber's local time in their Slack time zone, once, across DST changes.

The world: team West (managed by Morgan Manager) with Alice Adams and Bob Brown, its sub-team West Enterprise
with Wendy Wu, team East (managed by Evan East) with Erin Evans, and Ada Admin (tests/world.py two_teams).
Alice is UALICE in Slack, Morgan UMORGAN, Ada UADA. The YAML digests are the defaults (daily, weekly, monthly).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from digests.deliveries import resolve_pending
from digests.subscriptions import (
    Request,
    SubscriptionError,
    audience_choices,
    describe,
    rebuilder,
    run_due,
    set_enabled,
    slack_timezone,
    subscribe,
    subscriptions_of,
    unsubscribe,
)
from kpi.access import AccessDenied
from kpi.schema import Delivery, Rep, Subscription
from kpi.service import Kpibot
from tests.fakes import FakeSlack

GRACE = dt.timedelta(minutes=2)
SLACK_IDS = {"Alice Adams": "UALICE", "Morgan Manager": "UMORGAN", "Ada Admin": "UADA"}


@pytest.fixture
def bot(engine, world, session, us_config) -> Kpibot:
    world.two_teams()
    for rep in session.query(Rep).filter(Rep.name.in_(SLACK_IDS)):
        rep.slack_user_id = SLACK_IDS[rep.name]
    world.commit()
    return Kpibot(engine, us_config)


def utc(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


def test_a_rep_subscribes_to_their_own_digest_and_unsubscribes(bot):
    alice = bot.person("Alice Adams")

    row = subscribe(bot, alice, "UALICE", Request("weekly", "me", "weekly", "8:00", "monday"), "Asia/Kolkata")
    listed = [describe(bot, r) for r in subscriptions_of(bot.engine, "UALICE")]
    gone = unsubscribe(bot.engine, "UALICE", row.id)

    assert listed == ["weekly digest 'weekly' · my own numbers · Mondays at 08:00 (Asia/Kolkata) · by DM"]
    assert (gone, subscriptions_of(bot.engine, "UALICE")) == (True, [])


def test_a_rep_is_refused_another_reps_digest(bot):
    alice, bob = bot.person("Alice Adams"), bot.person("Bob Brown")

    with pytest.raises(AccessDenied, match="Reps can see their own numbers and leaderboards, not another rep's"):
        subscribe(bot, alice, "UALICE", Request("weekly", f"person:{bob.id}", "weekly", "08:00"), "UTC")

    assert subscriptions_of(bot.engine, "UALICE") == []


def test_a_manager_may_subscribe_to_their_team_but_not_to_another(bot):
    morgan = bot.person("Morgan Manager")
    west, east = bot.directory.find_team("West"), bot.directory.find_team("East")

    subscribe(bot, morgan, "UMORGAN", Request("daily", f"team:{west.id}", "daily", "07:30"), "Europe/Berlin")
    with pytest.raises(AccessDenied, match="East is neither"):
        subscribe(bot, morgan, "UMORGAN", Request("daily", f"team:{east.id}", "daily", "07:30"), "Europe/Berlin")

    assert [r.audience for r in subscriptions_of(bot.engine, "UMORGAN")] == [f"team:{west.id}"]


def test_each_role_is_offered_only_the_digests_it_may_see_a_manager_their_reps_and_an_admin_everyone(bot):
    offered = {
        name: {group: [label for label, _ in choices] for group, choices in audience_choices(bot, bot.person(name))}
        for name in SLACK_IDS
    }

    assert offered == {
        "Alice Adams": {"Yours": ["My own numbers"], "Teams": ["West"]},
        "Morgan Manager": {
            "Yours": ["My own numbers"],
            "Teams": ["West", "West Enterprise"],
            "People in West": ["Alice Adams", "Bob Brown"],
            "People in West Enterprise": ["Wendy Wu"],
        },
        "Ada Admin": {
            "Yours": ["My own numbers"],
            "The organisation": ["The whole organisation"],
            "Teams": ["East", "West", "West Enterprise"],
            "People in East": ["Erin Evans", "Evan East"],
            "People in West": ["Alice Adams", "Bob Brown", "Morgan Manager"],
            "People in West Enterprise": ["Wendy Wu"],
        },
    }


def test_a_manager_subscribes_to_a_reps_own_digest_and_gets_it_by_dm_but_not_another_managers_rep(bot, world, session):
    (rep,) = session.query(Rep).filter(Rep.name == "Alice Adams")
    world.deal(rep, 5000, "won", closed="2026-03-25")
    world.target("revenue", 20000, "2026-01-01", "2026-04-01", rep=rep)
    world.commit()
    morgan, alice, erin = (bot.person(name) for name in ("Morgan Manager", "Alice Adams", "Erin Evans"))
    with FakeSlack() as slack:
        slack.add_user("UMORGAN", email="manager@example.com")
        subscribe(bot, morgan, "UMORGAN", Request("weekly", f"person:{alice.id}", "weekly", "08:00"), "UTC")
        with pytest.raises(AccessDenied, match="Erin Evans is not in a team you manage"):
            subscribe(bot, morgan, "UMORGAN", Request("weekly", f"person:{erin.id}", "weekly", "08:00"), "UTC")

        sent = run_due(bot, slack.client(), bot.config_dir, utc("2026-03-30 08:00"), GRACE)
        (posted,) = [m for m in slack.messages if m["thread_ts"] is None]

    west = bot.directory.find_team("West")
    assert [describe(bot, row) for row in subscriptions_of(bot.engine, "UMORGAN")] == [
        "weekly digest 'weekly' · Alice Adams · Mondays at 08:00 (UTC) · by DM"
    ]
    assert [(o.key.split(":", 2)[2], o.status) for o in sent] == [(f"team:{west.id}:user:UMORGAN:2026-03-30", "sent")]
    assert posted["channel"] == slack.im_for("UMORGAN")
    assert posted["text"].startswith("Weekly digest: Alice Adams, 2026-03-23 to 2026-03-29: Revenue")
    shown = [b["text"]["text"] for b in posted["blocks"] if b["type"] == "section" and "text" in b]
    assert any(line.startswith("*Alice Adams's Revenue target, 2026-Q1*") for line in shown), shown
    assert [line for line in shown if "Your " in line or "You " in line] == []


def test_a_subscription_with_an_unknown_digest_or_time_is_refused_with_what_is_allowed(bot):
    alice = bot.person("Alice Adams")

    with pytest.raises(SubscriptionError, match="no digest called 'quarterly'. Digests: daily, weekly, monthly"):
        subscribe(bot, alice, "UALICE", Request("quarterly", "me", "weekly", "08:00"), "UTC")
    with pytest.raises(SubscriptionError, match="'25:00' is not a time"):
        subscribe(bot, alice, "UALICE", Request("weekly", "me", "weekly", "25:00"), "UTC")


@pytest.mark.parametrize(
    ("zone", "fires"),
    [
        # 08:00 PST is 16:00 UTC; after 2026-03-08, 08:00 PDT is 15:00 UTC.
        ("America/Los_Angeles", ["2026-03-07 16:00", "2026-03-09 15:00"]),
        # 08:00 CET is 07:00 UTC; after 2026-03-29, 08:00 CEST is 06:00 UTC.
        ("Europe/Berlin", ["2026-03-28 07:00", "2026-03-30 06:00"]),
        # India has no DST and a half-hour offset: 08:00 IST is 02:30 UTC.
        ("Asia/Kolkata", ["2026-03-28 02:30", "2026-03-30 02:30"]),
    ],
)
def test_a_daily_subscription_arrives_at_0800_in_the_subscribers_slack_time_zone_across_a_dst_change(bot, zone, fires):
    alice = bot.person("Alice Adams")
    with FakeSlack() as slack:
        slack.add_user("UALICE", email="alice@example.com", tz=zone)
        client = slack.client()
        timezone = slack_timezone(client, "UALICE", bot.org.timezone)
        subscribe(bot, alice, "UALICE", Request("weekly", "me", "daily", "08:00"), timezone)

        sent = {}
        for fire in fires:
            early = run_due(bot, client, bot.config_dir, utc(fire) - dt.timedelta(minutes=1), GRACE)
            on_time = run_due(bot, client, bot.config_dir, utc(fire), GRACE)
            again = run_due(bot, client, bot.config_dir, utc(fire) + dt.timedelta(minutes=1), GRACE)
            sent[fire] = (early, [o.status for o in on_time], again)
        parents = [m for m in slack.messages if m["thread_ts"] is None]

    assert timezone == zone
    assert sent == {fire: ([], ["sent"], []) for fire in fires}
    assert len(parents) == 2
    assert all(m["channel"] == slack.im_for("UALICE") for m in parents)
    assert all(f"sent at your local time ({zone})" in str(m["blocks"]) for m in parents)


def test_a_subscription_due_once_is_posted_once_however_often_the_worker_looks(bot):
    morgan = bot.person("Morgan Manager")
    west = bot.directory.find_team("West")
    with FakeSlack() as slack:
        slack.add_user("UMORGAN", email="manager@example.com", tz="Europe/Berlin")
        client = slack.client()
        subscribe(bot, morgan, "UMORGAN", Request("weekly", f"team:{west.id}", "weekly", "08:00"), "Europe/Berlin")
        monday = utc("2026-03-30 06:00")

        first = run_due(bot, client, bot.config_dir, monday, GRACE)
        second = run_due(bot, client, bot.config_dir, monday, GRACE)  # a second worker, the same minute

        assert [(o.key.split(":")[0], o.status) for o in first] == [("digest", "sent")]
        assert first[0].key.endswith(f":team:{west.id}:user:UMORGAN:2026-03-30")
        assert second == []
        assert len([m for m in slack.messages if m["thread_ts"] is None]) == 1


def test_a_paused_subscription_is_not_sent_and_a_resumed_one_is(bot):
    alice = bot.person("Alice Adams")
    with FakeSlack() as slack:
        slack.add_user("UALICE", email="alice@example.com")
        client = slack.client()
        row = subscribe(bot, alice, "UALICE", Request("weekly", "me", "daily", "08:00"), "UTC")

        set_enabled(bot.engine, "UALICE", row.id, False)
        paused = run_due(bot, client, bot.config_dir, utc("2026-03-30 08:00"), GRACE)
        set_enabled(bot.engine, "UALICE", row.id, True)
        resumed = run_due(bot, client, bot.config_dir, utc("2026-03-30 08:00"), GRACE)

    assert (paused, [o.status for o in resumed]) == ([], ["sent"])


def test_only_the_subscriber_may_pause_or_delete_their_subscription(bot):
    row = subscribe(bot, bot.person("Alice Adams"), "UALICE", Request("weekly", "me", "weekly", "08:00"), "UTC")

    assert set_enabled(bot.engine, "UMORGAN", row.id, False) is False
    assert unsubscribe(bot.engine, "UMORGAN", row.id) is False
    assert [r.enabled for r in subscriptions_of(bot.engine, "UALICE")] == [True]


def test_a_subscription_left_unconfirmed_by_a_crash_is_rebuilt_and_posted_once(bot, monkeypatch):
    with FakeSlack() as slack:
        slack.add_user("UALICE", email="alice@example.com")
        client = slack.client()
        subscribe(bot, bot.person("Alice Adams"), "UALICE", Request("weekly", "me", "daily", "08:00"), "UTC")
        monkeypatch.setattr("digests.send.post_rendered", lambda *a, **k: (_ for _ in ()).throw(SystemExit("killed")))
        with pytest.raises(SystemExit):
            run_due(bot, client, bot.config_dir, utc("2026-03-30 08:00"), GRACE)
        monkeypatch.undo()
        with bot.engine.begin() as connection:  # the dead worker's claim, long enough ago to be stale
            connection.execute(update(Delivery).values(updated_at=dt.datetime(2026, 3, 30, 8, 0)))

        first = resolve_pending(bot.engine, client, rebuilder(bot, bot.config_dir))
        second = resolve_pending(bot.engine, client, rebuilder(bot, bot.config_dir))

        assert ([o.status for o in first], second) == (["sent"], [])
        assert len([m for m in slack.messages if m["thread_ts"] is None]) == 1


def test_a_teams_digest_subscribed_to_a_channel_is_posted_there_at_the_managers_local_time(bot):
    west = bot.directory.find_team("West")
    with FakeSlack() as slack:
        slack.add_channel("C0WEST", "west", members=("UMORGAN",))
        request = Request("weekly", f"team:{west.id}", "weekly", "08:00", channel="C0WEST")
        subscribe(bot, bot.person("Morgan Manager"), "UMORGAN", request, "America/Los_Angeles")

        sent = run_due(bot, slack.client(), bot.config_dir, utc("2026-03-30 15:00"), GRACE)
        (posted,) = [m for m in slack.messages if m["thread_ts"] is None]

    assert [o.key.split(":", 2)[2] for o in sent] == [f"team:{west.id}:channel:C0WEST:2026-03-30"]
    assert (posted["channel"], posted["text"].startswith("Weekly digest: West")) == ("C0WEST", True)


def test_a_subscribers_slack_time_zone_is_read_again_after_a_day_and_moves_the_delivery(bot):
    with FakeSlack() as slack:
        slack.add_user("UALICE", email="alice@example.com", tz="Europe/Berlin")  # she moved from Kolkata
        client = slack.client()
        row = subscribe(bot, bot.person("Alice Adams"), "UALICE", Request("weekly", "me", "daily", "08:00"), "UTC")
        with bot.engine.begin() as connection:  # read from Slack when she subscribed, in Kolkata, two days ago
            old = {"timezone": "Asia/Kolkata", "timezone_checked_at": dt.datetime(2026, 3, 28, 9, 0)}
            connection.execute(update(Subscription).where(Subscription.id == row.id).values(**old))

        at_kolkata_time = run_due(bot, client, bot.config_dir, utc("2026-03-30 02:30"), GRACE)
        at_berlin_time = run_due(bot, client, bot.config_dir, utc("2026-03-30 06:00"), GRACE)
        (now,) = subscriptions_of(bot.engine, "UALICE")

    assert (at_kolkata_time, [o.status for o in at_berlin_time]) == ([], ["sent"])
    assert (now.timezone, now.timezone_checked_at) == ("Europe/Berlin", dt.datetime(2026, 3, 30, 2, 30))


def test_a_wake_reads_again_a_bounded_number_of_time_zones_those_read_longest_ago_first(bot, monkeypatch):
    monkeypatch.setattr("digests.subscriptions.TZ_REFRESHES_PER_RUN", 1)  # 40 a minute, under users.info's tier
    with FakeSlack() as slack:
        for user in ("UALICE", "UMORGAN"):
            slack.add_user(user, tz="Europe/Berlin")
        client = slack.client()
        west = bot.directory.find_team("West")
        subscribe(bot, bot.person("Alice Adams"), "UALICE", Request("weekly", "me", "daily", "08:00"), "UTC")
        request = Request("weekly", f"team:{west.id}", "daily", "08:00")
        subscribe(bot, bot.person("Morgan Manager"), "UMORGAN", request, "UTC")
        read_at = {"UALICE": dt.datetime(2026, 3, 28, 9, 0), "UMORGAN": dt.datetime(2026, 3, 27, 9, 0)}
        with bot.engine.begin() as connection:
            for user, at in read_at.items():
                mine = Subscription.slack_user_id == user
                connection.execute(update(Subscription).where(mine).values(timezone_checked_at=at))

        run_due(bot, client, bot.config_dir, utc("2026-03-30 12:00"), GRACE)
        first = {row.slack_user_id: row.timezone for row in subscriptions_for(bot)}
        run_due(bot, client, bot.config_dir, utc("2026-03-30 12:01"), GRACE)
        second = {row.slack_user_id: row.timezone for row in subscriptions_for(bot)}

    assert first == {"UALICE": "UTC", "UMORGAN": "Europe/Berlin"}  # Morgan's was read longest ago
    assert second == {"UALICE": "Europe/Berlin", "UMORGAN": "Europe/Berlin"}
    assert len(slack.calls_to("users.info")) == 2


def subscriptions_for(bot: Kpibot) -> list[Subscription]:
    return subscriptions_of(bot.engine, "UALICE") + subscriptions_of(bot.engine, "UMORGAN")
