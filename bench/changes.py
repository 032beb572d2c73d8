"""Benchmark 10: an incremental sync of 10,000 changed deals into the data set (issue 17: within 10 s at 5M deals).

A CRM's incremental sync hands the runner the records changed since its cursor. Here the connector is the
demo's own CRM (``demo``, so the changed deals are the data set's deals, matched by ``crm_id``): 10,000 deals
spread over the whole data set (every n-th by id, so every month and owner is touched, as a day of CRM edits
touches many) with their amount raised by one, in pages of 1,000 each carrying a cursor, through the one
runner (:func:`crm.sync.run_sync`, ``full=False``: each page committed with its cursor and the data generation,
and whatever the writer maintains beside the rows, the rollups once they exist). A second sync puts the amounts
back, so the data set stays what its tag says; both are timed, after a VACUUM of deals and rollups (what
autovacuum, off on the project's machine, would have done since the last run's syncs).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import aliased

from bench.common import Report, Section, Settings
from crm.canonical import spec
from crm.interface import Page
from crm.sync import run_sync
from demo.assumptions import CRM
from kpi.db import vacuum
from kpi.schema import Account, Deal, Rep

CHANGED = 10_000
PAGE = 1_000
GOAL = 10.0  # seconds, at 5M deals


class ChangedDeals:
    """The demo CRM's incremental read of deals: the given records, a page at a time, oldest change first."""

    source = CRM
    objects = ("deals",)

    def __init__(self, records: list[dict[str, Any]]) -> None:
        self.records = records

    def read(self, object: str, cursor: str | None) -> Iterator[Page]:
        for start in range(0, len(self.records), PAGE):
            page = [dict(record) for record in self.records[start : start + PAGE]]  # the runner edits them
            yield Page(page, cursor=f"bench-{start + len(page)}")


def changed_deals(engine: Engine, count: int) -> list[dict[str, Any]]:
    """``count`` deals spread evenly over the data set, as canonical records (owner and account by ``crm_id``)."""
    deals = spec("deals")
    owner, account = aliased(Rep), aliased(Account)
    columns = [Deal.__table__.c[name] for name in deals.columns]
    with engine.connect() as connection:
        total = connection.execute(select(Deal.id).order_by(Deal.id.desc()).limit(1)).scalar_one()
        step = max(1, total // count)
        query = (
            select(Deal.crm_id, owner.crm_id.label("owner_crm_id"), account.crm_id.label("account_crm_id"), *columns)
            .outerjoin(owner, owner.id == Deal.owner_id)
            .outerjoin(account, account.id == Deal.account_id)
            .where(Deal.crm == CRM, Deal.deleted_at.is_(None), Deal.id % step == 0)
            .order_by(Deal.id)
            .limit(count)
        )
        return [dict(row._mapping) for row in connection.execute(query)]


def with_amounts(records: list[dict[str, Any]], change: Decimal) -> list[dict[str, Any]]:
    return [record | {"amount": (record["amount"] or Decimal(0)) + change} for record in records]


def run(report: Report, settings: Settings, engine: Engine) -> None:
    count = CHANGED if not settings.quick else min(CHANGED, 500)
    # What autovacuum would have done since the last run's syncs (it is off on the project's machine): each run leaves
    # 20,000 dead versions of deals, and more of their rollups, which the next run's reads and writes step over.
    vacuum(engine, "deals", "rollups")
    records = changed_deals(engine, count)
    section = Section("10. Incremental sync of changed deals", ["sync", "deals", "updated", "seconds", "deals/s"])
    timings = []
    for label, change in (("amounts raised", Decimal(1)), ("amounts put back", Decimal(0))):
        connector = ChangedDeals(with_amounts(records, change))
        start = time.perf_counter()
        result = run_sync(engine, connector, full=False)
        seconds = time.perf_counter() - start
        if result.status != "ok":
            raise RuntimeError(f"the incremental sync ended {result.status}: {result.error}")
        updated = result.counts["deals"].updated
        timings.append(seconds)
        section.add(label, f"{len(records):,}", f"{updated:,}", f"{seconds:.2f}", f"{len(records) / seconds:,.0f}")
    section.notes.append(
        f"Source `{CRM}` (the data set's own deals, spread evenly by id), pages of {PAGE:,} each "
        "committed with its cursor and the data generation, through `crm.sync.run_sync(full=False)` in this process."
    )
    report.add(section)
    if settings.size == "5x":
        slowest = max(timings)
        report.check(f"incremental sync of {CHANGED:,} changed deals", f"<= {GOAL:.0f} s", f"{slowest:.1f} s",
                     slowest <= GOAL)  # fmt: skip
