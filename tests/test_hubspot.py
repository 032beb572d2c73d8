"""The HubSpot connector against a fake HubSpot API, synced into both backends.

The fake's default portal (tests/fakes/hubspot.py): owners 101-105 (105 archived) in teams 7001 and 7002;
deals 1000-1146 live (1147-1149 archived), cycling through 8 stages of 2 pipelines, last modified one
minute apart from 2026-03-01 00:00 (so the newest is 1146, at 02:26); calls and meetings 5000...; contacts
3000-3078. Tests change it through the fake's mutators, stamped from 2026-04-01 09:00 on.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from email.message import Message
from functools import partial

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from crm.http import ApiError, Throttle
from crm.hubspot import RATE_LIMIT, SEARCH_RATE_LIMIT, HubSpotConnector, rate_limit_wait
from crm.sync import run_sync
from kpi.links import link_templates
from kpi.schema import Activity, Deal, Lead, Rep, Team
from tests import crm_rows
from tests.crm_rows import counts
from tests.fakes.business import sample
from tests.fakes.hubspot import START, TOKEN, FakeHubSpot, iso, ms
from tests.test_stage_history import stays

NOW = dt.datetime(2026, 4, 2, 12, 0)
LATER = NOW + dt.timedelta(days=1)
DEALS_SEARCH = "/crm/v3/objects/deals/search"

#: The newest seeded deal (1146) was modified at 02:26; a full sync leaves that as the deals cursor.
DEALS_CURSOR = '{"deals": "2026-03-01T02:26:00.000Z"}'
#: Won deals (stages closedwon and renewal-won, every 8th deal from 1003 and 1006) are worth 1000 + 10 * i,
#: but 1003 has no amount.
WON_REVENUE = Decimal("61070.00")


@pytest.fixture
def fake():
    with FakeHubSpot() as fake:
        yield fake


def connector(fake: FakeHubSpot, sleeps: list[float] | None = None, **options) -> HubSpotConnector:
    """A connector with small pages whose throttles never wait and whose sleeps are recorded, not slept."""
    options = {
        "page_size": 7,
        "throttle": Throttle(10**9, 1.0),
        "search_throttle": Throttle(10**9, 1.0),
        "sleep": (sleeps if sleeps is not None else []).append,
        **options,
    }
    return HubSpotConnector(fake.url, TOKEN, **options)


def epoch(moment: dt.datetime) -> str:
    """A time as search filters give it: epoch milliseconds."""
    return str(ms(moment))


def at(seconds: int) -> dt.datetime:
    """A moment of the test's changes: ``seconds`` after 2026-04-01 09:00."""
    return START + dt.timedelta(seconds=seconds)


def _by_id(engine: Engine, query) -> dict[str, dict]:
    with engine.connect() as connection:
        return {row.crm_id: row._asdict() for row in connection.execute(query)}


def link_rows(engine: Engine) -> dict[tuple[str, str], str]:
    with engine.connect() as connection:
        return link_templates(connection)


def deals(engine: Engine) -> dict[str, dict]:
    owner = aliased(Rep)
    columns = [Deal.crm_id, Deal.name, Deal.amount, Deal.currency, Deal.status, Deal.stage, Deal.probability]
    columns += [Deal.created_at, Deal.close_date, Deal.updated_at, Deal.deleted_at, owner.email.label("owner")]
    return _by_id(engine, select(*columns).outerjoin(owner, Deal.owner_id == owner.id))


def activities(engine: Engine) -> dict[str, dict]:
    columns = [Activity.crm_id, Activity.type, Rep.email.label("owner"), Deal.crm_id.label("deal")]
    columns += [Activity.created_at, Activity.occurred_at, Activity.deleted_at]
    query = select(*columns).outerjoin(Rep, Activity.owner_id == Rep.id).outerjoin(Deal, Activity.deal_id == Deal.id)
    return _by_id(engine, query)


def leads(engine: Engine) -> dict[str, dict]:
    columns = [Lead.crm_id, Lead.name, Rep.email.label("owner"), Lead.lead_source, Lead.status, Lead.created_at]
    columns += [Lead.mql_at, Lead.sql_at, Lead.converted_at, Deal.crm_id.label("deal"), Lead.deleted_at]
    query = select(*columns).outerjoin(Rep, Lead.owner_id == Rep.id)
    return _by_id(engine, query.outerjoin(Deal, Lead.converted_deal_id == Deal.id))


def reps(engine: Engine) -> dict[str, dict]:
    query = select(Rep.crm_id, Rep.name, Rep.email, Rep.active, Team.crm_id.label("team"))
    return _by_id(engine, query.outerjoin(Team, Rep.team_id == Team.id))


#: HubSpot's cursors, and what its won deals are worth (tests/crm_rows.py).
cursors = partial(crm_rows.cursors, source="hubspot")
revenue = partial(crm_rows.revenue, source="hubspot")


def searches(fake: FakeHubSpot, path: str = DEALS_SEARCH) -> list[dict]:
    return [request.body for request in fake.requests if request.method == "POST" and request.path == path]


# -- full sync ---------------------------------------------------------------------------------------


def test_full_sync_gives_the_canonical_rows(engine, fake):
    report = run_sync(engine, connector(fake), full=True, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert counts(report) == {
        "teams": "2 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "reps": "5 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "deals": "147 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "leads": "79 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
        "activities": "97 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected",
    }

    with engine.connect() as connection:
        assert dict(connection.execute(select(Team.crm_id, Team.name)).all()) == {"7001": "Équipe Nord", "7002": "Süd"}
    assert reps(engine) == {
        "101": {"crm_id": "101", "name": "Zoë Ångström", "email": "zoe@example.com", "active": True, "team": "7001"},
        "102": {"crm_id": "102", "name": "Björn Müller", "email": "bjorn@example.com", "active": True, "team": "7001"},
        "103": {"crm_id": "103", "name": "José Núñez", "email": "jose@example.com", "active": True, "team": "7002"},
        "104": {"crm_id": "104", "name": "Ada Lovelace", "email": "ada@example.com", "active": True, "team": None},
        # archived in HubSpot: inactive, not deleted, since deals still name her
        "105": {"crm_id": "105", "name": "Grace Hopper", "email": "grace@example.com", "active": False, "team": "7002"},
    }

    rows = deals(engine)
    assert sorted(rows) == [str(1000 + i) for i in range(147)]  # 1147-1149 are archived
    assert rows["1000"] == {
        "crm_id": "1000",
        "name": "Contrat café — Zürich",
        "amount": Decimal("1000.00"),
        "currency": "EUR",
        "status": "open",
        "stage": "Appointment scheduled",
        "probability": Decimal("0.2000"),
        "created_at": dt.datetime(2026, 1, 1, 9, 30),
        "close_date": dt.datetime(2026, 4, 1),  # an open deal's expected close date
        "updated_at": dt.datetime(2026, 3, 1, 0, 0),
        "deleted_at": None,
        "owner": "zoe@example.com",
    }
    assert [rows[f"{1000 + i}"]["amount"] for i in range(1, 5)] == [Decimal("1200.50"), None, None, Decimal("999.99")]
    assert (rows["1003"]["status"], rows["1003"]["stage"]) == ("won", "Closed won")
    assert rows["1003"]["close_date"] == dt.datetime(2026, 2, 4, 15, 45)
    assert (rows["1004"]["status"], rows["1004"]["stage"], rows["1004"]["probability"]) == ("lost", "Closed lost", 0)
    assert (rows["1005"]["status"], rows["1005"]["stage"]) == ("open", "Renouvellement")
    assert rows["1005"]["close_date"] == dt.datetime(2026, 4, 6)  # closedate sent as epoch milliseconds
    assert (rows["1006"]["status"], rows["1006"]["stage"]) == ("won", "Renouvelé")
    assert (rows["1007"]["status"], rows["1007"]["stage"]) == ("lost", "Résilié")
    assert rows["1015"]["close_date"] == dt.datetime(2026, 2, 16, 15, 45)
    assert rows["1104"]["owner"] == "grace@example.com"  # an archived owner's deal keeps its owner
    by_status: dict[str, int] = {}
    for row in rows.values():
        by_status[row["status"]] = by_status.get(row["status"], 0) + 1
    assert by_status == {"open": 75, "won": 36, "lost": 36}
    assert revenue(engine) == WON_REVENUE

    acts = activities(engine)
    assert len(acts) == 97
    assert sorted(crm_id for crm_id in acts if crm_id.startswith("call-")) == [f"call-{5000 + i}" for i in range(58)]
    assert sorted(crm_id for crm_id in acts if crm_id.startswith("meeting-")) == [
        f"meeting-{5000 + i}" for i in range(39)
    ]
    assert acts["call-5001"] == {
        "crm_id": "call-5001",
        "type": "call",
        "owner": "bjorn@example.com",
        "deal": "1001",
        "created_at": dt.datetime(2026, 2, 1, 10, 1),
        "occurred_at": dt.datetime(2026, 2, 2, 10, 1),
        "deleted_at": None,
    }
    assert acts["meeting-5001"]["type"] == "meeting"  # same HubSpot id as call 5001, another record
    assert acts["call-5000"]["deal"] is None
    assert acts["call-5004"]["occurred_at"] is None  # NO_ANSWER
    assert acts["meeting-5000"] == {
        "crm_id": "meeting-5000",
        "type": "meeting",
        "owner": "zoe@example.com",
        "deal": "1000",
        "created_at": dt.datetime(2026, 1, 30, 14, 30),
        "occurred_at": dt.datetime(2026, 2, 1, 14, 30),
        "deleted_at": None,
    }
    assert acts["meeting-5003"]["occurred_at"] is None  # SCHEDULED

    people = leads(engine)
    assert len(people) == 79
    assert people["3000"] == {
        "crm_id": "3000",
        "name": "Sam Contact0",
        "owner": "zoe@example.com",
        "lead_source": "organic search",
        "status": "converted",
        "created_at": dt.datetime(2026, 1, 1, 8, 0),
        "mql_at": dt.datetime(2026, 1, 2, 8, 0),
        "sql_at": dt.datetime(2026, 1, 4, 8, 0),
        "converted_at": dt.datetime(2026, 1, 6, 8, 0),  # its opportunity date
        "deal": "1000",
        "deleted_at": None,
    }
    # linked to deal 1005 without an opportunity date: converted when the deal was created
    assert (people["3005"]["status"], people["3005"]["converted_at"]) == ("converted", dt.datetime(2026, 1, 6, 9, 30))
    assert people["3005"]["deal"] == "1005"
    assert people["3001"] == {
        "crm_id": "3001",
        "name": "Léa Contact1",
        "owner": "bjorn@example.com",
        "lead_source": "referral",
        "status": "open",
        "created_at": dt.datetime(2026, 1, 2, 8, 0),
        "mql_at": None,
        "sql_at": None,
        "converted_at": None,
        "deal": None,
        "deleted_at": None,
    }
    assert sum(row["lead_source"] == "referral" for row in people.values()) == 16
    assert sum(row["status"] == "converted" for row in people.values()) == 16

    assert cursors(engine) == {
        "deals": DEALS_CURSOR,
        "leads": '{"contacts": "2026-03-01T05:28:00.000Z"}',
        "activities": '{"calls": "2026-03-01T03:27:00.000Z", "meetings": "2026-03-01T04:08:00.000Z"}',
    }


def test_every_request_carries_the_token_and_a_wrong_token_fails_clearly(engine, fake):
    wrong = HubSpotConnector(fake.url, "wrong", sleep=[].append)
    with pytest.raises(ApiError, match="HTTP 401 Authentication credentials not found.*check the private app's access"):
        run_sync(engine, wrong, full=True, now=NOW)
    assert len(fake.requests) == 1  # a 401 is not retried

    with pytest.raises(ValueError, match="HubSpot needs an access token"):
        HubSpotConnector(fake.url, "")


def test_the_business_data_set_loads_in_hubspot_shapes(engine, fake):
    business = sample()
    fake.load(business)

    report = run_sync(engine, connector(fake), full=True, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert {name: object_counts.created for name, object_counts in report.counts.items()} == {
        "teams": 0,
        "reps": 5,
        "deals": 40,
        "leads": 12,
        "activities": 30,
    }
    assert report.total.rejected == 0
    won = sum(sale.amount or 0 for sale in business.sales if sale.status == "won")
    assert revenue(engine) == won
    rows = deals(engine)
    assert {row["stage"] for row in rows.values()} == {stage.label for stage in business.stages}
    for i, sale in enumerate(business.sales):
        row = rows[str(1000 + i)]
        assert (row["name"], row["status"], row["amount"], row["close_date"]) == (
            sale.name,
            sale.status,
            sale.amount,
            sale.closed,
        )
    assert sum(row["occurred_at"] is not None for row in activities(engine).values()) == sum(
        touch.done for touch in business.touches
    )
    converted = {row["crm_id"]: row["converted_at"] for row in leads(engine).values() if row["converted_at"]}
    assert converted == {str(3000 + i): p.converted for i, p in enumerate(business.prospects) if p.converted}
    assert reps(engine)["105"]["active"] is False


# -- incremental sync --------------------------------------------------------------------------------


def test_incremental_sync_reads_what_changed_since_the_cursor(engine, fake):
    run_sync(engine, connector(fake), full=True, now=NOW)
    before = deals(engine)
    fake.requests.clear()
    fake.change_stage(1010, "closedwon", at=at(0))
    fake.change_owner("deals", 1011, 104, at=at(10))
    fake.update("deals", 1012, at=at(20), amount="2,500.75")
    fake.archive("deals", 1013, at=at(30))
    fake.add("deals", 1200, created=at(40), at=at(40), dealname="Nouveau", dealstage="qualifiedtobuy", amount="50")
    fake.change_owner("calls", 5001, 103, at=at(50))
    fake.update("contacts", 3005, at=at(60), lastname="Contact5 (rappel)")

    report = run_sync(engine, connector(fake), full=False, now=LATER)

    assert report.status == "ok", list(report.lines())
    # the lookback (5 minutes) reads the last 6 seeded records of each type again: deals 1141-1146 (modified
    # from 02:21 to 02:26), calls 5052-5057, meetings 5033-5038, contacts 3073-3078; they are unchanged
    assert str(report.counts["deals"]) == "1 created, 3 updated, 6 unchanged, 1 deleted, 0 rejected"
    assert str(report.counts["activities"]) == "0 created, 1 updated, 12 unchanged, 0 deleted, 0 rejected"
    assert str(report.counts["leads"]) == "0 created, 1 updated, 6 unchanged, 0 deleted, 0 rejected"
    after = deals(engine)
    assert {crm_id for crm_id in after if after[crm_id] != before.get(crm_id)} == {
        "1010",
        "1011",
        "1012",
        "1013",
        "1200",
    }
    assert (after["1010"]["status"], after["1010"]["stage"], after["1010"]["close_date"]) == (
        "won",
        "Closed won",
        at(0),
    )
    assert (after["1010"]["probability"], after["1010"]["updated_at"]) == (Decimal("1.0000"), at(0))
    assert after["1011"]["owner"] == "ada@example.com"
    assert after["1012"]["amount"] == Decimal("2500.75")
    assert after["1013"]["deleted_at"] == LATER
    assert after["1200"] == {
        "crm_id": "1200",
        "name": "Nouveau",
        "amount": Decimal("50.00"),
        "currency": None,
        "status": "open",
        "stage": "Qualified to buy",
        "probability": None,
        "created_at": at(40),
        "close_date": None,
        "updated_at": at(40),
        "deleted_at": None,
        "owner": None,
    }
    assert revenue(engine) == WON_REVENUE + 1100  # deal 1010 is worth 1000 + 10 * 10
    # search results carry no associations: they come from a v4 batch read, and stay
    assert activities(engine)["call-5001"]["owner"] == "jose@example.com"
    assert activities(engine)["call-5001"]["deal"] == "1001"
    assert leads(engine)["3005"]["name"] == "Léa Contact5 (rappel)"
    assert leads(engine)["3005"]["converted_at"] == dt.datetime(2026, 1, 6, 9, 30)

    since = epoch(dt.datetime(2026, 3, 1, 2, 21))  # the cursor minus the lookback
    assert searches(fake)[0] == {
        "filterGroups": [{"filters": [{"propertyName": "hs_lastmodifieddate", "operator": "GTE", "value": since}]}],
        "sorts": [{"propertyName": "hs_lastmodifieddate", "direction": "ASCENDING"}],
        "properties": [
            "dealname",
            "amount",
            "dealstage",
            "closedate",
            "createdate",
            "hubspot_owner_id",
            "deal_currency_code",
            "hs_deal_stage_probability",
            "hs_lastmodifieddate",
        ],
        "limit": 7,
    }
    call_ids = [*range(5052, 5058), 5001]  # as the search found them: oldest change first
    assert searches(fake, "/crm/v4/associations/calls/deals/batch/read") == [
        {"inputs": [{"id": str(call_id)} for call_id in call_ids]}
    ]
    assert cursors(engine) == {
        "deals": '{"deals": "2026-04-01T09:00:40.000Z"}',
        "leads": '{"contacts": "2026-04-01T09:01:00.000Z"}',
        "activities": '{"calls": "2026-04-01T09:00:50.000Z", "meetings": "2026-03-01T04:08:00.000Z"}',
    }


def test_a_deals_stages_come_from_its_dealstage_history_in_full_and_incremental_syncs(engine, fake):
    fake.change_stage(1001, "contractsent", at=dt.datetime(2026, 2, 10, 11, 0))  # from "Qualified to buy"
    run_sync(engine, connector(fake), full=True, now=NOW)
    full = stays(engine)
    fake.requests.clear()
    fake.change_stage(1000, "qualifiedtobuy", at=at(0))  # from "Appointment scheduled"

    run_sync(engine, connector(fake), full=False, now=LATER)

    created_0, created_1 = dt.datetime(2026, 1, 1, 9, 30), dt.datetime(2026, 1, 2, 9, 30)
    assert [stay for stay in full if stay[0] in ("1000", "1001")] == [
        ("1000", "Appointment scheduled", created_0, None, "crm"),
        ("1001", "Qualified to buy", created_1, dt.datetime(2026, 2, 10, 11, 0), "crm"),
        ("1001", "Contract sent", dt.datetime(2026, 2, 10, 11, 0), None, "crm"),
    ]
    assert len(full) == 148  # one stay per live deal (147), two for 1001
    assert [stay for stay in stays(engine) if stay[0] == "1000"] == [
        ("1000", "Appointment scheduled", created_0, at(0), "crm"),
        ("1000", "Qualified to buy", at(0), None, "crm"),
    ]
    searched = ["1141", "1142", "1143", "1144", "1145", "1146", "1000"]  # with the deals of the lookback
    read = [request.body for request in fake.requests if "propertiesWithHistory" in (request.body or {})]
    assert read == [
        {"properties": [], "propertiesWithHistory": ["dealstage"], "inputs": [{"id": id} for id in searched]}
    ]


def test_deals_and_contacts_open_in_the_portal_the_account_details_name(engine, fake):
    run_sync(engine, connector(fake), full=True, now=NOW)
    eu = link_rows(engine)
    del fake.account["uiDomain"]  # an account that does not say: hosted in the US

    run_sync(engine, connector(fake), full=True, now=LATER)

    assert eu == {
        ("hubspot", "deals"): "https://app-eu1.hubspot.com/contacts/62515/record/0-3/{id}",
        ("hubspot", "leads"): "https://app-eu1.hubspot.com/contacts/62515/record/0-1/{id}",
    }
    assert link_rows(engine)[("hubspot", "deals")] == "https://app.hubspot.com/contacts/62515/record/0-3/{id}"


def test_an_archived_record_is_deleted_and_comes_back_when_restored(engine, fake):
    run_sync(engine, connector(fake), full=True, now=NOW)
    fake.archive("deals", 1003, at=at(0))  # a won deal
    fake.archive("calls", 5001, at=at(1))
    fake.archive("contacts", 3001, at=at(2))

    report = run_sync(engine, connector(fake), full=False, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert [report.counts[name].deleted for name in ("deals", "leads", "activities")] == [1, 1, 1]
    assert deals(engine)["1003"]["deleted_at"] == NOW
    assert activities(engine)["call-5001"]["deleted_at"] == NOW
    assert activities(engine)["meeting-5001"]["deleted_at"] is None  # the same HubSpot id, another type
    assert leads(engine)["3001"]["deleted_at"] == NOW
    assert revenue(engine) == WON_REVENUE  # 1003 had no amount
    # archived long before the cursor (the seeded 1147-1149): not listed again
    assert set(deals(engine)) == {str(1000 + i) for i in range(147)}

    fake.restore("deals", 1003, at=at(600))
    report = run_sync(engine, connector(fake), full=False, now=LATER)

    assert report.status == "ok", list(report.lines())
    assert str(report.counts["deals"]) == "0 created, 1 updated, 6 unchanged, 0 deleted, 0 rejected"
    assert deals(engine)["1003"]["deleted_at"] is None
    assert deals(engine)["1003"]["updated_at"] == at(600)


def test_search_never_pages_past_its_cap_and_misses_nothing(engine):
    with FakeHubSpot(search_cap=25) as fake:
        run_sync(engine, connector(fake), full=True, now=NOW)
        # 40 deals changed one second apart, then 30 more at one instant: more than a page, more than the cap
        for i in range(40):
            fake.update("deals", 1000 + i, at=at(i), amount=str(5000 + i))
        for i in range(40, 70):
            fake.update("deals", 1000 + i, at=at(100), amount=str(5000 + i))
        # HubSpot refuses to page a query past its cap
        body = {"filterGroups": [], "sorts": [], "limit": 7, "after": "25"}
        with pytest.raises(ApiError, match="HTTP 400 Search results are limited to 25 records"):
            connector(fake, max_retries=0).api.post(DEALS_SEARCH, body)
        fake.requests.clear()

        report = run_sync(engine, connector(fake), full=False, now=LATER)

    assert report.status == "ok", list(report.lines())
    assert str(report.counts["deals"]) == "0 created, 70 updated, 6 unchanged, 0 deleted, 0 rejected"
    rows = deals(engine)
    assert [rows[str(1000 + i)]["amount"] for i in range(70)] == [Decimal(5000 + i) for i in range(70)]
    assert all("after" not in body for body in searches(fake))
    filters = [
        [(rule["operator"], rule["value"]) for rule in body["filterGroups"][0]["filters"]] for body in searches(fake)
    ]
    tie = epoch(at(100))
    assert filters == [
        [("GTE", epoch(dt.datetime(2026, 3, 1, 2, 21)))],  # the cursor minus the lookback
        # each page a new query from the last modification time read
        *[[("GTE", epoch(at(second)))] for second in (0, 6, 12, 18, 24, 30, 36)],
        [("GTE", tie)],
        # a whole page modified at one instant: that instant by id, then on from the next millisecond
        *[[("EQ", tie), ("GT", after)] for after in ("0", "1046", "1053", "1060", "1067")],
        [("GTE", str(int(tie) + 1))],
    ]
    assert cursors(engine)["deals"] == '{"deals": "2026-04-01T09:01:40.000Z"}'


def test_a_record_changed_during_the_sync_is_read_without_skipping_another(engine, fake):
    run_sync(engine, connector(fake), full=True, now=NOW)
    for i in range(20):
        fake.update("deals", 1000 + i, at=at(i), amount=str(5000 + i))
    # right after the first page (the 6 deals of the lookback and 1000), 1000 changes again: it moves to the
    # end of the results; an offset would then skip the deal after it
    fake.on_page(DEALS_SEARCH, 1, lambda: fake.update("deals", 1000, at=at(30), amount="777"))

    report = run_sync(engine, connector(fake), full=False, now=LATER)

    assert report.status == "ok", list(report.lines())
    rows = deals(engine)
    assert rows["1000"]["amount"] == Decimal("777.00")
    assert [rows[str(1000 + i)]["amount"] for i in range(1, 20)] == [Decimal(5000 + i) for i in range(1, 20)]
    assert str(report.counts["deals"]) == "0 created, 21 updated, 6 unchanged, 0 deleted, 0 rejected"
    assert cursors(engine)["deals"] == '{"deals": "2026-04-01T09:00:30.000Z"}'


def test_a_change_committed_late_is_read_by_the_next_sync_thanks_to_the_lookback(engine, fake):
    run_sync(engine, connector(fake), full=True, now=NOW)
    fake.update("deals", 1000, at=at(60), amount="6000")
    # HubSpot's search index shows a change stamped 09:00:30 only after the sync has read past 09:01:00
    late = lambda: fake.update("deals", 1001, at=at(30), amount="7000")  # noqa: E731
    fake.on_page(DEALS_SEARCH, 1, late)

    run_sync(engine, connector(fake), full=False, now=NOW)
    assert deals(engine)["1001"]["amount"] == Decimal("1200.50")  # not seen yet
    assert cursors(engine)["deals"] == '{"deals": "2026-04-01T09:01:00.000Z"}'

    report = run_sync(engine, connector(fake), full=False, now=LATER)

    assert str(report.counts["deals"]) == "0 created, 1 updated, 1 unchanged, 0 deleted, 0 rejected"
    assert deals(engine)["1001"]["amount"] == Decimal("7000.00")


# -- failures ----------------------------------------------------------------------------------------


def test_a_429_is_waited_out_as_hubspot_says(engine, fake):
    fake.rate_limit_once("/crm/v3/objects/deals")  # the burst limit: X-HubSpot-RateLimit-Remaining: 0
    sleeps: list[float] = []

    report = run_sync(engine, connector(fake, sleeps), full=True, now=NOW)

    assert report.status == "ok"
    assert report.counts["deals"].created == 147
    assert sleeps == [10.0]  # X-HubSpot-RateLimit-Interval-Milliseconds: 10000
    lists = [request.params for request in fake.requests if request.path == "/crm/v3/objects/deals"]
    assert "after" not in lists[0] and "after" not in lists[1]  # refused once, then served

    fake.rate_limit_once(DEALS_SEARCH, headers={"Retry-After": "3"})
    sleeps.clear()
    report = run_sync(engine, connector(fake, sleeps), full=False, now=NOW)
    assert report.status == "ok"
    assert sleeps == [3.0]


@pytest.mark.parametrize(
    ("status", "headers", "wait"),
    [
        (429, {"Retry-After": "2"}, 2.0),
        (429, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Remaining": "0"}, 10.0),
        (429, {"X-HubSpot-RateLimit-Secondly-Remaining": "0", "X-HubSpot-RateLimit-Remaining": "40"}, 1.0),
        (429, {}, 1.0),
        (200, {"X-HubSpot-RateLimit-Interval-Milliseconds": "10000", "X-HubSpot-RateLimit-Remaining": "0"}, 10.0),
        (200, {"X-HubSpot-RateLimit-Remaining": "99", "X-HubSpot-RateLimit-Secondly-Remaining": "9"}, None),
        (200, {}, None),
        (500, {}, None),  # then JsonApi backs off
    ],
)
def test_rate_limit_wait_reads_hubspot_headers(status, headers, wait):
    message = Message()
    for name, value in headers.items():
        message[name] = value
    assert rate_limit_wait(status, message) == wait


def test_a_5xx_is_retried_with_back_off_then_given_up(engine, fake):
    fake.fail_once("/crm/v3/objects/calls")
    sleeps: list[float] = []
    report = run_sync(engine, connector(fake, sleeps, backoff=0.25), full=True, now=NOW)
    assert report.status == "ok"
    assert report.counts["activities"].created == 97
    assert sleeps == [0.25]

    fake.fail_from("/crm/v3/owners", 0)
    sleeps.clear()
    with pytest.raises(ApiError, match="HubSpot GET /crm/v3/owners: HTTP 503"):
        list(connector(fake, sleeps, max_retries=3, backoff=0.25).read("reps", None))
    assert sleeps == [0.25, 0.5, 1.0]


def test_searches_keep_to_five_a_second_and_other_requests_to_a_hundred_in_ten_seconds(fake):
    for i in range(60):
        fake.update("deals", 1000 + i, at=at(i), amount="1")
    clock = [0.0]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(round(seconds, 3))
        clock[0] += seconds

    hubspot = connector(
        fake,
        throttle=Throttle(*RATE_LIMIT, clock=lambda: clock[0]),
        search_throttle=Throttle(*SEARCH_RATE_LIMIT, clock=lambda: clock[0]),
        sleep=sleep,
    )
    pages = list(hubspot.read("deals", DEALS_CURSOR))

    assert sum(len(page.records) for page in pages) == 66  # with the 6 deals of the lookback
    assert len(searches(fake)) == 11  # 6 new deals a page: each query starts with the last deal read
    assert slept == [1.0, 1.0]  # the 6th and the 11th search wait for the second of the 1st and the 6th to pass
    # with the pipelines, the archived deals and a batch read of stage histories per search
    assert hubspot.api.requests == 24
    for _ in range(39):
        list(hubspot.read("reps", None))  # 2 owner lists each
    assert hubspot.api.requests == 102
    assert slept == [1.0, 1.0, 8.0]  # the 101st request since 0 s, at 2 s, waits until 10 s


def test_a_sync_killed_between_pages_resumes_where_it_stopped(engine, fake):
    run_sync(engine, connector(fake), full=True, now=NOW)
    for i in range(30):
        fake.update("deals", 1000 + i, at=at(i), amount=str(5000 + i))
    fake.fail_from(DEALS_SEARCH, 2)  # two pages, then HubSpot goes down

    with pytest.raises(ApiError, match="HTTP 503"):
        run_sync(engine, connector(fake, max_retries=0), full=False, now=LATER)

    # the two pages read are kept with their cursor: the 6 deals of the lookback and 1000, then 1001-1006
    assert cursors(engine)["deals"] == '{"deals": "2026-04-01T09:00:06.000Z"}'
    rows = deals(engine)
    assert [rows[str(1000 + i)]["amount"] for i in (6, 7)] == [Decimal(5006), Decimal(1070)]

    fake.mend()
    report = run_sync(engine, connector(fake), full=False, now=LATER)

    assert report.status == "ok", list(report.lines())
    rows = deals(engine)
    assert [rows[str(1000 + i)]["amount"] for i in range(30)] == [Decimal(5000 + i) for i in range(30)]
    assert cursors(engine)["deals"] == '{"deals": "2026-04-01T09:00:29.000Z"}'
    # the same rows as an uninterrupted run: a full read finds nothing to change
    report = run_sync(engine, connector(fake), full=True, now=LATER)
    assert str(report.counts["deals"]) == "0 created, 0 updated, 147 unchanged, 0 deleted, 0 rejected"


def test_unreadable_records_are_rejected_and_the_rest_import(engine, fake):
    fake.update("deals", 1020, amount="abc")
    fake.update("deals", 1021, dealstage="nostage")
    fake.update("deals", 1022, amount="-5")
    fake.update("calls", 5010, hs_timestamp="yesterday")

    report = run_sync(engine, connector(fake), full=True, now=NOW)

    assert report.status == "ok", list(report.lines())
    assert str(report.counts["deals"]) == "144 created, 0 updated, 0 unchanged, 0 deleted, 3 rejected"
    assert str(report.counts["activities"]) == "93 created, 0 updated, 0 unchanged, 0 deleted, 4 rejected"
    assert str(report.counts["leads"]) == "78 created, 0 updated, 0 unchanged, 0 deleted, 1 rejected"
    assert {reject.location: reject.reason for reject in report.rejects} == {
        "HubSpot deal 1020": "amount: 'abc' is not a number",
        "HubSpot deal 1021": "dealstage: 'nostage' is not a stage of any deal pipeline",
        "HubSpot deal 1022": "amount: -5 is negative",
        "HubSpot call 5010": "hs_timestamp: 'yesterday' is not a date and time",
        # linked to a rejected deal
        "HubSpot call 5020": "unknown deal '1020': no deals record with that id",
        "HubSpot call 5022": "unknown deal '1022': no deals record with that id",
        "HubSpot meeting 5010": "unknown deal '1020': no deals record with that id",
        "HubSpot contact 3020": "unknown converted_deal '1020': no deals record with that id",
    }
    rejected = next(reject for reject in report.rejects if reject.location == "HubSpot deal 1020")
    assert (rejected.object, rejected.crm_id, rejected.record["amount"]) == ("deals", "1020", "abc")
    assert next(r for r in report.rejects if r.location == "HubSpot call 5010").crm_id == "call-5010"
    assert "1019" in deals(engine) and "1020" not in deals(engine)


# -- the fake at benchmark scale ---------------------------------------------------------------------


def test_the_fake_seeds_and_serves_100_000_deals_quickly():
    started = time.monotonic()
    with FakeHubSpot(deals=100_000) as fake:
        seeded = time.monotonic()
        first = next(connector(fake, page_size=100).read("deals", None))
        # from deal 100,956 on: the 40 newest live deals (the last 3 are archived)
        cursor = json.dumps({"deals": iso(fake.record("deals", 1000 + 99_957).modified)})
        changed = list(connector(fake, page_size=100, lookback=dt.timedelta(0)).read("deals", cursor))
    assert seeded - started < 5
    assert time.monotonic() - seeded < 2
    assert len(first.records) == 50  # a list with property histories serves 50 deals a page
    assert sum(len(page.records) for page in changed) == 40
