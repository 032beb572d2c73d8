"""Rejects are loud: `kpibot sync` sums them up per file and exits 3; a full sync rejecting more than
crm.yaml's `max_rejected_share` of a file changes nothing; the freshness line, `kpibot sync status` and the
worker's failure notice all say when the last sync rejected rows."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.status import freshness
from digests.schedule_config import ScheduleConfig
from digests.scheduler import Worker
from kpi.schema import Deal, SyncRun
from kpi.service import Kpibot
from tests.conftest import cli_env, run_kpibot
from tests.fakes.slack import FakeSlack

ROOT = Path(__file__).parents[1]
REPS = "email,name,role,team,hired_date,left_date\nalice@example.com,Alice Adams,rep,West 1,2023-01-09,\n"
HEADER = "deal_id,name,owner_email,account_id,amount,currency,stage,type,probability,created_date,close_date\n"


def deals(good: int, bad: int) -> str:
    """``good`` deals, then ``bad`` ones whose amount is not a number (lines 2.. of deals.csv)."""
    rows = [f"D{n},Deal {n},alice@example.com,,100,EUR,Closed Won,,1,2024-01-10,2024-03-01\n" for n in range(good)]
    rows += [f"X{n},Bad {n},alice@example.com,,abc,EUR,Closed Won,,1,2024-01-10,2024-03-01\n" for n in range(bad)]
    return HEADER + "".join(rows)


@pytest.fixture
def folders(tmp_path: Path) -> tuple[Path, Path]:
    export, config = tmp_path / "export", tmp_path / "config"
    export.mkdir()
    config.mkdir()
    text = (ROOT / "config/csv.yaml").read_text()
    keep = (
        text[: text.index("  - file: accounts.csv")]
        + text[text.index("  - file: deals.csv") : text.index("  - file: leads.csv")]
    )
    (config / "csv.yaml").write_text(keep.replace("      account: account_id\n", ""))
    (config / "org.yaml").write_text("timezone: UTC\n")
    (config / "crm.yaml").write_text(f"source: csv\ncsv: {{path: {export}}}\n")
    (export / "reps.csv").write_text(REPS)
    return export, config


def deal_count(engine) -> int:
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(Deal)).scalar()


def test_a_sync_with_rejected_rows_sums_them_up_per_file_and_exits_3(engine, folders):
    export, config = folders
    (export / "deals.csv").write_text(deals(good=39, bad=1))

    synced = run_kpibot("sync", env=cli_env(engine, config))

    assert synced.returncode == 3, synced.stderr
    summary = synced.stdout[synced.stdout.index("Rejected") :].splitlines()
    assert summary[0].startswith("Rejected 1 row (all of them in the rejects table, run ")
    assert summary[1:] == [
        "  deals.csv: 1 of 40 rejected (2.5%)",
        "    deals.csv line 41: 'abc' is not a number",
    ]
    assert deal_count(engine) == 39
    assert freshness(engine).endswith(" · 1 row rejected in the last sync")


def test_a_full_sync_rejecting_more_than_max_rejected_share_of_a_file_changes_nothing(engine, folders):
    export, config = folders
    (export / "deals.csv").write_text(deals(good=10, bad=0))
    assert run_kpibot("sync", env=cli_env(engine, config)).returncode == 0
    (export / "deals.csv").write_text(deals(good=8, bad=2))  # 20% of the file: a mapping gone wrong

    refused = run_kpibot("sync", env=cli_env(engine, config))
    status = run_kpibot("sync", "status", env=cli_env(engine, config, COLUMNS="200"))

    assert refused.returncode == 1
    assert refused.stdout.splitlines()[-5] == (
        "csv sync (full): refused: 2 of 10 rows of deals.csv were rejected (20%, more than max_rejected_share 5% "
        "in crm.yaml), most often: … is not a number. The mapping is probably wrong: nothing was changed"
    )
    assert "  deals.csv: 2 of 10 rejected (20.0%)" in refused.stdout.splitlines()
    assert deal_count(engine) == 10  # the two deals missing from the file are not marked deleted either
    with engine.connect() as connection:
        assert (
            connection.execute(select(func.count()).select_from(Deal).where(Deal.deleted_at.is_not(None))).scalar() == 0
        )
        last = connection.execute(select(SyncRun.status, SyncRun.rejected).order_by(SyncRun.id.desc())).first()
    assert tuple(last) == ("refused", 2)
    assert "the last sync was refused: 2 rows rejected, nothing changed" in status.stdout


def test_the_worker_posts_a_notice_when_its_sync_rejected_rows(engine, folders):
    export, config = folders
    (export / "deals.csv").write_text(deals(good=39, bad=1))
    with FakeSlack() as slack:
        slack.add_channel("C0FAIL", "kpibot-failures")
        worker = Worker(
            Kpibot(engine, config),
            client=slack.client(),
            config=ScheduleConfig(failure_channel="C0FAIL"),
            config_dir=config,
        )
        worker.run_sync(dt.datetime(2024, 7, 1))
        posts = slack.calls_to("chat.postMessage")

    assert [post.params["channel"] for post in posts] == ["C0FAIL"]
    lines = posts[0].params["text"].splitlines()
    assert lines[0] == "kpibot's csv sync completed, but rejected rows: the numbers miss them."
    assert lines[1].startswith("Rejected 1 row (all of them in the rejects table, run ")
    assert lines[2:4] == ["  deals.csv: 1 of 40 rejected (2.5%)", "    deals.csv line 41: 'abc' is not a number"]
