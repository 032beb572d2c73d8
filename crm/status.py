"""Data freshness (when the CRM copy was last synced, for answers and digests to state plainly) and the
state of each source's syncs, for `kpibot sync status`."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine, func, select

from kpi.links import link_templates
from kpi.periods import utc_now
from kpi.schema import SyncRun, SyncState


def last_successful_sync(engine: Engine) -> dt.datetime | None:
    """When the newest successful sync finished (naive UTC), or None when the data was never synced."""
    query = select(func.max(SyncRun.finished_at)).where(SyncRun.status == "ok")
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def freshness(engine: Engine, now: dt.datetime | None = None, tz: dt.tzinfo | None = None) -> str:
    """ "CRM synced 12 min ago", "CRM synced 3 h ago · 12 rows rejected", or "CRM never synced (demo or local
    data)": how old the data is, and whether the last sync left something out. With ``tz``, the moment too:
    "CRM synced 3 h ago (2017-06-05 05:10 UTC)"."""
    synced = last_successful_sync(engine)
    if synced is None:
        text = "CRM never synced (demo or local data)"
    else:
        text = f"CRM synced {ago(synced, now or utc_now())}"
        if tz is not None:
            text += f" ({local_moment(synced, tz)})"
    trouble = last_sync_trouble(engine, now)
    return f"{text} · {trouble}" if trouble else text


def local_moment(moment: dt.datetime, tz: dt.tzinfo) -> str:
    """A naive UTC moment as people in ``tz`` read it: "2017-06-05 05:10 UTC"."""
    local = moment.replace(tzinfo=dt.UTC).astimezone(tz)
    return f"{local:%Y-%m-%d %H:%M} {local.tzname()}"


def ago(moment: dt.datetime, now: dt.datetime) -> str:
    """ "just now", "12 min ago", "3 h ago", "4 days ago"."""
    minutes = max(0, int((now - moment).total_seconds() // 60))
    if minutes < 1:
        return "just now"
    if minutes < 90:
        return f"{minutes} min ago"
    if minutes < 48 * 60:
        return f"{minutes // 60} h ago"
    return f"{minutes // (24 * 60)} days ago"


def last_sync_trouble(engine: Engine, now: dt.datetime | None = None) -> str | None:
    """What the newest finished sync left out: "3 rows rejected in the last sync", "the last sync was
    refused (...)", "the last sync failed"; None when it imported everything. ``now`` ignores later runs."""
    query = (
        select(SyncRun.status, SyncRun.rejected)
        .where(SyncRun.finished_at <= (now or utc_now()))
        .order_by(SyncRun.id.desc())
        .limit(1)
    )
    with engine.connect() as connection:
        last = connection.execute(query).first()
    if last is None:
        return None
    status, rejected = last
    if status == "refused":
        return f"the last sync was refused: {rejected:,} rows rejected, nothing changed (see `kpibot sync status`)"
    if status == "failed":
        return "the last sync failed (see `kpibot sync status`)"
    if rejected:
        return f"{rejected:,} {'row' if rejected == 1 else 'rows'} rejected in the last sync"
    return None


@dataclass(frozen=True)
class Cursor:
    object: str
    value: str | None
    saved_at: dt.datetime | None


@dataclass(frozen=True)
class Run:
    id: int
    started_at: dt.datetime
    finished_at: dt.datetime | None
    full: bool
    status: str
    created: int
    updated: int
    deleted: int
    rejected: int
    error: str | None

    @property
    def duration(self) -> dt.timedelta | None:
        return self.finished_at - self.started_at if self.finished_at else None


@dataclass(frozen=True)
class SourceState:
    """What `kpibot sync status` shows of one source."""

    source: str
    cursors: list[Cursor]
    runs: list[Run]  # newest first
    links: dict[str, str]  # object -> where its records open in the CRM (kpi.links), as the last sync learned


def sources(engine: Engine, runs: int = 5) -> list[SourceState]:
    """Every source that has synced or holds cursors, with its cursors, its last ``runs`` runs and its record
    links."""
    with engine.connect() as connection:
        names = set(connection.execute(select(SyncRun.source).distinct()).scalars())
        names |= set(connection.execute(select(SyncState.source).distinct()).scalars())
        links = link_templates(connection)
        states = []
        for name in sorted(names):
            cursors = connection.execute(
                select(SyncState.object, SyncState.cursor, SyncState.updated_at)
                .where(SyncState.source == name)
                .order_by(SyncState.object)
            )
            last = connection.execute(
                select(
                    SyncRun.id,
                    SyncRun.started_at,
                    SyncRun.finished_at,
                    SyncRun.full,
                    SyncRun.status,
                    SyncRun.created,
                    SyncRun.updated,
                    SyncRun.deleted,
                    SyncRun.rejected,
                    SyncRun.error,
                )
                .where(SyncRun.source == name)
                .order_by(SyncRun.id.desc())
                .limit(runs)
            )
            learned = {object: template for (source, object), template in sorted(links.items()) if source == name}
            states.append(SourceState(name, [Cursor(*row) for row in cursors], [Run(*row) for row in last], learned))
    return states
