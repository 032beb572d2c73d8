"""Monthly rollups per owner (kpi/rollups.py, the compiler's source choice in kpi/compiler.py): a period's whole
months read from the rollups and its edge months from the rows give every additive KPI the value the rows alone
give, for every period and scope; a sync keeps them right; a changed definition or time zone reads the rows.

The world: an org in New York time (a local month starts at 04:00 or 05:00 UTC), West (Alice, Bob; Morgan
manages it) and East (Erin), three years of deals, activities, quotes and spend drawn from a seeded generator,
with deals closing in the last hour of a local month (the first hours of the next UTC month). Asked on 2017-07-10.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, select

from crm.sync import Page, run_sync
from kpi import access, rollups
from kpi.compiler import compile_query, rolls_up
from kpi.grammar.periods import parse_period
from kpi.periods import Calendar
from kpi.schema import Rollup
from kpi.service import Kpibot
from kpi.types import Kpi, Measure, Scope
from tests.test_sync_runner import FakeConnector
from tests.world import World

AS_OF = dt.date(2017, 7, 10)
NOW = dt.datetime(2017, 7, 10, 9, 0)
CASES = yaml.safe_load((Path(__file__).parent / "data" / "rollup_periods.yaml").read_text())


@pytest.fixture
def ny_config(tmp_path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "org.yaml").write_text("timezone: America/New_York\n")
    return folder


def moment(rng: random.Random) -> str:
    """A UTC instant from 2015-11 to 2018-02, a tenth of them in the first hours of a UTC month (the last
    hours of the local month before)."""
    if rng.random() < 0.1:
        day = dt.datetime(rng.randint(2015, 2017), rng.randint(1, 12), 1, rng.randint(0, 5), 30)
    else:
        day = dt.datetime(2015, 11, 1) + dt.timedelta(minutes=rng.randint(0, 60 * 24 * 850))
    return day.isoformat(sep=" ")


def company(world: World) -> None:
    west, east = world.team("West"), world.team("East")
    world.manage(west, world.rep("Morgan Manager", team=west, role="manager", email="manager@example.com"))
    world.rep("Ada Admin", role="admin", email="admin@example.com")
    reps = [world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=west), world.rep("Erin Evans", team=east)]
    rng = random.Random(17)
    account = world.account("Acme", reps[0])
    for _ in range(400):
        closed = moment(rng)
        created = (dt.datetime.fromisoformat(closed) - dt.timedelta(days=rng.randint(0, 200))).isoformat(sep=" ")
        world.deal(
            rng.choice(reps),
            round(rng.uniform(100, 9000), 2),
            rng.choice(["won", "won", "lost", "open"]),
            closed=closed,
            created=created,
            account=account if rng.random() < 0.5 else None,
            cost=round(rng.uniform(10, 90), 2) if rng.random() < 0.5 else None,
            type=rng.choice(["new", "upsell", "cross-sell"]),
            months=rng.choice([None, 0, 6, 12, 24]),
            deleted=rng.random() < 0.05,
        )
    for _ in range(300):
        world.activity(rng.choice(reps), rng.choice(["call", "meeting", "demo", "email"]), moment(rng), moment(rng))
    for _ in range(100):
        world.quote(rng.choice(reps), moment(rng), round(rng.uniform(100, 900), 2))
    for month in range(1, 25):
        start = dt.date(2016, 1, 1) + dt.timedelta(days=31 * (month - 1))
        world.spend(round(rng.uniform(500, 900), 2), start.isoformat(), (start + dt.timedelta(days=30)).isoformat(), west)
        world.spend(round(rng.uniform(100, 400), 2), start.isoformat(), (start + dt.timedelta(days=30)).isoformat())
    world.commit()


def additive(bot: Kpibot) -> list[Kpi]:
    """Every KPI (and its reading of a period ahead) with a measure the rollups hold."""
    kpis = [variant for kpi in bot.catalog for variant in (kpi, kpi.ahead) if variant is not None]
    return [kpi for kpi in kpis if any(rolls_up(measure) for measure in kpi.measures.values())]


def scopes(bot: Kpibot) -> dict[str, Scope]:
    west = next(team for team in bot.directory.teams.values() if team.name == "West")
    return {
        "rep": access.rep_scope(bot.person("Alice Adams")),
        "team": access.team_scope(bot.directory, [west]),
        "org": access.org_scope(),
    }


def values(bot: Kpibot, kpi: Kpi, period_text: str, scope: Scope) -> list[Decimal | None]:
    """The KPI's value for the scope, then each rep's of the organisation's leaderboard: money to the cent, other
    values to a millionth. (SQLite adds money as floating point, in another order from the rollups: a sum of
    half cents may round the other way there; PostgreSQL's numeric sums are exact.)"""
    period = parse_period(period_text, bot.calendar, AS_OF)
    found = [bot.metrics.result(kpi, period, scope, AS_OF).value]
    members = {person.id: access.rep_scope(person) for person in bot.directory.people.values()}
    by_owner = bot.metrics.results_by_owner(kpi, period, members, access.org_scope(), AS_OF)
    found += [by_owner[person_id].value for person_id in sorted(by_owner)]
    places = 2 if kpi.format == "currency" else 6
    return [None if value is None else round(value, places) for value in found]


def test_every_additive_kpi_has_the_same_value_with_and_without_rollups_for_every_period_and_scope(
    world, engine, ny_config, monkeypatch
):
    company(world)
    bot = Kpibot(engine, ny_config)
    rollups.rebuild(engine, bot.catalog, bot.calendar)
    kpis = additive(bot)
    cases = [(kpi, case["period"], name) for kpi in kpis for case in CASES for name in scopes(bot)]
    cases = [(kpi, text, name) for kpi, text, name in cases if _measured(bot, kpi, text)]

    with_rollups = {(kpi.key, text, name): values(bot, kpi, text, scopes(bot)[name]) for kpi, text, name in cases}
    monkeypatch.setenv("KPIBOT_ROLLUPS", "0")
    without = {(kpi.key, text, name): values(bot, kpi, text, scopes(bot)[name]) for kpi, text, name in cases}

    assert {"revenue", "win-rate", "avg-deal-size", "calls", "proposals", "cac"} <= {kpi.key for kpi in kpis}
    assert len(cases) >= 300
    assert with_rollups == without


def _measured(bot: Kpibot, kpi: Kpi, text: str) -> bool:
    """A period ahead is asked of a KPI's reading ahead, and a period not ahead of the KPI itself."""
    return parse_period(text, bot.calendar, AS_OF).ahead == any(kpi is k.ahead for k in bot.catalog)
