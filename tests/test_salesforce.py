"""The Salesforce connector against a fake Salesforce REST API (tests/fakes/salesforce.py), synced into both backends.

The fake is seeded with 7 users, 6 stages, 250 opportunities (2 deleted), 120 tasks, 60 events and 40 leads; see
:meth:`tests.fakes.salesforce.FakeSalesforce.seed` for who owns what and when each record last changed. Changes a
test makes happen from 09:00 on 1 April 2026, a second apart; the connector's clock is the fake's, and its waits
are noted in ``sleeps`` instead of slept.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from functools import partial
from typing import Any

import pytest
from sqlalchemy import Engine

from crm.http import ApiError
from crm.interface import SyncReport
from crm.salesforce import SalesforceConnector, salesforce_login
from crm.sync import run_sync
from kpi.links import link_templates
from kpi.schema import Activity, Deal, Lead, Rep
from tests import crm_rows
from tests.conftest import emptied
from tests.crm_rows import changed, counts
from tests.fakes.business import sample
from tests.fakes.salesforce import CLIENT_ID, CLIENT_SECRET, DATA, QUEUE, TOKEN, TOKEN_PATH, FakeSalesforce, sfid
from tests.test_stage_history import stays

NOW = dt.datetime(2026, 4, 1, 12, 0)
LATER = dt.datetime(2026, 4, 2, 12, 0)

QUERY, QUERY_ALL, NEXT_PAGE = f"{DATA}/query", f"{DATA}/queryAll", f"{DATA}/query/"


def user(n: int) -> str:
    return sfid("005", n)


def opp(n: int) -> str:
    return sfid("006", n)


def task(n: int) -> str:
    return sfid("00T", n)


def event(n: int) -> str:
    return sfid("00U", n)


def lead(n: int) -> str:
    return sfid("00Q", n)


#: The live seeded opportunities: 100 and 200 are in the recycle bin.
LIVE = sorted(opp(n) for n in range(1, 251) if n not in (100, 200))
#: The won ones (n % 6 == 4, 100 deleted): 4 is worth 12,345,678,901.23, the 40 others 1000 + 10 n.
REVENUE = Decimal("12345771201.23")
#: Where a full sync of the seed leaves the cursors: the newest change read from each object.
CURSORS = {
    "reps": '{"User":"2026-03-25T01:00:00Z"}',
    "deals": '{"Opportunity":"2026-03-27T14:30:00Z"}',
    "leads": '{"Lead":"2026-03-29T06:30:00Z"}',
    "activities": '{"Task":"2026-03-27T15:40:00Z","Event":"2026-03-28T15:00:00Z"}',
}
UNCHANGED = "0 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"


@pytest.fixture
def fake() -> Iterator[FakeSalesforce]:
    with FakeSalesforce() as fake:
        yield fake


@pytest.fixture
def sleeps() -> list[float]:
    return []


def connector(fake: FakeSalesforce, sleeps: list[float], **options: Any) -> SalesforceConnector:
    """A connector on the fake, 200 records a page, on the fake's clock, noting its waits in ``sleeps``."""
    options = {"page_size": 200, "sleep": sleeps.append, **options}
    return SalesforceConnector(fake.url, TOKEN, clock=lambda: fake.clock, **options)


def sync(
    engine: Engine, fake: FakeSalesforce, sleeps: list[float], *, full: bool, now: dt.datetime, **options: Any
) -> SyncReport:
    return run_sync(engine, connector(fake, sleeps, **options), full=full, now=now)


#: Salesforce's rows of a table, its cursors, its won revenue, all of it, and its last run (tests/crm_rows.py).
rows = partial(crm_rows.rows, source="salesforce")
cursors = partial(crm_rows.cursors, source="salesforce")
revenue = partial(crm_rows.revenue, source="salesforce")
database = partial(crm_rows.database, source="salesforce")
last_run = partial(crm_rows.last_run, source="salesforce")


def soql(fake: FakeSalesforce) -> list[tuple[str, str]]:
    """The requests served, as (path, query or window): what the connector asked Salesforce."""
    return [(request.path, request.params.get("q") or " ".join(request.params.values())) for request in fake.requests]


def new_opportunity(fake: FakeSalesforce) -> str:
    return fake.add(
        "Opportunity",
        Name="Nouvelle affaire — Genève",
        Amount=Decimal("7500"),
        StageName="Prospecting",
        IsClosed=False,
        IsWon=False,
        Probability=Decimal(10),
        CloseDate=dt.date(2026, 6, 30),
        Type="New Customer",
        OwnerId=user(3),
        CurrencyIsoCode="CHF",
    )


# -- a full sync --------------------------------------------------------------------------------------


def test_a_full_sync_imports_every_live_standard_user_opportunity_lead_call_and_meeting(engine, fake, sleeps):
    report = sync(engine, fake, sleeps, full=True, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert counts(report) == {
        "reps": "6 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "deals": "248 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "leads": "39 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "activities": "149 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
    }
    deals = rows(engine, Deal)
    assert sorted(deals) == LIVE
    assert Counter(row["status"] for row in deals.values()) == {"open": 165, "won": 41, "lost": 42}
    assert revenue(engine) == REVENUE
    assert sorted(rows(engine, Lead)) == [lead(n) for n in range(1, 40)]
    calls = [task(n) for n in range(1, 121) if n % 4 and n != 101]  # emails (n % 4 == 0) and a deleted call left out
    assert sorted(rows(engine, Activity)) == sorted(calls + [event(n) for n in range(1, 61)])
    assert cursors(engine) == CURSORS
    assert soql(fake) == [
        (
            QUERY,
            "SELECT Id, Name, Email, IsActive, SystemModstamp FROM User WHERE UserType = 'Standard' "
            "ORDER BY SystemModstamp, Id",
        ),
        (QUERY, "SELECT ApiName, MasterLabel, IsClosed, IsWon FROM OpportunityStage"),
        (f"{DATA}/sobjects/Opportunity/describe", ""),
        (
            QUERY_ALL,
            "SELECT Id, Name, Amount, StageName, IsClosed, IsWon, Probability, CloseDate, Type, OwnerId, CreatedDate, "
            "CurrencyIsoCode, LastStageChangeDate, SystemModstamp, IsDeleted FROM Opportunity WHERE IsDeleted = false "
            "ORDER BY SystemModstamp, Id",
        ),
        (f"{NEXT_PAGE}01g5g0000000003AAA-200", ""),  # the third query's next page
        (
            QUERY_ALL,
            "SELECT Id, Name, OwnerId, LeadSource, Status, IsConverted, ConvertedDate, ConvertedOpportunityId, "
            "CreatedDate, SystemModstamp, IsDeleted FROM Lead WHERE IsDeleted = false ORDER BY SystemModstamp, Id",
        ),
        (
            QUERY_ALL,
            "SELECT Id, OwnerId, WhatId, Status, IsClosed, ActivityDate, CompletedDateTime, CreatedDate, "
            "SystemModstamp, IsDeleted FROM Task WHERE TaskSubtype = 'Call' AND IsDeleted = false "
            "ORDER BY SystemModstamp, Id",
        ),
        (
            QUERY_ALL,
            "SELECT Id, OwnerId, WhatId, StartDateTime, CreatedDate, SystemModstamp, IsDeleted FROM Event "
            "WHERE IsDeleted = false ORDER BY SystemModstamp, Id",
        ),
    ]


def test_opportunities_keep_their_names_odd_amounts_stage_labels_status_and_close_date(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)

    deals = rows(engine, Deal)
    assert deals[opp(1)] == {
        "owner": user(2),
        "account": None,
        "name": "Contrat café — Zürich",
        "product": None,
        "amount": None,  # no Amount
        "cost": None,
        "currency": "EUR",
        "stage": "Qualification",
        "status": "open",
        "type": "upsell",  # Existing Customer - Upgrade
        "probability": Decimal("0.2"),
        "contract_months": None,
        "created_at": dt.datetime(2026, 1, 2, 9, 30),
        "close_date": dt.datetime(2026, 3, 2),  # an open opportunity: its expected close date
        "updated_at": dt.datetime(2026, 3, 25, 0, 0),  # SystemModstamp
        "stage_changed_at": dt.datetime(2026, 1, 2, 9, 30),  # no LastStageChangeDate: in its first stage
        "deleted_at": None,
    }
    assert deals[opp(4)] == {
        **deals[opp(1)],
        "owner": user(5),  # Grace Hopper, inactive, still owns her deals
        "name": "Opportunity 4",
        "amount": Decimal("12345678901.23"),
        "currency": "USD",
        "stage": "Closed Won",
        "status": "won",
        "type": "new",  # New Customer
        "probability": Decimal("1"),
        "created_at": dt.datetime(2026, 1, 5, 9, 30),
        "close_date": dt.datetime(2026, 3, 5),
        "updated_at": dt.datetime(2026, 3, 25, 1, 0),
        "stage_changed_at": dt.datetime(2026, 1, 5, 9, 30),
    }
    assert (deals[opp(2)]["amount"], deals[opp(3)]["amount"]) == (Decimal("0.00"), Decimal("1200.50"))
    # stages are stored under their labels: StageName holds the API name
    assert (deals[opp(2)]["stage"], deals[opp(2)]["probability"]) == ("Proposal/Price Quote", Decimal("0.6"))
    assert (deals[opp(3)]["stage"], deals[opp(3)]["type"]) == ("Négociation/Review", "new")  # no Type
    assert (deals[opp(5)]["stage"], deals[opp(5)]["status"]) == ("Closed Lost", "lost")
    # a stage no longer in OpportunityStage: the opportunity's own IsClosed and IsWon say lost
    assert (deals[opp(6)]["stage"], deals[opp(6)]["status"]) == ("Legacy", "lost")
    assert (deals[opp(10)]["type"], deals[opp(10)]["amount"]) == ("renewal", Decimal("1100.00"))  # Replacement


def test_standard_users_become_reps_and_an_inactive_user_an_inactive_one(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)

    reps = rows(engine, Rep)
    assert sorted(reps) == [user(n) for n in range(1, 7)]  # not user 7, the Automated Process user
    assert reps[user(5)] == {
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
    assert [reps[user(n)]["name"] for n in (1, 2, 6)] == ["Zoë Ångström", "Björn Müller", "李 雷"]


def test_leads_keep_their_source_status_and_conversion_and_a_queue_owns_none(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)

    leads = rows(engine, Lead)
    assert leads[lead(4)] == {
        "owner": user(1),
        "name": "Sam Prospect 4",
        "lead_source": None,
        "status": "Closed - Converted",
        "created_at": dt.datetime(2026, 1, 5, 11, 0),
        "mql_at": None,
        "sql_at": None,
        "converted_at": dt.datetime(2026, 2, 5),  # ConvertedDate: a date
        "disqualified_at": None,
        "converted_deal": opp(4),
        "deleted_at": None,
    }
    assert leads[lead(1)] == {
        **leads[lead(4)],
        "owner": user(2),
        "name": "Léa Prospect 1",
        "lead_source": "referral",  # Partner Referral
        "status": "Open - Not Contacted",
        "created_at": dt.datetime(2026, 1, 2, 11, 0),
        "converted_at": None,
        "converted_deal": None,
    }
    assert [leads[lead(n)]["lead_source"] for n in (2, 3, 5)] == ["referral", "phone inquiry", "web"]
    assert (leads[lead(10)]["owner"], leads[lead(20)]["owner"]) == (None, None)  # owned by a queue
    assert fake.record(lead(10))["OwnerId"] == QUEUE


def test_calls_occur_once_completed_and_meetings_at_their_start_linked_to_their_opportunity(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)

    activities = rows(engine, Activity)
    assert activities[task(1)] == {  # an archived call: queryAll still has it
        "owner": user(2),
        "type": "call",
        "deal": opp(1),
        "account": None,
        "created_at": dt.datetime(2026, 2, 2, 8, 0),
        "occurred_at": dt.datetime(2026, 2, 2, 14, 30),  # CompletedDateTime
        "deleted_at": None,
    }
    assert activities[task(7)]["occurred_at"] == dt.datetime(2026, 2, 8)  # completed, no CompletedDateTime
    assert (activities[task(5)]["occurred_at"], activities[task(5)]["deal"]) == (None, opp(5))  # not completed
    assert activities[task(3)]["deal"] is None  # WhatId is an account, not an opportunity
    assert activities[event(1)] == {
        "owner": user(2),
        "type": "meeting",
        "deal": opp(2),
        "account": None,
        "created_at": dt.datetime(2026, 1, 2, 12, 0),
        "occurred_at": dt.datetime(2026, 2, 2, 10, 0),  # StartDateTime
        "deleted_at": None,
    }
    assert (activities[event(60)]["occurred_at"], activities[event(60)]["deal"]) == (dt.datetime(2026, 5, 4, 10), None)


def test_an_org_without_multi_currency_gives_deals_without_a_currency(engine, sleeps):
    with FakeSalesforce(multi_currency=False) as fake:
        report = sync(engine, fake, sleeps, full=True, now=NOW)

    assert str(report.counts["deals"]) == "248 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert {row["currency"] for row in rows(engine, Deal).values()} == {None}
    assert not any("CurrencyIsoCode" in text for _, text in soql(fake))


def test_an_org_without_stage_dates_has_its_stage_changes_dated_by_the_sync_that_sees_them(engine, sleeps):
    with FakeSalesforce(stage_dates=False) as fake:
        sync(engine, fake, sleeps, full=True, now=NOW)
        fake.change_stage(opp(7), "Closed Won")

        sync(engine, fake, sleeps, full=False, now=LATER)

    assert rows(engine, Deal)[opp(1)]["stage_changed_at"] is None  # in its stage since nobody knows when
    assert [stay[1:] for stay in stays(engine) if stay[0] == opp(7)] == [
        ("Qualification", None, LATER, "sync"),
        ("Closed Won", LATER, None, "sync"),
    ]


def test_opportunities_and_leads_open_in_lightning_under_the_instance_url(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)

    with engine.connect() as connection:
        assert link_templates(connection) == {
            ("salesforce", "deals"): f"{fake.url}/lightning/r/Opportunity/{{id}}/view",
            ("salesforce", "leads"): f"{fake.url}/lightning/r/Lead/{{id}}/view",
        }


def test_a_wrong_token_fails_at_once_and_says_what_to_do(engine, fake, sleeps):
    with pytest.raises(ApiError) as raised:
        run_sync(engine, SalesforceConnector(fake.url, "expired", sleep=sleeps.append), full=True, now=NOW)

    assert str(raised.value) == (
        f"Salesforce GET {QUERY}: HTTP 401 Session expired or invalid (INVALID_SESSION_ID): the access token is "
        "invalid or expired: log in again with the client credentials, or give a fresh SALESFORCE_ACCESS_TOKEN"
    )
    assert len(fake.requests) == 1


def test_a_page_size_salesforce_cannot_serve_is_refused_at_once():
    with pytest.raises(ValueError, match="Salesforce pages 200 to 2,000 records, not 100"):
        SalesforceConnector("https://acme.my.salesforce.com", TOKEN, page_size=100)


# -- incremental syncs --------------------------------------------------------------------------------


def test_an_incremental_sync_reads_what_changed_since_the_cursor_less_the_lookback(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    before = rows(engine, Deal)
    fake.requests.clear()
    fake.change_stage(opp(7), "Closed Won")  # 09:00:00, was Qualification
    fake.update(opp(8), OwnerId=user(6))  # 09:00:01
    fake.update(opp(9), Amount=Decimal("99999.99"))  # 09:00:02
    fake.delete(opp(10))  # 09:00:03, a won opportunity, into the recycle bin
    new = new_opportunity(fake)  # 09:00:04

    report = sync(engine, fake, sleeps, full=False, now=LATER)

    # with each object, what changed in the 5 minutes before its cursor is read again: the newest record
    assert counts(report) == {
        "reps": "0 created, 0 updated, 1 unchanged, 0 deleted, 0 rejected",
        "deals": "1 created, 3 updated, 1 unchanged, 1 deleted, 0 rejected",
        "leads": "0 created, 0 updated, 1 unchanged, 0 deleted, 0 rejected",
        "activities": "0 created, 0 updated, 2 unchanged, 0 deleted, 0 rejected",
    }
    after = rows(engine, Deal)
    assert changed(before, after) == {opp(7), opp(8), opp(9), opp(10), new}
    assert after[opp(7)] == {
        **before[opp(7)],
        "stage": "Closed Won",
        "status": "won",
        "probability": Decimal("1"),
        "updated_at": dt.datetime(2026, 4, 1, 9, 0, 0),
        "stage_changed_at": dt.datetime(2026, 4, 1, 9, 0, 0),  # LastStageChangeDate
    }
    assert after[opp(8)] == {**before[opp(8)], "owner": user(6), "updated_at": dt.datetime(2026, 4, 1, 9, 0, 1)}
    assert after[opp(9)] == {
        **before[opp(9)],
        "amount": Decimal("99999.99"),
        "updated_at": dt.datetime(2026, 4, 1, 9, 0, 2),
    }
    assert after[opp(10)] == {**before[opp(10)], "deleted_at": LATER}
    assert after[new] == {
        "owner": user(3),
        "account": None,
        "name": "Nouvelle affaire — Genève",
        "product": None,
        "amount": Decimal("7500.00"),
        "cost": None,
        "currency": "CHF",
        "stage": "Prospecting",
        "status": "open",
        "type": "new",
        "probability": Decimal("0.1"),
        "contract_months": None,
        "created_at": dt.datetime(2026, 4, 1, 9, 0, 4),
        "close_date": dt.datetime(2026, 6, 30),
        "updated_at": dt.datetime(2026, 4, 1, 9, 0, 4),
        "stage_changed_at": dt.datetime(2026, 4, 1, 9, 0, 4),
        "deleted_at": None,
    }
    assert revenue(engine) == REVENUE + 1070 - 1100
    # queryAll also reads the deleted rows: lead 40, deleted at 06:40, moves the leads' cursor
    deals_cursor, leads_cursor = '{"Opportunity":"2026-04-01T09:00:04Z"}', '{"Lead":"2026-03-29T06:40:00Z"}'
    assert cursors(engine) == {**CURSORS, "deals": deals_cursor, "leads": leads_cursor}
    window = "2026-04-01T09:00:00+00:00"  # getDeleted's end: the last whole minute
    assert soql(fake) == [
        (
            QUERY,
            "SELECT Id, Name, Email, IsActive, SystemModstamp FROM User WHERE UserType = 'Standard' "
            "AND SystemModstamp >= 2026-03-25T00:55:00Z ORDER BY SystemModstamp, Id",
        ),
        (QUERY, "SELECT ApiName, MasterLabel, IsClosed, IsWon FROM OpportunityStage"),
        (f"{DATA}/sobjects/Opportunity/deleted/", f"2026-03-27T14:25:00+00:00 {window}"),
        (f"{DATA}/sobjects/Opportunity/describe", ""),
        (
            QUERY_ALL,
            "SELECT Id, Name, Amount, StageName, IsClosed, IsWon, Probability, CloseDate, Type, OwnerId, CreatedDate, "
            "CurrencyIsoCode, LastStageChangeDate, SystemModstamp, IsDeleted FROM Opportunity "
            "WHERE SystemModstamp >= 2026-03-27T14:25:00Z ORDER BY SystemModstamp, Id",
        ),
        (f"{DATA}/sobjects/Lead/deleted/", f"2026-03-29T06:25:00+00:00 {window}"),
        (QUERY_ALL, f"SELECT Id, IsDeleted FROM Lead WHERE Id IN ('{lead(40)}')"),  # is lead 40 still deleted?
        (
            QUERY_ALL,
            "SELECT Id, Name, OwnerId, LeadSource, Status, IsConverted, ConvertedDate, ConvertedOpportunityId, "
            "CreatedDate, SystemModstamp, IsDeleted FROM Lead WHERE SystemModstamp >= 2026-03-29T06:25:00Z "
            "ORDER BY SystemModstamp, Id",
        ),
        (f"{DATA}/sobjects/Task/deleted/", f"2026-03-27T15:35:00+00:00 {window}"),
        (
            QUERY_ALL,
            "SELECT Id, OwnerId, WhatId, Status, IsClosed, ActivityDate, CompletedDateTime, CreatedDate, "
            "SystemModstamp, IsDeleted FROM Task WHERE TaskSubtype = 'Call' AND SystemModstamp >= 2026-03-27T15:35:00Z "
            "ORDER BY SystemModstamp, Id",
        ),
        (f"{DATA}/sobjects/Event/deleted/", f"2026-03-28T14:55:00+00:00 {window}"),
        (
            QUERY_ALL,
            "SELECT Id, OwnerId, WhatId, StartDateTime, CreatedDate, SystemModstamp, IsDeleted FROM Event "
            "WHERE SystemModstamp >= 2026-03-28T14:55:00Z ORDER BY SystemModstamp, Id",
        ),
    ]


def test_records_sharing_a_systemmodstamp_across_a_page_boundary_are_not_lost(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW, lookback=dt.timedelta(0))
    at_once = dt.datetime(2026, 4, 1, 9, 0)  # a mass update: 248 opportunities stamped the same second
    for crm_id in LIVE:
        fake.update(crm_id, Amount=Decimal(7), at=at_once)
    fake.fail_from(NEXT_PAGE, 0)  # the sync dies asking for the second page, its first one committed

    with pytest.raises(ApiError, match="HTTP 503"):
        sync(engine, fake, sleeps, full=False, now=LATER, lookback=dt.timedelta(0), max_retries=0)

    assert cursors(engine)["deals"] == '{"Opportunity":"2026-04-01T09:00:00Z"}'
    assert Counter(row["amount"] for row in rows(engine, Deal).values())[Decimal(7)] == 200
    fake.mend()

    report = sync(engine, fake, sleeps, full=False, now=LATER, lookback=dt.timedelta(0))

    # no lookback, yet the 48 opportunities stamped 09:00:00 after the first page are read: the filter is >=
    assert str(report.counts["deals"]) == "0 created, 48 updated, 200 unchanged, 0 deleted, 0 rejected"
    assert {row["amount"] for row in rows(engine, Deal).values()} == {Decimal(7)}


def test_a_change_made_while_a_sync_reads_is_read_by_the_next_sync(engine, fake, sleeps):
    def meanwhile() -> None:  # opportunity 2 was on the first page, 249 is on the second, not served yet
        fake.update(opp(2), Name="Renamed while read")
        fake.update(opp(249), Name="Renamed too")

    fake.on_page(QUERY_ALL, 1, meanwhile)  # the first queryAll of a full sync: the first page of opportunities

    sync(engine, fake, sleeps, full=True, now=NOW)
    names_then = [rows(engine, Deal)[crm_id]["name"] for crm_id in (opp(2), opp(249))]
    report = sync(engine, fake, sleeps, full=False, now=LATER)

    # the query answers a snapshot: neither change is in the sync that was reading, both are in the next
    assert names_then == ["Opportunity 2", "Opportunity 249"]
    assert [rows(engine, Deal)[crm_id]["name"] for crm_id in (opp(2), opp(249))] == [
        "Renamed while read",
        "Renamed too",
    ]
    assert str(report.counts["deals"]) == "0 created, 2 updated, 1 unchanged, 0 deleted, 0 rejected"


# -- deletions ----------------------------------------------------------------------------------------


def test_deletions_come_from_the_recycle_bin_and_from_getdeleted_once_purged(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    fake.delete(opp(16))  # 09:00:00, won (1160), in the recycle bin: queryAll lists it
    fake.purge(opp(28))  # 09:00:01, won (1280), deleted for good: only getDeleted lists it
    fake.delete(opp(22))  # 09:00:02, won, and restored at 09:00:03: it never stops counting
    fake.undelete(opp(22))
    fake.clock = dt.datetime(2026, 4, 1, 9, 2)  # getDeleted answers to the last whole minute
    fake.requests.clear()

    report = sync(engine, fake, sleeps, full=False, now=LATER)

    assert str(report.counts["deals"]) == "0 created, 1 updated, 1 unchanged, 2 deleted, 0 rejected"
    deleted = {crm_id: row["deleted_at"] for crm_id, row in rows(engine, Deal).items() if row["deleted_at"]}
    assert deleted == {opp(16): LATER, opp(28): LATER}
    assert revenue(engine) == REVENUE - 1160 - 1280
    asked = [text for path, text in soql(fake) if path == QUERY_ALL and "FROM Opportunity WHERE Id IN" in text]
    assert asked == [f"SELECT Id, IsDeleted FROM Opportunity WHERE Id IN ('{opp(16)}', '{opp(28)}', '{opp(22)}')"]


def test_a_deleted_opportunity_restored_in_salesforce_counts_again(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    fake.delete(opp(16))
    sync(engine, fake, sleeps, full=False, now=LATER)
    fake.undelete(opp(16))

    report = sync(engine, fake, sleeps, full=False, now=LATER + dt.timedelta(hours=1))

    assert str(report.counts["deals"]) == "0 created, 1 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert (rows(engine, Deal)[opp(16)]["deleted_at"], revenue(engine)) == (None, REVENUE)


def test_deletions_the_delete_log_no_longer_covers_are_reported_and_left_to_the_full_sync(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    fake.purge(opp(16))  # 09:00:00
    fake.forget_deletions(dt.datetime(2026, 4, 1, 9, 30))  # Salesforce purged its delete log
    fake.clock = dt.datetime(2026, 4, 1, 9, 31)
    incremental = connector(fake, sleeps)

    report = run_sync(engine, incremental, full=False, now=LATER)

    assert str(report.counts["deals"]) == "0 created, 0 updated, 1 unchanged, 0 deleted, 0 rejected"
    assert rows(engine, Deal)[opp(16)]["deleted_at"] is None
    assert incremental.warnings[0] == (
        "Salesforce lists Opportunity deletions only since 2026-04-01 09:30 UTC, and this sync needed them since "
        "2026-03-27 14:25 UTC: records deleted and purged from the recycle bin in that time may still count; "
        "the next full sync marks them deleted"
    )
    assert [warning.split()[2] for warning in incremental.warnings] == ["Opportunity", "Lead", "Task", "Event"]
    assert report.warnings == incremental.warnings
    assert f"  warning: {incremental.warnings[0]}" in list(report.lines())

    report = sync(engine, fake, sleeps, full=True, now=LATER)

    assert str(report.counts["deals"]) == "0 created, 0 updated, 247 unchanged, 1 deleted, 0 rejected"
    assert rows(engine, Deal)[opp(16)]["deleted_at"] == LATER


def test_a_cursor_older_than_the_delete_log_still_finds_the_recycle_bin_and_says_what_it_missed(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    fake.clock = dt.datetime(2026, 4, 16, 9, 0)  # 16 days on: getDeleted goes back 15 days
    fake.delete(opp(16))
    incremental = connector(fake, sleeps)

    report = run_sync(engine, incremental, full=False, now=LATER)

    assert str(report.counts["deals"]) == "0 created, 0 updated, 1 unchanged, 1 deleted, 0 rejected"
    assert incremental.warnings[0] == (
        "Salesforce cannot list the Opportunity deletions since 2026-03-27 14:25 UTC (Salesforce GET "
        f"{DATA}/sobjects/Opportunity/deleted/: HTTP 400 startDate cannot be before 2026-04-01T00:00:00.000+0000): "
        "records deleted and purged from the recycle bin in that time may still count; the next full sync marks "
        "them deleted"
    )
    assert len(incremental.warnings) == 4


# -- rate limits and failures -------------------------------------------------------------------------


def test_a_429_and_a_503_in_the_middle_are_waited_out_for_their_retry_after(engine, fake, sleeps):
    fake.rate_limit_once(f"{DATA}/sobjects/Opportunity/describe", status=503, headers={"Retry-After": "2"})
    fake.rate_limit_once(NEXT_PAGE, headers={"Retry-After": "3"})  # the second page of opportunities

    report = sync(engine, fake, sleeps, full=True, now=NOW)

    assert str(report.counts["deals"]) == "248 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert sleeps == [2.0, 3.0]
    pages = [request.path for request in fake.requests if request.path.startswith(NEXT_PAGE)]
    assert pages == [f"{NEXT_PAGE}01g5g0000000003AAA-200"] * 2  # refused once, then served


def test_a_5xx_is_retried_after_a_back_off(engine, fake, sleeps):
    fake.fail_once(QUERY_ALL)

    report = sync(engine, fake, sleeps, full=True, now=NOW, backoff=0.25)

    assert str(report.counts["deals"]) == "248 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert sleeps == [0.25]


def test_a_5xx_that_lasts_fails_the_sync_after_the_last_retry(engine, fake, sleeps):
    fake.fail_from(QUERY, 0)

    with pytest.raises(ApiError, match="HTTP 503 Service unavailable"):
        sync(engine, fake, sleeps, full=True, now=NOW, max_retries=3, backoff=0.25)

    assert sleeps == [0.25, 0.5, 1.0]
    assert [request.path for request in fake.requests] == [QUERY] * 4


def test_the_daily_request_limit_reached_fails_at_once_and_says_so(engine, fake, sleeps):
    fake.api_used = fake.api_limit

    with pytest.raises(ApiError) as raised:
        sync(engine, fake, sleeps, full=True, now=NOW)

    assert str(raised.value) == (
        f"Salesforce GET {QUERY}: HTTP 403 TotalRequests Limit exceeded. (REQUEST_LIMIT_EXCEEDED): the org has "
        "reached a Salesforce API limit (TotalRequests is the rolling 24-hour allowance shown in Setup > Company "
        "Information); sync again once Salesforce accepts requests"
    )
    assert (len(fake.requests), sleeps) == (1, [])


def test_a_sync_stops_politely_once_the_org_has_used_90_percent_of_its_daily_requests(engine, fake, sleeps):
    fake.api_used, fake.api_limit = 896, 1000
    polite = connector(fake, sleeps)

    with pytest.raises(ApiError) as raised:
        run_sync(engine, polite, full=True, now=NOW)

    # users, stages, describe, then the first page of opportunities brings the usage to 900 of 1,000
    assert str(raised.value) == (
        "Salesforce API usage is 900 of the org's 1,000 daily requests: syncs stop at 90% to leave the rest to the "
        "org's other integrations, and go on once the rolling 24-hour usage is lower"
    )
    assert (len(fake.requests), polite.api_usage) == (4, (900, 1000))
    assert rows(engine, Deal) == {}  # a full sync lands whole or not at all


def test_unreadable_opportunities_are_rejected_with_their_activities_and_the_rest_imports(engine, fake, sleeps):
    fake.update(opp(3), Amount=Decimal(-5))
    fake.update(opp(13), CloseDate="31/12/2026")
    fake.update(opp(14), OwnerId=user(7))  # the Automated Process user is no rep

    report = sync(engine, fake, sleeps, full=True, now=NOW)

    assert report.status == "ok"
    assert str(report.counts["deals"]) == "245 created, 0 updated, 0 unchanged, 0 deleted, 3 rejected"
    assert str(report.counts["activities"]) == "146 created, 0 updated, 0 unchanged, 0 deleted, 3 rejected"
    assert {reject.location: reject.reason for reject in report.rejects} == {
        f"Salesforce Opportunity {opp(3)}": "amount: -5.0 is negative",
        f"Salesforce Opportunity {opp(13)}": "CloseDate: '31/12/2026' is not a date and time",
        f"Salesforce Opportunity {opp(14)}": f"unknown owner '{user(7)}': no reps record with that id",
        f"Salesforce Task {task(13)}": f"unknown deal '{opp(13)}': no deals record with that id",
        f"Salesforce Task {task(14)}": f"unknown deal '{opp(14)}': no deals record with that id",
        f"Salesforce Event {event(7)}": f"unknown deal '{opp(14)}': no deals record with that id",
    }
    unreadable = next(reject for reject in report.rejects if reject.crm_id == opp(13))
    assert (unreadable.record["CloseDate"], unreadable.record["Name"]) == ("31/12/2026", "Opportunity 13")


# -- interrupted syncs --------------------------------------------------------------------------------


def many_changes(fake: FakeSalesforce) -> None:
    """A busy morning, a second per change from 09:00: opportunity 250 purged for good; each live opportunity of
    1..249 in turn closed won, given to 李 雷, re-priced, or deleted (62); 100 restored; a new opportunity; the 18
    open calls completed; meetings 2..60 by 2 deleted (30); leads 1..39 handed to Ada.
    """
    fake.purge(opp(250))
    for n in (n for n in range(1, 250) if n != 200):
        if n == 100:
            fake.undelete(opp(n))
        elif n % 4 == 0:
            fake.change_stage(opp(n), "Closed Won")
        elif n % 4 == 1:
            fake.update(opp(n), OwnerId=user(6))
        elif n % 4 == 2:
            fake.update(opp(n), Amount=Decimal(n))
        else:
            fake.delete(opp(n))
    new_opportunity(fake)
    for n in range(5, 121, 5):
        if n % 4:
            fake.update(task(n), Status="Completed", IsClosed=True, CompletedDateTime=fake.clock)
    for n in range(2, 61, 2):
        fake.delete(event(n))
    for n in range(1, 40):
        fake.update(lead(n), OwnerId=user(4))
    fake.clock += dt.timedelta(minutes=2)  # the sync runs two minutes after the last change


def killed_sync(engine: Engine, fake: FakeSalesforce, sleeps: list[float]) -> None:
    """:func:`many_changes`, then an incremental sync killed when it asks for a second page of opportunities."""
    many_changes(fake)
    fake.fail_from(NEXT_PAGE, 0)
    with pytest.raises(ApiError, match="HTTP 503"):
        sync(engine, fake, sleeps, full=False, now=LATER, max_retries=0)


def test_an_incremental_sync_killed_between_pages_keeps_the_pages_before(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    before = rows(engine, Deal)

    killed_sync(engine, fake, sleeps)

    # getDeleted's page (opportunity 250 purged, the 62 deleted), then the first page: 200 changes to 1..201,
    # 50 of them deletions already marked, 150 others (100 restored among them)
    after = rows(engine, Deal)
    assert len([crm_id for crm_id in changed(before, after) if after[crm_id]["deleted_at"] is None]) == 150
    assert len([row for row in after.values() if row["deleted_at"] == LATER]) == 63
    assert cursors(engine) == {**CURSORS, "deals": '{"Opportunity":"2026-04-01T09:03:20Z"}'}
    run = last_run(engine)
    assert (run.status, run.deleted) == ("failed", 63)


def test_an_incremental_sync_resumed_after_a_kill_gives_the_data_of_one_never_killed(engine, fake, sleeps):
    sync(engine, fake, sleeps, full=True, now=NOW)
    killed_sync(engine, fake, sleeps)
    fake.mend()

    report = sync(engine, fake, sleeps, full=False, now=LATER)

    assert report.status == "ok"
    resumed = database(engine)
    emptied(engine)
    with FakeSalesforce() as twin:
        sync(engine, twin, sleeps, full=True, now=NOW)
        many_changes(twin)
        sync(engine, twin, sleeps, full=False, now=LATER)
    assert resumed == database(engine)
    assert len([row for row in resumed["deals"].values() if row["deleted_at"] == LATER]) == 63
    assert len([row for row in resumed["activities"].values() if row["deleted_at"] == LATER]) == 30


# -- logging in ---------------------------------------------------------------------------------------


def test_the_client_credentials_flow_gives_the_org_url_and_a_token_that_reads_it(engine, fake, sleeps):
    instance, token = salesforce_login(fake.url, CLIENT_ID, CLIENT_SECRET, sleep=sleeps.append)

    assert (instance, token) == (fake.url, TOKEN)
    credentials = {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    assert [(request.method, request.path, request.params) for request in fake.requests] == [
        ("POST", TOKEN_PATH, credentials)
    ]
    report = run_sync(engine, SalesforceConnector(instance, token, sleep=sleeps.append), full=True, now=NOW)
    assert report.status == "ok"


def test_a_refused_login_says_why_without_retrying(fake, sleeps):
    with pytest.raises(ApiError) as raised:
        salesforce_login(fake.url, CLIENT_ID, "not the secret", sleep=sleeps.append)

    assert str(raised.value) == f"Salesforce login at {fake.url} failed: invalid_client: invalid client credentials"
    assert (raised.value.status, len(fake.requests), sleeps) == (400, 1, [])


# -- the fake itself ----------------------------------------------------------------------------------


def test_the_fake_answers_soql_as_salesforce_does_and_refuses_what_salesforce_would_refuse(fake, sleeps):
    client = connector(fake, sleeps)

    answer = client.get(
        QUERY,
        {
            "q": "select id, amount from opportunity where (StageName = 'closed won' or StageName IN ('Legacy')) "
            "and Amount > 3400 order by Amount desc limit 3"
        },
    )

    assert answer["totalSize"] == 3 and answer["done"] is True
    assert [(row["Id"], row["Amount"]) for row in answer["records"]] == [
        (opp(4), 12345678901.23),
        (opp(250), 3500.0),
        (opp(244), 3440.0),
    ]
    assert answer["records"][0]["attributes"] == {"type": "Opportunity", "url": f"{DATA}/sobjects/Opportunity/{opp(4)}"}
    refused = {
        "SELECT Id, Nope FROM Opportunity": "INVALID_FIELD",
        "SELECT Id FROM Opportunity WHERE SystemModstamp >= '2026-04-01T00:00:00Z'": "INVALID_FIELD",
        "SELECT Id FROM Opportunity WHERE IsWon = true AND IsClosed = true OR Amount > 0": "MALFORMED_QUERY",
        "SELECT Id FROM Opportunity ORDER Amount": "MALFORMED_QUERY",
        "SELECT Id FROM Opportunities": "INVALID_TYPE",
    }
    for query, code in refused.items():
        with pytest.raises(ApiError) as raised:
            client.get(QUERY, {"q": query})
        assert (raised.value.status, raised.value.body[0]["errorCode"]) == (400, code), query


# -- the neutral business -----------------------------------------------------------------------------


def test_the_neutral_business_syncs_as_its_facts_say(engine, fake, sleeps):
    business = sample()
    fake.load(business)

    report = sync(engine, fake, sleeps, full=True, now=NOW)

    assert counts(report) == {
        "reps": "5 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "deals": "40 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "leads": "12 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "activities": "30 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
    }
    ids = fake.ids
    deals = rows(engine, Deal)
    assert deals[ids["d3"]] == {
        "owner": ids["u4"],
        "account": None,
        "name": "Deal 3",
        "product": None,
        "amount": Decimal("1750.00"),
        "cost": None,
        "currency": "USD",
        "stage": "Closed Won",
        "status": "won",
        "type": "new",
        "probability": Decimal("1"),
        "contract_months": None,
        "created_at": dt.datetime(2026, 1, 4, 9, 30),
        "close_date": dt.datetime(2026, 3, 4),  # Salesforce keeps the day of 15:45
        "updated_at": dt.datetime(2026, 3, 25, 0, 0, 13),  # loaded a second apart: 5 users, 5 stages, d0..
        "stage_changed_at": dt.datetime(2026, 1, 4, 9, 30),
        "deleted_at": None,
    }
    won = sum((sale.amount or 0 for sale in business.sales if sale.status == "won"), Decimal(0))
    assert revenue(engine) == won
    leads = rows(engine, Lead)
    converted = {(row["converted_deal"], row["converted_at"]) for row in leads.values() if row["converted_at"]}
    assert converted == {
        (ids[p.converted_sale], dt.datetime(2026, 1, 20 + i)) for i, p in enumerate(business.prospects) if p.converted
    }
    calls_made = {
        crm_id for crm_id, row in rows(engine, Activity).items() if row["type"] == "call" and row["occurred_at"]
    }
    assert calls_made == {ids[touch.id] for touch in business.touches if touch.kind == "call" and touch.done}
