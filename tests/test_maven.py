"""The public Maven CRM sample, imported through its documented CSV mapping, gives the numbers KPIS.md defines.

Every expected value here is computed from the raw CSV files with the csv module, independently of kpibot.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select

from crm.csv_source import csv_connector
from crm.sync import run_sync
from kpi.config import load_people
from kpi.schema import Deal
from kpi.service import Kpibot
from tests.conftest import cli_env, run_kpibot

ROOT = Path(__file__).parents[1]
MAVEN = ROOT.parent / "shared" / "datasets" / "maven-crm"
CONFIG = ROOT / "config" / "examples" / "maven-crm"
AS_OF = dt.date(2018, 1, 15)

pytestmark = pytest.mark.skipif(not MAVEN.is_dir(), reason=f"the Maven sample is not at {MAVEN}")


def raw_rows(name: str) -> list[dict[str, str]]:
    with open(MAVEN / name, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


def closed_in(row: dict[str, str], start: str, end: str) -> bool:
    return bool(row["close_date"]) and start <= row["close_date"] < end


@pytest.fixture(scope="module")
def bot(module_engine) -> Kpibot:
    """The sample imported once for the module's tests, which only read it."""
    run_sync(module_engine, csv_connector(MAVEN, CONFIG), full=True, people=load_people(CONFIG))
    return Kpibot(module_engine, CONFIG)


def test_deals_by_stage_after_import_match_the_export(bot):
    expected = Counter(row["deal_stage"] for row in raw_rows("sales_pipeline.csv"))
    with bot.engine.connect() as connection:
        from sqlalchemy import func, select

        from kpi.schema import Deal

        imported = dict(connection.execute(select(Deal.stage, func.count()).group_by(Deal.stage)).all())
    assert imported == dict(expected)
    assert sum(imported.values()) == 8800


def test_a_reps_win_rate_for_a_quarter(bot):
    rows = [r for r in raw_rows("sales_pipeline.csv") if r["sales_agent"] == "Darcel Schlecht"]
    won = sum(1 for r in rows if r["deal_stage"] == "Won" and closed_in(r, "2017-04-01", "2017-07-01"))
    lost = sum(1 for r in rows if r["deal_stage"] == "Lost" and closed_in(r, "2017-04-01", "2017-07-01"))

    answer = bot.ask("my win-rate 2017-Q2", bot.person("Darcel Schlecht"), AS_OF).to_json()

    assert (answer["numerator"], answer["denominator"]) == (won, won + lost)
    assert answer["value"] == pytest.approx(won / (won + lost), rel=1e-12)  # full precision: 0.6153846153846154
    assert answer["value"] != round(answer["value"], 6)
    assert answer["period"] == {"label": "2017-Q2", "start": "2017-04-01", "end": "2017-06-30", "to_date": False}


def test_calls_have_no_value_because_the_export_has_no_activities(bot):
    answer = bot.ask("my calls 2017", bot.person("Darcel Schlecht"), AS_OF).to_json()

    assert (answer["value"], answer["reason"]) == (None, "no activities have been synced from this CRM")
    assert answer["formatted"] == "n/a"


def test_a_managers_team_deals_won(bot):
    team = {r["sales_agent"] for r in raw_rows("sales_teams.csv") if r["manager"] == "Melvin Marxen"}
    won = sum(
        1
        for r in raw_rows("sales_pipeline.csv")
        if r["sales_agent"] in team and r["deal_stage"] == "Won" and closed_in(r, "2017-10-01", "2018-01-01")
    )

    answer = bot.ask("team deals won 2017-Q4", bot.person("Melvin Marxen"), AS_OF).to_json()

    assert answer["value"] == won
    assert answer["scope"] == {"type": "team", "name": "Melvin Marxen's team"}


def test_the_org_revenue_leaderboard_ranks_every_rep(bot):
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    for r in raw_rows("sales_pipeline.csv"):
        if r["deal_stage"] == "Won" and closed_in(r, "2017-10-01", "2018-01-01"):
            revenue[r["sales_agent"]] += Decimal(r["close_value"])
    for r in raw_rows("sales_teams.csv"):
        revenue.setdefault(r["sales_agent"], Decimal(0))
    expected = sorted(revenue.items(), key=lambda item: (-item[1], item[0]))

    board = bot.ask("leaderboard revenue 2017-Q4", bot.person("ops@example.com"), AS_OF).to_json()

    assert [(row["name"], Decimal(str(row["value"]))) for row in board["rows"]] == expected
    # Reps with equal revenue (those with none) share a rank: 1 + the reps with more.
    assert [row["rank"] for row in board["rows"]] == [1 + sum(v > value for _, v in expected) for _, value in expected]


def test_org_average_deal_size_and_sales_cycle(bot):
    won = [
        r
        for r in raw_rows("sales_pipeline.csv")
        if r["deal_stage"] == "Won" and closed_in(r, "2017-01-01", "2018-01-01")
    ]
    revenue = sum(Decimal(r["close_value"]) for r in won)
    cycle_days = [(dt.date.fromisoformat(r["close_date"]) - dt.date.fromisoformat(r["engage_date"])).days for r in won]
    admin = bot.person("ops@example.com")

    size = bot.ask("org avg deal size 2017", admin, AS_OF).to_json()
    cycle = bot.ask("org sales cycle 2017", admin, AS_OF).to_json()

    assert size["value"] == pytest.approx(float(revenue / len(won)), rel=1e-12)  # not rounded to the cent
    assert size["numerator"] == int(revenue)
    assert cycle["value"] == pytest.approx(sum(cycle_days) / len(cycle_days), rel=1e-12)


def test_sync_and_ask_json_from_the_command_line(tmp_path):
    env = {"KPIBOT_CONFIG_DIR": str(CONFIG), "DATABASE_URL": f"sqlite:///{tmp_path / 'maven.db'}"}
    sync = run_kpibot("sync", "--source", "csv", "--path", str(MAVEN), env=env)
    assert sync.returncode == 0, sync.stderr

    ask = run_kpibot(
        "ask", "my win-rate 2017-Q2", "--as", "Darcel Schlecht", "--as-of", "2018-01-15", "--json", env=env
    )

    assert ask.returncode == 0, ask.stderr
    answer = json.loads(ask.stdout)
    rows = [r for r in raw_rows("sales_pipeline.csv") if r["sales_agent"] == "Darcel Schlecht"]
    won = sum(1 for r in rows if r["deal_stage"] == "Won" and closed_in(r, "2017-04-01", "2017-07-01"))
    closed = sum(1 for r in rows if r["deal_stage"] in ("Won", "Lost") and closed_in(r, "2017-04-01", "2017-07-01"))
    assert (answer["kpi"], answer["numerator"], answer["denominator"]) == ("win-rate", won, closed)


def test_the_demo_refuses_to_replace_an_imported_crm_and_keeps_every_deal(engine):
    env = cli_env(engine, CONFIG)
    assert run_kpibot("sync", "--source", "csv", "--path", str(MAVEN), env=env).returncode == 0

    demo = run_kpibot("demo", "--reps", "5", env=env)

    assert demo.returncode == 2
    assert "8,800 deals from maven" in demo.stderr and "DATABASE_URL" in demo.stderr
    assert "Traceback" not in demo.stderr
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Deal)).scalar() == 8800
