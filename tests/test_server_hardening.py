"""The running server against hostile input: slow and huge bodies, replays, malformed requests, long questions, a
database that goes away. Every request here is real HTTP to `kpibot serve` on loopback."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from slack_sdk.signature import SignatureVerifier

from bot.app import MAX_QUESTION, TOO_LONG, UNREACHABLE
from tests.fakes import FakeSlack, signed_request, slow_connection
from tests.test_slack_bot import SECRET, seed, serving
from tests.waiting import wait_for


@pytest.fixture(scope="module")
def slack():
    with FakeSlack() as fake:
        fake.add_user("U0ALICE", email="alice@example.com", real_name="Alice Adams")
        fake.add_channel("C0SALES", "sales")
        yield fake


@pytest.fixture(scope="module")
def served(slack, tmp_path_factory):
    """``(base URL, database path, log path)`` of a `kpibot serve` with one worker."""
    folder = tmp_path_factory.mktemp("served")
    database, log = folder / "kpibot.db", folder / "server.log"
    seed(f"sqlite:///{database}")
    with serving(f"sqlite:///{database}", slack, log) as base:
        yield base, database, log


def post(request: urllib.request.Request) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def raw(base: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    return post(urllib.request.Request(f"{base}/slack/events", data=body, headers=headers))


def logged(log: Path, what: str) -> int:
    """How many of the server's log records say ``what``, as message or command: a share logs its request once
    it has posted (or failed to), a replay as soon as it is recognised."""
    records = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return sum(what in (record["message"], record.get("command")) for record in records)


def signed(body: str, content_type: str = "application/x-www-form-urlencoded") -> dict[str, str]:
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body)
    return {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}


def test_slow_clients_do_not_stall_the_health_check_or_answers(served, slack):
    base, _, _ = served
    slow = [slow_connection(base, 60_000) for _ in range(40)]
    try:
        started = time.monotonic()
        with urllib.request.urlopen(f"{base}/healthz", timeout=5) as response:
            assert response.status == 200
        status, body = post(signed_request(base, slack.slash_command("U0ALICE", "my revenue 2017-Q2"), SECRET))
        elapsed = time.monotonic() - started
    finally:
        for connection in slow:
            connection.close()

    assert (status, elapsed < 2.0) == (200, True)
    assert json.loads(body)["text"].startswith("Revenue for Alice Adams, 2017-Q2")


def test_a_body_over_64_kb_gets_413_before_it_is_read(served):
    base, _, _ = served
    connection = slow_connection(base, 10_000_000)
    try:
        answer = connection.recv(200).decode()
    finally:
        connection.close()

    assert answer.startswith("HTTP/1.1 413")


def test_a_streamed_body_over_64_kb_gets_413(served):
    base, _, _ = served

    status, _ = raw(base, b"x" * (70 * 1024), {"Content-Type": "application/json"})

    assert status == 413


@pytest.mark.parametrize(
    ("body", "headers", "expected"),
    [
        (b"{not json", {"Content-Type": "application/json"}, 401),  # unsigned
        (b"payload={not-json", {"Content-Type": "application/x-www-form-urlencoded"}, 401),
        (
            b"{}",
            {"Content-Type": "application/json", "X-Slack-Request-Timestamp": "soon", "X-Slack-Signature": "v0=1"},
            400,
        ),
    ],
    ids=["unsigned-json", "unsigned-form", "timestamp-not-a-number"],
)
def test_an_unsigned_or_malformed_request_gets_400_or_401(served, body, headers, expected):
    assert raw(served[0], body, headers)[0] == expected


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        ("{not json", "application/json"),
        ("[1, 2]", "application/json"),
        ("payload={not-json", "application/x-www-form-urlencoded"),
        ("payload=[1,2]", "application/x-www-form-urlencoded"),
        ("command=%2Fkpi&text=my+revenue", "application/x-www-form-urlencoded"),  # no user_id
        (
            'payload={"type":"block_actions","actions":[{"action_id":"kpi_share","value":"{}"}]}',
            "application/x-www-form-urlencoded",
        ),
        (
            'payload={"type":"view_submission","user":{"id":"U0ALICE"},"view":{"callback_id":"kpi_targets"}}',
            "application/x-www-form-urlencoded",
        ),
    ],
    ids=[
        "json",
        "json-list",
        "payload-not-json",
        "payload-list",
        "command-without-user",
        "share-without-user",
        "view-without-state",
    ],
)
def test_a_signed_malformed_payload_gets_400(served, body, content_type):
    assert raw(served[0], body.encode(), signed(body, content_type))[0] == 400


def test_a_signed_body_that_is_not_utf8_gets_400(served):
    body = b"command=%2Fkpi&text=\xff\xfe"
    stamp = str(int(time.time()))
    signature = SignatureVerifier(SECRET).generate_signature(timestamp=stamp, body=body.decode("latin-1"))
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": signature,
    }

    assert raw(served[0], body, headers)[0] in (400, 401)


def test_a_replayed_share_is_answered_and_posts_once(served, slack):
    base, _, log = served
    element = {
        "block_id": "kpi_answer_actions",
        "action_id": "kpi_share",
        "value": json.dumps({"k": "value", "kpi": "revenue", "s": "me", "p": "2017-Q2", "q": "my revenue 2017-Q2"}),
    }
    body = slack.block_actions("U0ALICE", element, slack.response_url(), channel_id="C0SALES")
    headers = signed(body)
    before, shared, ignored = len(slack.messages), logged(log, "share"), logged(log, "replay ignored")

    first, again = raw(base, body.encode(), headers), raw(base, body.encode(), headers)
    wait_for(lambda: logged(log, "share") > shared and logged(log, "replay ignored") > ignored, then=log.read_text)

    assert (first[0], again[0]) == (200, 200)
    assert len(slack.messages) == before + 1


def test_a_question_longer_than_slack_allows_is_refused_and_not_logged_whole(served, slack):
    base, _, log = served
    question = "revenue " + "x" * MAX_QUESTION

    status, body = post(signed_request(base, slack.slash_command("U0ALICE", question), SECRET))

    assert status == 200 and json.loads(body)["text"] == TOO_LONG
    assert "x" * 1000 not in log.read_text()


@pytest.mark.parametrize("question", ["payload", "my revenue payload={}", "payload%3D%7B%7D"])
def test_a_question_with_the_word_payload_is_answered_like_any_other(served, slack, question):
    """Bolt reads a form body holding the word "payload" as a button's; the front hands it the parsed form."""
    base, _, _ = served

    status, body = post(signed_request(base, slack.slash_command("U0ALICE", question), SECRET))

    assert status == 200
    assert "payload" in json.loads(body)["text"]  # "I don't know the KPI 'payload'...": the question was read


def test_request_bodies_are_never_logged(served):
    base, _, log = served
    marker = "UNSIGNED-BODY-MARKER-" * 100

    raw(base, f"command=%2Fkpi&text={marker}".encode(), {"Content-Type": "application/x-www-form-urlencoded"})

    assert "UNSIGNED-BODY-MARKER" not in log.read_text()


def test_when_the_database_loses_its_tables_health_says_503_and_answers_say_so(served, slack):
    base, database, _ = served
    with sqlite3.connect(database) as connection:
        # what the health check reads, what an answer reads, and the data generation that keys cached answers
        for table in ("reps", "deals", "data_generation"):
            connection.execute(f"ALTER TABLE {table} RENAME TO {table}_away")
    try:
        try:
            urllib.request.urlopen(f"{base}/healthz", timeout=5)
            health = (200, {})
        except urllib.error.HTTPError as error:
            health = (error.code, json.loads(error.read()))
        status, body = post(signed_request(base, slack.slash_command("U0ALICE", "my revenue 2017-Q2"), SECRET))
    finally:
        with sqlite3.connect(database) as connection:
            for table in ("reps", "deals", "data_generation"):
                connection.execute(f"ALTER TABLE {table}_away RENAME TO {table}")

    assert health == (503, {"ok": False, "database": "schema missing"})
    assert status == 200 and json.loads(body)["text"] == UNREACHABLE
