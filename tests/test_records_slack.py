"""The records behind an answer in Slack (issue 15): the button opens them for the asker alone, Previous and Next page
them in place, a rep is refused another rep's records, and every message keeps within Slack's limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.app import create_app, web_client
from digests import records_button
from kpi.service import Kpibot
from tests.fakes import FakeSlack
from tests.test_slack_app import SECRET, check_limits, dispatch, press
from tests.waiting import wait_for

ROOT = Path(__file__).parents[1]


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        fake.add_user("U0ALICE", email="alice@example.com", real_name="Alice Adams")
        yield fake


@pytest.fixture
def app(engine, world, slack):
    """Alice won 12 deals in May 2017, of 1,001 to 1,012 (Deal 1 to Deal 12); Bob, in her team, one."""
    west = world.team("West")
    alice = world.rep("Alice Adams", team=west, email="alice@example.com")
    bob = world.rep("Bob Brown", team=west)
    for n in range(1, 13):
        world.deal(alice, 1000 + n, "won", closed=f"2017-05-{n:02d}").name = f"Deal {n} <@U0BOSS>"
    world.deal(bob, 5000, "won", closed="2017-05-20").name = "Bob's deal"
    world.commit()
    kpibot = Kpibot(engine, ROOT / "config")
    return create_app(kpibot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))


def shown(message: dict) -> list[str]:
    """The deal names a records message lists, in order."""
    text = "\n".join(block["text"]["text"] for block in message["blocks"] if block["type"] == "section")
    return [line.split(" · ")[0].removeprefix("• ") for line in text.splitlines() if line.startswith("• ")]


def button(message: dict, label: str) -> dict:
    return next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element.get("text", {}).get("text") == label
    )


def test_the_records_of_an_answer_open_for_the_asker_and_page_forward_and_back(app, slack):
    answer = json.loads(dispatch(app, slack, "U0ALICE", "my revenue may 2017").body)
    opener = button(answer, "Show the deals")

    press(app, slack, "U0ALICE", {k: opener[k] for k in ("action_id", "value")})
    first = wait_for(lambda: slack.responses)[0].params
    press(app, slack, "U0ALICE", {k: button(first, "Next")[k] for k in ("action_id", "value")})
    second = wait_for(lambda: slack.responses[1:])[0].params
    press(app, slack, "U0ALICE", {k: button(second, "Previous")[k] for k in ("action_id", "value")})
    again = wait_for(lambda: slack.responses[2:])[0].params

    assert (first["response_type"], first["replace_original"]) == ("ephemeral", False)
    assert shown(first) == [f"Deal {n} &lt;@U0BOSS&gt;" for n in range(12, 2, -1)]  # biggest first, escaped
    assert "*revenue*: 12 records, $12,078.00 (1-10 shown)" in json.dumps(first, ensure_ascii=False)
    assert (second["replace_original"], shown(second)) == (True, ["Deal 2 &lt;@U0BOSS&gt;", "Deal 1 &lt;@U0BOSS&gt;"])
    assert [e["text"]["text"] for b in second["blocks"] if b["type"] == "actions" for e in b["elements"]] == [
        "Previous"
    ]
    assert shown(again) == shown(first)
    for message in (first, second, again):
        check_limits(message)


def test_a_rep_is_refused_another_reps_records(app, slack, engine):
    bob = Kpibot(engine, ROOT / "config").person("Bob Brown")
    # the button of a manager's answer about Bob, forwarded to Alice
    carried = {"k": "value", "kpi": "revenue", "s": f"person:{bob.id}", "p": "may 2017"}
    opener = records_button.records_button(carried, "Show the deals")
    assert opener is not None

    press(app, slack, "U0ALICE", {k: opener[k] for k in ("action_id", "value")})
    refused = wait_for(lambda: slack.responses)[0].params

    assert refused["text"] == (
        "Reps can see their own numbers and leaderboards, not another rep's numbers. "
        "Try `my revenue` or `leaderboard revenue`."
    )
    assert "Bob's deal" not in json.dumps(refused)


def test_a_deal_question_in_slash_kpi_lists_the_deals_with_a_next_page(app, slack):
    reply = json.loads(dispatch(app, slack, "U0ALICE", "deals I won in may 2017").body)

    assert shown(reply)[:2] == ["Deal 12 &lt;@U0BOSS&gt;", "Deal 11 &lt;@U0BOSS&gt;"]
    assert button(reply, "Next")["action_id"] == "kpi_records_page_next"
    check_limits(reply)


def test_a_number_not_counted_from_records_offers_no_records(app, slack):
    answer = json.loads(dispatch(app, slack, "U0ALICE", "my rep retention may 2017").body)

    assert "Show the" not in json.dumps(answer)


@pytest.mark.parametrize(
    ("question", "label"),
    [
        ("my revenue may 2017", "Show the deals"),  # a sum: the answer does not count its deals
        ("my deals won may 2017", "Show the 12 deals"),
        ("my win rate may 2017", "Show the 12 won · 12 closed"),  # a ratio: both sides, as the answer names them
    ],
)
def test_the_records_button_says_what_it_shows_and_how_many(app, slack, question, label):
    answer = json.loads(dispatch(app, slack, "U0ALICE", question).body)

    assert button(answer, label)["action_id"] == "kpi_records"
