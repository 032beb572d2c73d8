"""The command line, run as a user runs it: `make demo`, and `kpibot ask` answering or explaining a problem."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.conftest import run_kpibot

ROOT = Path(__file__).parents[1]


def test_make_demo_builds_a_company_and_answers_the_example_questions(tmp_path):
    demo = subprocess.run(
        ["make", "demo", f"DEMO_DB=sqlite:///{tmp_path / 'demo.db'}"], cwd=ROOT, capture_output=True, text=True
    )

    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert "Win rate for Alice Adams, this quarter" in demo.stdout
    assert "Revenue for West 1, last month" in demo.stdout
    assert "Calls leaderboard, West 1, this week" in demo.stdout
    org_pipeline, _ = json.JSONDecoder().raw_decode(demo.stdout[demo.stdout.index("{") :])
    assert (org_pipeline["kpi"], org_pipeline["scope"]["type"]) == ("pipeline", "org")
    assert org_pipeline["value"] > 0


def test_an_unknown_kpi_exits_2_with_suggestions(tmp_path):
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "KPIBOT_CONFIG_DIR": str(ROOT / "config")}
    run_kpibot("demo", "--reps", "5", "--months", "2", "--as-of", "2026-11-20", env=env)

    result = run_kpibot("ask", "my wim rat", "--as", "alice@example.com", "--json", env=env)

    assert result.returncode == 2
    assert json.loads(result.stdout)["suggestions"][0] == "win-rate"


def test_a_broken_org_yaml_names_the_file_the_key_and_what_is_allowed(tmp_path):
    (tmp_path / "org.yaml").write_text("timezone: Mars/Olympus\nfiscal_year_start_month: 13\n")
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}", "KPIBOT_CONFIG_DIR": str(tmp_path)}

    result = run_kpibot("ask", "my revenue", "--as", "alice@example.com", env=env)

    assert result.returncode == 2
    message = " ".join(result.stderr.split())
    assert f"{tmp_path}/org.yaml: key 'timezone' has value 'Mars/Olympus': expected an IANA time zone" in message
    assert f"{tmp_path}/org.yaml: key 'fiscal_year_start_month' has value 13" in message
