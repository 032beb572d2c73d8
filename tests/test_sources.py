"""config/crm.yaml, the connector it chooses, when a full reconcile is due, and `kpibot sync` on the command line."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from crm.pipedrive import PipedriveConnector
from crm.sources import CrmConfig, connector_for, full_due, load_crm, sync_source
from crm.sync import run_sync
from digests.schedule_config import ScheduleConfig
from digests.scheduler import Worker
from kpi.config import ConfigError
from kpi.locks import DatabaseLock
from kpi.schema import SyncRun
from kpi.service import Kpibot
from tests.conftest import cli_env, run_kpibot
from tests.fakes.pipedrive import TOKEN, FakePipedrive
from tests.test_sync_runner import FakeConnector, rep_pages

ROOT = Path(__file__).parents[1]
NOW = dt.datetime(2026, 4, 2, 12, 0)


def test_the_shipped_crm_yaml_loads_with_its_documented_defaults():
    config = load_crm(ROOT / "config")

    assert (config.source, config.lookback, config.full_reconcile_days) == ("csv", dt.timedelta(minutes=10), 7)
    assert config.hubspot.base_url == "https://api.hubapi.com"
    assert config.pipedrive.base_url == "https://api.pipedrive.com"


def test_a_broken_crm_yaml_names_the_file_the_key_and_the_choices(tmp_path):
    (tmp_path / "crm.yaml").write_text("source: zoho\nlookback_minutes: -5\n")

    with pytest.raises(ConfigError) as error:
        load_crm(tmp_path)

    lines = str(error.value).splitlines()
    assert lines[0] == (
        f"{tmp_path / 'crm.yaml'}: key 'source' has value 'zoho': "
        "Input should be 'csv', 'hubspot', 'salesforce' or 'pipedrive'."
    )
    assert lines[1] == (
        f"{tmp_path / 'crm.yaml'}: key 'lookback_minutes' has value -5: Input should be greater than or equal to 0."
    )


def test_a_missing_secret_says_which_variable_to_set():
    with pytest.raises(ConfigError, match="Set PIPEDRIVE_API_TOKEN in the environment: a Pipedrive API token"):
        connector_for(CrmConfig(), "pipedrive", env={})


def test_a_csv_source_without_a_folder_says_how_to_give_one(tmp_path):
    with pytest.raises(ConfigError, match="Pass --path FOLDER, or set csv.path in crm.yaml"):
        connector_for(CrmConfig(), "csv", env={}, directory=tmp_path)


def test_the_connector_takes_crm_yaml_settings_and_the_environment_overrides_the_url():
    config = CrmConfig.model_validate({"lookback_minutes": 3, "pipedrive": {"page_size": 250}})

    connector = connector_for(config, "pipedrive", env={"PIPEDRIVE_API_TOKEN": "t", "PIPEDRIVE_BASE_URL": "http://x"})

    assert isinstance(connector, PipedriveConnector)
    assert (connector.api.base_url, connector.page_size, connector.lookback) == (
        "http://x",
        250,
        dt.timedelta(minutes=3),
    )
    assert connector.api.headers["x-api-token"] == "t"


def test_a_full_reconcile_is_due_first_then_again_once_the_last_one_is_old(engine):
    config = CrmConfig(full_reconcile_days=7)
    assert full_due(engine, "fake", config, NOW) is True

    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=False, now=NOW + dt.timedelta(days=6))

    assert full_due(engine, "fake", config, NOW + dt.timedelta(days=6, hours=23)) is False
    assert full_due(engine, "fake", config, NOW + dt.timedelta(days=7)) is True
    assert full_due(engine, "fake", CrmConfig(full_reconcile_days=None), NOW + dt.timedelta(days=70)) is False
    assert full_due(engine, "csv", config, NOW) is True  # an export is always complete


def test_sync_source_runs_full_first_and_incremental_after(engine):
    env = {"PIPEDRIVE_API_TOKEN": TOKEN}
    config = CrmConfig(source="pipedrive")
    with FakePipedrive() as fake:
        env["PIPEDRIVE_BASE_URL"] = fake.url
        first = sync_source(engine, config, env=env, now=NOW)
        second = sync_source(engine, config, env=env, now=NOW + dt.timedelta(hours=1))

    assert (first.source, first.full, first.status) == ("pipedrive", True, "ok")
    assert (second.full, second.status, second.total.created) == (False, "ok", 0)


def test_kpibot_sync_prints_what_changed_and_sync_status_shows_cursors_runs_and_links(engine, tmp_path):
    (tmp_path / "crm.yaml").write_text("source: pipedrive\n")
    with FakePipedrive() as fake:
        env = cli_env(engine, tmp_path, PIPEDRIVE_API_TOKEN=TOKEN, PIPEDRIVE_BASE_URL=fake.url, COLUMNS="160")
        synced = run_kpibot("sync", env=env, timeout=120)
        status = run_kpibot("sync", "status", env=env, timeout=60)
        missing = run_kpibot("sync", env={**env, "PIPEDRIVE_API_TOKEN": ""})

    assert synced.returncode == 0, synced.stderr
    lines = synced.stdout.splitlines()
    assert "pipedrive sync (full): ok" in lines
    assert any(line.startswith("  deals: ") and " created, 0 updated, " in line for line in lines)
    assert status.returncode == 0, status.stderr
    assert "pipedrive (crm.yaml's source): full reconcile not due" in status.stdout
    assert "cursor deals: " in status.stdout
    assert "  deals open at https://cafe-zurich.pipedrive.com/deal/{id}\n" in status.stdout
    run = re.search(
        r"│ \d+ +│ [\d-]+ [\d:]+ +│ full +│ ok +│ [\d.]+ s +│ (\d+) created, 0 updated, 0 deleted", status.stdout
    )
    assert run is not None, status.stdout
    created = [int(count) for count in re.findall(r"^  \w+: (\d+) created", synced.stdout, re.MULTILINE)]
    assert len(created) == 3 and int(run[1]) == sum(created)
    assert missing.returncode == 2
    assert "Set PIPEDRIVE_API_TOKEN in the environment" in missing.stderr


def test_the_worker_syncs_crm_yaml_source_and_leaves_a_running_sync_alone(engine, tmp_path, monkeypatch):
    (tmp_path / "crm.yaml").write_text("source: pipedrive\n")
    worker = Worker(Kpibot(engine, ROOT / "config"), client=None, config=ScheduleConfig(), config_dir=tmp_path)
    with FakePipedrive() as fake:
        monkeypatch.setenv("PIPEDRIVE_API_TOKEN", TOKEN)
        monkeypatch.setenv("PIPEDRIVE_BASE_URL", fake.url)
        running = DatabaseLock(engine, "sync:pipedrive")
        running.try_acquire()
        skipped = worker.run_sync(NOW)
        running.release()
        worker.run_sync(NOW)

    assert skipped == []
    with engine.connect() as connection:
        runs = connection.execute(select(SyncRun.source, SyncRun.full, SyncRun.status)).all()
    assert runs == [("pipedrive", True, "ok")]
    assert worker.kpibot.directory.find_person("zoe@example.com").name == "Zoë Ångström"  # known at once
