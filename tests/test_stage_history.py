"""The stages a deal went through: kept by the sync (a change it sees, or the CRM's own history), and read in
SQL as "days in stage" and "in stage for more than N days" at any moment (kpi/stages.py)."""

from __future__ import annotations

import datetime as dt

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text

from crm.interface import Page
from crm.sync import run_sync
from kpi.db import alembic_config
from kpi.schema import Base, Deal, DealStage
from kpi.stages import days_in_stage, in_stage_longer_than, stage_at
from tests.test_sync_runner import FakeConnector

MONDAY = dt.datetime(2026, 4, 6, 8, 0)
TUESDAY = dt.datetime(2026, 4, 7, 8, 0)
WEDNESDAY = dt.datetime(2026, 4, 8, 8, 0)


def deals(*records: dict, history: dict | None = None) -> FakeConnector:
    """A connector whose one page of deals holds ``records`` (fresh dicts) and the CRM's ``history``."""
    return FakeConnector({"deals": [Page([dict(record) for record in records], stage_history=history or {})]})


def stays(engine) -> list[tuple]:
    """Every stay kept: (deal, stage, entered_at, left_at, origin), in the order they were written."""
    query = (
        select(Deal.crm_id, DealStage.stage, DealStage.entered_at, DealStage.left_at, DealStage.origin)
        .join(Deal, Deal.id == DealStage.deal_id)
        .order_by(DealStage.id)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def stage_changed_at(engine, crm_id: str) -> dt.datetime | None:
    with engine.connect() as connection:
        return connection.execute(select(Deal.stage_changed_at).where(Deal.crm_id == crm_id)).scalar_one()


# -- what the sync keeps ---------------------------------------------------------------------------------


def test_a_deal_first_seen_is_in_its_stage_since_the_time_its_crm_gives(engine):
    first = {"crm_id": "d1", "stage": "Proposal", "stage_changed_at": MONDAY}
    run_sync(engine, deals(first), full=True, now=TUESDAY)  # a first import: its stays are opened at the end
    later = {"crm_id": "d2", "stage": "Qualified", "stage_changed_at": TUESDAY}

    run_sync(engine, deals(later), full=False, now=WEDNESDAY)

    assert stays(engine) == [("d1", "Proposal", MONDAY, None, "crm"), ("d2", "Qualified", TUESDAY, None, "crm")]
    assert stage_changed_at(engine, "d1") == MONDAY


def test_a_deal_first_seen_from_a_crm_that_gives_no_time_has_no_stay_since_nobody_knows_its_start(engine):
    run_sync(engine, deals({"crm_id": "d1", "stage": "Proposal"}, {"crm_id": "d2"}), full=True, now=MONDAY)
    new = {"crm_id": "d3", "stage": "Proposal"}

    run_sync(engine, deals({"crm_id": "d1", "stage": "Proposal"}, {"crm_id": "d2"}, new), full=True, now=TUESDAY)

    assert stays(engine) == []
    assert stage_changed_at(engine, "d1") is stage_changed_at(engine, "d3") is None


def test_a_stage_change_the_sync_sees_ends_the_stage_left_and_opens_the_next_at_the_sync_time(engine):
    run_sync(engine, deals({"crm_id": "d1", "stage": "Proposal"}), full=True, now=MONDAY)

    report = run_sync(engine, deals({"crm_id": "d1", "stage": "Negotiation"}), full=True, now=WEDNESDAY)

    assert str(report.counts["deals"]) == "0 created, 1 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert stays(engine) == [
        ("d1", "Proposal", None, WEDNESDAY, "sync"),  # since a time nobody knows
        ("d1", "Negotiation", WEDNESDAY, None, "sync"),
    ]
    assert stage_changed_at(engine, "d1") == WEDNESDAY


def test_a_stage_change_the_crm_dates_is_dated_so(engine):
    run_sync(engine, deals({"crm_id": "d1", "stage": "Proposal", "stage_changed_at": MONDAY}), full=True, now=MONDAY)

    moved = {"crm_id": "d1", "stage": "Negotiation", "stage_changed_at": TUESDAY}
    run_sync(engine, deals(moved), full=True, now=WEDNESDAY)

    assert stays(engine) == [
        ("d1", "Proposal", MONDAY, TUESDAY, "crm"),
        ("d1", "Negotiation", TUESDAY, None, "crm"),
    ]


def test_reading_a_deal_again_in_the_same_stage_keeps_its_stays_as_they_are(engine):
    record = {"crm_id": "d1", "name": "Acme", "stage": "Proposal", "stage_changed_at": MONDAY}
    run_sync(engine, deals(record), full=False, now=MONDAY)

    report = run_sync(engine, deals({**record, "name": "Acme Corp"}), full=False, now=WEDNESDAY)

    assert str(report.counts["deals"]) == "0 created, 1 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert stays(engine) == [("d1", "Proposal", MONDAY, None, "crm")]


def test_the_crms_own_history_replaces_the_stays_the_sync_had_seen(engine):
    run_sync(engine, deals({"crm_id": "d1", "stage": "Qualified"}), full=True, now=MONDAY)
    run_sync(engine, deals({"crm_id": "d1", "stage": "Proposal"}), full=True, now=TUESDAY)
    history = {"d1": [("Qualified", dt.datetime(2026, 3, 2)), ("Proposal", dt.datetime(2026, 3, 20))]}

    record = {"crm_id": "d1", "stage": "Proposal", "stage_changed_at": dt.datetime(2026, 3, 20)}
    run_sync(engine, deals(record, history=history), full=True, now=WEDNESDAY)

    assert stays(engine) == [
        ("d1", "Qualified", dt.datetime(2026, 3, 2), dt.datetime(2026, 3, 20), "crm"),
        ("d1", "Proposal", dt.datetime(2026, 3, 20), None, "crm"),
    ]


# -- days in stage, in SQL -------------------------------------------------------------------------------


def stage_world(session) -> None:
    """Three deals: d1 in Qualified from March 1st, in Proposal from March 20th; d2 in Proposal from March 25th;
    d3 in Proposal since a time nobody knows."""
    for crm_id in ("d1", "d2", "d3"):
        session.add(Deal(crm="fake", crm_id=crm_id, stage="Proposal"))
    session.flush()
    ids = dict(session.execute(select(Deal.crm_id, Deal.id)).tuples().all())
    session.add_all(
        [
            DealStage(
                deal_id=ids["d1"],
                stage="Qualified",
                entered_at=dt.datetime(2026, 3, 1),
                left_at=dt.datetime(2026, 3, 20),
                origin="crm",
            ),
            DealStage(deal_id=ids["d1"], stage="Proposal", entered_at=dt.datetime(2026, 3, 20), origin="crm"),
            DealStage(deal_id=ids["d2"], stage="Proposal", entered_at=dt.datetime(2026, 3, 25), origin="sync"),
            DealStage(deal_id=ids["d3"], stage="Proposal", entered_at=None, origin="sync"),
        ]
    )
    session.commit()


def test_days_in_stage_and_the_stage_are_those_of_the_stay_that_covers_the_moment(engine, session):
    stage_world(session)
    april_4, march_10 = dt.datetime(2026, 4, 4, 12, 0), dt.datetime(2026, 3, 10)

    query = select(Deal.crm_id, stage_at(april_4), days_in_stage(april_4), stage_at(march_10), days_in_stage(march_10))
    found = {row[0]: tuple(row[1:]) for row in session.execute(query.order_by(Deal.crm_id))}

    assert found == {
        "d1": ("Proposal", 15.5, "Qualified", 9.0),  # March 20th to April 4th noon; March 1st to 10th
        "d2": ("Proposal", 10.5, None, None),  # not yet in any stage on March 10th
        "d3": (None, None, None, None),  # since when, nobody knows
    }


def test_deals_in_their_stage_for_more_than_n_days_at_a_moment(engine, session):
    stage_world(session)

    def stuck(days: float, as_of: dt.datetime) -> list[str]:
        query = select(Deal.crm_id).where(in_stage_longer_than(days, as_of)).order_by(Deal.crm_id)
        return list(session.execute(query).scalars())

    assert stuck(10, dt.datetime(2026, 4, 4, 12, 0)) == ["d1", "d2"]  # 15.5 and 10.5 days
    assert stuck(15, dt.datetime(2026, 4, 4, 12, 0)) == ["d1"]
    assert stuck(10.5, dt.datetime(2026, 4, 4, 12, 0)) == ["d1"]  # more than: exactly 10.5 is not
    assert stuck(8, dt.datetime(2026, 3, 10)) == ["d1"]  # 9 days in Qualified on March 10th
    assert stuck(30, dt.datetime(2026, 4, 4, 12, 0)) == []


# -- the migration ---------------------------------------------------------------------------------------


def test_the_migration_keeps_the_deals_adds_stage_history_and_record_links_and_its_downgrade_removes_them(engine):
    config = alembic_config(engine)
    command.downgrade(config, "0003")  # the revision before 0004, whatever came after it
    removed = inspect(engine)
    tables, deal_columns = set(removed.get_table_names()), {column["name"] for column in removed.get_columns("deals")}
    with engine.begin() as connection:  # a deal as the revision before wrote it
        connection.execute(
            text("INSERT INTO deals (crm, crm_id, stage, status, type) VALUES ('csv', 'D1', 'Won', 'won', 'new')")
        )

    command.upgrade(config, "head")

    assert {"deal_stage_history", "record_links"} & tables == set() and "stage_changed_at" not in deal_columns
    with engine.connect() as connection:
        assert connection.execute(select(Deal.crm_id, Deal.stage, Deal.stage_changed_at)).all() == [("D1", "Won", None)]
        ours = {
            "include_object": lambda _object, name, kind, *_: (
                kind != "table" or name in ("deals", "deal_stage_history", "record_links")
            )
        }
        assert compare_metadata(MigrationContext.configure(connection, opts=ours), Base.metadata) == []
