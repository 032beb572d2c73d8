"""The stages a deal went through (``deal_stage_history``), kept by the sync as it writes deals.

A stay is ``[entered_at, left_at)`` in one stage; a deal has an open stay (``left_at`` None) exactly when it is
known since when it is in its stage (``deals.stage_changed_at``). Two ways to know, per deal:

* the CRM's own history, when its API gives one (HubSpot's ``dealstage`` history): a page hands it over in
  :attr:`crm.interface.Page.stage_history`, and it replaces what was kept of that deal (origin "crm");
* what the sync sees, for the others. A deal first seen opens a stay when its CRM says since when it is in
  its stage (``stage_changed_at``, origin "crm"); otherwise nobody knows, and nothing is stored. A deal read
  in another stage than the stored one leaves it at the CRM's ``stage_changed_at`` when it gives one, else
  at the sync's time, which then becomes the deal's ``stage_changed_at`` (origin "sync": the change happened
  between two syncs, at the latest then): its open stay is closed, or a stay of unknown start is recorded
  for the stage it left, and a stay opens in the new one.

A few statements per page, and none for a deal that did not move: one ``SELECT`` of the moved deals' open
stays, one ``UPDATE`` (executemany) closing them, one ``DELETE`` for the deals whose history the CRM gave, one
bulk ``INSERT`` (``COPY`` on PostgreSQL). A first import opens its deals' stays at the end, in one
``INSERT ... SELECT`` (:func:`open_first_stays`): sent from Python, a million stays would slow it by half.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Connection, bindparam, delete, insert, literal, select, update

from kpi import bulk
from kpi.schema import Deal, DealStage

CRM = "crm"
SYNC = "sync"

deals, stays = Deal.__table__, DealStage.__table__


class StageTracker:
    """The stage facts of one page of deals, gathered while it is upserted and written after it."""

    def __init__(
        self, histories: Mapping[str, list[tuple[str, dt.datetime]]], now: dt.datetime, *, first_import: bool
    ) -> None:
        self.histories = histories  # crm_id -> the CRM's stays, oldest first (of the page's valid deals only)
        self.now = now
        self.first_import = first_import  # then new deals' stays are opened by open_first_stays, at the end
        self.opened: dict[str, tuple[str, dt.datetime, str]] = {}  # crm_id -> (stage, entered_at, origin)
        self.left: dict[str, str] = {}  # crm_id -> the stage a stored deal left

    def created(self, crm_id: str, record: Mapping[str, Any]) -> None:
        """A deal the sync has not stored before."""
        entered = record.get("stage_changed_at")
        if crm_id in self.histories or self.first_import or record.get("stage") is None or entered is None:
            return
        self.opened[crm_id] = (record["stage"], entered, CRM)

    def compared(
        self, crm_id: str, stored: Mapping[str, Any], record: Mapping[str, Any], changes: dict[str, Any]
    ) -> None:
        """A stored deal, with the columns that changed: a new stage is a move, dated by the CRM or now
        (then ``changes`` gets that ``stage_changed_at`` too)."""
        if crm_id in self.histories or changes.get("stage") is None:
            return
        entered, origin = record.get("stage_changed_at"), CRM
        if entered is None:
            entered = changes["stage_changed_at"] = self.now
            origin = SYNC
        self.opened[crm_id] = (changes["stage"], entered, origin)
        if stored["stage"] is not None:
            self.left[crm_id] = stored["stage"]

    def write(self, connection: Connection, ids_of: Callable[[set[str]], dict[str, int]]) -> None:
        """Write the page's stays; ``ids_of`` maps crm_ids to the deals' ids (all of them written by now)."""
        if not (self.opened or self.histories):
            return
        ids = ids_of({*self.histories, *self.opened})
        rows = self._close_left(connection, ids)
        rows += [
            {"deal_id": ids[crm_id], "stage": stage, "entered_at": entered, "left_at": None, "origin": origin}
            for crm_id, (stage, entered, origin) in self.opened.items()
        ]
        if self.histories:
            connection.execute(delete(DealStage).where(DealStage.deal_id.in_([ids[key] for key in self.histories])))
        for crm_id, visits in self.histories.items():
            ends = [entered for _, entered in visits[1:]] + [None]
            for (stage, entered), left in zip(visits, ends, strict=True):
                rows.append(
                    {"deal_id": ids[crm_id], "stage": stage, "entered_at": entered, "left_at": left, "origin": CRM}
                )
        bulk.insert_rows(connection, stays, rows)

    def _close_left(self, connection: Connection, ids: Mapping[str, int]) -> list[dict[str, Any]]:
        """Close the open stays of the deals that moved; for those without one (their start unknown), the rows
        of the stays they left, from an unknown time to the move."""
        if not self.left:
            return []
        moved = {ids[crm_id]: crm_id for crm_id in self.left}
        query = select(stays.c.deal_id).where(stays.c.deal_id.in_(list(moved)), stays.c.left_at.is_(None))
        open_ = set(connection.execute(query).scalars())
        if open_:
            closing = update(stays).where(stays.c.deal_id == bindparam("_deal"), stays.c.left_at.is_(None))
            moves = [{"_deal": deal_id, "_left": self.opened[moved[deal_id]][1]} for deal_id in sorted(open_)]
            connection.execute(closing.values(left_at=bindparam("_left")), moves)
        unknown_start = [(deal_id, crm_id) for deal_id, crm_id in moved.items() if deal_id not in open_]
        return [
            {
                "deal_id": deal_id,
                "stage": self.left[crm_id],
                "entered_at": None,
                "left_at": self.opened[crm_id][1],
                "origin": SYNC,
            }
            for deal_id, crm_id in unknown_start
        ]


def open_first_stays(connection: Connection, source: str) -> None:
    """After a first import of ``source``'s deals: a stay for each deal known to be in its stage since a time
    (``stage_changed_at``) and without one yet (no CRM history), in one statement."""
    have = select(stays.c.deal_id).scalar_subquery()  # few (HubSpot's histories): PostgreSQL hashes them
    chosen = select(deals.c.id, deals.c.stage, deals.c.stage_changed_at, literal(CRM)).where(
        deals.c.crm == source,
        deals.c.stage.is_not(None),
        deals.c.stage_changed_at.is_not(None),
        deals.c.id.not_in(have),
    )
    connection.execute(insert(stays).from_select(["deal_id", "stage", "entered_at", "origin"], chosen))
