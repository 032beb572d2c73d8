"""The Bolt app in-process: the 3-second rule, random input, Slack's limits on every payload, logs, retries."""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from slack_bolt import App, BoltResponse
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

import bot.app
from bot.app import create_app, web_client
from bot.front import signed_request
from bot.home import home_view
from bot.identity import Identities
from bot.server import JsonLines
from bot.targets_modal import CALLBACK_ID as TARGETS_VIEW
from kpi.schema import Rep
from kpi.service import Kpibot
from slackui import limits as slack_limits
from tests.fakes import FakeSlack
from tests.waiting import wait_for

ROOT = Path(__file__).parents[1]
SECRET = "in-process-secret"
#: What the share button of the answer to "my revenue 2017-Q2" carries (bot/blocks.answer_actions).
MY_REVENUE = {"k": "value", "kpi": "revenue", "s": "me", "p": "2017-Q2", "q": "my revenue 2017-Q2"}


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        fake.add_user("U0ALICE", email="alice@example.com", real_name="Alice Adams")
        fake.add_user("U0ADMIN", email="admin@example.com", real_name="Ada Admin")
        yield fake


@pytest.fixture
def kpibot(engine, world) -> Kpibot:
    west = world.team("West 1")
    alice = world.rep("Alice Adams", team=west, email="alice@example.com")
    world.rep("Ada Admin", role="admin", email="admin@example.com")
    for i in range(60):  # enough people for a leaderboard that needs several sections
        rep = world.rep(f"Rep {i:02d} With A Rather Long Name For Layout", team=west)
        world.deal(rep, 1000 + i, "won", closed="2017-05-01")
    world.deal(alice, 1000, "won", closed="2017-04-10")
    world.commit()
    return Kpibot(engine, ROOT / "config")


@pytest.fixture
def app(slack, kpibot) -> App:
    """The Bolt app, built once per test: hypothesis's examples share it, as Slack's requests do."""
    return create_app(kpibot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))


def held(kpibot: Kpibot, monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """Hold every answer of ``kpibot`` until the returned event is set: an answer slower than any budget, for as
    long as the test needs to look at what happened before it."""
    release, run = threading.Event(), kpibot.run

    def slow_run(*args, **kwargs):
        release.wait(timeout=10)
        return run(*args, **kwargs)

    monkeypatch.setattr(kpibot, "run", slow_run)
    return release


def dispatch(app, slack: FakeSlack, user: str, text: str):
    """A /kpi slash command, signed as Slack signs it."""
    return signed_dispatch(app, slack.slash_command(user, text))


def press(app, slack: FakeSlack, user: str, action: dict):
    """A button or menu of an answer, as Slack posts its block_actions payload."""
    element = {"block_id": "kpi_answer_actions", **action}
    return signed_dispatch(app, slack.block_actions(user, element, slack.response_url()))


def signed_dispatch(app, body: str, content_type: str = "application/x-www-form-urlencoded"):
    """A request signed as Slack signs it, checked and parsed by the server's front, then handed to Bolt."""
    timestamp = str(int(time.time()))
    headers = {
        "content-type": content_type,
        "x-slack-request-timestamp": timestamp,
        "x-slack-signature": SignatureVerifier(SECRET).generate_signature(timestamp=timestamp, body=body),
    }
    status, problem, request = signed_request(SignatureVerifier(SECRET), headers, body.encode())
    if request is None:
        return BoltResponse(status=status, body=problem)
    return app.dispatch(request)


def check_limits(message: dict) -> None:
    """Slack's limits: a text fallback, at most 50 blocks, 3,000 chars per section text, 150 per header."""
    assert message.get("text", "").strip()
    assert len(message["blocks"]) <= slack_limits.MAX_BLOCKS
    for block in message["blocks"]:
        if block["type"] == "header":
            assert len(block["text"]["text"]) <= slack_limits.MAX_HEADER
        if block["type"] == "section":
            assert len(block["text"]["text"]) <= slack_limits.MAX_SECTION
            assert all(len(field["text"]) <= 2000 for field in block.get("fields", []))


def test_a_slow_answer_is_acknowledged_at_once_and_follows_through_the_response_url(app, slack, kpibot, monkeypatch):
    monkeypatch.setattr(bot.app, "ACK_BUDGET_SECONDS", 0.2)
    release = held(kpibot, monkeypatch)

    started = time.monotonic()
    response = dispatch(app, slack, "U0ALICE", "my revenue 2017-Q2")

    assert time.monotonic() - started < 0.6
    assert json.loads(response.body)["text"] == ":hourglass_flowing_sand: Working on it…"
    release.set()
    assert wait_for(lambda: slack.responses)[0].params["text"].startswith("Revenue for Alice Adams, 2017-Q2")


def test_share_is_acknowledged_before_its_answer_is_computed_and_posted(app, slack, kpibot, monkeypatch):
    release = held(kpibot, monkeypatch)
    slack.add_channel("C0X", "sales")

    started = time.monotonic()
    response = press(app, slack, "U0ALICE", {"action_id": "kpi_share", "value": json.dumps(MY_REVENUE)})

    assert (response.status, time.monotonic() - started < 0.5) == (200, True)
    release.set()
    posted = wait_for(lambda: slack.messages)
    assert posted[0]["channel"] == "C0X"
    assert posted[0]["text"] == (
        "Revenue for Alice Adams, 2017-Q2 (2017-04-01 to 2017-06-30): $1,000.00.\n"
        "Previous period, 2017-Q1: $0.00 (new)."
    )


def test_kpi_targets_opens_the_form_with_the_trigger_id_after_the_acknowledgement(app, slack):
    response = dispatch(app, slack, "U0ADMIN", "targets")

    assert (response.status, response.body) == (200, "")
    (opened,) = wait_for(lambda: slack.modals)
    assert (opened["trigger_id"], opened["view"]["callback_id"]) == ("1.2.3", TARGETS_VIEW)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    text=st.text(max_size=60)
    | st.lists(
        st.sampled_from(
            [
                "my",
                "team",
                "org",
                "leaderboard",
                "win-rate",
                "revenue",
                "last",
                "this",
                "quarter",
                "2017-Q2",
                "@alice",
                "<@U0ALICE|alice>",
                "for",
                "to",
                "2017-03-01",
                "q5",
                "fy",
                "days",
                "90",
                "help",
                "list",
                "é",
                "∞",
                "'",
                "`",
            ]
        ),
        max_size=6,
    ).map(" ".join)
)
@example(text=" TARGETS ")  # hypothesis found it once: the targets form's empty acknowledgement
@example(text="payload")  # Bolt reads a form body that holds the word as an interaction's payload= field
def test_any_text_gets_a_200_and_a_helpful_message(app, text, slack, monkeypatch):
    monkeypatch.setattr(bot.app, "ACK_BUDGET_SECONDS", 60)  # the answer itself, however busy the machine

    response = dispatch(app, slack, "U0ADMIN", text)

    assert response.status == 200
    if text.strip().lower() == "targets":  # the targets form opens after an empty acknowledgement
        assert response.body == ""
        return
    message = json.loads(response.body)
    assert "something went wrong" not in message["text"]
    check_limits(message)


def test_every_payload_the_bot_sends_respects_slacks_limits(slack, kpibot):
    client = web_client(slack.token, slack.url)
    replies = bot.app.Replies(kpibot, Identities(kpibot.engine, client))
    questions = [f"org {kpi.key} 2017-Q2" for kpi in kpibot.catalog] + [
        "leaderboard revenue 2017-Q2",
        "help",
        "list",
        "nonsense words",
        "my revenue in the year of the dragon",
    ]

    for question in questions:
        message, _ = replies.message("U0ADMIN", question)
        check_limits(message)
        client.chat_postMessage(channel="U0ADMIN", **message)  # the fake rejects what Slack would reject
    home = home_view(kpibot, replies.identities, "U0ADMIN")
    client.views_publish(user_id="U0ADMIN", view=home)

    assert len(slack.calls_to("chat.postMessage")) == len(questions)


def test_a_long_leaderboard_shows_the_top_25_and_the_askers_own_row(slack, kpibot):
    client = web_client(slack.token, slack.url)
    replies = bot.app.Replies(kpibot, Identities(kpibot.engine, client))

    message, _ = replies.message("U0ALICE", "leaderboard revenue 2017-Q2")

    lines = "\n".join(block["text"]["text"] for block in message["blocks"] if block["type"] == "section")
    rows = lines.splitlines()
    assert rows[0] == ":first_place_medal: Rep 59 With A Rather Long Name For Layout — *$1.06k*"
    assert rows[24] == "25. Rep 35 With A Rather Long Name For Layout — *$1.04k*"  # money compact: a list is scanned
    assert rows[25:] == ["…", "60. Alice Adams — *$1k*"]
    assert [{"type": "mrkdwn", "text": "Top 25 of 61 ranked."}, {"type": "mrkdwn", "text": "You're #60 of 61."}] in [
        block["elements"] for block in message["blocks"] if block["type"] == "context"
    ]
    text = message["text"].splitlines()
    assert len(text) == 27  # the title, the rows shown and the asker's place
    assert text[25:] == [" 25. Rep 35 With A Rather Long Name For Layout: $1.04k", "You're #60 of 61."]


def test_a_rep_renamed_by_a_sync_is_named_so_in_the_very_next_answer(slack, kpibot, world):
    replies = bot.app.Replies(kpibot, Identities(kpibot.engine, web_client(slack.token, slack.url)))
    replies.message("U0ALICE", "leaderboard revenue 2017-Q2")  # the server has read the directory
    leader = world.session.scalars(select(Rep).where(Rep.name.startswith("Rep 59"))).one()
    leader.name = "Rep 59 Now Married"
    world.commit()  # as a sync page does: the data generation moves

    message, _ = replies.message("U0ALICE", "leaderboard revenue 2017-Q2")

    rows = "\n".join(block["text"]["text"] for block in message["blocks"] if block["type"] == "section").splitlines()
    assert rows[0] == ":first_place_medal: Rep 59 Now Married — *$1.06k*"


def test_a_request_is_logged_as_one_json_line_without_secrets(app, slack, kpibot, caplog):
    with caplog.at_level(logging.INFO, logger="kpibot.requests"):
        dispatch(app, slack, "U0ALICE", "my revenue 2017-Q2")

    line = json.loads(JsonLines().format(caplog.records[-1]))
    assert {k: line[k] for k in ("user", "command", "question", "kpi")} == {
        "user": "U0ALICE",
        "command": "/kpi",
        "question": "my revenue 2017-Q2",
        "kpi": "revenue",
    }
    assert isinstance(line["duration_ms"], int)
    assert slack.token not in caplog.text and SECRET not in caplog.text


def test_web_api_calls_retry_a_429_after_its_retry_after(slack):
    client = web_client(slack.token, slack.url)
    slack.add_channel("C0SALES", "sales")
    slack.rate_limit("chat.postMessage", retry_after=1)

    started = time.monotonic()
    client.chat_postMessage(channel="C0SALES", text="hello")

    assert time.monotonic() - started >= 1
    assert len(slack.calls_to("chat.postMessage")) == 2


def test_building_the_app_logs_no_warning(kpibot, slack, caplog):
    with caplog.at_level(logging.DEBUG):
        create_app(kpibot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))

    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.WARNING] == []


def test_sharing_a_question_that_is_refused_tells_the_asker_alone_and_posts_nothing(app, slack):
    slack.add_channel("C0X", "sales")

    org_revenue = {**MY_REVENUE, "s": "org", "q": "org revenue 2017-Q2"}
    press(app, slack, "U0ALICE", {"action_id": "kpi_share", "value": json.dumps(org_revenue)})
    (reply,) = wait_for(lambda: slack.responses)

    assert reply.params["response_type"] == "ephemeral"
    assert reply.params["text"].startswith("Organisation-wide numbers are for admins.")
    assert slack.messages == []


def test_sharing_from_a_payload_without_a_channel_says_so_and_posts_nothing(app, slack):
    element = {"block_id": "kpi_answer_actions", "action_id": "kpi_share", "value": json.dumps(MY_REVENUE)}
    payload = {"type": "block_actions", "user": {"id": "U0ALICE"}, "response_url": slack.response_url()}

    signed_dispatch(app, urlencode({"payload": json.dumps({**payload, "actions": [element]})}))
    (reply,) = wait_for(lambda: slack.responses)

    assert (reply.params["response_type"], reply.params["text"]) == ("ephemeral", bot.app.NO_CHANNEL)
    assert slack.calls_to("chat.postMessage") == []


def test_during_a_database_outage_the_app_home_and_answers_say_so(app, slack, kpibot, monkeypatch):
    def outage(*_args, **_kwargs):
        raise OperationalError("SELECT 1", {}, Exception("connection refused"))

    monkeypatch.setattr(kpibot, "run", outage)
    answer = json.loads(dispatch(app, slack, "U0ALICE", "my revenue 2017-Q2").body)
    event = {"type": "event_callback", "team_id": "T0", "event": {"type": "app_home_opened", "user": "U0ALICE"}}
    signed_dispatch(app, json.dumps(event), content_type="application/json")
    (published,) = wait_for(lambda: slack.calls_to("views.publish"))

    assert answer["text"] == bot.app.UNREACHABLE
    assert published.params["view"]["blocks"][1]["text"]["text"] == bot.app.UNREACHABLE
