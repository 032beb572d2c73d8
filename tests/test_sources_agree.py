"""The same business gives the same KPI answers whether it came through CSV, HubSpot, Salesforce or Pipedrive.

One small business (tests/fakes/business.py) is loaded into each fake CRM, and written as CSV exports; each
source is synced into an emptied database in turn, and the same questions are asked as an admin. Every source
must give exactly the numbers the CSV import gives, and those are checked against the business itself.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from crm.csv_source import csv_connector
from crm.http import Throttle
from crm.interface import Connector
from crm.sync import run_sync
from kpi.config import load_people
from kpi.service import Kpibot
from tests.conftest import emptied
from tests.fakes import business as biz

ROOT = Path(__file__).parents[1]
AS_OF = dt.date(2026, 4, 15)
NOW = dt.datetime(2026, 4, 15, 12, 0)
ADMIN = "zoe@example.com"

#: Questions every source answers; leads only where the CRM has them (not Pipedrive: its Leads API is out of scope).
QUESTIONS = [
    "org revenue last quarter",
    "org deals won last quarter",
    "org win rate last quarter",
    "org average deal size last quarter",
    "org pipeline this quarter",
    "org calls last quarter",
    "org meetings last quarter",
]
LEAD_QUESTIONS = ["org new leads last quarter", "org lead conversion last quarter", "org referrals last quarter"]


@pytest.fixture(scope="module")
def business() -> biz.Business:
    return biz.sample()


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """The shipped config, with activities.csv's `completed` column as the time an activity took place, and the
    admin who asks."""
    folder = tmp_path / "config"
    folder.mkdir()
    mapping = yaml.safe_load((ROOT / "config" / "csv.yaml").read_text())
    for item in mapping["imports"]:
        if item["object"] == "activities":
            item["fields"]["occurred_at"] = "completed"
    (folder / "csv.yaml").write_text(yaml.safe_dump(mapping, allow_unicode=True))
    (folder / "org.yaml").write_text("timezone: UTC\n")
    people = {"people": [{"name": "Zoë Ångström", "email": ADMIN, "role": "admin"}]}
    (folder / "people.yaml").write_text(yaml.safe_dump(people, allow_unicode=True))
    return folder


def no_wait() -> Throttle:
    return Throttle(10**6, 1.0)


@contextmanager
def via_csv(business: biz.Business, tmp: Path, config: Path) -> Iterator[Connector]:
    yield csv_connector(biz.write_csv(business, tmp / "export"), config)


@contextmanager
def via_pipedrive(business: biz.Business, tmp: Path, config: Path) -> Iterator[Connector]:
    from crm.pipedrive import PipedriveConnector
    from tests.fakes.pipedrive import TOKEN, FakePipedrive

    with FakePipedrive() as fake:
        fake.load(business)
        yield PipedriveConnector(fake.url, TOKEN, throttle=no_wait(), sleep=lambda _: None)


@contextmanager
def via_hubspot(business: biz.Business, tmp: Path, config: Path) -> Iterator[Connector]:
    from crm.hubspot import HubSpotConnector
    from tests.fakes.hubspot import TOKEN, FakeHubSpot

    with FakeHubSpot() as fake:
        fake.load(business)
        yield HubSpotConnector(fake.url, TOKEN, throttle=no_wait(), sleep=lambda _: None)


@contextmanager
def via_salesforce(business: biz.Business, tmp: Path, config: Path) -> Iterator[Connector]:
    from crm.salesforce import SalesforceConnector
    from tests.fakes.salesforce import TOKEN, FakeSalesforce

    with FakeSalesforce() as fake:
        fake.load(business)
        yield SalesforceConnector(fake.url, TOKEN, throttle=no_wait(), sleep=lambda _: None)


SOURCES: dict[str, Callable] = {
    "csv": via_csv,
    "hubspot": via_hubspot,
    "salesforce": via_salesforce,
    "pipedrive": via_pipedrive,
}


def answers(engine, config: Path, questions: list[str]) -> dict[str, object]:
    bot = Kpibot(engine, config)
    admin = bot.person(ADMIN)
    return {question: bot.ask(question, admin, AS_OF).to_json()["value"] for question in questions}


def synced_answers(engine, source: str, business: biz.Business, tmp: Path, config: Path) -> dict[str, object]:
    emptied(engine)
    with SOURCES[source](business, tmp, config) as connector:
        report = run_sync(engine, connector, full=True, now=NOW, people=load_people(config))
    assert report.status == "ok", list(report.lines())
    assert report.total.rejected == 0, list(report.lines())
    questions = QUESTIONS + (LEAD_QUESTIONS if source != "pipedrive" else [])
    return answers(engine, config, questions)


def test_the_csv_import_gives_the_numbers_of_the_business_itself(engine, business, tmp_path, config):
    got = synced_answers(engine, "csv", business, tmp_path, config)

    q1 = (dt.datetime(2026, 1, 1), dt.datetime(2026, 4, 1))
    won = [s for s in business.sales if s.status == "won" and q1[0] <= s.closed < q1[1]]
    lost = [s for s in business.sales if s.status == "lost" and q1[0] <= s.closed < q1[1]]
    revenue = sum((s.amount or Decimal(0) for s in won), Decimal(0))
    assert Decimal(str(got["org revenue last quarter"])) == revenue
    assert got["org deals won last quarter"] == len(won)
    assert got["org win rate last quarter"] == pytest.approx(len(won) / (len(won) + len(lost)))
    done_calls = [t for t in business.touches if t.kind == "call" and t.done and q1[0] <= t.at < q1[1]]
    assert got["org calls last quarter"] == len(done_calls)
    assert got["org new leads last quarter"] == len(business.prospects)
    assert got["org referrals last quarter"] == sum(1 for p in business.prospects if p.source == "Referral")


@pytest.mark.parametrize("source", ["hubspot", "salesforce", "pipedrive"])
def test_every_crm_gives_the_same_answers_as_the_csv_export(engine, business, tmp_path, config, source):
    expected = synced_answers(engine, "csv", business, tmp_path, config)

    got = synced_answers(engine, source, business, tmp_path, config)

    assert got == {question: expected[question] for question in got}
