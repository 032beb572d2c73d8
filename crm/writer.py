"""Writing pages of canonical records: the upserts, deletions, links and rejects of one sync.

Few statements per page whatever its size: one ``SELECT`` of the page's stored rows (keyed by
``(crm, crm_id)``), one per referenced object for the ``crm_id -> id`` maps (cached), one bulk ``INSERT``
(``COPY`` on PostgreSQL) for the new rows and one bulk ``UPDATE`` per set of changed columns. Only the
columns a record carries are compared and written, and the columns people.yaml owns are left alone.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    ARRAY,
    Connection,
    Integer,
    Select,
    String,
    Table,
    and_,
    bindparam,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.sql.expression import ColumnElement

from crm import canonical
from crm.canonical import OBJECTS, ObjectSpec, Reference
from crm.interface import Counts, Page, Reject, SyncReport, jsonable, origin
from crm.stage_history import StageTracker, open_first_stays
from kpi import bulk, generation, rollup_changes
from kpi.directory import DIRECTORY_TABLES
from kpi.schema import DealStage
from kpi.schema import Reject as RejectRow
from kpi.sqlfuncs import one_of

#: Rows per ``IN (...)`` list: well under SQLite's and PostgreSQL's bind-parameter limits.
CHUNK = 5000
#: Rejects kept in :attr:`SyncReport.rejects` for printing; all of them are stored in the database.
MAX_REPORTED_REJECTS = 1000
#: ``crm_id -> id`` entries cached per referenced object before the cache is emptied.
MAX_CACHED_IDS = 200_000


@dataclass
class _Link:
    """A reference resolved after every object is written: a team's parent team or its manager."""

    crm_id: str
    reference: Reference
    target_crm_id: str | None
    location: str


class PageWriter:
    """Writes the pages of one sync inside its transaction, and keeps its counts and rejects."""

    def __init__(
        self, connection: Connection, report: SyncReport, now: dt.datetime, pinned: dict[str, dict[int, Any]]
    ) -> None:
        self.connection = connection
        self.source = report.source
        self.report = report
        self.now = now
        self.pinned = pinned  # object -> row id -> columns that people.yaml owns
        self.ids: dict[str, dict[str, int]] = defaultdict(dict)  # object -> crm_id -> id (a cache)
        self.seen: dict[str, set[str]] = defaultdict(set)  # crm_ids read on a full sync
        self.fresh: set[str] = set()  # objects this full sync imports for the first time
        self.dropped: dict[str, bulk.DroppedIndexes] = {}  # indexes dropped for a bulk load, rebuilt by end()
        self.links: dict[str, list[_Link]] = defaultdict(list)
        self.touched: dict[str, set[str]] = defaultdict(set)  # created/updated crm_ids with links
        self.pending_rejects: list[dict[str, Any]] = []
        self.wrote = False  # whether a record or a stage was written since the last commit (crm/sync.py reads it)
        self.wrote_directory = False  # whether that was a person or a team (every server process reloads them)
        self.rollups = rollup_changes.Changes(connection)  # the months its writes touch, refreshed at each commit
        #: Per table written since the last commit, the owners of the rows written (kpi/generation.py notes them)
        self.owners: dict[str, set[int | None]] = defaultdict(set)

    # -- one page ------------------------------------------------------------------------------------

    def begin(self, name: str) -> None:
        """Note whether a full sync starts ``name`` with no record of this source (a first import).

        Then no page needs to look for stored records: a first import of 200,000 deals is a third faster.
        """
        table = canonical.spec(name).table
        if self.report.full:
            query = select(table.c.id).where(table.c.crm == self.source).limit(1)
            if self.connection.execute(query).first() is None:
                self.fresh.add(name)
                self._drop_indexes_for_bulk_load(table, name)

    def _drop_indexes_for_bulk_load(self, table: Table, name: str) -> None:
        """On PostgreSQL, a first import into an empty table builds its secondary indexes once at the end
        (:meth:`end`) instead of growing them row by row: a million deals load a third faster. The table is
        locked until the import commits, which only makes questions wait while there is no data to answer
        them anyway. The unique ``(crm, crm_id)`` index stays: the upserts rely on it. A database user that does
        not own the table may not drop: then the import grows the indexes row by row, as any later one does.
        """
        if self.connection.dialect.name != "postgresql":
            return
        if self.connection.execute(select(table.c.id).limit(1)).first() is not None:
            return
        self.dropped[name] = bulk.drop_indexes(self.connection, [table], constraints=False)

    def end(self, name: str) -> None:
        """After an object's last page: rebuild the indexes a bulk load dropped; open the stays of the deals a
        first import brought; on a full sync, mark deleted what the source no longer has (nothing, on a first
        import: every record of the source was just read).
        """
        dropped = self.dropped.pop(name, None)
        if dropped:
            dropped.rebuild(self.connection)
        if name == "deals" and name in self.fresh:
            open_first_stays(self.connection, self.source)
            self._wrote(DealStage.__table__)
        if self.report.full and name not in self.fresh:
            self.delete_missing(name)

    def write(self, name: str, page: Page) -> None:
        """Write a page whose records :meth:`crm.canonical.ObjectSpec.clean` has checked."""
        spec = canonical.spec(name)
        self.report.counts.setdefault(name, Counts())
        self.report.read.update(origin(location, name) for location in page.locations)
        for reject in page.rejects:
            self.report.read[reject.origin] += 1
            self.reject(reject)
        # by crm_id: the last one wins when a page repeats a record
        pairs = zip(page.records, page.locations, strict=True)
        records = {record["crm_id"]: (record, location) for record, location in pairs}
        stored = list(records)
        if name in self.fresh:  # only a record read twice in this run can be stored already
            stored = [crm_id for crm_id in stored if crm_id in self.seen[name]]
        if self.report.full:
            self.seen[name].update(records)
        self._resolve(spec, records)
        stages = None
        if name == "deals":
            histories = {crm_id: page.stage_history[crm_id] for crm_id in records if crm_id in page.stage_history}
            stages = StageTracker(histories, self.now, first_import=name in self.fresh)
        self._upsert(spec, records, stored, stages)
        if stages is not None:
            stages.write(self.connection, functools.partial(self._ids_of, "deals"))
            if stages.opened or stages.histories:
                self._wrote(DealStage.__table__)
        self._flush_rejects()

    def _resolve(self, spec: ObjectSpec, records: dict[str, tuple[dict[str, Any], str]]) -> None:
        """Replace ``<ref>_crm_id`` by ``<ref>_id``; a reference to an unknown record rejects it.

        References to an object written later, or to the same object, cannot be resolved yet: they
        are kept as links and resolved by :meth:`link_deferred`.
        """
        later = [ref for ref in spec.references.values() if _is_deferred(spec.name, ref)]
        for reference in spec.references.values():
            if reference in later:
                continue
            wanted = {r[reference.field] for r, _ in records.values() if r.get(reference.field) is not None}
            ids = self._ids_of(reference.target, wanted)
            for crm_id, (record, location) in list(records.items()):
                if reference.field not in record:
                    continue
                target = record.pop(reference.field)
                if target is not None and target not in ids:
                    reason = f"unknown {reference.name} {target!r}: no {reference.target} record with that id"
                    self.reject(Reject(spec.name, location, reason, jsonable(record), crm_id))
                    del records[crm_id]
                    continue
                record[reference.column] = ids.get(target)
        for reference in later:
            for crm_id, (record, location) in records.items():
                if reference.field in record:
                    link = _Link(crm_id, reference, record.pop(reference.field), location)
                    self.links[spec.name].append(link)

    def _upsert(
        self,
        spec: ObjectSpec,
        records: dict[str, tuple[dict[str, Any], str]],
        stored: list[str],
        stages: StageTracker | None,
    ) -> None:
        """Insert the new records, update the changed ones; ``stored``: the crm_ids that may exist.
        ``stages`` (deals) hears of each deal, so that it keeps their stage history."""
        counts = self.report.counts[spec.name]
        keep_touched = any(_is_deferred(spec.name, ref) for ref in spec.references.values())
        existing = self._existing(spec.table, stored, _columns(record for record, _ in records.values()))
        inserts, updates = [], []
        for crm_id, (record, _) in records.items():
            row = existing.get(crm_id)
            if row is None:
                inserts.append({**record, "crm": self.source})
                counts.created += 1
                if stages is not None:
                    stages.created(crm_id, record)
            else:
                owned = self.pinned.get(spec.name, {}).get(row["id"], ())
                changes = {
                    key: value
                    for key, value in record.items()
                    if key != "crm_id" and key not in owned and row[key] != value
                }
                if row["deleted_at"] is not None:
                    changes["deleted_at"] = None
                if stages is not None:
                    stages.compared(crm_id, row, record, changes)
                if not changes:
                    counts.unchanged += 1
                    continue
                updates.append({"_id": row["id"], **changes})
                counts.updated += 1
            if keep_touched:
                self.touched[spec.name].add(crm_id)
        self._insert(spec.table, inserts)
        self._update(spec.table, updates)

    # -- after the pages -----------------------------------------------------------------------------

    def delete_missing(self, name: str) -> None:
        """Mark deleted the live records of this source that a full export did not contain."""
        table = canonical.spec(name).table
        seen = self.seen.pop(name, set())
        alive = select(table.c.id, table.c.crm_id).where(table.c.crm == self.source, table.c.deleted_at.is_(None))
        gone = [row_id for row_id, crm_id in self.connection.execute(alive) if crm_id not in seen]
        for chunk in _chunks(gone):
            gone_ids = one_of(table.c.id, chunk, Integer())
            self._leaving(table, gone_ids)
            statement = update(table).where(gone_ids)
            self.connection.execute(statement.values(deleted_at=self.now))
        if gone:
            self._wrote(table)
        self.report.counts.setdefault(name, Counts()).deleted += len(gone)

    def delete(self, name: str, crm_ids: Collection[str]) -> None:
        """Mark deleted the live records of this source that the source reports deleted or archived."""
        if not crm_ids:
            return
        table = canonical.spec(name).table
        deleted = 0
        for chunk in _chunks(sorted(set(crm_ids))):
            alive = (table.c.crm == self.source, one_of(table.c.crm_id, chunk, String()), table.c.deleted_at.is_(None))
            self._leaving(table, and_(*alive))
            deleted += self.connection.execute(update(table).where(*alive).values(deleted_at=self.now)).rowcount
            self.seen[name].difference_update(chunk)
        self.report.counts.setdefault(name, Counts()).deleted += deleted
        if deleted:
            self._wrote(table)

    def link_deferred(self) -> None:
        """Resolve the links kept by :meth:`_resolve`, now that every object is written."""
        for name, links in self.links.items():
            table = canonical.spec(name).table
            counts = self.report.counts[name]
            for chunk in _chunks(links):
                columns = {link.reference.column for link in chunk}
                own = self._existing(table, {link.crm_id for link in chunk}, columns)
                changes: dict[int, dict[str, Any]] = defaultdict(dict)
                for link in chunk:
                    row = own[link.crm_id]
                    if link.reference.column in self.pinned.get(name, {}).get(row["id"], ()):
                        continue
                    value = self._link_target(name, link)
                    if row[link.reference.column] != value:
                        changes[row["id"]][link.reference.column] = value
                        if link.crm_id not in self.touched[name]:
                            self.touched[name].add(link.crm_id)
                            counts.updated += 1
                            counts.unchanged -= 1
                self._update(table, [{"_id": row_id, **values} for row_id, values in changes.items()])
        self._flush_rejects()

    def _link_target(self, name: str, link: _Link) -> int | None:
        if link.target_crm_id is None:
            return None
        target = self._ids_of(link.reference.target, {link.target_crm_id}).get(link.target_crm_id)
        if target is None:
            reason = (
                f"unknown {link.reference.name} {link.target_crm_id!r}: no {link.reference.target} record "
                f"with that id; imported without a {link.reference.name}"
            )
            self.reject(Reject(name, link.location, reason, None, link.crm_id))
        return target

    # -- rejects -------------------------------------------------------------------------------------

    def reject(self, reject: Reject) -> None:
        self.report.counts.setdefault(reject.object, Counts()).rejected += 1
        self.report.count_reject(reject)
        if len(self.report.rejects) < MAX_REPORTED_REJECTS:
            self.report.rejects.append(reject)
        if reject.crm_id and self.report.full:
            self.seen[reject.object].add(reject.crm_id)  # keep the last good version rather than delete
        self.pending_rejects.append(
            {
                "run_id": self.report.run_id,
                "source": self.source,
                "object": reject.object,
                "location": reject.location[:300],
                "reason": reject.reason[:1000],
                "record": reject.record,
            }
        )

    def _flush_rejects(self) -> None:
        if self.pending_rejects:
            self.connection.execute(insert(RejectRow), self.pending_rejects)
            self.pending_rejects = []

    # -- SQL -----------------------------------------------------------------------------------------

    def _existing(self, table: Table, crm_ids: Collection[str], columns: Collection[str]) -> dict[str, dict[str, Any]]:
        """The stored rows of this source with these crm_ids: crm_id -> {column: value}."""
        names = ["id", "crm_id", "deleted_at", *columns]
        rows = {}
        for chunk in _chunks(list(crm_ids)):
            for row in self.connection.execute(self._stored(table, chunk, names)).all():
                rows[row[1]] = dict(zip(names, row, strict=True))
        return rows

    def _ids_of(self, name: str, crm_ids: set[str]) -> dict[str, int]:
        """``crm_id -> id`` for the records of this source among ``crm_ids`` (deleted ones included)."""
        cache = self.ids[name]
        missing = [crm_id for crm_id in crm_ids if crm_id not in cache]
        if missing:
            if len(cache) + len(missing) > MAX_CACHED_IDS:
                cache.clear()
                missing = list(crm_ids)
            table = canonical.spec(name).table
            for chunk in _chunks(missing):
                query = self._stored(table, chunk, ["crm_id", "id"])
                cache.update(tuple(row) for row in self.connection.execute(query))
        return {crm_id: cache[crm_id] for crm_id in crm_ids if crm_id in cache}

    def _stored(self, table: Table, crm_ids: Sequence[str], names: list[str]) -> Select:
        """``SELECT names FROM table`` for the records of this source with these crm_ids.

        On PostgreSQL the ids are one array parameter, looked up one by one through the (crm, crm_id)
        unique index: with ``crm_id IN (...)`` psycopg would parse a thousand placeholders in Python,
        and the planner, misled by statistics that lag behind a large import, may scan every record of
        the source for each page instead.
        """
        columns = [table.c[name] for name in names]
        if self.connection.dialect.name != "postgresql":
            return select(*columns).where(table.c.crm == self.source, table.c.crm_id.in_(crm_ids))
        keys = (
            func.unnest(bindparam(None, list(crm_ids), type_=ARRAY(String)))
            .table_valued("crm_id")
            .render_derived("wanted")
        )
        # LIMIT 1: (crm, crm_id) is unique anyway, and a subquery with a limit is not flattened into a join
        match = select(*columns).where(table.c.crm == self.source, table.c.crm_id == keys.c.crm_id).limit(1).lateral()
        return select(match).select_from(keys.join(match, true()))

    def _insert(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Bulk ``INSERT`` (executemany); ``COPY`` on PostgreSQL, three times faster for large pages."""
        for group in _same_keys(rows):
            bulk.insert_rows(self.connection, table, group)
            self._arrived(
                table, and_(table.c.crm == self.source, one_of(table.c.crm_id, [r["crm_id"] for r in group], String()))
            )

    def _update(self, table: Table, rows: list[dict[str, Any]]) -> None:
        """Bulk ``UPDATE`` by id, one statement per set of changed columns (:func:`kpi.bulk.update_rows`)."""
        for group in _same_keys(rows):
            changed = one_of(table.c.id, [row["_id"] for row in group], Integer())
            columns = set(group[0]) - {"_id"}
            self._leaving(table, changed, columns)
            bulk.update_rows(self.connection, table, group)
            self._arrived(table, changed, columns)

    def _leaving(self, table: Table, where: ColumnElement[bool], changing: Collection[str] | None = None) -> None:
        """Before the rows ``where`` selects change (``changing`` these columns) or are deleted: their share of the
        rollups is taken away, and their owners noted."""
        self.rollups.leaving(table, where, changing)
        self._note_owners(table, where)

    def _arrived(self, table: Table, where: ColumnElement[bool], changed: Collection[str] | None = None) -> None:
        """After the rows ``where`` selects were inserted or changed: their share of the rollups is added, and their
        owners noted when they may have changed."""
        self.rollups.arrived(table, where, changed)
        if changed is None or "owner_id" in changed:
            self._note_owners(table, where)
        self._wrote(table)

    def _note_owners(self, table: Table, where: ColumnElement[bool]) -> None:
        """The owners of the rows ``where`` selects, for the data generation (kpi/generation.py): a kept ranking
        measures them again. A table without owners is noted as every owner's."""
        if "owner_id" in table.c:
            owners = self.connection.execute(select(table.c.owner_id).where(where).distinct()).scalars()
            self.owners[table.name].update(owners)
        else:
            self.owners[table.name].add(generation.EVERY_OWNER)

    def _wrote(self, table: Table) -> None:
        self.wrote = True
        self.wrote_directory = self.wrote_directory or table.name in DIRECTORY_TABLES
        if "owner_id" not in table.c:  # a table with owners has had them read by _leaving or _arrived
            self.owners[table.name].add(generation.EVERY_OWNER)


def _is_deferred(name: str, reference: Reference) -> bool:
    """True when the referenced object is written after (or together with) ``name``."""
    return OBJECTS.index(reference.target) >= OBJECTS.index(name)


def _columns(records: Iterable[dict[str, Any]]) -> set[str]:
    columns: set[str] = set()
    for record in records:
        columns.update(record)
    columns.discard("crm_id")
    return columns


def _same_keys(rows: list[dict[str, Any]]) -> Iterator[list[dict[str, Any]]]:
    """Split rows into groups with the same keys, as an executemany needs."""
    groups: dict[tuple[str, ...], list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[tuple(row)].append(row)  # a connector's records have their keys in one order
    yield from groups.values()


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
