"""The Slack bot end to end: `kpibot serve` as a subprocess, real signed HTTP requests, a fake Slack Web API."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from kpi.db import engine_for
from tests.fakes import FakeSlack, signed_request
from tests.waiting import wait_for
from tests.world import World

ROOT = Path(__file__).parents[1]
SECRET = "test-signing-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def seed(url: str) -> None:
    """West 1: Morgan manages Alice and Bob; Carol is in East. Revenue in 2017-Q2, a target for Alice."""
    with Session(engine_for(url)) as session:
        world = World(session)
        west, east = world.team("West 1"), world.team("East 1")
        morgan = world.rep("Morgan Manager", team=west, role="manager", email="manager@example.com")
        world.manage(west, morgan)
        morgan.slack_user_id = "U0MANAGER"  # as people.yaml sets it
        alice = world.rep("Alice Adams", team=west, email="alice@example.com")
        bob = world.rep("Bob Brown", team=west, email="bob@example.com")
        bob.slack_user_id = "U0BOB"  # as people.yaml sets it
        carol = world.rep("Carol Chen", team=east, email="carol@example.com")
        world.deal(alice, 1000, "won", closed="2017-04-10")
        world.deal(alice, 500, "won", closed="2017-06-30 23:59")
        world.deal(alice, 300, "lost", closed="2017-05-02")
        world.deal(bob, 4200, "won", closed="2017-05-20")
        world.deal(carol, 999, "won", closed="2017-05-21")
        world.target("revenue", 3000, "2017-04-01", "2017-07-01", rep=alice)
        world.commit()


@pytest.fixture(scope="module")
def slack():
    with FakeSlack() as fake:
        fake.add_user("U0ALICE", email="alice@example.com", real_name="Alice Adams")
        fake.add_user("U0BOB", email="bob@example.com", real_name="Bob Brown")
        fake.add_user("U0MANAGER", email="manager@example.com", real_name="Morgan Manager")
        fake.add_user("U0STRANGER", email="stranger@example.com", real_name="Stranger")
        fake.add_channel("C0SALES", "sales")
        yield fake


@pytest.fixture(scope="module")
def server(slack, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bot")
    url = f"sqlite:///{folder / 'kpibot.db'}"
    seed(url)
    with serving(url, slack, folder / "server.log") as base:
        yield base


@contextmanager
def serving(database_url: str, slack: FakeSlack, log: Path) -> Iterator[str]:
    """`kpibot serve` with one worker on ``database_url`` and ``slack``, logging to ``log``: its base URL once
    /healthz answers (the test fails with the log if it never does); stopped afterwards."""
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "KPIBOT_CONFIG_DIR": str(ROOT / "config"),
        "SLACK_BOT_TOKEN": slack.token,
        "SLACK_SIGNING_SECRET": SECRET,
        "SLACK_API_URL": slack.url,
        "WEB_CONCURRENCY": "1",
    }
    env.pop("SLACK_APP_TOKEN", None)  # it would start Socket Mode instead of HTTP
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with log.open("w") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "bot.cli", "serve", "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    try:
        wait_for(lambda: process.poll() is not None or healthy(base), timeout=20, then=log.read_text)
        assert process.poll() is None, f"kpibot serve exited with {process.returncode}:\n{log.read_text()}"
        yield base
    finally:
        process.terminate()
        process.wait(timeout=10)


def healthy(base: str) -> bool:
    try:
        urllib.request.urlopen(f"{base}/healthz", timeout=1)
        return True
    except OSError:
        return False


def signed_post(base: str, body: str, *, timestamp: int | None = None, secret: str = SECRET):
    request = signed_request(base, body, secret, timestamp=timestamp)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as error:
        return error.code, None


def slash(base: str, slack: FakeSlack, user: str, text: str, **kwargs):
    return signed_post(base, slack.slash_command(user, text, channel_id="C0SALES"), **kwargs)


def action(base: str, slack: FakeSlack, user: str, element: dict, response_url: str):
    return signed_post(base, slack.block_actions(user, element, response_url, channel_id="C0SALES"))


def test_healthz_reports_the_database(server):
    with urllib.request.urlopen(f"{server}/healthz") as response:
        assert json.loads(response.read()) == {"ok": True, "database": "reachable"}


def test_a_rep_gets_her_revenue_as_an_ephemeral_answer_with_target_progress(server, slack):
    status, reply = slash(server, slack, "U0ALICE", "my revenue 2017-Q2")

    assert status == 200
    assert reply["response_type"] == "ephemeral"
    assert reply["text"].splitlines()[0] == "Revenue for Alice Adams, 2017-Q2 (2017-04-01 to 2017-06-30): $1,500.00."
    assert reply["blocks"][0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Revenue: $1,500.00", "emoji": True},
    }
    target = next(b for b in reply["blocks"] if b["type"] == "section" and "*Target*" in b["text"]["text"])
    assert target["text"]["text"] == "*Target* $3,000.00\n`▓▓▓▓▓░░░░░` 50% · *missed*"
    assert reply["blocks"][-1]["block_id"] == "kpi_answer_actions"


def test_how_am_i_doing_replies_with_the_scorecard_one_row_per_kpi(server, slack):
    status, reply = slash(server, slack, "U0ALICE", "how am I doing 2017-Q2")

    # Revenue 1,500 of a 3,000 target (50%, the quarter is over: missed); nothing won in Q1.
    assert status == 200
    assert reply["text"].splitlines()[:2] == [
        "Scorecard for Alice Adams, 2017-Q2 (2017-04-01 to 2017-06-30):",
        "• Revenue: $1.5k, 50% of $3k, missed; new on 2017-Q1",
    ]
    assert reply["blocks"][0]["text"]["text"] == "Scorecard · Alice Adams · 2017-Q2"
    assert reply["blocks"][2]["text"]["text"].splitlines()[0] == (
        "*Revenue*  $1.5k · `▓▓▓▓▓░░░░░` 50% of $3k, *missed* · :left_right_arrow: new on 2017-Q1"
    )


def test_a_rep_asking_for_a_teammates_number_is_refused_without_it(server, slack):
    status, reply = slash(server, slack, "U0ALICE", "bob revenue 2017-Q2")

    assert status == 200
    assert reply["text"].startswith("Reps can see their own numbers and leaderboards, not another rep's numbers.")
    assert "4,200" not in json.dumps(reply)


def test_a_leaderboard_mentions_the_reps_tied_to_a_slack_user_and_names_the_others(server, slack):
    _, reply = slash(server, slack, "U0ALICE", "leaderboard revenue 2017-Q2")

    rows = json.dumps(reply["blocks"], ensure_ascii=False)
    assert "<@U0BOB>" in rows and "Alice Adams" in rows and "<@U0ALICE>" not in rows


def test_a_manager_asks_for_a_rep_by_slack_mention(server, slack):
    status, reply = slash(server, slack, "U0MANAGER", "<@U0BOB|bob> revenue 2017-Q2")

    assert status == 200
    assert reply["text"].splitlines()[0] == "Revenue for Bob Brown, 2017-Q2 (2017-04-01 to 2017-06-30): $4,200.00."


def test_an_unknown_kpi_suggests_the_closest_and_shows_examples(server, slack):
    _, reply = slash(server, slack, "U0ALICE", "my winn 2017-Q2")

    assert reply["text"] == (
        "I don't know the KPI 'winn'. Did you mean deals-won, win-rate, big-deals? Type `list` to see every KPI."
    )
    assert reply["blocks"][1]["elements"][0]["text"].startswith("Try `/kpi my win-rate`")


def test_kpi_alone_shows_help(server, slack):
    _, reply = slash(server, slack, "U0ALICE", "")

    assert reply["text"].startswith("kpibot answers sales KPIs from your CRM.")


def test_an_unmatched_slack_user_is_told_what_an_admin_must_add(server, slack):
    _, reply = slash(server, slack, "U0STRANGER", "my revenue")

    assert "Slack gives your email as stranger@example.com, and nobody in the CRM has it." in reply["text"]
    assert "slack_user_id: U0STRANGER" in reply["text"]


def test_a_wrong_signature_is_refused_with_401(server, slack):
    status, _ = slash(server, slack, "U0ALICE", "my revenue", secret="not-the-secret")

    assert status == 401


def test_a_request_older_than_five_minutes_is_refused(server, slack):
    status, _ = slash(server, slack, "U0ALICE", "my revenue", timestamp=int(time.time()) - 6 * 60)

    assert status == 401


def test_share_in_channel_posts_the_answer_visibly_attributed_to_the_asker(server, slack):
    _, reply = slash(server, slack, "U0ALICE", "my revenue 2017-Q2")
    button = reply["blocks"][-1]["elements"][0]
    response_url = slack.response_url()
    before = len(slack.messages)

    status, _ = action(
        server, slack, "U0ALICE", {**button, "type": "button", "block_id": "kpi_answer_actions"}, response_url
    )

    assert status == 200
    posted = wait_for(lambda: slack.messages[before:])[0]
    assert posted["channel"] == "C0SALES"
    assert posted["text"].startswith("Revenue for Alice Adams, 2017-Q2")
    assert "Asked by <@U0ALICE>: `/kpi my revenue 2017-Q2`" in json.dumps(posted["blocks"])
    deleted = wait_for(
        lambda: [c for c in slack.responses if c.method.endswith(urllib.parse.urlsplit(response_url).path)]
    )
    assert deleted[0].params["delete_original"] is True


def test_the_period_menu_updates_the_answer_in_place(server, slack):
    _, reply = slash(server, slack, "U0ALICE", "my revenue 2017-Q2")
    menu = reply["blocks"][-1]["elements"][1]
    last_quarter = next(o for o in menu["options"] if o["text"]["text"] == "Last quarter")
    response_url = slack.response_url()

    action(
        server,
        slack,
        "U0ALICE",
        {**menu, "type": "static_select", "block_id": "kpi_answer_actions", "selected_option": last_quarter},
        response_url,
    )

    path = urllib.parse.urlsplit(response_url).path
    update = wait_for(lambda: [c for c in slack.responses if c.method.endswith(path)])[0].params
    assert update["replace_original"] is True
    assert update["text"].startswith("Revenue for Alice Adams, last quarter")


def test_opening_the_app_home_publishes_my_numbers(server, slack):
    event = {
        "token": "legacy",
        "team_id": slack.team_id,
        "type": "event_callback",
        "event_id": "Ev1",
        "event_time": int(time.time()),
        "event": {"type": "app_home_opened", "user": "U0MANAGER", "tab": "home"},
    }
    body = json.dumps(event)
    request = signed_request(server, body, SECRET, content_type="application/json")
    with urllib.request.urlopen(request) as response:
        assert response.status == 200

    view = wait_for(lambda: slack.home_views.get("U0MANAGER"))
    assert view["blocks"][0]["text"]["text"] == "My teams · Morgan Manager"
    assert "*Revenue leaderboard* · West 1 · this quarter" in json.dumps(view["blocks"], ensure_ascii=False)


def test_share_in_channel_posts_a_scorecard_which_names_no_kpi(server, slack):
    _, reply = slash(server, slack, "U0ALICE", "how am I doing 2017-Q2")
    button = reply["blocks"][-1]["elements"][0]
    before = len(slack.messages)

    status, _ = action(
        server, slack, "U0ALICE", {**button, "type": "button", "block_id": "kpi_answer_actions"}, slack.response_url()
    )

    assert status == 200
    posted = wait_for(lambda: slack.messages[before:])[0]
    assert (posted["channel"], posted["blocks"][0]["text"]["text"]) == ("C0SALES", "Scorecard · Alice Adams · 2017-Q2")


def test_a_period_menu_of_a_managers_app_home_republishes_it(server, slack):
    before = len(slack.calls_to("views.publish"))
    choice = {"numbers": "this quarter", "board": "last quarter"}
    element = {"action_id": "home_period", "block_id": "home_board", "selected_option": {"value": json.dumps(choice)}}
    payload = {
        "type": "block_actions",
        "user": {"id": "U0MANAGER"},
        "container": {"type": "view"},
        "actions": [element],
    }

    status, _ = signed_post(server, urllib.parse.urlencode({"payload": json.dumps(payload)}))

    assert status == 200
    view = wait_for(lambda: slack.calls_to("views.publish")[before:])[0].params["view"]
    assert "*Revenue leaderboard* · West 1 · last quarter" in json.dumps(view["blocks"], ensure_ascii=False)
