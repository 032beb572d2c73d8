"""`/kpi targets`: the modal's Block Kit within Slack's limits, and its submission (bot/targets_modal.py).

The world: team West (managed by Morgan Manager, who belongs to it) with Alice Adams and Bob Brown, its
sub-team West Enterprise with Wendy Wu, team East (managed by Evan East) with Erin Evans, Ada Admin, and
Leo Left who left West on 2026-10-01. Today is Wednesday 2026-11-25.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse
from sqlalchemy import select

from bot.targets_modal import CALLBACK_ID, open_targets_modal, save_submission, targets_modal
from kpi.schema import Rep, Target, Team
from kpi.service import Kpibot

TODAY = dt.date(2026, 11, 25)
NOW = dt.datetime(2026, 11, 25, 15, 0)


@pytest.fixture
def bot(engine, world, us_config) -> Kpibot:
    west = world.two_teams()["West"]
    world.rep("Leo Left", team=west, left="2026-10-01")
    world.commit()
    return Kpibot(engine, us_config)


def selects(view: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}


def option_texts(element: dict[str, Any]) -> list[str]:
    if "options" in element:
        return [o["text"]["text"] for o in element["options"]]
    return [o["text"]["text"] for group in element["option_groups"] for o in group["options"]]


def check_slack_limits(view: dict[str, Any]) -> None:
    """Views: at most 100 blocks, a title of 24 characters; selects: at most 100 options (or 100 groups of
    at most 100), option and group texts of at most 75 characters, values of at most 150."""
    assert len(view["blocks"]) <= 100
    assert len(view["title"]["text"]) <= 24
    for block in view["blocks"]:
        assert block.get("type") in ("section", "input", "context", "divider", "header")
        element = block.get("element", {})
        if element.get("type") != "static_select":
            continue
        groups = element.get("option_groups") or [{"label": {"text": ""}, "options": element["options"]}]
        assert len(groups) <= 100
        for group in groups:
            assert len(group["label"]["text"]) <= 75
            assert 1 <= len(group["options"]) <= 100
            for option in group["options"]:
                assert len(option["text"]["text"]) <= 75
                assert len(option["value"]) <= 150
        if "initial_option" in element:
            assert element["initial_option"] in [o for g in groups for o in g["options"]]


def state(who: str, kpi: str, period: str, value: str, who_typed: bool = False) -> dict[str, Any]:
    """A submitted view's state.values, as Slack sends it."""
    chosen = lambda v: {"type": "static_select", "selected_option": {"text": {}, "value": v}}  # noqa: E731
    return {
        "who": {"value": {"type": "plain_text_input", "value": who} if who_typed else chosen(who)},
        "kpi": {"value": chosen(kpi)},
        "period": {"value": chosen(period)},
        "value": {"value": {"type": "plain_text_input", "value": value}},
    }


def key(bot: Kpibot, name: str) -> str:
    team = bot.directory.find_team(name)
    return f"team:{team.id}" if team else f"rep:{bot.person(name).id}"


def targets(bot: Kpibot) -> list:
    with bot.engine.connect() as connection:
        return connection.execute(select(Target).order_by(Target.id)).all()


# --- the view -----------------------------------------------------------------------------------------------


def test_a_manager_chooses_among_the_people_and_teams_they_manage(bot):
    view = targets_modal(bot, bot.person("manager@example.com"), TODAY)

    check_slack_limits(view)
    assert (view["type"], view["callback_id"], view["submit"]["text"]) == ("modal", CALLBACK_ID, "Save")
    who = selects(view)["who"]
    assert [(g["label"]["text"], [o["text"]["text"] for o in g["options"]]) for g in who["option_groups"]] == [
        ("Teams", ["Team West", "Team West Enterprise"]),
        ("West", ["Alice Adams", "Bob Brown"]),  # not Morgan himself, not Leo who left
        ("West Enterprise", ["Wendy Wu"]),
    ]


def test_the_kpi_and_period_choices(bot):
    view = targets_modal(bot, bot.person("manager@example.com"), TODAY)
    kpi, period = selects(view)["kpi"], selects(view)["period"]

    assert len(kpi["options"]) == len(bot.catalog) == 39
    assert kpi["initial_option"]["value"] == "revenue"
    assert [(o["text"]["text"], o["value"]) for o in period["options"]] == [
        ("This month · November 2026", "2026-11-01/2026-12-01"),
        ("This quarter · 2026-Q4", "2026-10-01/2027-01-01"),
        ("This year · FY2026", "2026-01-01/2027-01-01"),
        ("Next month · December 2026", "2026-12-01/2027-01-01"),
        ("Next quarter · 2027-Q1", "2027-01-01/2027-04-01"),
    ]
    assert period["initial_option"]["value"] == "2026-10-01/2027-01-01"


def test_an_admin_with_hundreds_of_people_gets_groups_of_at_most_100(engine, world, us_config):
    big = world.team("Big Team With A Name Long Enough To Need Clipping In A Slack Option Group Label")
    for i in range(230):
        world.rep(f"Person {i:03d} " + "Longname" * 10, team=big)
    world.rep("Ada Admin", role="admin", email="admin@example.com")
    world.commit()
    bot = Kpibot(engine, us_config)

    view = targets_modal(bot, bot.person("admin@example.com"), TODAY)

    check_slack_limits(view)
    who = selects(view)["who"]
    assert [len(g["options"]) for g in who["option_groups"]] == [1, 1, 100, 100, 30, 1]  # org, team, people
    assert option_texts(who)[0] == "The whole organisation"
    assert len(option_texts(who)) == 1 + 1 + 231


def test_a_view_shows_targets_already_set_for_the_offered_periods(bot, world):
    alice, erin = (world.session.get(Rep, bot.person(name).id) for name in ("alice@example.com", "Erin Evans"))
    west = world.session.get(Team, bot.directory.find_team("West").id)
    world.target("win-rate", 0.3, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", team=west)
    world.target("revenue", 1, "2025-01-01", "2025-02-01", rep=alice)  # not an offered period
    world.target("revenue", 2, "2026-10-01", "2027-01-01", rep=erin)  # not someone Morgan manages
    world.commit()

    view = targets_modal(bot, bot.person("manager@example.com"), TODAY)

    assert view["blocks"][-1]["elements"][0]["text"].splitlines() == [
        "*Already set* (saving the same person, KPI and period changes it)",
        "• West · Revenue · 2026-Q4: $62,000.00",
        "• Alice Adams · Win rate · November 2026: 30.0%",
    ]


def test_a_rep_gets_no_form(bot):
    view = targets_modal(bot, bot.person("alice@example.com"), TODAY)

    check_slack_limits(view)
    assert "submit" not in view and selects(view) == {}


class Client:
    def __init__(self, error: str | None = None) -> None:
        self.opened: list[dict[str, Any]] = []
        self.error = error

    def views_open(self, *, trigger_id: str, view: dict[str, Any]) -> None:
        if self.error:
            data = {"ok": False, "error": self.error}
            response = SlackResponse(
                client=None, http_verb="POST", api_url="views.open", req_args={}, data=data, headers={}, status_code=200
            )
            raise SlackApiError(self.error, response)
        self.opened.append({"trigger_id": trigger_id, "view": view})


def test_opening_the_modal_with_the_trigger_id(bot):
    client = Client()

    assert open_targets_modal(client, "1337.42", bot, bot.person("manager@example.com")) is None

    (opened,) = client.opened
    assert opened["trigger_id"] == "1337.42"
    assert opened["view"]["callback_id"] == CALLBACK_ID


def test_a_rep_or_a_slack_error_gets_a_message_instead(bot):
    refused = open_targets_modal(Client(), "1", bot, bot.person("alice@example.com"))
    failed = open_targets_modal(Client("expired_trigger_id"), "1", bot, bot.person("manager@example.com"))

    assert refused["text"].startswith("Targets are set by managers, for the people and teams they manage")
    assert failed["text"] == "I couldn't open the targets form (expired_trigger_id). Try `/kpi targets` again."


# --- submission ---------------------------------------------------------------------------------------------


def test_a_manager_sets_a_target_for_their_rep(bot):
    manager = bot.person("manager@example.com")

    errors = save_submission(
        bot, manager, state(key(bot, "Alice Adams"), "revenue", "2026-10-01/2027-01-01", "120k"), NOW
    )

    assert errors is None
    (row,) = targets(bot)
    assert (row.kpi, row.scope_type, row.scope_id) == ("revenue", "rep", bot.person("alice@example.com").id)
    assert (row.period_start, row.period_end, row.value) == (dt.date(2026, 10, 1), dt.date(2027, 1, 1), 120000)
    assert (row.set_by, row.set_at) == ("manager@example.com", NOW)


def test_submitting_again_changes_the_value(bot):
    manager = bot.person("manager@example.com")
    submitted = state(key(bot, "West"), "win-rate", "2026-11-01/2026-12-01", "30%")

    assert save_submission(bot, manager, submitted) is None
    submitted["value"]["value"]["value"] = "0.35"
    assert save_submission(bot, manager, submitted) is None

    (row,) = targets(bot)
    assert (row.scope_type, row.value) == ("team", Decimal("0.35"))


def test_a_bad_number_is_a_field_error(bot):
    manager = bot.person("manager@example.com")

    errors = save_submission(bot, manager, state(key(bot, "Bob Brown"), "revenue", "2026-11-01/2026-12-01", "12O0"))
    percent = save_submission(bot, manager, state(key(bot, "Bob Brown"), "win-rate", "2026-11-01/2026-12-01", "30"))
    negative = save_submission(bot, manager, state(key(bot, "Bob Brown"), "calls", "2026-11-01/2026-12-01", "-3"))

    assert errors == {"value": "'12O0' is not a number. Enter 120000, 120k or $120,000."}
    assert percent == {"value": "Win rate is a percentage: write 30% (or the fraction 0.3), not '30'."}
    assert negative == {"value": "A target must be more than 0, not '-3'."}
    assert targets(bot) == []


def test_a_rep_the_manager_does_not_manage_is_refused(bot):
    manager = bot.person("manager@example.com")

    other = save_submission(bot, manager, state(key(bot, "Erin Evans"), "revenue", "2026-11-01/2026-12-01", "5000"))
    own = save_submission(bot, manager, state(key(bot, "Morgan Manager"), "revenue", "2026-11-01/2026-12-01", "1"))
    org = save_submission(bot, manager, state("org", "revenue", "2026-11-01/2026-12-01", "1"))
    rep = save_submission(
        bot, bot.person("alice@example.com"), state(key(bot, "Bob Brown"), "revenue", "2026-11-01/2026-12-01", "1")
    )

    assert other == {"who": "Erin Evans is not in a team you manage."}
    assert own == {"who": "Your own targets are set by your manager or an admin."}
    assert org == {"who": "Organisation targets are set by admins."}
    assert rep == {"who": "Targets are set by managers, for the people and teams they manage, and by admins."}
    assert targets(bot) == []


def test_an_admin_sets_anyones_target_even_typed_by_name(bot):
    admin = bot.person("admin@example.com")

    for_erin = save_submission(bot, admin, state(key(bot, "Erin Evans"), "sales-cycle", "2027-01-01/2027-04-01", "45"))
    for_org = save_submission(bot, admin, state("company", "revenue", "2026-01-01/2027-01-01", "2.4m", who_typed=True))

    assert for_erin is None and for_org is None
    assert [(r.scope_type, r.kpi, r.value, r.set_by) for r in targets(bot)] == [
        ("rep", "sales-cycle", 45, "admin@example.com"),
        ("org", "revenue", 2400000, "admin@example.com"),
    ]


def test_every_field_is_checked(bot):
    errors = save_submission(bot, bot.person("admin@example.com"), {"value": {"value": {"value": "10"}}})

    assert errors == {
        "who": "Pick a person or a team.",
        "kpi": "Say which KPI: its key, such as revenue or win-rate, or its name.",
        "period": "Say which period: e.g. 2026-Q4, November 2026, FY2026 or 2026-10-01 to 2026-12-31.",
    }


def test_a_person_deleted_since_the_form_opened(bot):
    errors = save_submission(bot, bot.person("admin@example.com"), state("rep:999999", "revenue", "2026-Q4", "1"))

    assert errors == {"who": "That person or team is no longer in the directory; pick another."}


@pytest.mark.parametrize(
    ("period", "expected"),
    [
        (
            "2026-02-30/2026-04-01",
            "2026-02-30/2026-04-01 holds a date that does not exist; pick a period from the list.",
        ),
        ("2026-12-01/2026-11-01", "The period 2026-12-01 to 2026-10-31 ends before it starts."),
        (
            "1900-01-01/9999-12-31",
            "The period 1900-01-01 to 9999-12-30 is out of range: a target's period lies between 1900 and 2199 and "
            "lasts at most 5 years.",
        ),
    ],
    ids=["no-such-day", "backwards", "forever"],
)
def test_a_hand_made_period_is_a_field_error(bot, period, expected):
    admin = bot.person("admin@example.com")

    errors = save_submission(bot, admin, state("org", "revenue", period, "1000"))

    assert errors == {"period": expected}
