"""The records behind a number (issue 15): for every KPI counted from records, the records listed add up to the
number shown (a count, a sum, or both sides of a ratio), on a small world, on the demo company and on the Maven
import; pages follow one another by keyset; a record list is for those who may see every record in it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

import demo
from crm.csv_source import csv_connector
from crm.sync import run_sync
from kpi.access import AccessDenied, records_scope
from kpi.config import load_people
from kpi.directory import Person
from kpi.grammar.queries import Against, RecordsQuery, ValueQuery
from kpi.records import NoRecords, sides
from kpi.schema import Deal, DealStage, RecordLink, Rep
from kpi.service import Kpibot
from kpi.types import ME, MY_TEAM, WHOLE_ORG, Kpi, ScopeRef
from tests.conftest import cli_env, run_kpibot
from tests.world import World

AS_OF = dt.date(2017, 6, 15)
ROOT = Path(__file__).parents[1]
MAVEN = ROOT.parent / "shared" / "datasets" / "maven-crm"
MAVEN_CONFIG = ROOT / "config" / "examples" / "maven-crm"


def build(session: Session) -> None:
    """West (managed by Morgan; Alice, Bob, and Wendy in West Enterprise) and East (Erin). In May 2017 Alice won
    Acme Renewal 5,000, Globex 3,000 and Initech 3,000, lost Hooli; Bob won 2,000; Erin won 7,000. Alice has an
    open deal of 9,000 closing in June, two calls in May and a quote."""
    world = World(session)
    world.two_teams()
    people = {rep.name.split()[0]: rep for rep in session.scalars(select(Rep))}
    alice, bob, erin = people["Alice"], people["Bob"], people["Erin"]
    acme = world.account("Acme Corp", alice)
    for name, amount, status, closed in [
        ("Acme Renewal", 5000, "won", "2017-05-10"),
        ("Globex", 3000, "won", "2017-05-20"),
        ("Initech", 3000, "won", "2017-05-03"),
        ("Hooli", 4000, "lost", "2017-05-15"),
    ]:
        deal = world.deal(alice, amount, status, closed=closed, account=acme if name.startswith("Acme") else None)
        deal.name = name
    open_deal = world.deal(alice, 9000, closed="2017-06-28", account=acme)
    open_deal.name = "Acme Expansion"
    world.deal(bob, 2000, "won", closed="2017-05-12").name = "Bob's deal"
    world.deal(erin, 7000, "won", closed="2017-05-30").name = "Erin's deal"
    world.activity(alice, "call", "2017-05-02 10:00")
    world.activity(alice, "call", "2017-05-09 16:00")
    world.quote(alice, "2017-05-05")
    world.commit()


@pytest.fixture
def bot(session, us_config) -> Kpibot:
    build(session)
    return Kpibot(session.get_bind(), us_config)


def ask(bot: Kpibot, key: str, scope=ME, period: str = "last month") -> ValueQuery:
    return ValueQuery(bot.catalog[key], period, scope)


def rows(listed) -> list[tuple]:
    return [(r["name"], r["owner"], r["amount"], r["date"][:10]) for r in listed["rows"]]


def test_my_revenue_last_month_lists_my_won_deals_biggest_first_and_adds_up(bot):
    alice = bot.person("alice@example.com")

    listed = bot.records(ask(bot, "revenue"), alice, AS_OF).to_json()

    assert (listed["kind"], listed["model"], listed["total"]) == ("records", "deals", 3)
    assert rows(listed) == [  # Initech and Globex are as big: the later record first
        ("Acme Renewal", "Alice Adams", 5000, "2017-05-10"),
        ("Initech", "Alice Adams", 3000, "2017-05-03"),
        ("Globex", "Alice Adams", 3000, "2017-05-20"),
    ]
    assert listed["sides"][0]["sum"] == 11000 == bot.ask("my revenue last month", alice, AS_OF).to_json()["value"]


def test_a_win_rate_lists_both_sides_won_and_closed(bot):
    alice = bot.person("alice@example.com")

    listed = bot.records(ask(bot, "win-rate"), alice, AS_OF).to_json()

    assert [(side["label"], side["total"]) for side in listed["sides"]] == [("won", 3), ("closed", 4)]
    assert [r["name"] for r in listed["sides"][1]["rows"]] == ["Acme Renewal", "Hooli", "Initech", "Globex"]


def test_a_growth_lists_each_period(bot):
    alice = bot.person("alice@example.com")

    listed = bot.records(ask(bot, "sales-growth"), alice, AS_OF).to_json()

    assert [(side["label"], side["total"], side["sum"]) for side in listed["sides"]] == [
        ("sales growth", 3, 11000),
        ("sales growth (previous period)", 0, 0),
    ]


def test_a_comparison_with_another_period_lists_each_period(bot):
    alice = bot.person("alice@example.com")
    query = ValueQuery(bot.catalog["deals-won"], "last month", ME, Against("period", "april 2017"))

    listed = bot.records(query, alice, AS_OF).to_json()

    assert [(side["label"], side["total"]) for side in listed["sides"]] == [
        ("deals won", 3),
        ("deals won, April 2017", 0),
    ]


def test_calls_are_listed_latest_first_with_their_type(bot):
    alice = bot.person("alice@example.com")

    listed = bot.records(ask(bot, "calls"), alice, AS_OF).to_json()

    assert [(r["type"], r["date"]) for r in listed["rows"]] == [
        ("call", "2017-05-09T16:00:00"),
        ("call", "2017-05-02T10:00:00"),
    ]


def test_a_kpi_not_counted_from_records_says_so(bot):
    with pytest.raises(NoRecords, match="Rep retention is not counted from CRM records"):
        sides(bot.catalog["rep-retention"])


def test_pages_follow_one_another_without_a_gap_or_a_repeat(bot):
    admin = bot.person("admin@example.com")
    query = ValueQuery(bot.catalog["revenue"], "last month", WHOLE_ORG)
    everything = bot.records(query, admin, AS_OF, limit=100).pages[0]
    seen, after = [], None
    while True:
        shown = bot.records(query, admin, AS_OF, limit=2, after=after).pages[0]
        seen += [record.name for record in shown.records]
        after = shown.after
        if after is None:
            break

    assert (
        seen
        == [record.name for record in everything.records]
        == [
            "Erin's deal",
            "Acme Renewal",
            "Initech",
            "Globex",
            "Bob's deal",
        ]
    )


def test_a_rep_opens_their_own_records_but_not_another_reps_nor_their_teams(bot):
    alice = bot.person("alice@example.com")
    bob = bot.person("Bob Brown")

    with pytest.raises(AccessDenied, match="not another rep's numbers"):
        bot.records(ask(bot, "revenue", ScopeRef("person", bob.id, bob.name)), alice, AS_OF)
    with pytest.raises(AccessDenied, match="The records of West are its reps' records"):
        bot.records(ask(bot, "revenue", MY_TEAM), alice, AS_OF)


def test_a_manager_opens_their_reps_and_teams_records_and_an_admin_anyones(bot):
    manager = bot.person("manager@example.com")
    admin = bot.person("admin@example.com")
    alice = bot.person("alice@example.com")
    erin = bot.person("Erin Evans")

    assert (
        bot.records(ask(bot, "revenue", ScopeRef("person", alice.id, "Alice")), manager, AS_OF).to_json()["total"] == 3
    )
    assert bot.records(ask(bot, "revenue", MY_TEAM), manager, AS_OF).to_json()["total"] == 4
    with pytest.raises(AccessDenied, match="Erin Evans is not in a team you manage"):
        bot.records(ask(bot, "revenue", ScopeRef("person", erin.id, erin.name)), manager, AS_OF)
    assert bot.records(ask(bot, "revenue", WHOLE_ORG), admin, AS_OF).to_json()["total"] == 5


def test_deal_lists_open_closing_stuck_over_and_of_an_account(bot):
    alice = bot.person("alice@example.com")

    def names(**asked) -> list[str]:
        return [r["name"] for r in bot.run(RecordsQuery(**asked), alice, AS_OF).to_json()["rows"]]

    assert names(where={"open": True, "closes_in_period": True}, period="this month") == ["Acme Expansion"]
    assert names(where={"status": "won"}, time="close_date", period="last month") == [
        "Acme Renewal",
        "Initech",
        "Globex",
    ]
    assert names(where={"open": True, "amount": {">": 5000}}) == ["Acme Expansion"]
    assert names(account="acme") == ["Acme Expansion", "Acme Renewal"]
    assert names(where={"open": True}, stuck_days=30) == []  # no stage history yet: never stuck


def test_deals_stuck_in_their_stage_longer_than_asked_and_their_days_in_stage(bot, session):
    expansion = session.scalars(select(Deal).where(Deal.name == "Acme Expansion")).one()
    session.add(DealStage(deal_id=expansion.id, stage="Proposal", entered_at=dt.datetime(2017, 5, 1), origin="crm"))
    session.commit()
    alice = bot.person("alice@example.com")

    stuck = bot.ask("my deals stuck in stage for more than 30 days", alice, AS_OF).to_json()
    recent = bot.ask("my deals stuck for more than 50 days", alice, AS_OF).to_json()

    assert [(r["name"], r["days_in_stage"]) for r in stuck["rows"]] == [("Acme Expansion", 46.0)]  # 1 May to 16 June
    assert recent["rows"] == []


def test_a_record_opens_in_its_crm_by_the_sources_template(bot, session):
    session.add(
        RecordLink(
            source="local",
            object="deals",
            template="https://crm.example.com/deals/{id}",
            learned_at=dt.datetime(2017, 6, 1),
        )
    )
    session.commit()
    alice = bot.person("alice@example.com")

    listed = bot.ask("show me Acme's deals", alice, AS_OF).to_json()

    assert [(r["name"], r["url"]) for r in listed["rows"]] == [
        ("Acme Expansion", f"https://crm.example.com/deals/{listed['rows'][0]['id']}"),
        ("Acme Renewal", f"https://crm.example.com/deals/{listed['rows'][1]['id']}"),
    ]
    assert listed["rows"][0]["id"].startswith("t")  # the id in the CRM (crm_id), not kpibot's


def test_kpibot_ask_records_prints_a_table_and_writes_csv(bot, session, us_config, tmp_path):
    session.get(Deal, session.scalars(select(Deal.id).where(Deal.name == "Globex")).one()).name = "=HYPERLINK(1)"
    session.commit()
    env = cli_env(session.get_bind(), us_config)
    asked = ["ask", "my revenue last month", "--as", "alice@example.com", "--as-of", "2017-06-15", "--records"]

    printed = run_kpibot(*asked, "--limit", "2", env=env)
    written = run_kpibot(*asked, "--csv", str(tmp_path / "won.csv"), env=env)

    assert printed.returncode == 0, printed.stderr
    assert "revenue: 2 of 3, $11,000.00" in printed.stdout and "Acme Renewal" in printed.stdout
    assert "=HYPERLINK" not in printed.stdout  # the third record is on the next page
    assert written.stdout.strip() == f"Wrote 3 records to {tmp_path / 'won.csv'}."
    lines = (tmp_path / "won.csv").read_text().splitlines()
    assert lines[0] == "side,id,name,owner,amount,type,date,days_in_stage,url"
    assert [line.split(",")[2] for line in lines[1:]] == ["Acme Renewal", "Initech", "'=HYPERLINK(1)"]


# --- The drill specification: every KPI counted from records, its records add up to its number ---------------


def same(listed: Decimal, measured: Decimal) -> bool:
    """Equal to the cent the number is shown in: a sum comes back in its column's type (money, to the cent:
    an ACV of 1,726,733.4733... reads 1,726,733.47), and SQLite adds as floating point (2187479.58 may come
    back as 2187479.5800000001)."""
    return abs(listed - measured) <= Decimal("0.005")


def adds_up(bot: Kpibot, kpi: Kpi, asker: Person, scope: ScopeRef, period: str, as_of: dt.date) -> list[str]:
    """Each side of ``kpi`` listed in full, against the measure it lists as the number's own query totals it;
    returns the sides checked."""
    query = ValueQuery(kpi, period, scope)
    listed = bot.records(query, asker, as_of, limit=1_000_000)
    shown = bot.period(period, as_of)
    measured = bot.measured_over(kpi, shown)
    resolved = records_scope(bot.directory, asker, scope)
    totals: dict[str, Decimal] = dict.fromkeys(measured.measures, Decimal(0))
    for _owner, _team, (found,) in bot.metrics.totals_by_owner(measured, [shown], resolved, as_of):
        totals = {name: totals[name] + value for name, value in found.items()}
    for page in listed.pages[: len(sides(measured))]:
        counted = sum((record.value for record in page.records), Decimal(0))
        assert len(page.records) == page.count, kpi.key
        assert same(counted, page.total) and same(counted, totals[page.side.key]), f"{kpi.key}: {page.side.label}"
    return [page.side.key for page in listed.pages]


def record_kpis(bot: Kpibot) -> list[Kpi]:
    found = []
    for kpi in bot.catalog:
        try:
            sides(kpi)
        except NoRecords:
            continue
        found.append(kpi)
    return found


def test_every_kpi_counted_from_records_adds_up_on_the_small_world(bot):
    admin, alice = bot.person("admin@example.com"), bot.person("alice@example.com")

    for kpi in record_kpis(bot):
        assert adds_up(bot, kpi, admin, WHOLE_ORG, "last month", AS_OF)
        assert adds_up(bot, kpi, alice, ME, "this quarter", AS_OF)


def test_every_kpi_counted_from_records_adds_up_on_the_demo_company(engine, us_config):
    as_of = dt.date(2026, 11, 16)
    demo.generate(engine, seed=11, reps=12, months=6, as_of=as_of)
    bot = Kpibot(engine, us_config)
    admin = next(p for p in bot.directory.people.values() if p.role == "admin")
    manager = next(p for p in bot.directory.people.values() if bot.directory.managed_teams(p))

    checked = 0
    for kpi in record_kpis(bot):
        for asker, scope in ((admin, WHOLE_ORG), (manager, MY_TEAM)):
            for period in ("last month", "this quarter"):
                checked += len(adds_up(bot, kpi, asker, scope, period, as_of))
    assert checked > 100


@pytest.mark.skipif(not MAVEN.is_dir(), reason=f"the Maven sample is not at {MAVEN}")
def test_every_kpi_counted_from_records_adds_up_on_the_maven_import(engine):
    run_sync(engine, csv_connector(MAVEN, MAVEN_CONFIG), full=True, people=load_people(MAVEN_CONFIG))
    bot = Kpibot(engine, MAVEN_CONFIG)
    as_of = dt.date(2018, 1, 15)
    admin = next(p for p in bot.directory.people.values() if p.role == "admin")
    darcel = bot.person("Darcel Schlecht")

    for kpi in record_kpis(bot):
        assert adds_up(bot, kpi, admin, WHOLE_ORG, "2017-Q2", as_of)
        assert adds_up(bot, kpi, darcel, ME, "2017", as_of)
