"""The sync runner shared by every connector: canonical records in, upserted rows and a run log out.

A connector (CSV, HubSpot, Salesforce, Pipedrive) only *reads* (:mod:`crm.interface`).
Everything that must behave the same for every source lives here and in :mod:`crm.writer`, once:

* objects are written in the canonical order (teams, reps, accounts, deals...), so that references can
  be resolved through ``crm_id -> id`` maps; a team's parent and manager are linked at the end;
* records are checked against the schema (:mod:`crm.canonical`) and upserted by ``(crm, crm_id)``, and
  created, updated, unchanged, deleted and rejected records are counted per object;
* records a page reports deleted, and on a *full* sync the records of the source missing from it, are
  marked deleted (``deleted_at = now``): they stop counting in every KPI; a record that comes back is
  restored;
* one ``sync_runs`` row per run and one ``rejects`` row per rejected record, so nothing is lost silently;
* ``people.yaml`` is applied at the end (:mod:`crm.people`), and the columns it sets on CRM people are
  left alone by the upsert, so that re-running a sync changes nothing.

* a database lock (:class:`kpi.locks.DatabaseLock`) lets one sync of a source run at a time.

A full sync runs in one transaction: one that fails leaves the previous data untouched. An incremental
sync commits page by page with the page's cursor (``sync_state``), so a killed sync resumes where it
stopped: records are upserted by id, so re-reading a page changes nothing. While the database writes a
page, the next ones are read and checked in a thread, or a process for a large CSV export (:mod:`crm.reading`).
"""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

from sqlalchemy import Connection, Engine, insert, select, text, update

from crm import canonical
from crm.canonical import OBJECTS
from crm.http import ApiError
from crm.interface import Connector, Counts, Page, Reject, SyncReport
from crm.people import apply_people, pinned_columns
from crm.reading import Pages, process_reader, thread_reader
from crm.writer import PageWriter
from kpi import generation
from kpi.config import PeopleConfig
from kpi.db import vacuum
from kpi.links import save_templates
from kpi.locks import DatabaseLock
from kpi.schema import RollupDay, RollupOwner, SyncRun, SyncState

__all__ = ["Connector", "Counts", "Page", "Reject", "SyncBusy", "SyncReport", "run_sync"]

#: Records written to a table in one sync from which its PostgreSQL statistics are refreshed, when they are also
#: this share of its rows (autovacuum's own default): the first import into a table, not a day's edits of a large one.
ANALYZE_AFTER = 1000
ANALYZE_SHARE = 0.1


class SyncBusy(RuntimeError):
    """Another sync of the same source holds its lock."""


#: Called after each page with the object's name, its counts so far and the expected total (or None).
Progress = Callable[[str, Counts, int | None], None]


def run_sync(
    engine: Engine,
    connector: Connector,
    *,
    full: bool,
    now: dt.datetime | None = None,
    people: PeopleConfig | None = None,
    progress: Progress | None = None,
    max_rejected_share: float | None = None,
) -> SyncReport:
    """Import everything ``connector`` yields; with ``full``, what it does not yield is marked deleted.

    ``now`` (naive UTC, default the current time) stamps deletions and the run. ``people`` (the parsed
    people.yaml) is applied at the end of the import. ``progress`` hears after every page.
    A full sync that rejects more than ``max_rejected_share`` of any file (or object) changes nothing and
    ends ``refused``: so many bad rows mean a wrong mapping, and importing the rest would make every number
    silently wrong.

    A full sync is one transaction: it fails whole, and the previous data stays. An incremental sync
    commits each page that carries a cursor together with that cursor, so a sync killed half-way keeps
    what it wrote and the next one resumes from there. Only one sync of a source runs at a time: the
    others raise :class:`SyncBusy`. Raises what the connector or the database raised, after recording
    the failed run.
    """
    now = _naive_utc(now or dt.datetime.now(dt.UTC))
    unknown = set(connector.objects) - set(OBJECTS)
    if unknown:
        raise ValueError(f"connector {connector.source!r} offers unknown objects: {sorted(unknown)}")
    lock = DatabaseLock(engine, f"sync:{connector.source}")
    if not lock.try_acquire():
        raise SyncBusy(f"another {connector.source} sync is running; try again when it has finished")
    report = SyncReport(connector.source, full)
    try:
        report.run_id = _start_run(engine, connector.source, full, now)
        with engine.connect() as connection, _unprepared(connection):
            pinned = pinned_columns(connection, people) if people else {}
            writer = PageWriter(connection, report, now, pinned)
            checkpoint = _Checkpoint(connection, report, lock, writer)
            objects = [name for name in OBJECTS if name in connector.objects]
            plan = [(name, None if full else _load_cursor(connection, connector.source, name)) for name in objects]
            with _reader(connector, plan) as pages:
                for name, cursor in plan:
                    _sync_object(connection, connector.source, writer, name, cursor, pages(name), checkpoint, progress)
            writer.link_deferred()
            learned = _learned_links(connector, report)
            report.warnings = [*getattr(connector, "warnings", ()), *report.warnings]
            if learned is not None:
                save_templates(connection, connector.source, learned, now)
            refusal = report.too_many_rejects(max_rejected_share) if full and max_rejected_share is not None else None
            if refusal is not None:
                connection.rollback()
                report.status, report.error = "refused", refusal
            else:
                if people:
                    report.people = apply_people(connection, people, now=now)
                _refresh_statistics(connection, report)
                checkpoint.commit()
                report.status = "ok"
        _vacuum_rollups(engine, report)
    except BaseException as exc:
        report.status = "failed"
        report.error = f"{type(exc).__name__}: {exc}"
        raise
    finally:
        if report.run_id is not None:
            _finish_run(engine, report)
        lock.release()
    return report


class _Checkpoint:
    """Commits the sync's transaction and remembers what it held, so a failed run reports what it kept. A commit
    that wrote something advances the data generation in it (kpi/generation.py): cached answers are of before."""

    def __init__(self, connection: Connection, report: SyncReport, lock: DatabaseLock, writer: PageWriter) -> None:
        self.connection = connection
        self.report = report
        self.lock = lock
        self.writer = writer

    def commit(self) -> None:
        if not self.lock.try_acquire(self.connection):  # renews a lease; refuses if another process took it
            raise SyncBusy(f"lost the {self.report.source} sync lock to another process")
        writer = self.writer
        if writer.wrote:
            writer.rollups.flush()
            generation.advance(self.connection, directory=writer.wrote_directory, owners=writer.owners)
            writer.wrote = writer.wrote_directory = False
            writer.owners.clear()
        self.connection.commit()
        self.report.committed = copy.deepcopy(self.report.counts)


@contextmanager
def _unprepared(connection: Connection) -> Iterator[None]:
    """Plan every statement of the sync for its own parameters: no server-side prepared statements.

    psycopg prepares a statement run five times, and PostgreSQL may then keep one generic plan for it.
    A sync starts on small (or freshly truncated) tables, where a sequential scan looks cheapest, and that
    cached plan then scans the whole growing table for every page: 100 times slower at 200,000 deals.
    (``plan_cache_mode = force_custom_plan`` would do too, but also re-plans every foreign-key check.)
    """
    driver = connection.connection.driver_connection
    if driver is None or not hasattr(driver, "prepare_threshold"):  # None once invalidated
        yield
        return
    threshold, driver.prepare_threshold = driver.prepare_threshold, None
    try:
        yield
    finally:
        driver.prepare_threshold = threshold


def _refresh_statistics(connection: Connection, report: SyncReport) -> None:
    """On PostgreSQL, ``ANALYZE`` the tables a sync changed a lot, so that the first KPI queries after an
    import are planned with statistics that know its rows (autovacuum catches up only later, if enabled).
    A tenth of the rows the statistics last counted is a lot (a table never analysed counts -1): 10,000 changed
    deals of 5,000,000 move no estimate, and analysing them took 0.4 s of the sync.
    """
    if connection.dialect.name != "postgresql":
        return
    counted = text("SELECT reltuples FROM pg_class WHERE oid = CAST(:table AS regclass)")
    for name, counts in report.counts.items():
        table = canonical.spec(name).table.name
        if counts.written < ANALYZE_AFTER:
            continue
        if counts.written >= ANALYZE_SHARE * connection.execute(counted, {"table": table}).scalar_one():
            connection.execute(text(f"ANALYZE {table}"))


def _vacuum_rollups(engine: Engine, report: SyncReport) -> None:
    """Vacuum the organisation's days and the owners' totals after a sync that wrote rows. Each page of a sync
    rewrites thousands of those tables' few rows (kpi/rollups.py), so their dead versions pile up between syncs
    unless autovacuum comes first (81,000 dead to 14,000 live days after a few benchmark syncs with it off), and
    every later write walks them. A vacuum of some 15,000 rows takes milliseconds."""
    if report.status == "ok" and any(counts.written for counts in report.counts.values()):
        vacuum(engine, RollupDay.__tablename__, RollupOwner.__tablename__)


def _reader(connector: Connector, plan: list[tuple[str, str | None]]) -> AbstractContextManager[Pages]:
    """A process reads a connector that offers to be rebuilt in one (``reopen``: a CPU-bound CSV export), a
    thread any other (:mod:`crm.reading`)."""
    reopen = getattr(connector, "reopen", None)
    return process_reader(reopen, plan) if reopen is not None else thread_reader(connector, plan)


def _sync_object(
    connection: Connection,
    source: str,
    writer: PageWriter,
    name: str,
    cursor: str | None,
    pages: Iterator[Page],
    checkpoint: _Checkpoint,
    progress: Progress | None,
) -> None:
    """Write one object's pages; ``cursor`` is None on a full sync."""
    full = writer.report.full
    writer.begin(name)
    for page in pages:
        writer.write(name, page)
        writer.delete(name, page.deleted)
        if page.cursor is not None:
            cursor = page.cursor
            if not full:
                _save_cursor(connection, source, name, cursor, writer.now)
                checkpoint.commit()
        if progress is not None:
            progress(name, writer.report.counts[name], page.total)
    writer.end(name)
    if cursor is not None:
        _save_cursor(connection, source, name, cursor, writer.now)


def _learned_links(connector: Connector, report: SyncReport) -> dict[str, str] | None:
    """The record link templates the connector learned (:mod:`kpi.links`); None, and a warning, when it could
    not learn them (the ones learned before stay), or when it offers none (a connector without ``links``)."""
    links = getattr(connector, "links", None)
    if links is None:
        return None
    try:
        return links()
    except (ApiError, ValueError) as problem:
        report.warnings.append(f"record links not learned, the previous ones are kept: {problem}")
        return None


def _naive_utc(moment: dt.datetime) -> dt.datetime:
    return moment.astimezone(dt.UTC).replace(tzinfo=None) if moment.tzinfo else moment


# -- the run log and cursors ---------------------------------------------------------------------------


def _start_run(engine: Engine, source: str, full: bool, now: dt.datetime) -> int:
    """Record a new run. A run of this source still marked running was killed (this one holds the lock
    that every run of the source holds while it runs): it is marked interrupted."""
    with engine.begin() as connection:
        running = update(SyncRun).where(SyncRun.source == source, SyncRun.status == "running")
        connection.execute(running.values(status="interrupted", error="stopped before it finished (killed?)"))
        values = {"source": source, "full": full, "started_at": now, "status": "running"}
        key = connection.execute(insert(SyncRun).values(**values)).inserted_primary_key
        assert key is not None  # None only for a statement other than a single-row insert
        return key[0]


def _finish_run(engine: Engine, report: SyncReport) -> None:
    """Record the outcome: what the run committed (a failed incremental run keeps its committed pages)."""
    total = report.total_of(report.committed)
    values = {name: getattr(total, name) for name in ("created", "updated", "deleted", "rejected")}
    if report.status == "refused":  # nothing kept, but what was rejected is what the admin must see
        values["rejected"] = report.total.rejected
    finished = _naive_utc(dt.datetime.now(dt.UTC))
    error = report.error[:2000] if report.error else None
    with engine.begin() as connection:
        statement = update(SyncRun).where(SyncRun.id == report.run_id)
        connection.execute(statement.values(status=report.status, error=error, finished_at=finished, **values))


def _load_cursor(connection: Connection, source: str, name: str) -> str | None:
    query = select(SyncState.cursor).where(SyncState.source == source, SyncState.object == name)
    return connection.execute(query).scalar()


def _save_cursor(connection: Connection, source: str, name: str, cursor: str, now: dt.datetime) -> None:
    where = (SyncState.source == source, SyncState.object == name)
    result = connection.execute(update(SyncState).where(*where).values(cursor=cursor, updated_at=now))
    if result.rowcount == 0:
        connection.execute(insert(SyncState).values(source=source, object=name, cursor=cursor, updated_at=now))
