"""`kpibot serve` over HTTP: the configuration and the database checked first, in one line when wrong, then a
supervisor of the workers that holds nothing of the app (issue 17: the server's processes within 400 MB) and gives
a busy worker time to answer its ping (bot/supervisor.py)."""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.server import asgi_app
from bot.supervisor import HEALTHCHECK_SECONDS, options
from kpi.db import engine_for
from tests.conftest import run_kpibot
from tests.fakes import FakeSlack

ROOT = Path(__file__).parents[1]

#: A stand-in for uvicorn, first on the path of `kpibot serve`: asked to run, it prints what it was asked and what
#: its process has loaded, instead of serving.
FAKE_UVICORN = """
import json, os, sys

def run(app, **options):
    arenas = os.environ.get("MALLOC_ARENA_MAX")
    print(json.dumps({"app": app, "workers": options["workers"], "arenas": arenas, "modules": sorted(sys.modules)}))
"""

#: What only the workers need: the app, its database layer, the CLI that checked them.
THE_APP = ("kpi.service", "sqlalchemy", "pandas", "slack_bolt", "bot.server", "bot.cli", "typer")


def serve_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """An HTTP `kpibot serve`'s environment: Slack's secrets, the shipped config, an empty database."""
    database = tmp_path / "kpibot.db"
    engine_for(f"sqlite:///{database}").dispose()
    env = {
        "DATABASE_URL": f"sqlite:///{database}",
        "KPIBOT_CONFIG_DIR": str(ROOT / "config"),
        "SLACK_BOT_TOKEN": "xoxb-test",
        "SLACK_SIGNING_SECRET": "test-signing-secret",
        "SLACK_APP_TOKEN": "",  # set, it would start Socket Mode instead of HTTP
    }
    return env | extra


def supervised(tmp_path: Path, **extra: str) -> dict[str, Any]:
    """What uvicorn is asked by the process that `kpibot serve --workers 2` becomes, and what that process has
    loaded and is given as environment (the fake uvicorn's report)."""
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "uvicorn.py").write_text(FAKE_UVICORN)
    path = os.pathsep.join([str(fake), str(ROOT), os.environ.get("PYTHONPATH", "")])
    result = run_kpibot("serve", "--port", "3999", "--workers", "2", env=serve_env(tmp_path, PYTHONPATH=path, **extra))
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_kpibot_serve_hands_its_workers_to_a_supervisor_that_has_loaded_nothing_of_the_app(tmp_path):
    asked = supervised(tmp_path)

    assert (asked["app"], asked["workers"]) == ("bot.server:asgi_app", 2)
    assert [module for module in THE_APP if module in asked["modules"]] == []


@pytest.mark.parametrize(("environment", "arenas"), [({}, "2"), ({"MALLOC_ARENA_MAX": "4"}, "4")], ids=["unset", "set"])
def test_the_supervisor_and_its_workers_allocate_in_two_malloc_arenas_unless_the_environment_says_otherwise(
    tmp_path, environment, arenas
):
    asked = supervised(tmp_path, **environment)

    assert asked["arenas"] == arenas


def test_a_mistyped_config_key_stops_kpibot_serve_before_it_serves_with_the_line_that_says_why(tmp_path):
    (tmp_path / "org.yaml").write_text("timezone: UTC\ncurrency: EUR\nfiscal_year_start_mont: 4\n")

    result = run_kpibot("serve", "--port", "3999", env=serve_env(tmp_path, KPIBOT_CONFIG_DIR=str(tmp_path)))

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"{tmp_path / 'org.yaml'}, line 3: unknown key 'fiscal_year_start_mont': "
        "did you mean 'fiscal_year_start_month'?"
    )


def test_a_missing_database_stops_kpibot_serve_before_it_serves_and_is_not_created(tmp_path):
    missing = tmp_path / "mistyped.db"

    result = run_kpibot("serve", "--port", "3999", env=serve_env(tmp_path, DATABASE_URL=f"sqlite:///{missing}"))

    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"There is no database at {missing}. Create one with `kpibot demo` (a demo company) or `kpibot sync` "
        "(your CRM), or point DATABASE_URL at the right file."
    )
    assert not missing.exists()


def test_the_supervisor_gives_a_busy_worker_30_seconds_to_answer_its_ping_before_replacing_it():
    # uvicorn's default, 5 s, killed a worker whose threads were all computing (issue 17). Built by the installed
    # uvicorn, so that a version without the setting fails here rather than at `kpibot serve`.
    config = uvicorn.Config(**options(3000, 2))

    assert (HEALTHCHECK_SECONDS, config.timeout_worker_healthcheck) == (30, 30)


def test_a_server_process_puts_what_it_loaded_at_start_out_of_the_collectors_sight_and_collects_young_less_often(
    tmp_path, monkeypatch
):
    gc.unfreeze()
    thresholds = gc.get_threshold()

    with FakeSlack() as slack:
        for name, value in serve_env(tmp_path, SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.url).items():
            monkeypatch.setenv(name, value)
        try:
            asgi_app()
            frozen, collecting = gc.get_freeze_count(), gc.get_threshold()
        finally:
            gc.unfreeze()
            gc.set_threshold(*thresholds)

    assert frozen > 10_000  # the code and the app it built: a full collection during a question skips them
    assert collecting == (50_000, *thresholds[1:])  # the questions in flight die young, not in the oldest generation


def test_a_server_process_does_not_load_alembic_for_a_database_serve_migrated_before_starting_it(tmp_path):
    built = "import sys; from bot.server import asgi_app; asgi_app(); print(sorted(sys.modules))"
    path = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])

    with FakeSlack() as slack:
        env = os.environ | serve_env(tmp_path, SLACK_BOT_TOKEN=slack.token, SLACK_API_URL=slack.url, PYTHONPATH=path)
        result = subprocess.run([sys.executable, "-c", built], env=env, capture_output=True, text=True, timeout=120)

    assert result.returncode == 0, result.stderr
    modules = set(json.loads(result.stdout.strip().splitlines()[-1].replace("'", '"')))
    assert "kpi.service" in modules and "alembic" not in modules  # 11 MiB of each worker, for nothing to do
