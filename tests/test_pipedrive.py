"""The Pipedrive connector against a fake Pipedrive API (tests/fakes/pipedrive.py), synced into both backends.

The fake is seeded with 12 users, 300 deals (12 of them deleted) and 200 activities (80 calls and meetings);
see :meth:`tests.fakes.pipedrive.FakePipedrive.seed` for who owns what and when each record last changed.
Time never passes for real: the throttle reads a :class:`FakeClock` and every wait only moves it on.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine

from crm.http import ApiError, Throttle
from crm.interface import SyncReport
from crm.pipedrive import RATE_LIMIT, PipedriveConnector
from crm.sync import SyncBusy, run_sync
from kpi.links import link_templates
from kpi.locks import DatabaseLock
from kpi.schema import Activity, Deal, Rep
from tests import crm_rows
from tests.conftest import emptied
from tests.crm_rows import changed, counts
from tests.fakes.business import sample
from tests.fakes.pipedrive import RATE_LIMITED, TOKEN, FakePipedrive
from tests.test_stage_history import stays

NOW = dt.datetime(2026, 4, 2, 12, 0)
LATER = dt.datetime(2026, 4, 3, 12, 0)

USERS, STAGES, DEALS, ACTIVITIES = "/api/v1/users", "/api/v2/stages", "/api/v2/deals", "/api/v2/activities"
ME = "/api/v1/users/me"

#: What the seeded won deals are worth: 108 live ones, 1002's "1,200.50" included, 1005's "" and 1007's null not.
REVENUE = Decimal("318058.00")
#: The newest seeded changes: deal 1122's, and among activities deadline 5100's (a type not imported).
DEALS_CURSOR, ACTIVITIES_CURSOR = "2026-03-18T00:23:00Z", "2026-03-24T08:11:00Z"
#: The live seeded deals (1025, 1050... 1300 are deleted).
LIVE_DEALS = [str(deal) for deal in range(1001, 1301) if deal % 25]


@dataclass
class FakeClock:
    """Time for the throttle and the waits: a sleep is noted and moves the clock on, and takes no time."""

    now: float = 0.0
    sleeps: list[float] = field(default_factory=list)

    def time(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[FakePipedrive]:
    with FakePipedrive(clock=clock.time) as fake:
        yield fake


def sync(
    engine: Engine, fake: FakePipedrive, clock: FakeClock, *, full: bool, now: dt.datetime, **options: Any
) -> SyncReport:
    """One sync through a connector with Pipedrive's burst limit on the fake clock (50 records a page)."""
    options = {"page_size": 50, **options}
    throttle = Throttle(*RATE_LIMIT, clock=clock.time)
    connector = PipedriveConnector(fake.url, TOKEN, throttle=throttle, sleep=clock.sleep, **options)
    return run_sync(engine, connector, full=full, now=now)


#: Pipedrive's rows of a table, its cursors, its won revenue, all of it, and its last run (tests/crm_rows.py).
rows = partial(crm_rows.rows, source="pipedrive")
cursors = partial(crm_rows.cursors, source="pipedrive")
revenue = partial(crm_rows.revenue, source="pipedrive")
database = partial(crm_rows.database, source="pipedrive")
last_run = partial(crm_rows.last_run, source="pipedrive")


def many_changes(fake: FakePipedrive) -> None:
    """A busy morning, a minute per change from 09:00: each live deal of 1001..1124 (120) gets, in turn, a new
    stage, a new owner, a new value, or is deleted (30); then a new deal 1301; then calls 5001, 5011...
    5191 (20) are marked done.
    """
    for n, deal in enumerate(deal for deal in range(1001, 1125) if deal % 25):
        if n % 4 == 0:
            fake.change_stage(deal, 1 + n % 6)
        elif n % 4 == 1:
            fake.change_owner(deal, 101 + n % 12)
        elif n % 4 == 2:
            fake.set_value(deal, 1000 + n)
        else:
            fake.delete_deal(deal)
    fake.add_deal("Nouveau contrat — Genève", 103, 2, 7500)
    for call in range(5001, 5201, 10):
        fake.edit_activity(call, done=True)


# -- a full sync --------------------------------------------------------------------------------------


def test_a_full_sync_imports_every_live_user_deal_call_and_meeting(engine, fake, clock):
    report = sync(engine, fake, clock, full=True, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert counts(report) == {
        "reps": "12 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "deals": "288 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "activities": "80 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
    }
    deals = rows(engine, Deal)
    assert sorted(deals) == LIVE_DEALS
    assert Counter(row["status"] for row in deals.values()) == {"open": 120, "won": 108, "lost": 60}
    assert revenue(engine) == REVENUE
    assert sorted(rows(engine, Activity)) == [str(5001 + i) for i in range(200) if i % 5 in (0, 1)]
    assert cursors(engine) == {"deals": DEALS_CURSOR, "activities": ACTIVITIES_CURSOR}


def test_deals_keep_non_ascii_titles_odd_amounts_stage_names_and_their_close_date(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)

    deals = rows(engine, Deal)
    assert deals["1001"] == {
        "owner": "101",
        "account": None,
        "name": "Contrat café — Zürich",
        "product": None,
        "amount": Decimal("500.00"),
        "cost": None,
        "currency": "EUR",
        "stage": "Qualified",
        "status": "open",
        "type": "new",
        "probability": None,
        "contract_months": None,
        "created_at": dt.datetime(2025, 9, 1, 9, 0),
        "close_date": dt.datetime(2026, 4, 1),  # an open deal: its expected close date
        "updated_at": dt.datetime(2026, 3, 10, 8, 0),
        "stage_changed_at": dt.datetime(2025, 9, 1, 9, 0),  # stage_change_time: in its stage since it was added
        "deleted_at": None,
    }
    assert deals["1002"] == {
        **deals["1001"],
        "owner": "102",
        "name": "東京 — renouvellement",
        "amount": Decimal("1200.50"),  # "1,200.50"
        "stage": "Proposal",
        "status": "won",
        "created_at": dt.datetime(2025, 9, 1, 21, 0),
        "close_date": dt.datetime(2025, 9, 5, 21, 0),  # won_time
        "updated_at": dt.datetime(2026, 3, 13, 9, 23),
        "stage_changed_at": dt.datetime(2025, 9, 1, 21, 0),
    }
    assert (deals["1005"]["amount"], deals["1007"]["amount"]) == (None, None)  # "" and null
    assert deals["1014"]["amount"] == Decimal("4550.75")
    assert (deals["1003"]["owner"], deals["1003"]["stage"], deals["1003"]["status"]) == (None, "Négociation", "lost")
    assert deals["1003"]["close_date"] == dt.datetime(2025, 9, 7, 9, 0)  # lost_time
    assert (deals["1006"]["stage"], deals["1006"]["probability"]) == ("Signature", Decimal("0.6"))
    assert deals["1006"]["close_date"] == dt.datetime(2026, 4, 6)
    assert deals["1008"]["currency"] == "USD"


def test_calls_and_meetings_happen_at_their_due_time_once_done(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)

    activities = rows(engine, Activity)
    assert activities["5002"] == {
        "owner": "102",
        "type": "meeting",
        "deal": "1008",
        "account": None,
        "created_at": dt.datetime(2026, 1, 5, 14, 0),
        "occurred_at": dt.datetime(2026, 1, 7, 10, 15),
        "deleted_at": None,
    }
    assert (activities["5001"]["type"], activities["5001"]["occurred_at"]) == ("call", dt.datetime(2026, 1, 7))
    assert activities["5007"]["occurred_at"] is None  # not done yet
    assert (activities["5012"]["deal"], activities["5012"]["occurred_at"]) == (None, dt.datetime(2026, 1, 10, 12, 45))


def test_users_become_reps_and_a_deactivated_user_an_inactive_one(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)

    reps = rows(engine, Rep)
    assert len(reps) == 12
    assert reps["105"] == {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "slack_user_id": None,
        "team": None,
        "role": "rep",
        "hired_at": None,
        "left_at": None,
        "active": False,
        "deleted_at": None,
    }
    names = {crm_id: row["name"] for crm_id, row in reps.items() if row["active"]}
    assert (names["101"], names["106"], names["111"]) == ("Zoë Ångström", "李 雷", "Олег Петров")


def test_a_wrong_token_fails_at_once_without_retrying(engine, fake):
    with pytest.raises(ApiError, match="HTTP 401 unauthorized access"):
        run_sync(engine, PipedriveConnector(fake.url, "wrong", sleep=lambda _: None), full=True, now=NOW)

    assert len(fake.requests) == 1


# -- incremental syncs --------------------------------------------------------------------------------


def test_an_incremental_sync_asks_for_what_changed_since_the_cursor_and_updates_only_that(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    before = rows(engine, Deal)
    fake.requests.clear()
    fake.set_value(1010, 9999)

    report = sync(engine, fake, clock, full=False, now=LATER)

    assert counts(report) == {
        "reps": "0 created, 0 updated, 12 unchanged, 0 deleted, 0 rejected",
        "deals": "0 created, 1 updated, 1 unchanged, 0 deleted, 0 rejected",  # 1122, at the cursor, is read again
        "activities": "0 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
    }
    since = {"limit": "50", "sort_by": "update_time", "sort_direction": "asc"}
    assert [(request.path, request.params) for request in fake.requests] == [
        (USERS, {"start": "0", "limit": "50"}),
        (STAGES, {"limit": "50"}),
        (DEALS, {**since, "updated_since": DEALS_CURSOR}),
        (DEALS, {**since, "status": "deleted", "updated_since": DEALS_CURSOR}),
        (ACTIVITIES, {**since, "updated_since": ACTIVITIES_CURSOR}),
        (ME, {}),  # the company's domain, for record links
    ]
    after = rows(engine, Deal)
    assert changed(before, after) == {"1010"}
    assert after["1010"] == {**before["1010"], "amount": Decimal("9999.00"), "updated_at": dt.datetime(2026, 4, 1, 9)}
    assert revenue(engine) == REVENUE - 2150 + 9999
    assert cursors(engine) == {"deals": "2026-04-01T09:00:00Z", "activities": ACTIVITIES_CURSOR}


def test_the_lookback_reads_again_what_changed_that_long_before_the_cursor(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.requests.clear()
    fake.set_value(1010, 9999)

    report = sync(engine, fake, clock, full=False, now=LATER, lookback=dt.timedelta(hours=1))

    # 1243 (23:46) and 1122 (00:23) changed in the hour before the cursor, 1064 (23:09) before that
    assert str(report.counts["deals"]) == "0 created, 1 updated, 2 unchanged, 0 deleted, 0 rejected"
    since = [
        (request.path, request.params.get("status"), request.params.get("updated_since")) for request in fake.requests
    ]
    assert since[2:] == [
        (DEALS, None, "2026-03-17T23:23:00Z"),  # the cursor, 00:23, less an hour
        (DEALS, "deleted", "2026-03-17T23:23:00Z"),
        (ACTIVITIES, None, "2026-03-24T07:11:00Z"),
        (ME, None, None),
    ]


def test_a_deal_deleted_in_pipedrive_stops_counting_after_an_incremental_sync(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.delete_deal(1010)

    report = sync(engine, fake, clock, full=False, now=LATER)

    assert str(report.counts["deals"]) == "0 created, 0 updated, 1 unchanged, 1 deleted, 0 rejected"
    deleted = {crm_id: row["deleted_at"] for crm_id, row in rows(engine, Deal).items() if row["deleted_at"]}
    assert deleted == {"1010": LATER}
    assert revenue(engine) == REVENUE - 2150


def test_a_deal_restored_in_pipedrive_counts_again(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.delete_deal(1010)
    sync(engine, fake, clock, full=False, now=LATER)
    fake.restore_deal(1010)

    report = sync(engine, fake, clock, full=False, now=LATER + dt.timedelta(hours=1))

    assert str(report.counts["deals"]) == "0 created, 1 updated, 1 unchanged, 0 deleted, 0 rejected"
    restored = rows(engine, Deal)["1010"]
    assert (restored["status"], restored["deleted_at"]) == ("won", None)
    assert revenue(engine) == REVENUE


def test_a_stage_change_closes_the_deals_stay_at_pipedrives_stage_change_time(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.change_stage(1010, 3)  # stamped 2026-04-01 09:00

    sync(engine, fake, clock, full=False, now=LATER)

    added, moved = dt.datetime(2025, 9, 5, 21, 0), dt.datetime(2026, 4, 1, 9, 0)  # added 9 * 12 h after 1001
    assert [stay for stay in stays(engine) if stay[0] == "1010"] == [
        ("1010", "Contract sent", added, moved, "crm"),
        ("1010", "Négociation", moved, None, "crm"),
    ]


def test_deals_open_under_the_company_domain_users_me_gives_and_a_missing_one_keeps_the_last(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.company_domain = None

    report = sync(engine, fake, clock, full=False, now=LATER)

    assert report.warnings == [
        "record links not learned, the previous ones are kept: pipedrive's company_domain None does not have the "
        "expected shape [a-z0-9][a-z0-9-]*"
    ]
    with engine.connect() as connection:
        assert link_templates(connection) == {("pipedrive", "deals"): "https://cafe-zurich.pipedrive.com/deal/{id}"}


def test_a_stage_change_and_an_owner_change_show_up_after_an_incremental_sync(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    before = rows(engine, Deal)
    fake.change_stage(1010, 3)
    fake.change_owner(1011, 105)

    sync(engine, fake, clock, full=False, now=LATER)

    after = rows(engine, Deal)
    assert changed(before, after) == {"1010", "1011"}
    moved = dt.datetime(2026, 4, 1, 9, 0)
    assert after["1010"] == {**before["1010"], "stage": "Négociation", "updated_at": moved, "stage_changed_at": moved}
    assert after["1011"] == {**before["1011"], "owner": "105", "updated_at": dt.datetime(2026, 4, 1, 9, 1)}


def test_deals_changed_while_a_sync_reads_the_deals_are_read_by_that_sync(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    for deal in range(1026, 1050):  # 24 changes: with 1122, 3 pages of 10
        fake.set_value(deal, 100)

    def meanwhile() -> None:  # 1026 was on the first page, 1049 is on the last
        fake.change_stage(1026, 3)
        fake.change_owner(1049, 105)

    fake.on_page(DEALS, 1, meanwhile)

    report = sync(engine, fake, clock, full=False, now=LATER, page_size=10)

    assert report.status == "ok"
    deals = rows(engine, Deal)
    assert (deals["1026"]["stage"], deals["1026"]["updated_at"]) == ("Négociation", dt.datetime(2026, 4, 1, 9, 24))
    assert (deals["1049"]["owner"], deals["1049"]["updated_at"]) == ("105", dt.datetime(2026, 4, 1, 9, 25))
    assert cursors(engine)["deals"] == "2026-04-01T09:25:00Z"


def test_a_deal_changed_after_the_sync_read_the_deals_is_read_by_the_next_one(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.on_page(DEALS, 1, lambda: fake.change_stage(1010, 3))  # after the only page of changes

    sync(engine, fake, clock, full=False, now=LATER)
    stage_then = rows(engine, Deal)["1010"]["stage"]
    report = sync(engine, fake, clock, full=False, now=LATER + dt.timedelta(hours=1))

    assert (stage_then, rows(engine, Deal)["1010"]["stage"]) == ("Contract sent", "Négociation")
    assert str(report.counts["deals"]) == "0 created, 1 updated, 1 unchanged, 0 deleted, 0 rejected"


# -- rate limits and failures -------------------------------------------------------------------------


def test_a_429_in_the_middle_is_waited_out_for_the_seconds_its_headers_give(engine, fake, clock):
    fake.rate_limit_once(DEALS, served=2, headers={**RATE_LIMITED, "x-ratelimit-reset": "3"})

    report = sync(engine, fake, clock, full=True, now=NOW)

    assert str(report.counts["deals"]) == "288 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert clock.sleeps == [3.0]
    deal_requests = [request for request in fake.requests if request.path == DEALS]
    assert len(deal_requests) == 7  # six pages, the third one asked twice
    assert deal_requests[3].params == deal_requests[2].params
    assert deal_requests[3].at - deal_requests[2].at == 3.0


def test_the_throttle_keeps_every_2_second_window_to_20_requests(engine, fake, clock):
    report = sync(engine, fake, clock, full=True, now=NOW, page_size=10)

    assert report.status == "ok"
    # 2 pages of users, 1 of stages, 29 of deals, 20 of activities, then the company's domain: the 21st and
    # 41st requests wait 2 s
    assert Counter(request.at for request in fake.requests) == {0.0: 20, 2.0: 20, 4.0: 13}
    assert clock.sleeps == [2.0, 2.0]


def test_a_5xx_is_retried_after_a_growing_back_off(engine, fake, clock):
    fake.fail_from(ACTIVITIES, 1, times=2)

    report = sync(engine, fake, clock, full=True, now=NOW, backoff=0.25)

    assert str(report.counts["activities"]) == "80 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert clock.sleeps == [0.25, 0.5]


def test_a_5xx_that_lasts_fails_the_sync_after_the_last_retry(engine, fake, clock):
    fake.fail_from(USERS, 0)

    with pytest.raises(ApiError, match="HTTP 503 Service unavailable"):
        sync(engine, fake, clock, full=True, now=NOW, max_retries=3, backoff=0.25)

    assert clock.sleeps == [0.25, 0.5, 1.0]
    assert [request.path for request in fake.requests] == [USERS] * 4


def test_unreadable_deals_are_rejected_with_their_activities_and_the_rest_imports(engine, fake, clock):
    fake.deal(1010)["value"] = -5
    fake.deal(1011)["add_time"] = "yesterday"
    fake.deal(1012)["owner_id"] = 999  # no such user

    report = sync(engine, fake, clock, full=True, now=NOW)

    assert report.status == "ok"
    assert str(report.counts["deals"]) == "285 created, 0 updated, 0 unchanged, 0 deleted, 3 rejected"
    assert str(report.counts["activities"]) == "78 created, 0 updated, 0 unchanged, 0 deleted, 2 rejected"
    assert {reject.location: reject.reason for reject in report.rejects} == {
        "Pipedrive deal 1010": "amount: -5 is negative",
        "Pipedrive deal 1011": "add_time: 'yesterday' is not a date and time",
        "Pipedrive deal 1012": "unknown owner '999': no reps record with that id",
        "Pipedrive activity 5126": "unknown deal '1012': no deals record with that id",
        "Pipedrive activity 5167": "unknown deal '1011': no deals record with that id",
    }


# -- interrupted and concurrent syncs -----------------------------------------------------------------


def killed_sync(engine: Engine, fake: FakePipedrive, clock: FakeClock) -> None:
    """:func:`many_changes`, then an incremental sync killed once 2 pages of deals (20 a page) went out."""
    many_changes(fake)
    fake.fail_from(DEALS, 2)
    with pytest.raises(ApiError, match="HTTP 503"):
        sync(engine, fake, clock, full=False, now=LATER, page_size=20, max_retries=0)


def test_an_incremental_sync_killed_between_pages_keeps_the_pages_before(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    before = rows(engine, Deal)

    killed_sync(engine, fake, clock)

    # the first 40 live changes, which came with the first 53 changes (every 4th one is a deletion)
    assert len(changed(before, rows(engine, Deal))) == 40
    # the live list got to its 40th change; the deleted list (read after it) is still where the full sync left it
    assert cursors(engine) == {"deals": f"2026-04-01T09:52:00Z;{DEALS_CURSOR}", "activities": ACTIVITIES_CURSOR}
    run = last_run(engine)
    assert (run.status, run.updated) == ("failed", 40)


def test_an_incremental_sync_resumed_after_a_kill_gives_the_data_of_one_never_killed(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    killed_sync(engine, fake, clock)
    fake.mend()

    sync(engine, fake, clock, full=False, now=LATER, page_size=20)

    resumed = database(engine)
    emptied(engine)
    with FakePipedrive() as twin:
        sync(engine, twin, FakeClock(), full=True, now=NOW)
        many_changes(twin)
        sync(engine, twin, FakeClock(), full=False, now=LATER, page_size=20)
    assert resumed == database(engine)
    assert len([row for row in resumed["deals"].values() if row["deleted_at"] == LATER]) == 30


def test_a_call_turned_into_a_task_stops_counting_after_an_incremental_sync(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    fake.edit_activity(5001, type="task")

    sync(engine, fake, clock, full=False, now=LATER)

    assert rows(engine, Activity)["5001"]["deleted_at"] == LATER


def test_a_full_sync_that_fails_half_way_leaves_the_data_as_it_was(engine, fake, clock):
    sync(engine, fake, clock, full=True, now=NOW)
    before = database(engine)
    many_changes(fake)
    fake.fail_from(ACTIVITIES, 1)  # the deals are all written by then

    with pytest.raises(ApiError, match="HTTP 503"):
        sync(engine, fake, clock, full=True, now=LATER, max_retries=0)

    assert database(engine) == before


def test_a_second_sync_while_one_runs_is_refused_before_asking_pipedrive(engine, fake, clock):
    running = DatabaseLock(engine, "sync:pipedrive")
    assert running.try_acquire()
    try:
        with pytest.raises(SyncBusy, match="another pipedrive sync is running"):
            sync(engine, fake, clock, full=True, now=NOW)
    finally:
        running.release()

    assert fake.requests == []


# -- the neutral business -----------------------------------------------------------------------------


def test_the_neutral_business_syncs_as_its_facts_say(engine, fake, clock):
    fake.load(sample())

    report = sync(engine, fake, clock, full=True, now=NOW)

    assert counts(report) == {  # no leads: the connector does not read Pipedrive's Leads API
        "reps": "5 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "deals": "40 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "activities": "30 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
    }
    deals = rows(engine, Deal)
    assert deals["1001"] == {
        "owner": "101",
        "account": None,
        "name": "Contrat café — Zürich",
        "product": None,
        "amount": Decimal("1200.50"),
        "cost": None,
        "currency": "USD",
        "stage": "Qualification",
        "status": "open",
        "type": "new",
        "probability": Decimal("0.2"),
        "contract_months": None,
        "created_at": dt.datetime(2026, 1, 1, 9, 30),
        "close_date": dt.datetime(2026, 4, 1),
        "updated_at": dt.datetime(2026, 1, 1, 9, 30),
        "stage_changed_at": dt.datetime(2026, 1, 1, 9, 30),
        "deleted_at": None,
    }
    assert (deals["1004"]["status"], deals["1004"]["close_date"]) == ("won", dt.datetime(2026, 3, 4, 15, 45))
    activities = rows(engine, Activity)
    assert activities["5002"] == {
        "owner": "102",
        "type": "call",
        "deal": "1002",
        "account": None,
        "created_at": dt.datetime(2026, 2, 2, 9, 15),
        "occurred_at": dt.datetime(2026, 2, 2, 9, 15),
        "deleted_at": None,
    }
    assert rows(engine, Rep)["105"]["active"] is False
