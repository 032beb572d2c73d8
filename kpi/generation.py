"""The data generation: which state of the data an answer is of, for the answer cache (kpi/cache.py).

Between two changes of the data every answer is a pure function of the question, the scope, the as-of day and the
code and configuration that compute it; the generation is the part that says "the data". Every writer advances it
*in the transaction that changes the data*, so that it becomes visible to readers in the same commit as the rows:

* each committed page of a sync that wrote something (crm/sync.py), and people.yaml applied (crm/people.py);
* targets saved (kpi/targets/storage.py), the demo loaded (demo/load.py).

A change of what every server process keeps a copy of, the people and teams (kpi/directory.py) and which rollups are
built, also moves ``directory`` to the new number: a process reloads its copies when that moved, not after every sync
page of deals (reloading 10,000 people in each process after each page was a tenth of a busy server's time).

A reader reads the generation *before* the data (one primary-key read): an answer computed after a commit is
then stored under a generation no later than the one it saw, never an old answer under a new generation.

The row is ``(number, epoch)``: ``epoch`` is drawn when the row is created (by the migration, or here when the
row is missing because every row was deleted), so two databases, or one emptied and filled again, never share a
generation in a cache that outlives them (Redis).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, Dialect, Engine, Row, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kpi import bulk
from kpi.periods import utc_now
from kpi.schema import ChangedOwner, DataGeneration

ROW = 1
#: The changes whose owners are kept (:func:`changed_owners`): a kept ranking older than this is measured afresh.
KEPT_CHANGES = 1000
#: In ``changed_owners``: the rows of no owner, and every owner of a table (a write whose owners were not read).
NO_OWNER, EVERY_OWNER = 0, -1

#: What a change wrote: per table, the owners of the rows it wrote, before and after (None: rows of no owner).
Owners = Mapping[str, Collection[int | None]]


@dataclass(frozen=True)
class Generation:
    """A state of the data: the epoch of the database, the number of changes committed in it, the number of the
    last change to the people, the teams or the rollups built (``directory``), and of the last whose owners are not
    known (``unknown``: see :func:`changed_owners`), and of the last that may have changed the targets (``targets``)."""

    epoch: str
    number: int
    directory: int = 0
    unknown: int = 0
    targets: int = 0

    @property
    def of_targets(self) -> tuple[str, int]:
        """What the targets read are as new as: the organisation's summed targets are kept while this stays."""
        return self.epoch, self.targets

    @property
    def key(self) -> str:
        return f"{self.epoch}.{self.number}"

    @property
    def of_directory(self) -> tuple[str, int]:
        """What a copy of the people and teams is as new as: it needs no reload while this stays the same."""
        return self.epoch, self.directory


#: What a database without the row reads: it has seen no change yet.
NONE = Generation("", 0)


_ROW_OF = DataGeneration
_READ = select(
    _ROW_OF.epoch, _ROW_OF.number, _ROW_OF.directory_number, _ROW_OF.unknown_number, _ROW_OF.targets_number
).where(_ROW_OF.id == ROW)


def current(bind: Engine | Connection) -> Generation:
    """The generation committed now (one primary-key read)."""
    row = bind.execute(_READ).first() if isinstance(bind, Connection) else _read(bind)
    return NONE if row is None else Generation(*row)


def _read(engine: Engine) -> Row[Any] | None:
    """:data:`_READ` as its text, outside any transaction: a server reads the generation on every request, and the
    statement's compilation, a transaction begun and rolled back around it took 0.58 ms of CPU and 0.89 ms in all,
    a sixth of a cached answer's Python; this way, 0.26 and 0.42 (bench/RESULTS.md)."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        return connection.exec_driver_sql(_text(engine.dialect)).first()


@functools.cache
def _text(dialect: Dialect) -> str:
    """:data:`_READ` in ``dialect``'s SQL, its one value written in."""
    return str(_READ.compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def advance(connection: Connection, *, directory: bool = False, owners: Owners | None = None) -> None:
    """Count one more change, in the caller's transaction: readers see the new number when it commits.
    ``directory``: the change wrote people or teams, or which rollups are built. ``owners``: per table it wrote, the
    owners of the rows it wrote (None: not known, as for any change of the people); kept rankings measure those
    again and keep the others' rows (kpi/kept_rankings.py).

    Two writers at once serialise on the row (the second waits for the first's commit) and both count."""
    table = DataGeneration.__table__
    now = utc_now()
    after = table.c.number + 1
    moved = {"number": after}
    moved |= {"directory_number": after} if directory else {}
    unknown = directory or owners is None
    moved |= {"unknown_number": after} if unknown else {}
    moved |= {"targets_number": after} if unknown or "targets" in (owners or {}) else {}
    changed = connection.execute(
        update(table).where(table.c.id == ROW).values(**moved, changed_at=now).returning(table.c.number)
    ).first()
    if changed is None:
        dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
        fresh = dialect.insert(table).values(
            id=ROW,
            number=1,
            directory_number=1,
            unknown_number=1,
            targets_number=1,
            epoch=uuid.uuid4().hex,
            changed_at=now,
        )
        # another writer created the row meanwhile: its number moves, and this change's owners are not noted
        every = {"unknown_number": after, "targets_number": after}
        connection.execute(fresh.on_conflict_do_update(index_elements=["id"], set_=moved | every))
        return
    number = changed.number
    noted = ChangedOwner.__table__
    connection.execute(delete(noted).where(noted.c.number <= number - KEPT_CHANGES))
    rows = [
        {"number": number, "source": source, "owner_id": owner}
        for source, touched in sorted((owners or {}).items())
        for owner in sorted({NO_OWNER if owner is None else owner for owner in touched})
    ]
    if not directory:
        bulk.insert_rows(connection, noted, rows)  # COPY on PostgreSQL: a page of 1,000 deals has as many owners


def changed_owners(bind: Connection, since: Generation, now: Generation) -> dict[str, set[int]] | None:
    """Per table, the owners whose rows the changes after ``since`` up to ``now`` wrote (:data:`NO_OWNER` for rows of
    no owner, :data:`EVERY_OWNER` when a write's owners were not read); None when some change's owners are not known
    (the people, the teams or the rollups changed, or ``since`` is of another database or too old)."""
    if since.epoch != now.epoch or now.unknown > since.number or now.number - since.number >= KEPT_CHANGES:
        return None
    noted = ChangedOwner.__table__
    query = select(noted.c.source, noted.c.owner_id).where(noted.c.number > since.number, noted.c.number <= now.number)
    found: dict[str, set[int]] = {}
    for source, owner in bind.execute(query):
        found.setdefault(source, set()).add(owner)
    return found
