"""Benchmark 5b: an incremental sync of 10,000 changed deals into the data set, with the monthly rollups built
(kpi/rollups.py: each committed page refreshes the owner-months its deals had before and have after) and without.

The changes: every deal's amount, a third of them moved five weeks later (often into another month), another third
handed to another rep. Pages of 1,000 deals, each committed with its cursor as an API connector's are. Each sync is
followed by one putting the deals back as they were (timed too), so the data set is left as it was.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, delete, select

from bench.common import Report, Section
from crm.interface import Page
from crm.sync import run_sync
from demo.assumptions import CRM
from kpi import rollups
from kpi.catalog import Catalog
from kpi.periods import Calendar
from kpi.schema import Deal, Rep, Rollup, RollupMeasure

CHANGED = 10_000
PAGE = 1_000
#: Issue 17: an incremental sync of 10,000 changed deals, rollups included, at 5M deals.
GOAL = 10.0  # seconds


class _Deals:
    """A connector handing the runner pages of deal records (the demo data set's source)."""

    source = CRM
    objects = ("deals",)

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def read(self, object: str, cursor: str | None) -> Iterator[Page]:
        for start in range(0, len(self.records), PAGE):
            yield Page([dict(record) for record in self.records[start : start + PAGE]], cursor=f"bench-{start}")


def _stored(engine: Engine, count: int) -> list[dict[str, Any]]:
    """``count`` live deals of the data set spread over its ids, as a connector would hand them."""
    with engine.connect() as connection:
        total = connection.execute(select(Deal.id).order_by(Deal.id.desc()).limit(1)).scalar() or 0
        step = max(total // count, 1)
        query = (
            select(Deal.crm_id, Rep.crm_id.label("owner_crm_id"), Deal.amount, Deal.status, Deal.created_at)
            .add_columns(Deal.close_date)
            .join(Rep, Rep.id == Deal.owner_id)
            .where(Deal.crm == CRM, Deal.deleted_at.is_(None), Deal.id % step == 0)
            .order_by(Deal.id)
            .limit(count)
        )
        return [dict(row) for row in connection.execute(query).mappings()]


def _changed(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    owners = [record["owner_crm_id"] for record in records]
    changed = []
    for k, record in enumerate(records):
        new = {**record, "amount": (record["amount"] or Decimal(0)) + 1}
        if k % 3 == 0 and record["close_date"] is not None:
            new["close_date"] = record["close_date"] + dt.timedelta(days=35)
        if k % 3 == 1:
            new["owner_crm_id"] = owners[(k + 7) % len(owners)]
        changed.append(new)
    return changed


def _timed(engine: Engine, records: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    run_sync(engine, _Deals(records), full=False)
    return time.perf_counter() - start


def run(report: Report, engine: Engine, catalog: Catalog, calendar: Calendar) -> None:
    records = _stored(engine, CHANGED)
    changed = _changed(records)
    rollups.rebuild(engine, catalog, calendar)
    with_rollups = (_timed(engine, changed), _timed(engine, records))
    with engine.begin() as connection:  # no rollups: a sync refreshes nothing
        connection.execute(delete(RollupMeasure))
        connection.execute(delete(Rollup))
    without = (_timed(engine, changed), _timed(engine, records))
    rollups.rebuild(engine, catalog, calendar)
    section = Section(
        f"5b. Incremental sync of {len(records):,} changed deals (pages of {PAGE:,}), seconds",
        ["rollups", "changes", "putting them back"],
    )
    section.add("built (refreshed by the sync)", f"{with_rollups[0]:.1f}", f"{with_rollups[1]:.1f}")
    section.add("not built", f"{without[0]:.1f}", f"{without[1]:.1f}")
    section.notes.append(
        "Every amount changed, a third of the close dates moved five weeks, a third of the owners changed; "
        "`run_sync(full=False)` commits each page with its cursor, and with the rollups built refreshes in that "
        "commit the owner-months the page's deals had before and have after."
    )
    report.add(section)
    seconds = with_rollups[0]
    report.check(
        f"incremental sync of {len(records):,} changed deals, rollups included",
        f"<= {GOAL:.0f} s (at 5M deals)",
        f"{seconds:.1f} s",
        seconds <= GOAL,
    )
