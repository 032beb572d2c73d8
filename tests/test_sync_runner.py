"""The guarantees the sync runner gives every connector, with connectors written here from literal pages."""

from __future__ import annotations

import datetime as dt
import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Sequence
from decimal import Decimal

import pytest
from sqlalchemy import Engine, create_engine, event, func, inspect, select, text
from sqlalchemy.orm import aliased

from crm.interface import Counts
from crm.sync import Page, SyncBusy, run_sync
from kpi.locks import DatabaseLock
from kpi.schema import Account, Deal, Rep, SyncRun, SyncState, Team

NOW = dt.datetime(2024, 7, 1, 12, 0)
LATER = dt.datetime(2024, 7, 2, 12, 0)


class FakeConnector:
    """A connector from literal pages: what a CRM API connector hands the runner."""

    source = "fake"

    def __init__(self, pages: dict[str, list[Page]], fail_after: int | None = None) -> None:
        self.pages = pages
        self.objects = tuple(pages)
        self.cursors: dict[str, str | None] = {}
        self.fail_after = fail_after  # pages handed out (over all objects) before the connection "breaks"
        self.served = 0

    def read(self, object: str, cursor: str | None) -> Iterator[Page]:
        self.cursors[object] = cursor
        for page in self.pages[object]:
            if self.served == self.fail_after:
                raise ConnectionResetError("connection reset by the CRM")
            self.served += 1
            yield page


def won_deal(crm_id: str, owner: str, amount: int, closed: str) -> dict:
    """A won deal as a connector hands it over, closed at ``closed`` (an ISO date or instant, UTC)."""
    return {
        "crm_id": crm_id,
        "owner_crm_id": owner,
        "amount": amount,
        "status": "won",
        "stage": "Closed Won",
        "created_at": dt.datetime(2017, 1, 1),
        "close_date": dt.datetime.fromisoformat(closed),
    }


def sync_records(engine: Engine, now: dt.datetime, gone: Sequence[str] = (), **pages: list[dict]) -> None:
    """An incremental sync of the source "fake" that reads these records, one page per object; ``gone``: the
    crm_ids of deals the CRM says were deleted."""
    deleted = {"deals": list(gone)}
    connector = FakeConnector(
        {name: [Page(records, cursor="c", deleted=deleted.get(name, []))] for name, records in pages.items()}
    )
    run_sync(engine, connector, full=False, now=now)


def rep_pages(*pages: list[tuple[str, str]], cursors: bool = True) -> dict[str, list[Page]]:
    """Pages of reps from (crm_id, name) pairs; page k carries cursor "ck" (fresh dicts each time)."""
    return {
        "reps": [
            Page([{"crm_id": crm_id, "name": name} for crm_id, name in page], cursor=f"c{k}" if cursors else None)
            for k, page in enumerate(pages, start=1)
        ]
    }


def reps(engine) -> list[tuple]:
    with engine.connect() as connection:
        return connection.execute(select(Rep.crm_id, Rep.name, Rep.deleted_at).order_by(Rep.crm_id)).all()


def cursor(engine) -> str | None:
    with engine.connect() as connection:
        return connection.execute(select(SyncState.cursor).where(SyncState.source == "fake")).scalar()


def runs(engine) -> list[tuple]:
    with engine.connect() as connection:
        query = select(SyncRun.full, SyncRun.status, SyncRun.created, SyncRun.updated, SyncRun.deleted)
        return connection.execute(query.order_by(SyncRun.id)).all()


def test_teams_link_to_parents_and_managers_written_after_them(engine):
    def pages() -> dict[str, list[Page]]:  # fresh records for each run: the runner rewrites them
        return {
            "teams": [
                Page([{"crm_id": "t2", "name": "West 1", "parent_crm_id": "t1", "manager_crm_id": "r1"}]),
                Page([{"crm_id": "t1", "name": "West", "parent_crm_id": None, "manager_crm_id": "r9"}]),
            ],
            "reps": [Page([{"crm_id": "r1", "name": "Morgan", "role": "manager", "team_crm_id": "t2"}])],
        }

    report = run_sync(engine, FakeConnector(pages()), full=True, now=NOW)

    with engine.connect() as connection:
        parent, manager = aliased(Team), aliased(Rep)
        teams = connection.execute(
            select(Team.name, parent.name, manager.name)
            .outerjoin(parent, parent.id == Team.parent_id)
            .outerjoin(manager, manager.id == Team.manager_id)
            .order_by(Team.name)
        ).all()
    assert teams == [("West", None, None), ("West 1", "West", "Morgan")]
    assert [(r.location, r.reason) for r in report.rejects] == [
        ("teams t1", "unknown manager 'r9': no reps record with that id; imported without a manager")
    ]

    again = run_sync(engine, FakeConnector(pages()), full=True, now=LATER)
    assert again.counts["teams"].updated == 0 and again.counts["teams"].unchanged == 2


def test_an_incremental_sync_keeps_what_it_did_not_read_and_saves_the_cursor(engine):
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann"), ("r2", "Ben")])), full=True, now=NOW)
    connector = FakeConnector({"reps": [Page([{"crm_id": "r2", "name": "Benjamin"}], cursor="c9")]})

    report = run_sync(engine, connector, full=False, now=LATER)

    assert connector.cursors == {"reps": "c1"}
    assert (report.counts["reps"].updated, report.counts["reps"].deleted) == (1, 0)
    assert reps(engine) == [("r1", "Ann", None), ("r2", "Benjamin", None)]
    assert cursor(engine) == "c9"


def test_records_a_page_reports_deleted_stop_counting_and_come_back_when_seen_again(engine):
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann"), ("r2", "Ben")])), full=True, now=NOW)
    deletion = FakeConnector({"reps": [Page(deleted=["r2", "r7"], cursor="c2")]})  # r7 was never imported

    report = run_sync(engine, deletion, full=False, now=LATER)

    assert str(report.counts["reps"]) == "0 created, 0 updated, 0 unchanged, 1 deleted, 0 rejected"
    assert reps(engine) == [("r1", "Ann", None), ("r2", "Ben", LATER)]

    restored = run_sync(engine, FakeConnector(rep_pages([("r2", "Ben")])), full=False, now=LATER)
    assert str(restored.counts["reps"]) == "0 created, 1 updated, 0 unchanged, 0 deleted, 0 rejected"
    assert reps(engine) == [("r1", "Ann", None), ("r2", "Ben", None)]


def test_a_killed_incremental_sync_keeps_its_committed_pages_and_the_next_one_resumes_there(engine):
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)
    changes = ([("r2", "Ben")], [("r3", "Cy")], [("r1", "Anne")])

    with pytest.raises(ConnectionResetError):
        run_sync(engine, FakeConnector(rep_pages(*changes), fail_after=2), full=False, now=LATER)

    assert reps(engine) == [("r1", "Ann", None), ("r2", "Ben", None), ("r3", "Cy", None)]
    assert cursor(engine) == "c2"
    assert runs(engine)[-1] == (False, "failed", 2, 0, 0)  # what the failed run kept

    resumed = FakeConnector({"reps": rep_pages(*changes)["reps"][2:]})  # the CRM answers from cursor c2 on
    run_sync(engine, resumed, full=False, now=LATER)

    assert resumed.cursors == {"reps": "c2"}
    assert reps(engine) == [("r1", "Anne", None), ("r2", "Ben", None), ("r3", "Cy", None)]
    assert cursor(engine) == "c3"


def test_a_failed_full_sync_changes_nothing_and_records_the_error(engine):
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)
    broken = FakeConnector(rep_pages([("r1", "Anne"), ("r2", "Ben")], [("r3", "Cy")]), fail_after=1)

    with pytest.raises(ConnectionResetError):
        run_sync(engine, broken, full=True, now=LATER)

    assert reps(engine) == [("r1", "Ann", None)]
    assert cursor(engine) == "c1"
    with engine.connect() as connection:
        error = connection.execute(select(SyncRun.error).order_by(SyncRun.id.desc()).limit(1)).scalar()
    assert error == "ConnectionResetError: connection reset by the CRM"
    assert runs(engine)[-1] == (True, "failed", 0, 0, 0)


def test_a_full_sync_marks_deleted_what_it_did_not_read(engine):
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann"), ("r2", "Ben")])), full=True, now=NOW)

    report = run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=LATER)

    assert str(report.counts["reps"]) == "0 created, 0 updated, 1 unchanged, 1 deleted, 0 rejected"
    assert reps(engine) == [("r1", "Ann", None), ("r2", "Ben", LATER)]
    assert runs(engine) == [(True, "ok", 2, 0, 0), (True, "ok", 0, 0, 1)]


def test_a_second_sync_of_the_same_source_is_refused_while_one_runs(engine):
    running = DatabaseLock(engine, "sync:fake")
    assert running.try_acquire()

    with pytest.raises(SyncBusy, match="another fake sync is running"):
        run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)
    other_source = FakeConnector(rep_pages([("r1", "Ann")]))
    other_source.source = "other"
    assert run_sync(engine, other_source, full=True, now=NOW).status == "ok"

    running.release()
    assert run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW).status == "ok"
    assert reps(engine) == [("r1", "Ann", None), ("r1", "Ann", None)]  # one per source


def test_progress_is_reported_after_every_page_with_the_expected_total(engine):
    pages = rep_pages([("r1", "Ann"), ("r2", "Ben")], [("r3", "Cy")])
    for page in pages["reps"]:
        page.total = 3
    heard: list[tuple[str, str, int | None]] = []

    def progress(name: str, counts: Counts, total: int | None) -> None:
        heard.append((name, str(counts), total))

    run_sync(engine, FakeConnector(pages), full=True, now=NOW, progress=progress)

    assert heard == [
        ("reps", "2 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected", 3),
        ("reps", "3 created, 0 updated, 0 unchanged, 0 deleted, 0 rejected", 3),
    ]


def test_a_sync_run_is_logged_with_its_kind_and_counts(engine):
    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)
    run_sync(engine, FakeConnector(rep_pages([("r2", "Ben")])), full=False, now=LATER)

    with engine.connect() as connection:
        started = connection.execute(select(SyncRun.started_at).order_by(SyncRun.id)).scalars().all()
        assert connection.execute(select(func.count()).select_from(SyncState)).scalar() == 1
    assert runs(engine) == [(True, "ok", 1, 0, 0), (False, "ok", 1, 0, 0)]
    assert started == [NOW, LATER]


def test_on_sqlite_a_lock_left_by_a_killed_process_of_this_machine_is_taken_at_once(engine):
    if engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's advisory locks die with their connection")
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    living = DatabaseLock(engine, "sync:fake", holder=f"{socket.gethostname()}:{os.getpid()}:living")
    assert living.try_acquire()
    assert DatabaseLock(engine, "sync:fake").try_acquire() is False  # a living holder keeps it until it expires
    living.release()
    dead = DatabaseLock(engine, "sync:fake", holder=f"{socket.gethostname()}:{finished.stdout.strip()}:dead")
    assert dead.try_acquire()

    report = run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)

    assert report.status == "ok"


def test_a_first_import_leaves_every_index_of_the_schema_in_place(engine):
    def indexes() -> set[str]:
        return {index["name"] for index in inspect(engine).get_indexes("reps")}

    before = indexes()

    run_sync(engine, FakeConnector(rep_pages([("r1", "Ann")], [("r2", "Ben")])), full=True, now=NOW)

    assert indexes() == before
    assert {index.name for index in Rep.__table__.indexes} <= before
    assert reps(engine) == [("r1", "Ann", None), ("r2", "Ben", None)]


def test_a_database_user_that_does_not_own_the_tables_still_imports(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("table ownership is PostgreSQL's")
    with engine.begin() as connection:
        connection.execute(
            text("DO $$ BEGIN CREATE ROLE kpibot_app_test LOGIN; EXCEPTION WHEN duplicate_object THEN NULL; END $$")
        )
        connection.execute(text("GRANT ALL ON ALL TABLES IN SCHEMA public TO kpibot_app_test"))
        connection.execute(text("GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO kpibot_app_test"))
    app = create_engine(engine.url.set(username="kpibot_app_test"))

    report = run_sync(app, FakeConnector(rep_pages([("r1", "Ann")])), full=True, now=NOW)
    app.dispose()

    assert report.status == "ok"
    assert reps(engine) == [("r1", "Ann", None)]


def test_a_sync_that_wrote_rows_then_vacuums_the_organisations_days_and_the_owners_totals_on_postgresql(engine):
    if engine.dialect.name != "postgresql":
        pytest.skip("VACUUM is PostgreSQL's; SQLite reuses its free pages")
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    sync_records(engine, NOW, reps=[{"crm_id": "alice", "name": "Alice Adams", "role": "rep"}])

    assert statements.count("VACUUM rollup_days, rollup_owners") == 1


def test_a_sync_analyses_a_table_on_postgresql_when_it_wrote_a_tenth_of_its_rows(engine, monkeypatch):
    if engine.dialect.name != "postgresql":
        pytest.skip("ANALYZE is PostgreSQL's; SQLite plans without statistics")
    monkeypatch.setattr("crm.sync.ANALYZE_AFTER", 2)
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    def analysed_after(crm_ids: list[str], name: str = "") -> int:
        """How many times the sync of these reps (named ``name``, or by their id) analysed the table."""
        statements.clear()
        sync_records(engine, NOW, reps=[{"crm_id": id, "name": name or id, "role": "rep"} for id in crm_ids])
        return statements.count("ANALYZE reps")

    assert analysed_after([f"r{i:02}" for i in range(40)]) == 1  # into an empty table: it counts 40 rows now
    assert analysed_after(["r01", "r02", "r03"], "Renamed") == 0  # under a tenth of 40
    assert analysed_after(["r04", "r05", "r06", "r07"], "Renamed") == 1  # a tenth
    assert analysed_after(["r08"], "Renamed") == 0  # fewer than ANALYZE_AFTER


def test_records_changed_in_columns_of_every_kind_are_stored_as_the_crm_now_has_them(engine):
    def account(**changes) -> dict:  # a fresh record each time: the runner edits what it is given
        return {"crm_id": "A1", "name": "Acme", "segment": "SMB", "attributes": {"tier": 1}} | changes

    def deal(**changes) -> dict:
        return (
            won_deal("D1", "R1", 1000, "2024-06-01") | {"account_crm_id": "A1", "probability": Decimal("0.4")} | changes
        )

    sync_records(engine, NOW, reps=[{"crm_id": "R1", "name": "Ann Lee"}], accounts=[account()], deals=[deal()])

    sync_records(
        engine,
        LATER,
        accounts=[account(segment=None, attributes={"tier": 2, "region": "EMEA"})],
        deals=[deal(amount=Decimal("12500.50"), status="lost", probability=0, close_date=dt.datetime(2024, 6, 30))],
    )

    with engine.connect() as connection:
        stored_account = connection.execute(select(Account.name, Account.segment, Account.attributes)).one()
        stored_deal = connection.execute(select(Deal.amount, Deal.status, Deal.probability, Deal.close_date)).one()
    assert tuple(stored_account) == ("Acme", None, {"tier": 2, "region": "EMEA"})
    assert tuple(stored_deal) == (Decimal("12500.50"), "lost", Decimal(0), dt.datetime(2024, 6, 30))
