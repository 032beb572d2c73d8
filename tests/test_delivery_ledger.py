"""The delivery ledger: a delivery's state moves only along the state machine's arrows, every attempt is kept,
a post is made once whatever dies around it, a post Slack refused is retried a few times, and `kpibot
deliveries` shows it all."""

from __future__ import annotations

import datetime as dt
import json
from itertools import product

import pytest
from sqlalchemy import Engine, delete, select, update
from typer.testing import CliRunner

from bot.cli import app
from digests import ims
from digests.deliveries import MAX_ATTEMPTS, RETRY_AFTER, RETRY_WITHIN, STALE_SENDING, deliver, resolve_pending
from digests.schedule_config import ScheduleConfig
from digests.scheduler import Worker
from kpi.config import OrgConfig
from kpi.delivery_state import DeliveryState, IllegalTransition, check_transition
from kpi.periods import Calendar, utc_now
from kpi.schema import Delivery, DeliveryAttempt
from kpi.service import Kpibot
from tests.conftest import cli_env
from tests.fakes import FakeSlack

KEY = "digest:weekly:org:channel:C0SALES:2017-W22"
MESSAGE = {"text": "Weekly digest: the whole company"}
STOPPED = "the worker stopped before Slack confirmed the post"


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        fake.add_channel("C0SALES", "sales")
        yield fake


def ledger(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(Delivery.key, Delivery.status, Delivery.ts))]


def attempts(engine: Engine) -> list[tuple]:
    """(number, outcome, error, finished) of every attempt, in order."""
    query = select(
        DeliveryAttempt.number,
        DeliveryAttempt.outcome,
        DeliveryAttempt.error,
        DeliveryAttempt.finished_at.is_not(None),
    ).order_by(DeliveryAttempt.delivery_key, DeliveryAttempt.number)
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def age(engine: Engine, by: dt.timedelta) -> None:
    """Make every delivery's last change ``by`` older, as if that much time had passed."""
    with engine.begin() as connection:
        connection.execute(update(Delivery).values(updated_at=utc_now() - by))


def killed_after_posting(client, channel, message):
    client.chat_postMessage(channel=channel, **message)
    raise SystemExit("killed")


def killed_before_posting(client, channel, message):
    raise SystemExit("killed")


def rebuilt_as_before(_key):
    return MESSAGE, None


# ------------------------------------------------------------------------------------------------------
# The state machine


def test_a_delivery_moves_only_along_the_arrows_of_the_state_machine():
    sending, sent, failed, unconfirmed, review = (
        DeliveryState.SENDING,
        DeliveryState.SENT,
        DeliveryState.FAILED,
        DeliveryState.UNCONFIRMED,
        DeliveryState.REVIEW,
    )
    arrows = {
        (None, sending),
        (sending, sent),
        (sending, failed),
        (sending, unconfirmed),
        (failed, sending),
        (unconfirmed, sent),
        (unconfirmed, sending),
        (unconfirmed, review),
    }

    allowed = set()
    for old, new in product([None, *DeliveryState], DeliveryState):
        try:
            check_transition(old, new)
            allowed.add((old, new))
        except IllegalTransition:
            pass

    assert allowed == arrows


def test_an_illegal_move_names_both_states():
    with pytest.raises(IllegalTransition, match="a delivery cannot go from sent to sending"):
        check_transition(DeliveryState.SENT, DeliveryState.SENDING)


# ------------------------------------------------------------------------------------------------------
# Attempts


def test_a_post_slack_accepts_is_sent_with_its_one_attempt(engine, slack):
    outcome = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    ts = slack.messages[0]["ts"]
    assert (outcome.status, outcome.ts) == ("sent", ts)
    assert ledger(engine) == [(KEY, "sent", ts)]
    assert attempts(engine) == [(1, "sent", None, True)]


def test_a_post_slack_refuses_is_failed_with_slacks_error_in_its_attempt(engine, slack):
    slack.error("chat.postMessage", "not_in_channel")

    outcome = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert (outcome.status, outcome.error) == ("failed", "not_in_channel")
    assert ledger(engine) == [(KEY, "failed", None)]
    assert attempts(engine) == [(1, "failed", "not_in_channel", True)]


def test_a_post_asked_for_again_once_sent_is_a_duplicate_and_no_attempt(engine, slack):
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    again = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert (again.status, again.ts) == ("duplicate", slack.messages[0]["ts"])
    assert (len(slack.messages), attempts(engine)) == (1, [(1, "sent", None, True)])


def test_deleting_a_delivery_deletes_its_attempts(engine, slack):
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    with engine.begin() as connection:
        connection.execute(delete(Delivery))

    assert (ledger(engine), attempts(engine)) == ([], [])


# ------------------------------------------------------------------------------------------------------
# Retrying what Slack refused


def test_a_failed_post_is_not_retried_before_its_retry_time(engine, slack):
    slack.error("chat.postMessage", "not_in_channel")
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    again = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert (again.status, again.error) == ("failed-earlier", "not_in_channel")
    assert (slack.messages, len(attempts(engine))) == ([], 1)


def test_a_later_run_retries_a_failed_post_and_keeps_both_attempts(engine, slack):
    slack.error("chat.postMessage", "not_in_channel")  # then someone invites the bot
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)
    age(engine, RETRY_AFTER)

    again = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert again.status == "sent"
    assert [m["text"] for m in slack.messages] == ["Weekly digest: the whole company"]
    assert attempts(engine) == [(1, "failed", "not_in_channel", True), (2, "sent", None, True)]


def test_a_post_slack_keeps_refusing_is_tried_max_attempts_times_then_left_failed(engine, slack):
    slack.error("chat.postMessage", "channel_not_found", times=MAX_ATTEMPTS + 1)

    statuses = []
    for _ in range(MAX_ATTEMPTS + 1):
        statuses.append(deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE).status)
        age(engine, RETRY_AFTER)

    assert MAX_ATTEMPTS == 3
    assert statuses == ["failed", "failed", "failed", "failed-earlier"]
    assert attempts(engine) == [(n, "failed", "channel_not_found", True) for n in (1, 2, 3)]
    assert resolve_pending(engine, slack.client(), rebuilt_as_before) == []


def test_a_post_first_tried_over_an_hour_ago_is_not_retried(engine, slack):
    slack.error("chat.postMessage", "not_in_channel")
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)
    with engine.begin() as connection:
        connection.execute(update(Delivery).values(created_at=utc_now() - RETRY_WITHIN - dt.timedelta(seconds=1)))
    age(engine, RETRY_AFTER)

    again = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert dt.timedelta(hours=1) == RETRY_WITHIN
    assert (again.status, slack.messages) == ("failed-earlier", [])
    assert resolve_pending(engine, slack.client(), rebuilt_as_before) == []


def test_the_worker_retries_a_failed_digest_with_its_message_as_rebuilt_now(engine, slack):
    slack.error("chat.postMessage", "not_in_channel")
    deliver(engine, slack.client(), KEY, "C0SALES", {"text": "Weekly digest, as built at 08:00"})
    age(engine, RETRY_AFTER)

    outcomes = resolve_pending(engine, slack.client(), lambda key: ({"text": "Weekly digest, rebuilt"}, None))

    assert [(o.key, o.status) for o in outcomes] == [(KEY, "sent")]
    assert [m["text"] for m in slack.messages] == ["Weekly digest, rebuilt"]


def test_of_two_workers_retrying_the_same_failed_post_one_posts_it(engine, slack):
    slack.error("chat.postMessage", "not_in_channel")
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)
    age(engine, RETRY_AFTER)
    other_worker = []

    def rebuild_while_another_worker_retries(key):
        other_worker.extend(resolve_pending(engine, slack.client(), rebuilt_as_before))
        return MESSAGE, None

    first = resolve_pending(engine, slack.client(), rebuild_while_another_worker_retries)

    assert ([o.status for o in first], [o.status for o in other_worker]) == (["sending-elsewhere"], ["sent"])
    assert len(slack.messages) == 1
    assert attempts(engine) == [(1, "failed", "not_in_channel", True), (2, "sent", None, True)]


def test_the_workers_deliveries_job_retries_a_failed_celebration(engine, world, slack, tmp_path):
    today = Calendar.from_org(OrgConfig()).today()
    alice = world.rep("Alice Adams")
    month, next_month = today.replace(day=1), (today.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
    world.target("revenue", 1000, month.isoformat(), next_month.isoformat(), rep=alice)
    world.deal(alice, 1500, "won", closed=f"{today} 00:00")
    world.commit()
    slack.add_channel("C0WINS", "wins")
    config = ScheduleConfig.model_validate({"celebrations": {"channel": "C0WINS"}})
    worker = Worker(Kpibot(engine, tmp_path), slack.client(), config, tmp_path)
    now = dt.datetime.now(dt.UTC)
    slack.error("chat.postMessage", "not_in_channel")

    refused = worker.run_celebrations(now)
    age(engine, RETRY_AFTER)
    retried = worker.settle_deliveries(now)

    assert "deliveries" in [job.name for job in worker.jobs()]
    assert ([o.status for o in refused], [o.status for o in retried]) == (["failed"], ["sent"])
    assert [m["text"].split(" hit")[0] for m in slack.messages] == [":tada: Alice Adams"]


# ------------------------------------------------------------------------------------------------------
# Exactly once, whatever dies


def test_a_post_another_worker_is_making_is_left_alone(engine, slack):
    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE, post=killed_before_posting)

    again = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert again.status == "sending-elsewhere"
    assert resolve_pending(engine, slack.client(), rebuilt_as_before) == []
    assert (slack.messages, attempts(engine)) == ([], [(1, None, None, False)])


def test_a_worker_killed_after_posting_is_found_in_history_and_not_posted_again(engine, slack):
    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE, post=killed_after_posting)
    age(engine, STALE_SENDING)

    outcomes = resolve_pending(engine, slack.client(), lambda key: pytest.fail("it is in Slack: nothing to rebuild"))

    ts = slack.messages[0]["ts"]
    assert [(o.status, o.ts) for o in outcomes] == [("sent", ts)]
    assert (len(slack.messages), ledger(engine)) == (1, [(KEY, "sent", ts)])
    assert attempts(engine) == [(1, "unconfirmed", STOPPED, True)]


def test_a_worker_killed_before_posting_is_posted_once_as_attempt_2(engine, slack):
    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE, post=killed_before_posting)
    age(engine, STALE_SENDING)

    first = resolve_pending(engine, slack.client(), rebuilt_as_before)
    second = resolve_pending(engine, slack.client(), rebuilt_as_before)

    assert ([o.status for o in first], second) == (["sent"], [])
    assert [m["text"] for m in slack.messages] == ["Weekly digest: the whole company"]
    assert attempts(engine) == [(1, "unconfirmed", STOPPED, True), (2, "sent", None, True)]


def test_a_connection_lost_mid_post_is_unconfirmed_then_found_in_history_by_the_next_run(engine, slack):
    def posted_then_lost(client, channel, message):
        client.chat_postMessage(channel=channel, **message)
        raise ConnectionResetError("connection reset by peer")

    lost = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE, post=posted_then_lost)
    next_run = deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)

    assert (lost.status, lost.error) == ("unconfirmed", "ConnectionResetError: connection reset by peer")
    assert (next_run.status, next_run.ts) == ("sent", slack.messages[0]["ts"])
    assert len(slack.messages) == 1
    assert attempts(engine) == [(1, "unconfirmed", "ConnectionResetError: connection reset by peer", True)]


def test_a_lost_post_that_cannot_be_rebuilt_the_same_is_left_for_review_and_never_posted(engine, slack):
    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE, post=killed_before_posting)
    age(engine, STALE_SENDING)

    first = resolve_pending(engine, slack.client(), lambda key: ({"text": "numbers changed since"}, None))
    second = resolve_pending(engine, slack.client(), rebuilt_as_before)

    assert ([(o.status, o.error) for o in first], second) == ([("review", STOPPED)], [])
    assert (slack.messages, ledger(engine)) == ([], [(KEY, "review", None)])


# ------------------------------------------------------------------------------------------------------
# DMs: posted to the member, settled in their IM


DM_KEY = "alert:7:2026-10-01..2026-12-31"


def channel_of(engine: Engine, key: str) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(Delivery.channel).where(Delivery.key == key)).scalar_one()


def test_a_first_dm_is_posted_to_the_member_and_keeps_the_im_slack_answers_with_without_conversations_open(
    engine, slack
):
    slack.add_user("U0ALICE")

    outcome = deliver(engine, slack.client(), DM_KEY, "U0ALICE", MESSAGE)

    im = slack.im_for("U0ALICE")
    assert (outcome.status, [m["channel"] for m in slack.messages]) == ("sent", [im])
    assert slack.calls_to("conversations.open") == []
    assert (channel_of(engine, DM_KEY), ims.known_im(engine, "U0ALICE")) == (im, im)


def test_an_unconfirmed_dm_is_settled_from_the_history_of_the_im_kept_from_an_earlier_dm(engine, slack):
    slack.add_user("U0ALICE")
    deliver(engine, slack.client(), "alert:7:2026-07-01..2026-09-30", "U0ALICE", {"text": "Last quarter's alert"})
    with pytest.raises(SystemExit):  # addressed to the IM now known, posted, and the worker died
        deliver(engine, slack.client(), DM_KEY, "U0ALICE", MESSAGE, post=killed_after_posting)
    age(engine, STALE_SENDING)

    outcomes = resolve_pending(engine, slack.client(), lambda key: pytest.fail("it is in Slack: nothing to rebuild"))

    im, lost = slack.im_for("U0ALICE"), slack.messages[1]
    assert [(o.key, o.status, o.ts) for o in outcomes] == [(DM_KEY, "sent", lost["ts"])]
    assert (lost["channel"], channel_of(engine, DM_KEY), len(slack.messages)) == (im, im, 2)
    assert slack.calls_to("conversations.open") == []


def test_a_first_dm_lost_before_slack_named_the_im_opens_it_once_to_settle_the_post(engine, slack):
    slack.add_user("U0ALICE")
    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), DM_KEY, "U0ALICE", MESSAGE, post=killed_after_posting)
    age(engine, STALE_SENDING)

    outcomes = resolve_pending(engine, slack.client(), lambda key: pytest.fail("it is in Slack: nothing to rebuild"))

    im = slack.im_for("U0ALICE")
    assert [(o.status, o.ts) for o in outcomes] == [("sent", slack.messages[0]["ts"])]
    assert len(slack.calls_to("conversations.open")) == 1
    assert (channel_of(engine, DM_KEY), ims.known_im(engine, "U0ALICE")) == (im, im)


# ------------------------------------------------------------------------------------------------------
# kpibot deliveries


def test_kpibot_deliveries_shows_each_delivery_with_its_state_attempts_and_last_error(engine, slack, tmp_path):
    celebration = "celebration:revenue:rep:1:2017-05-01:2017-06-01:1"
    deliver(engine, slack.client(), KEY, "C0SALES", MESSAGE)
    slack.error("chat.postMessage", "not_in_channel")
    deliver(engine, slack.client(), celebration, "C0SALES", {"text": ":tada: Alice hit 100%"})
    env = cli_env(engine, tmp_path, COLUMNS="200")
    runner = CliRunner()

    as_json = runner.invoke(app, ["deliveries", "--json"], env=env)
    failed = runner.invoke(app, ["deliveries", "--state", "failed", "--json"], env=env)
    table = runner.invoke(app, ["deliveries", "--limit", "1"], env=env)

    assert as_json.exit_code == 0, as_json.output
    rows = [(d["key"], d["state"], d["attempts"], d["last_error"]) for d in json.loads(as_json.stdout)["deliveries"]]
    assert rows == [(celebration, "failed", 1, "not_in_channel"), (KEY, "sent", 1, None)]
    assert [d["key"] for d in json.loads(failed.stdout)["deliveries"]] == [celebration]
    assert table.exit_code == 0, table.output
    row = next(line for line in table.stdout.splitlines() if celebration in line)
    cells = [cell.strip() for cell in row.split("│")]
    assert cells[1:4] + cells[5:7] == [celebration, "failed", "1", "C0SALES", "not_in_channel"]
    assert KEY not in table.stdout
