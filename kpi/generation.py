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

import uuid
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, select, update
from sqlalchemy.dialects import postgresql, sqlite

from kpi.periods import utc_now
from kpi.schema import DataGeneration

ROW = 1


@dataclass(frozen=True)
class Generation:
    """A state of the data: the epoch of the database, the number of changes committed in it, and the number of the
    last change to the people, the teams or the rollups built (``directory``)."""

    epoch: str
    number: int
    directory: int = 0

    @property
    def key(self) -> str:
        return f"{self.epoch}.{self.number}"

    @property
    def of_directory(self) -> tuple[str, int]:
        """What a copy of the people and teams is as new as: it needs no reload while this stays the same."""
        return self.epoch, self.directory


#: What a database without the row reads: it has seen no change yet.
NONE = Generation("", 0)


def current(bind: Engine | Connection) -> Generation:
    """The generation committed now (one primary-key read)."""
    row_of = DataGeneration
    query = select(row_of.epoch, row_of.number, row_of.directory_number).where(row_of.id == ROW)
    if isinstance(bind, Connection):
        row = bind.execute(query).first()
    else:
        with bind.connect() as connection:
            row = connection.execute(query).first()
    return NONE if row is None else Generation(row.epoch, row.number, row.directory_number)


def advance(connection: Connection, *, directory: bool = False) -> None:
    """Count one more change, in the caller's transaction: readers see the new number when it commits.
    ``directory``: the change wrote people or teams, or which rollups are built.

    Two writers at once serialise on the row (the second waits for the first's commit) and both count."""
    table = DataGeneration.__table__
    now = utc_now()
    moved = {"number": table.c.number + 1} | ({"directory_number": table.c.number + 1} if directory else {})
    changed = connection.execute(update(table).where(table.c.id == ROW).values(**moved, changed_at=now))
    if changed.rowcount:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    fresh = dialect.insert(table).values(id=ROW, number=1, directory_number=1, epoch=uuid.uuid4().hex, changed_at=now)
    connection.execute(fresh.on_conflict_do_update(index_elements=["id"], set_=moved))
