"""The Monday fan-out of subscriptions (digests/subscriptions.py run_due, digests/building.py, digests/send.py
post_all): the due digests are built by worker processes, one group per audience, and posted several at a time
at the pace of the worker's client (digests/ratelimit.py), so that a fake Slack enforcing Slack's rates refuses
none of them; each DM is addressed to its subscriber's user id, with no conversations.open (Tier 3) first.

The world: tests/world.py two_teams, with two deals Alice won in March 2026. Alice Adams (UALICE, her own
numbers), Morgan Manager (UMORGAN, team West) and Ada Admin (UADA, the organisation) subscribe to the weekly
digest, each on Mondays at 08:00 UTC.
"""

from __future__ import annotations

import datetime as dt
from concurrent.futures import ProcessPoolExecutor

import pytest

from digests import building
from digests.ratelimit import paced_client
from digests.subscriptions import Request, run_due, subscribe
from kpi.schema import Rep
from kpi.service import Kpibot
from tests.fakes import FakeSlack

SUBSCRIBERS = {"Alice Adams": ("UALICE", "me"), "Morgan Manager": ("UMORGAN", "team"), "Ada Admin": ("UADA", "org")}


@pytest.fixture
def bot(engine, world, session, us_config) -> Kpibot:
    world.two_teams()
    for rep in session.query(Rep).filter(Rep.name.in_(SUBSCRIBERS)):
        rep.slack_user_id = SUBSCRIBERS[rep.name][0]
        if rep.name == "Alice Adams":  # revenue in the weeks before: each digest has a trend chart
            world.deal(rep, 1000, "won", closed="2026-03-10")
            world.deal(rep, 2000, "won", closed="2026-03-17")
    world.commit()
    kpibot = Kpibot(engine, us_config)
    west = kpibot.directory.find_team("West")
    for name, (user, audience) in SUBSCRIBERS.items():
        whose = f"team:{west.id}" if audience == "team" else audience
        subscribe(kpibot, kpibot.person(name), user, Request("weekly", whose, "weekly", "08:00", "monday"), "UTC")
    return kpibot


def test_due_subscriptions_are_built_by_worker_processes_and_posted_within_slacks_rate(bot, monkeypatch):
    pools: list[int] = []

    class CountedPool(ProcessPoolExecutor):
        def __init__(self, workers: int, *args, **kwargs) -> None:
            pools.append(workers)
            super().__init__(workers, *args, **kwargs)

    monkeypatch.setattr(
        building, "AUDIENCES_PER_PROCESS", 1
    )  # two audiences (West, the organisation): workers build them
    monkeypatch.setattr(building.os, "cpu_count", lambda: 2)
    monkeypatch.setattr(building, "ProcessPoolExecutor", CountedPool)
    with FakeSlack() as slack:
        for user, _ in SUBSCRIBERS.values():
            slack.add_user(user)
        slack.limit_rates(per_channel=1.0, workspace=10.0)
        client = paced_client(slack.token, slack.url, [])

        sent = run_due(bot, client, bot.config_dir, dt.datetime(2026, 3, 30, 8, 0, tzinfo=dt.UTC), dt.timedelta(1))
        again = run_due(bot, client, bot.config_dir, dt.datetime(2026, 3, 30, 8, 1, tzinfo=dt.UTC), dt.timedelta(1))
        parents = {m["channel"] for m in slack.messages if m["thread_ts"] is None}
        threads = {(f["ims"][0], f["thread_ts"]) for f in slack.files.values()}

    west = bot.directory.find_team("West")
    assert pools == [2]
    assert sorted(o.key.split(":", 2)[2] for o in sent if o.status == "sent") == sorted(
        [
            f"team:{west.id}:user:UALICE:2026-03-30",
            f"team:{west.id}:user:UMORGAN:2026-03-30",
            "org:user:UADA:2026-03-30",
        ]
    )
    assert again == []
    assert parents == {slack.im_for(user) for user, _ in SUBSCRIBERS.values()}  # one digest in each DM
    assert slack.ratelimited == 0  # no call went past Slack's rates
    assert slack.calls_to("conversations.open") == []
    # each digest's chart in its thread, uploaded after the posts (uploads are Slack's Tier 4), none refused
    assert threads == {(m["channel"], m["ts"]) for m in slack.messages if m["thread_ts"] is None}
