"""Monthly rollups per owner (kpi/rollups.py, the compiler's source choice in kpi/compiler.py): a period's whole
months read from the rollups and its edge months from the rows give every additive KPI the value the rows alone
give, for every period and scope; a sync keeps them right; a changed definition or time zone reads the rows.

The world: an org in New York time (a local month starts at 04:00 or 05:00 UTC), West (Alice, Bob; Morgan
manages it) and East (Erin), three years of deals, activities, quotes and spend drawn from a seeded generator,
with deals closing in the last hour of a local month (the first hours of the next UTC month). Asked on 2017-07-10.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
import re
import zoneinfo
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from sqlalchemy import Engine, Select, event, select

from kpi import access, compiler, generation, rollups, semantic
from kpi.compiler import compile_query
from kpi.generation import Generation
from kpi.grammar.periods import parse_period
from kpi.measures import digest, flows, rolls_up
from kpi.periods import Calendar, Period
from kpi.schema import Rep, Rollup, RollupDay, RollupOwner
from kpi.service import Kpibot
from kpi.types import Kpi, Scope
from tests.test_sync_runner import sync_records
from tests.test_sync_runner import won_deal as deal
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
            probability=rng.choice([None, 0.1, 0.5, 0.9]),
            deleted=rng.random() < 0.05,
        )
    # what a real export holds, for the pipeline (a stock): no creation time, a close date before the creation
    # (backdated), a closed deal with no close date, an open deal with no amount
    world.deal(reps[0], 700, "open", closed=None, created=None, probability=0.5)
    world.deal(reps[1], 800, "won", closed="2017-02-01 12:00", created=None)
    world.deal(reps[1], 900, "won", closed="2017-02-05 12:00", created="2017-02-25 12:00")  # periods end in between
    world.deal(reps[2], 1000, "lost", closed=None, created="2016-06-01 12:00")
    world.deal(reps[2], None, "open", closed="2017-09-01 12:00", created="2017-05-01 12:00")
    for _ in range(300):
        world.activity(rng.choice(reps), rng.choice(["call", "meeting", "demo", "email"]), moment(rng), moment(rng))
    for _ in range(100):
        world.quote(rng.choice(reps), moment(rng), round(rng.uniform(100, 900), 2))
    for month in range(1, 25):
        start = dt.date(2016, 1, 1) + dt.timedelta(days=31 * (month - 1))
        world.spend(
            round(rng.uniform(500, 900), 2), start.isoformat(), (start + dt.timedelta(days=30)).isoformat(), west
        )
        world.spend(round(rng.uniform(100, 400), 2), start.isoformat(), (start + dt.timedelta(days=30)).isoformat())
    world.commit()


def built_bot(engine: Engine, config: Path) -> Kpibot:
    """A bot on the database once its rollups are built (a bot reads which are when it starts)."""
    bot = Kpibot(engine, config)
    rollups.rebuild(engine, bot.catalog, bot.calendar)
    return Kpibot(engine, config)


def additive(bot: Kpibot) -> list[Kpi]:
    """Every KPI (and its reading of a period ahead) with a measure the rollups hold, a stock's flows included."""
    kpis = [variant for kpi in bot.catalog for variant in (kpi, kpi.ahead) if variant is not None]
    return [kpi for kpi in kpis if any(rolls_up(m) or flows(m) for m in kpi.measures.values())]


def scopes(bot: Kpibot) -> dict[str, Scope]:
    west = next(team for team in bot.directory.teams.values() if team.name == "West")
    return {
        "rep": access.rep_scope(bot.person("Alice Adams")),
        "team": access.team_scope(bot.directory, [west]),
        "org": access.org_scope(),
    }


def values(bot: Kpibot, kpi: Kpi, period_text: str, scope: Scope) -> list[Decimal | None]:
    """The KPI's value for the scope, then each rep's of the organisation's leaderboard: money to the cent, other
    values to a millionth."""
    period = parse_period(period_text, bot.calendar, AS_OF)
    found = [bot.metrics.result(kpi, period, scope, AS_OF).value]
    members = {person.id: access.rep_scope(person) for person in bot.directory.people.values()}
    by_owner = bot.metrics.results_by_owner(kpi, period, members, access.org_scope(), AS_OF).values()
    found += [by_owner[person_id] for person_id in sorted(by_owner)]
    places = 2 if kpi.format == "currency" else 6
    return [None if value is None else round(value, places) for value in found]


def same(one: list[Decimal | None], other: list[Decimal | None], engine: Engine) -> bool:
    """Equal values; on SQLite, money within a cent. (SQLite adds money as floating point, in another order from
    the rollups, and a month less the rows dated after today is not the sum of the rows before it to the last bit:
    a value of exactly half a cent, a revenue per rep, rounds either way there. PostgreSQL's numeric sums are
    exact.)"""
    if engine.dialect.name != "sqlite":
        return one == other
    if len(one) != len(other):
        return False
    pairs = zip(one, other, strict=True)
    return all(a == b or (a is not None and b is not None and abs(a - b) <= Decimal("0.01")) for a, b in pairs)


def test_every_additive_kpi_has_the_same_value_with_and_without_rollups_for_every_period_and_scope(
    world, engine, ny_config, monkeypatch
):
    # West's reps read a stock at a past end from their months, as a region's 500 do; Alice alone, her deals
    monkeypatch.setattr(compiler, "MANY_OWNERS", 2)
    company(world)
    bot = built_bot(engine, ny_config)
    kpis = additive(bot)
    cases = [(kpi, case["period"], name) for kpi in kpis for case in CASES for name in scopes(bot)]
    cases = [(kpi, text, name) for kpi, text, name in cases if _measured(bot, kpi, text)]

    with_rollups = {(kpi.key, text, name): values(bot, kpi, text, scopes(bot)[name]) for kpi, text, name in cases}
    monkeypatch.setenv("KPIBOT_ROLLUPS", "0")
    without = {(kpi.key, text, name): values(bot, kpi, text, scopes(bot)[name]) for kpi, text, name in cases}

    assert {"revenue", "win-rate", "avg-deal-size", "calls", "proposals", "cac", "pipeline", "weighted-pipeline"} <= {
        kpi.key for kpi in kpis
    }
    assert len(cases) >= 300
    assert {
        key: (found, without[key]) for key, found in with_rollups.items() if not same(found, without[key], engine)
    } == {}


def _measured(bot: Kpibot, kpi: Kpi, text: str) -> bool:
    """A period ahead is asked of a KPI's reading ahead, and a period not ahead of the KPI itself."""
    return parse_period(text, bot.calendar, AS_OF).ahead == any(kpi is k.ahead for k in bot.catalog)


def test_a_sync_that_changes_amount_close_month_owner_and_deletes_a_deal_leaves_the_rollups_equal_to_the_rows(
    engine, ny_config, monkeypatch
):
    reps = [
        {"crm_id": "alice", "name": "Alice Adams", "role": "rep", "email": "alice@example.com"},
        {"crm_id": "bob", "name": "Bob Brown", "role": "rep", "email": "bob@example.com"},
    ]
    deals = [
        deal("d1", "alice", 1000, "2017-02-10 12:00"),
        deal("d2", "alice", 2000, "2017-03-10 12:00"),
        deal("d3", "bob", 3000, "2017-04-10 12:00"),
        deal("d4", "bob", 4000, "2017-05-10 12:00"),
        {**deal("d6", "bob", 600, "2017-08-01 12:00"), "status": "open", "stage": "Proposal"},
        {**deal("d7", "alice", 800, "2017-09-01 12:00"), "status": "open", "stage": "Proposal"},
        {**deal("d8", "bob", 400, "2017-09-01 12:00"), "status": "open", "stage": "Proposal"},
    ]
    sync_records(engine, NOW, reps=reps, deals=deals)
    bot = built_bot(engine, ny_config)

    sync_records(
        engine,
        NOW,
        deals=[
            deal("d1", "alice", 1500, "2017-02-10 12:00"),  # a new amount
            deal("d2", "alice", 2000, "2017-06-01 03:00"),  # to May 31st, New York time: March is left
            deal("d3", "alice", 3000, "2017-04-10 12:00"),  # to another owner
            deal("d5", "bob", 500, "2017-06-15 12:00"),  # a new deal
            deal("d6", "bob", 600, "2017-05-20 12:00"),  # won: it leaves the pipeline
            {**deal("d7", "bob", 800, "2017-09-01 12:00"), "status": "open", "stage": "Proposal"},  # to another owner
        ],
        gone=["d4", "d8"],
    )
    asked = {name: values(bot, bot.catalog["revenue"], "2017-H1", scope) for name, scope in scopes_of(bot).items()}
    pipeline = values(bot, bot.catalog["pipeline"], "2017-Q1", access.org_scope())  # open on April 1st
    now = values(bot, bot.catalog["pipeline"], "this quarter", access.org_scope())  # each rep's from their totals
    monkeypatch.setenv("KPIBOT_ROLLUPS", "0")
    rows = {name: values(bot, bot.catalog["revenue"], "2017-H1", scope) for name, scope in scopes_of(bot).items()}

    assert asked == rows
    assert now == values(bot, bot.catalog["pipeline"], "this quarter", access.org_scope())
    assert now == [Decimal("800.00"), Decimal("0.00"), Decimal("800.00")]  # d7, now Bob's; d6 won, d8 deleted
    assert asked["org"] == [Decimal("7600.00"), Decimal("6500.00"), Decimal("1100.00")]  # org, then Alice and Bob
    # d2, d3 and d5 closed after April 1st, d6 too now, and d7 is open; the organisation's from its days, each
    # rep's from their totals less their months since April (an end at a month's start)
    assert pipeline == [Decimal("6900.00"), Decimal("5000.00"), Decimal("1900.00")]
    assert partials(engine, bot, "revenue") == {
        ("alice", dt.date(2017, 2, 1)): Decimal("1500"),
        ("alice", dt.date(2017, 4, 1)): Decimal("3000"),
        ("alice", dt.date(2017, 5, 1)): Decimal("2000"),
        ("bob", dt.date(2017, 5, 1)): Decimal("600"),
        ("bob", dt.date(2017, 6, 1)): Decimal("500"),
    }
    # the organisation's days: March 10th and May 10th are left with nothing, so they have no row
    assert days(engine, bot, "revenue") == {
        dt.date(2017, 2, 10): (Decimal("1500"), 1),
        dt.date(2017, 4, 10): (Decimal("3000"), 1),
        dt.date(2017, 5, 20): (Decimal("600"), 1),
        dt.date(2017, 5, 31): (Decimal("2000"), 1),
        dt.date(2017, 6, 15): (Decimal("500"), 1),
    }


def test_a_sync_keeps_each_owners_totals_of_the_pipelines_flows_the_deals_of_no_owner_apart(engine, ny_config):
    def open_deal(crm_id: str, owner: str | None, amount: int) -> dict:
        return {**deal(crm_id, owner, amount, "2017-09-01 12:00"), "status": "open", "stage": "Proposal"}

    reps = [{"crm_id": "alice", "name": "Alice Adams", "role": "rep", "email": "alice@example.com"}]
    sync_records(engine, NOW, reps=reps, deals=[open_deal("d1", "alice", 1000), open_deal("d2", None, 700)])
    bot = built_bot(engine, ny_config)
    (pipeline,) = bot.catalog["pipeline"].measures.values()
    entered, left = (digest(flow) for flow in flows(pipeline))

    sync_records(
        engine,
        NOW,
        deals=[
            open_deal("d1", "alice", 1200),  # a new amount
            open_deal("d2", None, 900),  # a new amount, still no one's
            deal("d3", None, 300, "2017-05-10 12:00"),  # won, no one's: it entered and left
            open_deal("d4", None, 50),
        ],
    )
    o = RollupOwner.__table__
    with engine.connect() as connection:
        query = select(o.c.measure, Rep.crm_id, o.c.value, o.c.rows).outerjoin(Rep, Rep.id == o.c.owner_id)
        rows = connection.execute(query.where(o.c.measure.in_([entered, left])))
        totals = {(measure, owner): (Decimal(value), count) for measure, owner, value, count in rows}

    assert totals == {
        (entered, "alice"): (Decimal("1200"), 1),
        (entered, None): (Decimal("1250"), 3),
        (left, None): (Decimal("300"), 1),
    }


def test_a_sync_page_that_touches_more_owner_months_than_one_sqlite_union_may_hold_refreshes_every_one(
    engine, ny_config
):
    reps = [{"crm_id": f"r{i}", "name": f"Rep {i:02d}", "role": "rep", "email": f"r{i}@example.com"} for i in range(90)]
    closed = [f"2017-{month:02d}-10 12:00" for month in range(1, 7)]

    def won(amount: int) -> list[dict]:  # 540 owner-months; fresh records each time (a sync edits them)
        return [deal(f"d{i}-{day}", f"r{i}", amount, day) for i in range(90) for day in closed]

    sync_records(engine, NOW, reps=reps, deals=won(100))
    bot = built_bot(engine, ny_config)

    sync_records(engine, NOW, deals=won(150))  # one page

    assert set(partials(engine, bot, "revenue").values()) == {Decimal(150)}
    assert len(partials(engine, bot, "revenue")) == 540


def test_a_sync_that_changes_only_amounts_rewrites_no_partial_of_a_measure_that_does_not_read_them(engine, ny_config):
    reps = [{"crm_id": "alice", "name": "Alice Adams", "role": "rep", "email": "alice@example.com"}]
    sync_records(engine, NOW, reps=reps, deals=[deal("d1", "alice", 1000, "2017-02-10 12:00")])
    bot = built_bot(engine, ny_config)
    (created,) = [m for m in bot.catalog["pipeline-conversion"].measures.values() if rolls_up(m)]  # deals created
    (revenue,) = bot.catalog["revenue"].measures.values()
    (won,) = bot.catalog["deals-won"].measures.values()  # over the close date, as revenue, but a count

    def ids(measure) -> set[int]:
        with engine.connect() as connection:
            return set(connection.execute(select(Rollup.id).where(Rollup.measure == digest(measure))).scalars())

    before = (ids(created), ids(revenue), ids(won))
    sync_records(engine, NOW, deals=[deal("d1", "alice", 1500, "2017-02-10 12:00")])

    assert ids(created) == before[0] and len(before[0]) == 1  # January's deal created, as it was
    assert ids(won) == before[2] and len(before[2]) == 1  # February's deal won, as it was
    assert ids(revenue) != before[1] and len(ids(revenue)) == 1  # February's revenue, written again


def days(engine: Engine, bot: Kpibot, key: str) -> dict[dt.date, tuple[Decimal, int]]:
    """The organisation's days of the KPI's one measure: ``{day: (value, rows)}``."""
    (measure,) = bot.catalog[key].measures.values()
    query = select(RollupDay.day, RollupDay.value, RollupDay.rows).where(RollupDay.measure == digest(measure))
    with engine.connect() as connection:
        return {day: (Decimal(value).normalize(), rows) for day, value, rows in connection.execute(query)}


def scopes_of(bot: Kpibot) -> dict[str, Scope]:
    return {"rep": access.rep_scope(bot.person("Alice Adams")), "org": access.org_scope()}


def partials(engine: Engine, bot: Kpibot, key: str) -> dict[tuple[str, dt.date], Decimal]:
    """The rollups of the KPI's one measure: ``{(owner's crm id, month): value}``."""
    (measure,) = bot.catalog[key].measures.values()
    query = (
        select(Rep.crm_id, Rollup.month, Rollup.value)
        .join(Rep, Rep.id == Rollup.owner_id)
        .where(Rollup.measure == digest(measure))
    )
    with engine.connect() as connection:
        return {(crm_id, month): Decimal(value).normalize() for crm_id, month, value in connection.execute(query)}


def test_an_organisation_answer_reads_every_day_of_its_period_from_the_organisations_days_and_no_row(
    world, engine, ny_config
):
    company(world)
    bot = built_bot(engine, ny_config)
    period = parse_period("this year", bot.calendar, AS_OF)  # January 1st to the end of the as-of day
    windows = [bot.metrics.windows(bot.catalog["revenue"], period, AS_OF)]
    built = rollups.Held(engine).built()

    statement = compile_query(bot.catalog["revenue"], windows, access.org_scope().filter, by_owner=False, built=built)
    bounds = statement.compile().params

    assert "FROM rollup_days" in str(statement) and "FROM deals" not in str(statement)
    assert {v for v in bounds.values() if isinstance(v, dt.date)} == {dt.date(2017, 1, 1), dt.date(2017, 7, 11)}


def test_a_team_answer_to_date_reads_its_months_from_the_rollups_less_the_deals_dated_after_today(
    world, engine, ny_config
):
    company(world)
    bot = built_bot(engine, ny_config)
    period = parse_period("since 2017-03-15", bot.calendar, AS_OF)  # half of March, April to June whole, July to date
    windows = [bot.metrics.windows(bot.catalog["revenue"], period, AS_OF)]
    built = rollups.Held(engine).built()
    west = scopes(bot)["team"].filter

    statement = compile_query(bot.catalog["revenue"], windows, west, by_owner=False, built=built)
    bounds = statement.compile().params

    assert "FROM rollups" in str(statement) and "FROM deals" in str(statement)
    # the deals of March 15th to 31st, New York time, and those after the as-of day in July (taken away); the
    # rollups April to July
    assert {v for v in bounds.values() if isinstance(v, dt.datetime)} == {
        dt.datetime(2017, 3, 15, 4, 0),
        dt.datetime(2017, 4, 1, 4, 0),
        dt.datetime(2017, 7, 11, 4, 0),
        dt.datetime(2017, 8, 1, 4, 0),
    }
    assert [v for v in bounds.values() if isinstance(v, list) and type(v[0]) is dt.date] == [
        [dt.date(2017, month, 1) for month in range(4, 8)]  # the months read from the rollups, as a list
    ]


def every_reps_pipeline(engine: Engine, config: Path, period_text: str) -> tuple[Select, dict[int, Decimal]]:
    """The statement of every rep's pipeline at the end of the period, once the rollups are built, and what it
    finds: ``{rep id: pipeline}``."""
    bot = built_bot(engine, config)
    period = parse_period(period_text, bot.calendar, AS_OF)
    windows = [bot.metrics.windows(bot.catalog["pipeline"], period, AS_OF)]
    built = rollups.Held(engine).built()
    statement = compile_query(bot.catalog["pipeline"], windows, access.org_scope().filter, built=built)
    with engine.connect() as connection:
        return statement, {owner: value for owner, _, value in connection.execute(statement)}


def test_every_reps_pipeline_to_date_is_what_entered_less_what_left_less_the_deals_dated_after_today(
    world, engine, ny_config
):
    west = world.team("West")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=west)
    world.deal(alice, 1000, "open", closed="2017-08-01", created="2017-05-01")
    world.deal(alice, 2000, "won", closed="2017-06-01", created="2017-03-01")  # entered and left
    world.deal(alice, 500, "open", closed="2017-10-01", created="2017-08-01")  # entered after today: not yet open
    world.deal(alice, 300, "lost", closed="2017-09-01", created="2017-04-01")  # lost after today: open now
    world.deal(bob, 700, "open", closed=None, created=None)  # open since before any period
    world.commit()

    statement, found = every_reps_pipeline(engine, ny_config, "this quarter")  # to the end of July 10th, New York

    # Alice entered 3,800 and left 2,300; of it, 500 entered and 300 left after today
    assert found == {alice.id: Decimal("1300.00"), bob.id: Decimal("700.00")}
    assert "FROM rollup_owners" in str(statement)
    assert str(statement).count("FROM deals") == 2  # each range of the deals read once, for what entered and left
    # the deals read are those created, won or lost from the end of July 10th on, not the open ones (and the
    # instant long ago that a deal with no creation time entered at)
    assert {v for v in statement.compile().params.values() if isinstance(v, dt.datetime)} == {
        dt.datetime(2017, 7, 11, 4, 0),
        semantic.LONG_AGO,
    }


def test_every_reps_pipeline_at_a_months_start_is_what_entered_less_what_left_less_their_months_since(
    world, engine, ny_config
):
    west = world.team("West")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=west)
    world.deal(alice, 1000, "open", closed="2017-08-01", created="2017-05-01")
    world.deal(alice, 2000, "won", closed="2017-06-01", created="2017-03-01")  # left in June
    world.deal(alice, 500, "open", closed="2017-10-01", created="2017-08-01")  # entered in August
    world.deal(alice, 300, "lost", closed="2017-09-01", created="2017-04-01")  # left in September
    world.deal(alice, 400, "won", closed="2017-07-05 12:00", created="2017-05-15")  # left in July
    world.deal(alice, 250, "open", closed="2017-09-01", created="2017-07-03 12:00")  # entered in July
    world.deal(bob, 700, "open", closed=None, created=None)  # open since before any period
    world.commit()

    statement, found = every_reps_pipeline(engine, ny_config, "2017-Q2")  # open at the start of July 1st, New York

    # Alice entered 4,450 and left 2,700; from July on, 750 entered and 700 left
    assert found == {alice.id: Decimal("1700.00"), bob.id: Decimal("700.00")}
    assert "FROM rollup_owners" in str(statement) and "FROM rollups" in str(statement)
    assert "FROM deals" not in str(statement)


def test_many_owners_pipeline_at_a_past_weeks_end_is_their_totals_less_their_months_since_and_the_deals_at_the_edges(
    world, engine, ny_config, monkeypatch
):
    west = world.team("West")
    alice, bob = world.rep("Alice Adams", team=west), world.rep("Bob Brown", team=west)
    world.deal(alice, 1000, "open", closed="2017-08-01", created="2017-05-01")  # open throughout
    world.deal(alice, 2000, "won", closed="2017-06-01", created="2017-03-01")  # left before the week's end
    world.deal(alice, 500, "open", closed="2017-10-01", created="2017-06-25")  # entered between the end and July
    world.deal(alice, 300, "lost", closed="2017-06-20", created="2017-04-01")  # left between the end and July
    world.deal(alice, 400, "won", closed="2017-07-05 12:00", created="2017-05-15")  # left in July
    world.deal(alice, 250, "open", closed="2017-09-01", created="2017-07-03 12:00")  # entered in July
    world.deal(alice, 600, "lost", closed="2017-09-01", created="2017-06-01")  # left after this month
    world.deal(alice, 800, "open", closed="2017-12-01", created="2017-08-15")  # entered after this month
    world.deal(bob, 700, "open", closed=None, created=None)  # open since before any period
    world.commit()
    bot = built_bot(engine, ny_config)
    period = parse_period("2017-06-12 to 2017-06-18", bot.calendar, AS_OF)  # open at the start of June 19th
    windows = [bot.metrics.windows(bot.catalog["pipeline"], period, AS_OF)]
    team, built = scopes(bot)["team"], rollups.Held(engine).built()
    few = compile_query(bot.catalog["pipeline"], windows, team.filter, by_owner=False, built=built)
    monkeypatch.setattr(compiler, "MANY_OWNERS", 2)  # West's two reps, as if they were a region's 500

    statement = compile_query(bot.catalog["pipeline"], windows, team.filter, by_owner=False, built=built)
    value = Kpibot(engine, ny_config).metrics.result(bot.catalog["pipeline"], period, team, AS_OF).value

    # Alice: 1,000 open throughout, 300 lost on June 20th, 400 won in July and 600 lost in September; Bob: 700
    assert value == Decimal("3000.00")
    # a few owners read their deals open on June 19th (a few thousand rows are read sooner than this is planned)
    assert "FROM rollups" not in str(few) and "FROM deals" in str(few)
    # the deals created, won or lost from June 19th to July 1st and from August 1st on (New York time), and the
    # team's months of July from the rollups: not the deals open on June 19th
    bounds = statement.compile().params
    assert {v for v in bounds.values() if isinstance(v, dt.datetime)} == {
        dt.datetime(2017, 6, 19, 4, 0),
        dt.datetime(2017, 7, 1, 4, 0),
        dt.datetime(2017, 8, 1, 4, 0),
        semantic.LONG_AGO,
    }
    assert [v for v in bounds.values() if isinstance(v, list) and type(v[0]) is dt.date] == [[dt.date(2017, 7, 1)]] * 2
    assert "FROM rollup_owners" in str(statement) and "FROM rollups" in str(statement)


def test_a_changed_definition_or_time_zone_reads_the_rows(world, engine, ny_config):
    company(world)
    bot = built_bot(engine, ny_config)
    revenue = bot.catalog["revenue"]
    changed = dataclasses.replace(
        revenue, measures={"value": dataclasses.replace(revenue.measures["value"], where={"status": "lost"})}
    )
    period = parse_period("last year", bot.calendar, AS_OF)
    in_utc = parse_period("last year", Calendar(zoneinfo.ZoneInfo("UTC")), AS_OF)
    built = rollups.Held(engine).built()

    def reads(kpi: Kpi, asked: Period) -> str:
        windows = [bot.metrics.windows(kpi, asked, AS_OF)]
        return str(compile_query(kpi, windows, access.org_scope().filter, by_owner=False, built=built))

    assert "FROM rollup_days" in reads(revenue, period)
    assert "FROM rollup" not in reads(changed, period)  # neither the owners' months nor the organisation's days
    assert "FROM rollup" not in reads(revenue, in_utc)
    assert not rollups.stale(engine, bot.catalog, bot.calendar)
    assert rollups.stale(engine, bot.catalog, Calendar(zoneinfo.ZoneInfo("UTC")))


def test_a_rebuild_advances_the_data_generation_so_no_answer_cached_before_it_is_served(world, engine, ny_config):
    company(world)
    bot = Kpibot(engine, ny_config)
    before = generation.current(engine)

    rollups.rebuild(engine, bot.catalog, bot.calendar)

    assert generation.current(engine) == Generation(
        before.epoch,
        before.number + 1,
        directory=before.number + 1,
        unknown=before.number + 1,
        targets=before.number + 1,
    )


def test_a_running_bot_reads_what_a_rebuild_made_as_soon_as_it_sees_the_data_change(world, engine, ny_config):
    company(world)
    bot = Kpibot(engine, ny_config)  # started before the rollups were built: it reads rows
    held_at_start = bot.metrics.rollups.built()

    rollups.rebuild(engine, bot.catalog, bot.calendar)  # another process's `kpibot rollups rebuild`
    bot.refresh_directory()  # what a server does before each request

    assert held_at_start == frozenset()
    assert (digest(bot.catalog["revenue"].measures["value"]), "America/New_York") in bot.metrics.rollups.built()


def test_a_rebuild_reads_only_the_kinds_of_records_its_measures_count_in_a_form_an_index_can_range_over(
    world, engine, ny_config
):
    company(world)
    bot = Kpibot(engine, ny_config)
    filled: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        if "INSERT INTO rollups " in statement:
            filled.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", seen)
    try:
        rollups.rebuild(engine, bot.catalog, bot.calendar)
    finally:
        event.remove(engine, "before_cursor_execute", seen)

    def where(time: str) -> str:
        """The conditions of the one fill over ``time`` (its months are joined on it)."""
        (statement,) = [s for s in filled if f"{time} >= " in s.split(" WHERE ")[0]]
        return statement.split(" WHERE ")[1]

    def held_to(time: str) -> list[str]:
        """The columns held to a list of values beside the OR of the measures' filters."""
        return re.findall(r"\) AND (\w+\.\w+) IN \((?:[^()]|\([^()]*\))*\) GROUP BY", where(time))

    # calls, meetings, demos and emails over activities' occurred_at; won or lost deals over their close_date
    assert held_to("activities.occurred_at") == ["activities.type"]
    assert held_to("deals.close_date") == ["deals.status"]
    assert held_to("deals.created_at") == []  # deals created: every deal, whatever its status
