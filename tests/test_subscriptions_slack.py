"""Subscriptions and alerts in Slack through the Bolt app (bot/subscriptions.py, bot/alerts.py): `/kpi subscribe`
and its form, `/kpi subscriptions` and `/kpi unsubscribe`, the App Home's "Digests" section with its buttons, and
`/kpi alert me when ...` and `/kpi alerts`.

The world: team West (managed by Morgan Manager) with Alice Adams (U0ALICE, in Asia/Kolkata in Slack), team
East with Erin Evans, and the default YAML digests (daily, weekly, monthly).
"""

from __future__ import annotations

import json

import pytest
from slack_bolt import App

import bot.app
from bot.alerts import SNOOZE_ACTION
from bot.app import create_app, web_client
from bot.subscriptions import (
    ADD_ACTION,
    CALLBACK_ID,
    DELETE_ACTION,
    NONE_YET,
    NOT_A_MEMBER,
    TOGGLE_ACTION,
    subscribe_modal,
)
from digests.alerts import alerts_of
from digests.subscriptions import subscriptions_of
from kpi.service import Kpibot
from tests.fakes import FakeSlack
from tests.test_slack_app import SECRET, dispatch, held, signed_dispatch
from tests.waiting import wait_for


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        fake.add_user("U0ALICE", email="alice@example.com", real_name="Alice Adams", tz="Asia/Kolkata")
        fake.add_user("U0MORGAN", email="morgan@example.com", real_name="Morgan Manager", tz="America/New_York")
        fake.add_channel("C0WEST", "west", members=("U0MORGAN",))
        fake.add_channel("C0OTHER", "other", members=("U0ALICE",))
        yield fake


@pytest.fixture
def kpibot(engine, world, us_config) -> Kpibot:
    west, east = world.team("West"), world.team("East")
    world.manage(west, world.rep("Morgan Manager", team=west, role="manager", email="morgan@example.com"))
    world.rep("Alice Adams", team=west, email="alice@example.com")
    world.rep("Erin Evans", team=east)
    world.commit()
    return Kpibot(engine, us_config)


@pytest.fixture
def app(slack, kpibot) -> App:
    return create_app(kpibot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))


def chosen(value: str) -> dict:
    return {"value": {"type": "static_select", "selected_option": {"text": {}, "value": value}}}


def form(audience: str = "me", cadence: str = "weekly", time: str = "08:00", day: str | None = "monday") -> dict:
    """A submitted subscription form's state.values."""
    values = {"digest": chosen("weekly"), "audience": chosen(audience), "cadence": chosen(cadence)}
    values |= {"time": chosen(time), "day": chosen(day) if day else {"value": {"selected_option": None}}}
    return values


def submit(app, slack: FakeSlack, values: dict, user: str = "U0ALICE"):
    """Submit the form; once accepted, wait for the App Home that is published again after it."""
    response = signed_dispatch(app, slack.view_submission(user, CALLBACK_ID, values))
    if response.body == "":
        wait_for(lambda: slack.home_views.get(user))
    return response


def texts(blocks: list[dict]) -> list[str]:
    return [b["text"]["text"] for b in blocks if b["type"] in ("section", "header")]


def whose(view: dict) -> dict[str, list[str]]:
    """The form's menu of whose numbers: each group's label, with its options' texts."""
    menu = next(b for b in view["blocks"] if b.get("block_id") == "audience")["element"]
    return {group["label"]["text"]: [o["text"]["text"] for o in group["options"]] for group in menu["option_groups"]}


def test_kpi_subscribe_opens_the_form_with_what_the_person_may_subscribe_to_and_their_slack_time_zone(app, slack):
    response = dispatch(app, slack, "U0ALICE", "subscribe")

    assert (response.status, response.body) == (200, "")
    (opened,) = wait_for(lambda: slack.modals)
    view = opened["view"]
    assert (opened["trigger_id"], view["callback_id"]) == ("1.2.3", CALLBACK_ID)
    assert whose(view) == {"Yours": ["My own numbers"], "Teams": ["West"]}
    assert view["blocks"][-1]["elements"][0]["text"] == (
        "Sent at your local time, in your Slack time zone (Asia/Kolkata)."
    )


def test_submitting_the_form_subscribes_in_the_slack_time_zone_and_kpi_subscriptions_lists_it(app, slack, kpibot):
    response = submit(app, slack, form())
    listed = json.loads(dispatch(app, slack, "U0ALICE", "subscriptions").body)

    assert (response.status, response.body) == (200, "")
    assert texts(listed["blocks"]) == [
        "*Your digest subscriptions*",
        "• weekly digest 'weekly' · my own numbers · Mondays at 08:00 (Asia/Kolkata) · by DM",
    ]


def test_a_rep_cannot_subscribe_to_a_team_they_are_not_in_even_with_a_forged_form(app, slack, kpibot):
    east = kpibot.directory.find_team("East")

    response = submit(app, slack, form(audience=f"team:{east.id}"))

    assert json.loads(response.body) == {
        "response_action": "errors",
        "errors": {
            "audience": "You can see the totals of your own team and of teams you manage; East is neither. "
            "Leaderboards are open to everyone: try `leaderboard revenue East`."
        },
    }
    assert subscriptions_of(kpibot.engine, "U0ALICE") == []


def test_the_app_home_lists_subscriptions_and_its_toggle_pauses_one(app, slack, kpibot):
    submit(app, slack, form(cadence="daily", time="07:30", day=None))
    (row,) = subscriptions_of(kpibot.engine, "U0ALICE")
    home = slack.home_views["U0ALICE"]  # published again once subscribed

    pause = next(b for b in home["blocks"] if b.get("block_id") == f"subscription_actions_{row.id}")["elements"][0]
    signed_dispatch(app, slack.home_actions("U0ALICE", {**pause, "block_id": f"subscription_actions_{row.id}"}))
    paused = wait_for(lambda: (v := slack.home_views["U0ALICE"]) is not home and v)

    line = "• daily digest 'weekly' · my own numbers · every day at 07:30 (Asia/Kolkata) · by DM"
    assert (pause["action_id"], pause["text"]["text"], pause["value"]) == (TOGGLE_ACTION, "Pause", f"{row.id}:off")
    assert texts(home["blocks"])[-5:-2] == ["Digests", "Digests you chose, sent at your local time.", line]
    assert f"{line} · paused" in texts(paused["blocks"])
    assert [r.enabled for r in subscriptions_of(kpibot.engine, "U0ALICE")] == [False]


def test_kpi_unsubscribe_lists_subscriptions_and_delete_removes_one(app, slack, kpibot):
    submit(app, slack, form())
    (row,) = subscriptions_of(kpibot.engine, "U0ALICE")

    listed = json.loads(dispatch(app, slack, "U0ALICE", "unsubscribe").body)
    delete = next(b for b in listed["blocks"] if b["type"] == "actions")["elements"][1]
    url = slack.response_url()
    signed_dispatch(app, slack.block_actions("U0ALICE", {**delete, "block_id": "x"}, url))

    assert (delete["action_id"], delete["value"]) == (DELETE_ACTION, str(row.id))
    assert wait_for(lambda: slack.responses)[-1].params["text"] == NONE_YET
    assert subscriptions_of(kpibot.engine, "U0ALICE") == []


def test_kpi_alert_me_when_stores_an_alert_and_kpi_alerts_lists_it_with_snooze_and_delete(app, slack, kpibot):
    created = json.loads(dispatch(app, slack, "U0ALICE", "alert me when my pipeline drops below 50k").body)
    listed = json.loads(dispatch(app, slack, "U0ALICE", "alerts").body)
    snooze = next(b for b in listed["blocks"] if b["type"] == "actions")["elements"][0]
    signed_dispatch(app, slack.block_actions("U0ALICE", {**snooze, "block_id": "x"}, slack.response_url()))
    snoozed = wait_for(lambda: slack.responses)[-1].params

    assert created["text"] == (
        ":bell: I'll tell you by DM, once per period, when `alert me when my pipeline drops below 50k` comes true "
        "(checked after every CRM sync). `/kpi alerts` lists, snoozes and deletes your alerts."
    )
    assert texts(listed["blocks"]) == ["*Your alerts*", "• `alert me when my pipeline drops below 50k`"]
    assert (snooze["action_id"], snooze["text"]["text"]) == (SNOOZE_ACTION, "Snooze a week")
    assert "· snoozed until " in texts(snoozed["blocks"])[1]


def test_an_alert_slower_to_create_than_the_budget_is_acknowledged_at_once_and_confirmed_through_the_response_url(
    app, slack, kpibot, monkeypatch
):
    monkeypatch.setattr(bot.app, "ACK_BUDGET_SECONDS", 0.2)
    release = held(kpibot, monkeypatch)  # reading the pipeline it watches takes longer than Slack waits

    response = dispatch(app, slack, "U0ALICE", "alert me when my pipeline drops below 50k")
    acknowledged = json.loads(response.body)["text"]
    release.set()

    assert acknowledged == ":hourglass_flowing_sand: Working on it…"
    assert (
        wait_for(lambda: slack.responses)[0]
        .params["text"]
        .startswith(
            ":bell: I'll tell you by DM, once per period, when `alert me when my pipeline drops below 50k` comes true"
        )
    )
    assert [row.text for row in alerts_of(kpibot.engine, "U0ALICE")] == ["alert me when my pipeline drops below 50k"]


def test_an_alert_on_another_reps_numbers_is_refused_with_the_reason(app, slack, kpibot):
    refused = json.loads(dispatch(app, slack, "U0ALICE", "alert me when Erin Evans's pipeline drops below 5k").body)

    assert "Reps can see their own numbers and leaderboards, not another rep's numbers." in refused["text"]
    assert alerts_of(kpibot.engine, "U0ALICE") == []


def in_channel(values: dict, channel: str) -> dict:
    return {**values, "channel": {"value": {"type": "conversations_select", "selected_conversation": channel}}}


def test_a_manager_sends_their_teams_digest_to_a_channel_they_are_in_and_not_to_another(app, slack, kpibot):
    west = kpibot.directory.find_team("West")
    team_form = form(audience=f"team:{west.id}")

    outside = submit(app, slack, in_channel(team_form, "C0OTHER"), user="U0MORGAN")
    inside = submit(app, slack, in_channel(team_form, "C0WEST"), user="U0MORGAN")
    (row,) = subscriptions_of(kpibot.engine, "U0MORGAN")

    assert json.loads(outside.body) == {"response_action": "errors", "errors": {"channel": NOT_A_MEMBER}}
    assert (inside.body, row.channel, row.timezone) == ("", "C0WEST", "America/New_York")


def test_a_managers_form_offers_their_reps_and_a_reps_digest_subscribed_goes_to_the_manager(app, slack, kpibot):
    alice = kpibot.person("Alice Adams")
    dispatch(app, slack, "U0MORGAN", "subscribe")
    (opened,) = wait_for(lambda: slack.modals)

    response = submit(app, slack, form(audience=f"person:{alice.id}"), user="U0MORGAN")
    (row,) = subscriptions_of(kpibot.engine, "U0MORGAN")

    assert whose(opened["view"]) == {
        "Yours": ["My own numbers"],
        "Teams": ["West"],
        "People in West": ["Alice Adams"],
    }
    assert (response.body, row.audience, row.channel) == ("", f"person:{alice.id}", None)


def test_a_rep_cannot_subscribe_to_another_reps_digest_even_with_a_forged_form(app, slack, kpibot):
    morgan = kpibot.person("Morgan Manager")

    response = submit(app, slack, form(audience=f"person:{morgan.id}"))

    assert json.loads(response.body)["errors"] == {
        "audience": "Reps can see their own numbers and leaderboards, not another rep's numbers. "
        "Try `my revenue` or `leaderboard revenue`."
    }
    assert subscriptions_of(kpibot.engine, "U0ALICE") == []


def test_a_persons_own_digest_goes_by_dm_not_to_a_channel(app, slack, kpibot):
    response = submit(app, slack, in_channel(form(), "C0OTHER"))

    assert json.loads(response.body)["errors"] == {
        "channel": "A digest of one person's numbers goes by DM; a team's digest can go to a channel."
    }


def test_the_app_homes_subscribe_button_opens_the_form(app, slack):
    add = {"type": "button", "action_id": ADD_ACTION, "block_id": "x", "value": "add"}

    signed_dispatch(app, slack.home_actions("U0ALICE", add))

    (opened,) = wait_for(lambda: slack.modals)
    assert (opened["trigger_id"], opened["view"]["callback_id"]) == ("7.8.9", CALLBACK_ID)


def test_a_subscription_refused_from_the_app_homes_form_is_told_in_the_form_not_through_a_response_url(
    app, slack, kpibot
):
    east, west = kpibot.directory.find_team("East"), kpibot.directory.find_team("West")
    add = {"type": "button", "action_id": ADD_ACTION, "block_id": "x", "value": "add"}
    signed_dispatch(app, slack.home_actions("U0MORGAN", add))
    wait_for(lambda: slack.modals)

    not_managed = submit(app, slack, form(audience=f"team:{east.id}"), user="U0MORGAN")
    not_a_member = submit(app, slack, in_channel(form(audience=f"team:{west.id}"), "C0OTHER"), user="U0MORGAN")
    gone = submit(app, slack, form(audience="team:999999"), user="U0MORGAN")

    assert json.loads(not_managed.body)["errors"] == {
        "audience": "You can see the totals of your own team and of teams you manage; East is neither. "
        "Leaderboards are open to everyone: try `leaderboard revenue East`."
    }
    assert json.loads(not_a_member.body) == {"response_action": "errors", "errors": {"channel": NOT_A_MEMBER}}
    assert json.loads(gone.body) == {
        "response_action": "errors",
        "errors": {"audience": "That person or team is no longer in the directory."},
    }
    assert (slack.responses, subscriptions_of(kpibot.engine, "U0MORGAN")) == ([], [])


def test_the_app_homes_subscribe_button_pressed_by_someone_kpibot_cannot_match_opens_a_modal_saying_why(app, slack):
    slack.add_user("U0STRANGER", email="stranger@example.com")
    add = {"type": "button", "action_id": ADD_ACTION, "block_id": "x", "value": "add"}

    signed_dispatch(app, slack.home_actions("U0STRANGER", add))

    (opened,) = wait_for(lambda: slack.modals)
    (section,) = opened["view"]["blocks"]
    assert (opened["trigger_id"], opened["view"]["title"]["text"]) == ("7.8.9", "Subscribe to a digest")
    assert section["text"]["text"].startswith(":thinking_face: I don't know who you are in the CRM yet.")


def test_an_admin_of_more_teams_than_a_menu_holds_is_offered_the_teams_without_their_people(engine, world, us_config):
    world.rep("Ada Admin", role="admin", email="admin@example.com")
    for number in range(101):  # 101 groups of people, over Slack's 100 option groups
        world.rep(f"Rep {number:03d}", team=world.team(f"Team {number:03d}"))
    world.commit()
    kpibot = Kpibot(engine, us_config)

    groups = whose(subscribe_modal(kpibot, kpibot.person("Ada Admin"), "UTC"))

    assert list(groups) == ["Yours", "The organisation", "Teams (1)", "Teams (2)"]
    assert (len(groups["Teams (1)"]), groups["Teams (2)"]) == (100, ["Team 100"])
