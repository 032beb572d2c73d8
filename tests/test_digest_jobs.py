"""Digests as scheduled jobs: each delivery posted once, however often the job fires; DST-proof schedules."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest
from sqlalchemy import update

from digests.config import load_digests
from digests.deliveries import resolve_pending
from digests.jobs import digest_jobs, digest_rebuilder, run_digest
from kpi.schema import Delivery
from kpi.service import Kpibot
from tests.fakes import FakeSlack

PARIS = zoneinfo.ZoneInfo("Europe/Paris")


@pytest.fixture
def config(tmp_path) -> Path:
    (tmp_path / "digests.yaml").write_text(
        "digests:\n"
        "  - name: weekly\n    cadence: weekly\n    day: monday\n    time: '08:00'\n"
        "    audience: West 1\n    recipients: ['#sales']\n"
    )
    return tmp_path


def test_a_weekly_digest_fired_twice_is_posted_once(engine, world, config):
    west = world.team("West 1")
    manager = world.rep("Morgan Manager", team=west, role="manager")
    world.manage(west, manager)
    alice = world.rep("Alice Adams", team=west)
    world.deal(alice, 1200, "won", closed="2017-05-31 10:00")
    world.commit()
    kpibot = Kpibot(engine, config)
    spec = load_digests(config, kpibot.catalog).get("weekly")
    monday = dt.datetime(2017, 6, 5, 8, 0, tzinfo=dt.UTC)

    with FakeSlack() as slack:
        slack.add_channel("C0SALES", "sales")
        first = run_digest(kpibot, slack.client(), config, spec, monday)
        second = run_digest(kpibot, slack.client(), config, spec, monday)

        assert [o.status for o in first] == ["sent"]
        assert [o.status for o in second] == ["duplicate"]
        assert len([m for m in slack.messages if m["thread_ts"] is None]) == 1


def test_digests_fire_at_local_time_across_a_dst_change(engine, tmp_path):
    (tmp_path / "org.yaml").write_text("timezone: Europe/Paris\n")
    kpibot = Kpibot(engine, tmp_path)
    with FakeSlack() as slack:
        weekly = next(job for job in digest_jobs(kpibot, slack.client(), tmp_path) if job.name == "digest:weekly")

    before = weekly.trigger.get_next_fire_time(None, dt.datetime(2026, 3, 23, tzinfo=PARIS))
    after = weekly.trigger.get_next_fire_time(None, dt.datetime(2026, 3, 30, tzinfo=PARIS))

    # Monday 08:00 in Paris is 07:00 UTC in winter and 06:00 UTC after the change of 2026-03-29.
    assert before.astimezone(dt.UTC) == dt.datetime(2026, 3, 23, 7, 0, tzinfo=dt.UTC)
    assert after.astimezone(dt.UTC) == dt.datetime(2026, 3, 30, 6, 0, tzinfo=dt.UTC)


def test_the_latest_missed_run_is_found_for_catch_up(engine, tmp_path):
    kpibot = Kpibot(engine, tmp_path)
    with FakeSlack() as slack:
        monthly = next(job for job in digest_jobs(kpibot, slack.client(), tmp_path) if job.name == "digest:monthly")

    latest = monthly.latest_fire_time(dt.datetime(2026, 11, 1, 9, 30, tzinfo=dt.UTC))

    assert latest == dt.datetime(2026, 11, 1, 8, 0, tzinfo=dt.UTC)


def test_a_digest_left_pending_by_a_crash_is_rebuilt_and_posted_once(engine, world, config, monkeypatch):
    west = world.team("West 1")
    manager = world.rep("Morgan Manager", team=west, role="manager")
    world.manage(west, manager)
    world.deal(world.rep("Alice Adams", team=west), 1200, "won", closed="2017-05-31 10:00")
    world.commit()
    kpibot = Kpibot(engine, config)
    spec = load_digests(config, kpibot.catalog).get("weekly")
    monday = dt.datetime(2017, 6, 5, 8, 0, tzinfo=dt.UTC)

    with FakeSlack() as slack:
        slack.add_channel("C0SALES", "sales")
        monkeypatch.setattr(
            "digests.send.post_rendered", lambda *args, **kwargs: (_ for _ in ()).throw(SystemExit("killed"))
        )
        with pytest.raises(SystemExit):
            run_digest(kpibot, slack.client(), config, spec, monday)
        monkeypatch.undo()
        with engine.begin() as connection:
            connection.execute(update(Delivery).values(updated_at=dt.datetime(2017, 6, 5, 8, 0)))

        first = resolve_pending(engine, slack.client(), digest_rebuilder(kpibot, config))
        second = resolve_pending(engine, slack.client(), digest_rebuilder(kpibot, config))

        assert ([o.status for o in first], second) == (["sent"], [])
        assert len([m for m in slack.messages if m["thread_ts"] is None]) == 1
