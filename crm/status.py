"""Data freshness: when the CRM copy was last synced, for answers and digests to state plainly."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select

from kpi.periods import utc_now
from kpi.schema import SyncRun


def last_successful_sync(engine: Engine) -> dt.datetime | None:
    """When the newest successful sync finished (naive UTC), or None when the data was never synced."""
    query = select(func.max(SyncRun.finished_at)).where(SyncRun.status == "ok")
    with engine.connect() as connection:
        return connection.execute(query).scalar()


def freshness(engine: Engine, now: dt.datetime | None = None) -> str:
    """ "CRM synced 12 min ago", "CRM synced 3 h ago", or "CRM never synced (demo or local data)"."""
    synced = last_successful_sync(engine)
    if synced is None:
        return "CRM never synced (demo or local data)"
    now = now or utc_now()
    minutes = max(0, int((now - synced).total_seconds() // 60))
    if minutes < 1:
        return "CRM synced just now"
    if minutes < 90:
        return f"CRM synced {minutes} min ago"
    if minutes < 48 * 60:
        return f"CRM synced {minutes // 60} h ago"
    return f"CRM synced {minutes // (24 * 60)} days ago"
