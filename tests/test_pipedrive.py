"""The Pipedrive connector against a fake Pipedrive API, synced into both backends."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import aliased

from crm.http import ApiError
from crm.pipedrive import PipedriveConnector
from crm.sync import run_sync
from kpi.schema import Activity, Deal, Rep, SyncState
from tests.fakes.pipedrive import TOKEN, FakePipedrive

NOW = dt.datetime(2026, 4, 2, 12, 0)

#: Won deals 1000..1009 are worth 1000 + 100 * i, but 1001 is "1200.5" and 1002 has no value.
WON_REVENUE = Decimal("13400.50")


@pytest.fixture
def fake():
    with FakePipedrive() as fake:
        yield fake


def connector(fake: FakePipedrive, sleeps: list[float] | None = None, **options) -> PipedriveConnector:
    sleep = sleeps.append if sleeps is not None else time.sleep
    return PipedriveConnector(fake.url, TOKEN, page_size=7, sleep=sleep, **options)


def deals(engine) -> dict[str, dict]:
    owner = aliased(Rep)
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                Deal.crm_id,
                Deal.name,
                Deal.amount,
                Deal.currency,
                Deal.status,
                Deal.stage,
                Deal.probability,
                Deal.created_at,
                Deal.close_date,
                Deal.updated_at,
                Deal.deleted_at,
                owner.email.label("owner"),
            )
            .select_from(Deal)
            .outerjoin(owner, Deal.owner_id == owner.id)
            .where(Deal.crm == "pipedrive")
        )
        return {row.crm_id: row._asdict() for row in rows}


def revenue(engine) -> Decimal:
    query = select(func.coalesce(func.sum(Deal.amount), 0)).where(
        Deal.crm == "pipedrive", Deal.status == "won", Deal.deleted_at.is_(None)
    )
    with engine.connect() as connection:
        return Decimal(connection.execute(query).scalar())


def test_full_sync_gives_the_canonical_rows(engine, fake):
    report = run_sync(engine, connector(fake, []), full=True, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert str(report.counts["reps"]) == "6 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert str(report.counts["deals"]) == "28 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert str(report.counts["activities"]) == "12 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"

    rows = deals(engine)
    assert len(rows) == 28  # the two deleted deals are not listed
    by_status: dict[str, int] = {}
    for row in rows.values():
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    assert by_status == {"won": 10, "lost": 8, "open": 10}
    assert revenue(engine) == WON_REVENUE

    assert rows["1000"] == {
        "crm_id": "1000",
        "name": "Contrat café — Zürich",
        "amount": Decimal("1000.00"),
        "currency": "EUR",
        "status": "won",
        "stage": "Qualified",
        "probability": None,
        "created_at": dt.datetime(2026, 1, 1, 9, 0),
        "close_date": dt.datetime(2026, 2, 1, 12, 0),
        "updated_at": dt.datetime(2026, 3, 1, 10, 0),
        "deleted_at": None,
        "owner": "rep0@example.com",
    }
    assert rows["1001"]["amount"] == Decimal("1200.50")
    assert rows["1002"]["amount"] is None
    assert rows["1012"]["status"] == "lost"
    assert rows["1012"]["close_date"] == dt.datetime(2026, 2, 13, 13, 0)
    assert rows["1020"]["amount"] is None
    assert rows["1021"]["owner"] is None
    assert rows["1023"]["stage"] == "Négociation"
    assert rows["1023"]["probability"] == Decimal("0.5")
    assert rows["1023"]["close_date"] == dt.datetime(2026, 4, 24)  # the expected close date of an open deal
    assert {rows[f"{1000 + i}"]["owner"] for i in range(5)} == {f"rep{i}@example.com" for i in range(5)}

    with engine.connect() as connection:
        reps = {row.crm_id: row for row in connection.execute(select(Rep.crm_id, Rep.name, Rep.email, Rep.active))}
        activities = {
            row.crm_id: row
            for row in connection.execute(
                select(
                    Activity.crm_id, Activity.type, Activity.occurred_at, Activity.created_at, Deal.crm_id.label("deal")
                ).outerjoin(Deal, Activity.deal_id == Deal.id)
            )
        }
        cursors = dict(connection.execute(select(SyncState.object, SyncState.cursor)).all())
    assert reps["100"].name == "Zoë Ångström" and reps["100"].email == "rep0@example.com"
    assert reps["105"].name == "李 雷" and reps["105"].active is False
    assert sorted(activities) == [str(5000 + i) for i in range(24) if i % 4 in (0, 1)]
    assert {row.type for row in activities.values()} == {"call", "meeting"}
    assert activities["5001"].occurred_at == dt.datetime(2026, 2, 3, 14, 30)
    assert activities["5001"].deal == "1001"
    assert activities["5000"].occurred_at == dt.datetime(2026, 2, 2)  # no due time
    assert activities["5000"].deal is None
    assert activities["5004"].occurred_at is None  # not done
    assert activities["5004"].created_at == dt.datetime(2026, 2, 5, 8, 0)
    assert cursors == {"deals": "2026-03-28T10:27:00Z", "activities": "2026-03-24T08:00:00Z"}


def test_every_request_sends_the_token_and_a_wrong_token_fails(engine, fake):
    with pytest.raises(ApiError, match="HTTP 401"):
        run_sync(engine, PipedriveConnector(fake.url, "wrong", sleep=lambda _: None), full=True, now=NOW)
    assert len(fake.requests) == 1  # a 401 is not retried


def test_incremental_sync_updates_only_the_changed_deal(engine, fake):
    run_sync(engine, connector(fake, []), full=True, now=NOW)
    before = deals(engine)
    fake.requests.clear()
    changed = fake.deal(1005)
    changed["value"] = 9999
    changed["title"] = "Deal 5 (renégocié)"
    changed["update_time"] = "2026-04-01T09:00:00Z"

    report = run_sync(engine, connector(fake, []), full=False, now=NOW + dt.timedelta(days=1))

    assert report.status == "ok"
    # the boundary deal (the newest of the last sync) is read again: the filter is inclusive
    assert str(report.counts["deals"]) == "0 created, 1 updated, 1 unchanged, 0 deleted, 0 rejected"
    assert report.counts["activities"].created + report.counts["activities"].updated == 0
    deal_requests = [params for path, params in fake.requests if path == "/api/v2/deals"]
    assert deal_requests == [
        {"limit": "7", "sort_by": "update_time", "sort_direction": "asc", "updated_since": "2026-03-28T10:27:00Z"}
    ]
    after = deals(engine)
    differences = {crm_id for crm_id in after if after[crm_id] != before[crm_id]}
    assert differences == {"1005"}
    assert after["1005"]["amount"] == Decimal("9999.00")
    assert after["1005"]["name"] == "Deal 5 (renégocié)"
    assert after["1005"]["updated_at"] == dt.datetime(2026, 4, 1, 9, 0)
    assert revenue(engine) == WON_REVENUE - 1500 + 9999
    with engine.connect() as connection:
        cursor = connection.execute(select(SyncState.cursor).where(SyncState.object == "deals")).scalar()
    assert cursor == "2026-04-01T09:00:00Z"


def test_a_deleted_deal_stops_counting_after_a_full_sync(engine, fake):
    run_sync(engine, connector(fake, []), full=True, now=NOW)
    assert revenue(engine) == WON_REVENUE
    deleted = fake.deal(1000)
    deleted["status"] = "deleted"
    deleted["update_time"] = "2026-04-01T09:00:00Z"

    # An incremental sync cannot delete (records cannot carry deleted_at): the deal keeps counting.
    report = run_sync(engine, connector(fake, []), full=False, now=NOW)
    assert report.counts["deals"].deleted == 0
    assert deals(engine)["1000"]["deleted_at"] is None

    later = NOW + dt.timedelta(days=1)
    report = run_sync(engine, connector(fake, []), full=True, now=later)

    assert report.status == "ok"
    assert report.counts["deals"].deleted == 1
    rows = deals(engine)
    assert rows["1000"]["deleted_at"] == later
    assert all(row["deleted_at"] is None for crm_id, row in rows.items() if crm_id != "1000")
    assert revenue(engine) == WON_REVENUE - 1000


def test_a_429_is_retried_after_the_reset_the_server_gives(engine, fake):
    fake.rate_limit_once("/api/v2/deals")
    sleeps: list[float] = []

    report = run_sync(engine, connector(fake, sleeps), full=True, now=NOW)

    assert report.status == "ok"
    assert report.counts["deals"].created == 28
    assert sleeps == [1.0]
    first_pages = [params for path, params in fake.requests if path == "/api/v2/deals" and "cursor" not in params]
    assert len(first_pages) == 2  # refused once, then served


def test_a_429_really_waits(fake):
    fake.rate_limit_once("/api/v1/users")
    started = time.monotonic()
    pages = list(PipedriveConnector(fake.url, TOKEN).read("reps", None))
    assert time.monotonic() - started >= 1.0
    assert len(pages[0].records) == 6


def test_a_5xx_is_retried_with_back_off_then_given_up(engine, fake):
    fake.fail_once("/api/v2/activities")
    sleeps: list[float] = []
    report = run_sync(engine, connector(fake, sleeps, backoff=0.25), full=True, now=NOW)
    assert report.status == "ok"
    assert sleeps == [0.25]

    class Broken(FakePipedrive):
        def answer(self, path, params, token):
            return 503, {}, {"success": False}

    with Broken() as broken:
        sleeps = []
        failing = PipedriveConnector(broken.url, TOKEN, max_retries=3, backoff=0.25, sleep=sleeps.append)
        with pytest.raises(ApiError, match="HTTP 503"):
            list(failing.read("reps", None))
    assert sleeps == [0.25, 0.5, 1.0]


def test_unreadable_deals_are_rejected_and_the_rest_import(engine, fake):
    fake.deal(1003)["value"] = -5
    fake.deal(1004)["add_time"] = "yesterday"
    fake.deal(1006)["owner_id"] = 999  # no such user

    report = run_sync(engine, connector(fake, []), full=True, now=NOW)

    assert report.status == "ok"
    assert str(report.counts["deals"]) == "25 created, 0 updated, 0 unchanged, 0 deleted, 3 rejected"
    reasons = {reject.location: reject.reason for reject in report.rejects if reject.object == "deals"}
    assert reasons == {
        "Pipedrive deal 1003": "amount: -5 is negative",
        "Pipedrive deal 1004": "'yesterday' is not a date and time",
        "Pipedrive deal 1006": "unknown owner '999': no reps record with that id",
    }
    # activities of a rejected deal are rejected too (unknown deal), the others import
    assert report.counts["activities"].rejected == 1
    assert [reject.location for reject in report.rejects if reject.object == "activities"] == [
        "Pipedrive activity 5004"
    ]
    assert report.counts["activities"].created == 11


def test_kpibot_sync_source_pipedrive_is_incremental_by_default(tmp_path):
    with FakePipedrive() as fake:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'kpibot.db'}",
            "PIPEDRIVE_API_TOKEN": TOKEN,
            "PIPEDRIVE_BASE_URL": fake.url,
            "KPIBOT_CONFIG_DIR": str(tmp_path),
        }
        result = subprocess.run(
            [sys.executable, "-m", "bot.cli", "sync", "--source", "pipedrive"],
            env=env,
            cwd=Path(__file__).parents[1],
            capture_output=True,
            text=True,
        )

    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "pipedrive sync (incremental): ok"
