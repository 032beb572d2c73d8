"""A `kpibot sync` process killed by the operating system in the middle of a sync, then run again, leaves the same
database as a sync that was never interrupted (issue: "a sync killed at any moment and run again ends with the same
database as an uninterrupted run").
"""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from crm.sources import load_crm, sync_source
from kpi.schema import SyncRun
from tests import crm_rows
from tests.conftest import cli_env, emptied
from tests.fakes.pipedrive import TOKEN, FakePipedrive
from tests.test_pipedrive import many_changes

ROOT = Path(__file__).parents[1]
DEALS = "/api/v2/deals"


def kpibot_sync(env: dict[str, str], *arguments: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "bot.cli", "sync", *arguments]
    return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def kept(engine) -> dict[str, Any]:
    """What the sync kept, with deletion times as a yes/no: the two runs delete at different moments."""
    database = crm_rows.database(engine, source="pipedrive")
    for name, table in database.items():
        if name != "cursors":
            for row in table.values():
                row["deleted_at"] = row["deleted_at"] is not None
    return database


@pytest.mark.parametrize("pages_before_the_kill", [1, 3, 6])
def test_a_sync_killed_mid_way_and_run_again_ends_like_one_never_killed(engine, tmp_path, pages_before_the_kill):
    (tmp_path / "crm.yaml").write_text("source: pipedrive\npipedrive:\n  page_size: 20\n")
    with FakePipedrive() as fake:
        env = cli_env(engine, tmp_path, PIPEDRIVE_API_TOKEN=TOKEN, PIPEDRIVE_BASE_URL=fake.url)
        assert kpibot_sync(env).wait(timeout=120) == 0  # the first sync is a full one
        many_changes(fake)
        reached, released = threading.Event(), threading.Event()
        fake.on_page(DEALS, pages_before_the_kill, lambda: (reached.set(), released.wait(60)))

        killed = kpibot_sync(env)
        assert reached.wait(timeout=120), killed.communicate()
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        released.set()
        again = kpibot_sync(env)
        out, err = again.communicate(timeout=120)

    assert killed.returncode == -signal.SIGKILL
    assert again.returncode == 0, err
    assert "pipedrive sync (incremental): ok" in out
    with engine.connect() as connection:
        runs = connection.execute(select(SyncRun.status).order_by(SyncRun.id)).scalars().all()
    assert runs == ["ok", "interrupted", "ok"]  # the killed run is not left "running" forever
    resumed = kept(engine)

    emptied(engine)
    with FakePipedrive() as twin:
        environment = {"PIPEDRIVE_API_TOKEN": TOKEN, "PIPEDRIVE_BASE_URL": twin.url}
        config = load_crm(tmp_path)
        sync_source(engine, config, env=environment)
        many_changes(twin)
        sync_source(engine, config, env=environment)
    assert resumed == kept(engine)
    assert sum(row["deleted_at"] for row in resumed["deals"].values()) == 30  # the deals many_changes deleted
