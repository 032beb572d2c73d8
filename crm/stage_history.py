"""The stages a deal went through (``deal_stage_history``), kept by the sync as it writes deals.

Two ways to know them, per deal:

* the CRM's own history, when its API gives one (HubSpot's ``dealstage`` history): a page hands it over in
  :attr:`crm.interface.Page.stage_history`, and it replaces what was kept of that deal (origin "crm");
* what the sync sees, for the others: a deal first seen opens a stay in its stage, since the
  ``stage_changed_at`` its CRM gives (origin "crm") or since an unknown time (``entered_at`` None, origin
  "sync"); a deal read in another stage than the stored one closes its open stay and opens one in the new
  stage, at the CRM's ``stage_changed_at`` when it gives one, else at the sync's time, which also becomes
  the deal's ``stage_changed_at`` (origin "sync": the change happened between two syncs, at the latest then).

A few statements per page: one ``UPDATE`` (executemany) closing stays, one ``DELETE`` for the deals whose
history the CRM gave, one bulk ``INSERT`` (``COPY`` on PostgreSQL: a first import opens a stay per deal).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, update

from kpi import bulk
from kpi.schema import DealStage

CRM = "crm"
SYNC = "sync"


class StageTracker:
    """The stage facts of one page of deals, gathered while it is upserted and written after it."""

    def __init__(self, histories: Mapping[str, list[tuple[str, dt.datetime]]], now: dt.datetime) -> None:
        self.histories = histories  # crm_id -> the CRM's stays, oldest first (of the page's valid deals only)
        self.now = now
        self.opened: dict[str, tuple[str, dt.datetime | None, str]] = {}  # crm_id -> (stage, entered_at, origin)
        self.moved: set[str] = set()  # crm_ids of stored deals read in another stage

    def created(self, crm_id: str, record: Mapping[str, Any]) -> None:
        """A deal the sync has not stored before."""
        if crm_id not in self.histories and record.get("stage") is not None:
            entered = record.get("stage_changed_at")
            self.opened[crm_id] = (record["stage"], entered, CRM if entered else SYNC)

    def compared(self, crm_id: str, record: Mapping[str, Any], changes: dict[str, Any]) -> None:
        """A stored deal, with the columns that changed: a new stage is a move, dated by the CRM or now
        (then ``changes`` gets that ``stage_changed_at`` too)."""
        if crm_id in self.histories or "stage" not in changes or changes["stage"] is None:
            return
        entered = record.get("stage_changed_at")
        if entered is None:
            entered = changes["stage_changed_at"] = self.now
        self.opened[crm_id] = (changes["stage"], entered, CRM if record.get("stage_changed_at") else SYNC)
        self.moved.add(crm_id)

    def write(self, connection: Connection, ids_of: Callable[[set[str]], dict[str, int]]) -> None:
        """Write the page's stays; ``ids_of`` maps crm_ids to the deals' ids (all of them written by now)."""
        ids = ids_of({*self.histories, *self.opened})
        if self.moved:
            statement = (
                update(DealStage)
                .where(and_(DealStage.deal_id == bindparam("_deal"), DealStage.left_at.is_(None)))
                .values(left_at=bindparam("_left"))
            )
            closing = [{"_deal": ids[crm_id], "_left": self.opened[crm_id][1]} for crm_id in sorted(self.moved)]
            connection.execute(statement, closing)
        rows = [
            {"deal_id": ids[crm_id], "stage": stage, "entered_at": entered, "left_at": None, "origin": origin}
            for crm_id, (stage, entered, origin) in self.opened.items()
        ]
        if self.histories:
            connection.execute(delete(DealStage).where(DealStage.deal_id.in_([ids[key] for key in self.histories])))
        for crm_id, stays in self.histories.items():
            ends = [entered for _, entered in stays[1:]] + [None]
            for (stage, entered), left in zip(stays, ends, strict=True):
                rows.append(
                    {"deal_id": ids[crm_id], "stage": stage, "entered_at": entered, "left_at": left, "origin": CRM}
                )
        bulk.insert_rows(connection, DealStage.__table__, rows)
