"""Named locks across processes, in the database: one scheduler leads, one sync of a source runs at a time.

On PostgreSQL the holder keeps a session advisory lock on a connection of its own: if the process dies, the
connection closes, the lock is released, and a waiting process takes it at its next try. On SQLite (no
advisory locks) a lease row with an expiry plays the same part: the holder renews it by calling
:meth:`DatabaseLock.try_acquire` again (at least every ``LEASE_TTL``), another takes it once it has expired,
or at once when the holder was a process of this machine that has died (a killed sync is re-run at once).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import socket
import uuid

from sqlalchemy import Connection, Engine, select, text, update
from sqlalchemy.exc import IntegrityError, OperationalError

from kpi.periods import utc_now
from kpi.schema import Lease

LEASE_TTL = dt.timedelta(seconds=30)


class DatabaseLock:
    """The lock called ``name``. ``try_acquire()`` is cheap and safe to call often (every few seconds);
    it returns whether we hold the lock now, renewing it if we did already.
    """

    def __init__(self, engine: Engine, name: str, holder: str | None = None) -> None:
        self.engine = engine
        self.name = name
        self.holder = holder or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # PostgreSQL's advisory locks are numbered: a stable 63-bit number for the name.
        self.lock_id = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big") >> 1
        self._lock_connection: Connection | None = None

    @property
    def postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    def try_acquire(self, connection: Connection | None = None) -> bool:
        """Take or renew the lock. On SQLite, ``connection`` (in a transaction of the caller's) renews the lease
        within that transaction: a process that holds SQLite's write lock for a long time (a sync) cannot
        renew it through a second connection, and no one else can take it meanwhile anyway.
        """
        return self._try_advisory_lock() if self.postgres else self._try_lease(connection)

    def release(self) -> None:
        if self._lock_connection is not None:
            self._lock_connection.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": self.lock_id})
            self._lock_connection.invalidate()  # a pooled connection would keep the session (and the lock) alive
            self._lock_connection = None
        elif not self.postgres:
            with self.engine.begin() as connection:
                connection.execute(Lease.__table__.delete().where(Lease.name == self.name, Lease.holder == self.holder))

    def _try_advisory_lock(self) -> bool:
        if self._lock_connection is not None:
            try:
                self._lock_connection.execute(text("SELECT 1"))
                return True
            except Exception:  # the connection died: so did the lock
                self._lock_connection = None
        connection = self.engine.connect()
        acquired = connection.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": self.lock_id}).scalar()
        connection.commit()
        if acquired:
            self._lock_connection = connection
            return True
        connection.close()
        return False

    def _try_lease(self, connection: Connection | None) -> bool:
        if connection is not None:
            return self._take_lease(connection)
        try:
            with self.engine.begin() as own:
                return self._take_lease(own)
        except IntegrityError:  # another process inserted the lease first
            return False
        except OperationalError:  # SQLite: another process is writing (say, a sync holding its lease)
            return False

    def _take_lease(self, connection: Connection) -> bool:
        now = utc_now()
        table = Lease.__table__
        renewed = connection.execute(
            update(table)
            .where(table.c.name == self.name)
            .where((table.c.holder == self.holder) | (table.c.expires_at < now))
            .values(holder=self.holder, expires_at=now + LEASE_TTL)
        ).rowcount
        if renewed:
            return True
        holder = connection.execute(select(table.c.holder).where(table.c.name == self.name)).scalar()
        if holder is not None and not _dead(holder):
            return False
        if holder is not None:  # its process died on this machine: no need to wait for the lease to expire
            connection.execute(table.delete().where(table.c.name == self.name, table.c.holder == holder))
        connection.execute(table.insert().values(name=self.name, holder=self.holder, expires_at=now + LEASE_TTL))
        return True


def _dead(holder: str) -> bool:
    """Whether a lease holder ("host:pid:tag") is a process of this machine that no longer runs."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # it runs, as another user
        return False
    return False
