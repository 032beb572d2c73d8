"""Two `kpibot schedule` workers on one PostgreSQL database: one leads, every post goes out exactly once, and
when the leader is killed the other takes over without losing or repeating anything."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from kpi.config import OrgConfig
from kpi.periods import Calendar
from kpi.schema import Delivery, Rep
from tests.conftest import cli_env
from tests.fakes import FakeSlack
from tests.waiting import wait_for
from tests.world import World

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.skipif(not os.environ.get("KPIBOT_TEST_DATABASE_URL"), reason="needs PostgreSQL")


def month_bounds(today: dt.date) -> tuple[str, str]:
    start = today.replace(day=1)
    end = (start + dt.timedelta(days=32)).replace(day=1)
    return start.isoformat(), end.isoformat()


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "bot.cli", "schedule"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("w"),
    )


def leader_pid(logs: list[Path]) -> int:
    for log in logs:
        for line in log.read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("message") == "became the leader":
                return int(json.loads(line)["worker"].split(":")[1])
    raise AssertionError("no leader yet")


def _delivery_keys(engine, prefix: str) -> list[str]:
    with engine.connect() as connection:
        keys = connection.execute(select(Delivery.key).where(Delivery.key.startswith(prefix))).scalars().all()
    return list(keys)


def test_two_workers_post_each_celebration_once_and_survive_the_leader_being_killed(engine, tmp_path):
    if engine.dialect.name != "postgresql":
        pytest.skip("the two-worker test runs on PostgreSQL")
    today = Calendar.from_org(OrgConfig()).today()
    start, end = month_bounds(today)
    with Session(engine) as session:
        world = World(session)
        alice, bob = world.rep("Alice Adams"), world.rep("Bob Brown")
        world.target("revenue", 1000, start, end, rep=alice)
        world.target("revenue", 1000, start, end, rep=bob)
        world.deal(alice, 1500, "won", closed=f"{today} 00:00")
        world.commit()
        bob_id = bob.id
    (tmp_path / "schedule.yaml").write_text(
        "leader_check_seconds: 1\ncelebrations:\n  channel: C0WINS\n  thresholds: [1.0]\n  every_seconds: 1\n"
    )
    # A digest due every minute: each worker fires it, and each new leader catches up on it at once.
    (tmp_path / "digests.yaml").write_text(
        "digests:\n  - name: pulse\n    cadence: '* * * * *'\n    content: daily\n    audience: org\n"
        "    recipients: [C0DIGEST]\n    charts: false\n    skip_when_empty: false\n"
    )
    with FakeSlack() as slack:
        slack.add_channel("C0WINS", "wins")
        slack.add_channel("C0DIGEST", "digest")
        env = cli_env(engine, tmp_path, SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.url)
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        workers = [start_worker(env, log) for log in logs]
        try:
            wait_for(lambda: any(m["channel"] == "C0WINS" for m in slack.messages), timeout=30)
            # No event says "a second post did not happen": both workers keep firing (every second) for a while.
            time.sleep(3)
            wins = [m["text"].split(" hit")[0] for m in slack.messages if m["channel"] == "C0WINS"]
            assert wins == [":tada: Alice Adams"]

            os.kill(leader_pid(logs), signal.SIGKILL)
            with Session(engine) as session:
                World(session).deal(session.get(Rep, bob_id), 1200, "won", closed=f"{today} 00:00")
                session.commit()
            wait_for(lambda: len([m for m in slack.messages if m["channel"] == "C0WINS"]) >= 2, timeout=60)
            time.sleep(3)

            celebrations = [m for m in slack.messages if m["channel"] == "C0WINS"]
            assert sorted(m["text"].split(" hit")[0] for m in celebrations) == [
                ":tada: Alice Adams",
                ":tada: Bob Brown",
            ]
            digests = [m for m in slack.messages if m["channel"] == "C0DIGEST" and m["thread_ts"] is None]
            assert len(digests) == len(_delivery_keys(engine, "digest:pulse:")) == 1  # one post per run key
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(timeout=10)


def test_two_workers_deliver_a_subscription_once_when_the_leader_is_killed(engine, tmp_path):
    if engine.dialect.name != "postgresql":
        pytest.skip("the two-worker test runs on PostgreSQL")
    from digests.subscriptions import Request, subscribe
    from kpi.service import Kpibot

    with Session(engine) as session:
        world = World(session)
        alice = world.rep("Alice Adams")
        alice.slack_user_id = "UALICE"
        world.commit()
    (tmp_path / "schedule.yaml").write_text("leader_check_seconds: 1\n")
    (tmp_path / "digests.yaml").write_text(
        "digests:\n  - name: pulse\n    cadence: daily\n    audience: org\n    recipients: [C0DIGEST]\n"
        "    charts: false\n    skip_when_empty: false\n"
    )
    # Due a minute ago at Alice's local time: within the grace time, so each new leader catches up on it.
    due = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%H:%M")
    kpibot = Kpibot(engine, tmp_path)
    subscribe(kpibot, kpibot.person("Alice Adams"), "UALICE", Request("pulse", "me", "daily", due), "UTC")
    with FakeSlack() as slack:
        slack.add_user("UALICE")
        env = cli_env(engine, tmp_path, SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.url)
        logs = [tmp_path / "worker-1.log", tmp_path / "worker-2.log"]
        workers = [start_worker(env, log) for log in logs]
        try:
            wait_for(lambda: [m for m in slack.messages if m["channel"] == slack.im_for("UALICE")], timeout=60)
            leader = leader_pid(logs)
            os.kill(leader, signal.SIGKILL)
            survivor = next(log for log, worker in zip(logs, workers, strict=True) if worker.pid != leader)
            wait_for(lambda: "became the leader" in survivor.read_text(), timeout=60)
            time.sleep(3)  # the new leader has caught up on what is due: nothing to post

            sent = [m for m in slack.messages if m["channel"] == slack.im_for("UALICE") and m["thread_ts"] is None]
            assert len(sent) == len(_delivery_keys(engine, "digest:sub-")) == 1
        finally:
            for worker in workers:
                worker.kill()
                worker.wait(timeout=10)
