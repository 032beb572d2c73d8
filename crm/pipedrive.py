"""The Pipedrive connector: reps, deals and activities read from the Pipedrive REST API.

``PipedriveConnector(base_url, api_token)`` reads

* ``reps`` from ``GET /api/v1/users`` (always the whole list: users have no update filter);
* ``deals`` from ``GET /api/v2/deals`` and the stage names from ``GET /api/v2/stages``; a deal entered its
  stage at its ``stage_change_time``;
* ``activities`` from ``GET /api/v2/activities`` (type ``call`` and ``meeting`` only; the rest is skipped).

The v2 endpoints page with ``additional_data.next_cursor``. On an incremental sync the runner hands back the
cursor saved last time: the largest ``update_time`` read so far (RFC 3339); the connector asks for
``updated_since`` that cursor minus the lookback window, sorted by ``update_time``, so that a change saved
late is not missed. Records read again are counted unchanged.

Deletions: Pipedrive lists deleted deals only with ``status=deleted``; an incremental sync reads those
changed since the cursor and reports them deleted. A full sync reads live deals only, and the runner
deletes what it did not read (deleted activities and users are caught that way too: the v2 activity list
has no deleted filter). Users are never deleted: a deactivated user becomes an inactive rep.

Requests stay under Pipedrive's burst limit (:data:`RATE_LIMIT`); a 429 waits ``x-ratelimit-reset`` (or
``Retry-After``) seconds, 5xx and network errors an exponential back-off; both a bounded number of times,
then :class:`crm.http.ApiError` is raised.

Record links: deals open at ``https://{company_domain}.pipedrive.com/deal/{id}``, the company's domain read
from ``GET /api/v1/users/me`` (:meth:`PipedriveConnector.links`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from email.message import Message
from typing import Any

from crm.http import ApiError, JsonApi, Throttle, seconds
from crm.interface import Page, Reject
from crm.values import amount, crm_id, parse_date, parse_time, probability
from kpi.links import templates

#: The canonical activity type of each Pipedrive activity type imported; other types are skipped.
ACTIVITY_TYPES = {"call": "call", "meeting": "meeting"}

#: Pipedrive's burst limit on its smallest plan: requests per rolling 2-second window, per token.
RATE_LIMIT = (20, 2.0)


class PipedriveConnector:
    """A :class:`crm.interface.Connector` over one Pipedrive company."""

    source = "pipedrive"
    objects = ("reps", "deals", "activities")

    def __init__(
        self,
        base_url: str,
        api_token: str,
        *,
        page_size: int = 100,
        lookback: dt.timedelta = dt.timedelta(0),
        throttle: Throttle | None = None,
        **http: Any,
    ) -> None:
        """``http`` goes to :class:`crm.http.JsonApi` (``max_retries``, ``backoff``, ``timeout``, ``sleep``)."""
        throttle = throttle or Throttle(*RATE_LIMIT)
        headers = {"x-api-token": api_token}
        self.api = JsonApi(base_url, headers, vendor="Pipedrive", wait=rate_limit_wait, throttle=throttle, **http)
        self.page_size = page_size
        self.lookback = lookback
        self._stages: dict[int, str | None] | None = None

    def read(self, object: str, cursor: str | None) -> Iterator[Page]:
        if object == "reps":
            return self._reps()
        if object == "deals":
            return self._deals(cursor)
        if object == "activities":
            return self._activities(cursor)
        raise KeyError(f"Pipedrive offers no {object!r}")

    def links(self) -> dict[str, str]:
        """Where deals open: the company's own subdomain, ``company_domain`` of ``GET /api/v1/users/me``."""
        me = self.get("/api/v1/users/me", {}).get("data") or {}
        return templates(self.source, {"company_domain": me.get("company_domain")})

    # -- objects -------------------------------------------------------------------------------------

    def _reps(self) -> Iterator[Page]:
        start = 0
        while True:
            body = self.get("/api/v1/users", {"start": start, "limit": self.page_size})
            page = Page(locations=[])
            for user in body.get("data") or []:
                location = f"Pipedrive user {user.get('id')}"
                record = {
                    "crm_id": crm_id(user.get("id")),
                    "name": user.get("name"),
                    "email": user.get("email") or None,
                    "active": bool(user.get("active_flag", True)),
                }
                page.records.append(record)
                page.locations.append(location)
            yield page
            pagination = (body.get("additional_data") or {}).get("pagination") or {}
            if not pagination.get("more_items_in_collection"):
                return
            start = pagination.get("next_start", start + self.page_size)

    def _deals(self, cursor: str | None) -> Iterator[Page]:
        """Live deals changed since the cursor; then, on an incremental sync, those deleted since then.

        Pipedrive lists deleted deals only when asked (``status=deleted``), in a list of their own, so the
        cursor holds two positions, ``"<live>;<deleted>"`` while they differ: a sync killed between the two
        lists resumes each where it stopped, and no deletion is skipped.
        """
        live, _, deleted = (cursor or "").partition(";")
        deleted = deleted or live
        stages = self.stages()
        for items, page in self._v2_pages("/api/v2/deals", live or None):
            for deal in items:
                location = f"Pipedrive deal {deal.get('id')}"
                if deal.get("status") == "deleted" or deal.get("is_deleted"):
                    page.deleted.extend(_ids([deal]))
                    continue
                try:
                    record = _deal(deal, stages)
                except ValueError as problem:
                    page.rejects.append(Reject("deals", location, str(problem), deal, crm_id(deal.get("id"))))
                    continue
                page.records.append(record)
                page.locations.append(location)
            live = page.cursor or live
            page.cursor = _positions(live, deleted) if cursor else page.cursor
            yield page
        if cursor is None:
            return  # a full sync: the runner deletes what it did not read
        for items, page in self._v2_pages("/api/v2/deals", deleted, status="deleted"):
            deleted = page.cursor or deleted
            yield Page(deleted=_ids(items), cursor=_positions(live, deleted))
        # Every deletion up to this list's start is read, and the live list ended before it: a deletion not
        # read yet is newer than the live position (the lookback covers clock skew). One position again.
        yield Page(cursor=_positions(live, max(live, deleted)))

    def _activities(self, cursor: str | None) -> Iterator[Page]:
        """Calls and meetings. On an incremental sync, an activity of another type (a call turned into a task)
        or deleted is reported deleted: it must stop counting; a full sync simply does not read it.
        """
        for items, page in self._v2_pages("/api/v2/activities", cursor):
            for activity in items:
                activity_type = activity.get("type")
                kind = ACTIVITY_TYPES.get(activity_type) if isinstance(activity_type, str) else None
                if kind is None or activity.get("is_deleted"):
                    if cursor is not None:
                        page.deleted.extend(_ids([activity]))
                    continue
                location = f"Pipedrive activity {activity.get('id')}"
                try:
                    record = _activity(activity, kind)
                except ValueError as problem:
                    page.rejects.append(
                        Reject("activities", location, str(problem), activity, crm_id(activity.get("id")))
                    )
                    continue
                page.records.append(record)
                page.locations.append(location)
            yield page

    def stages(self) -> dict[int, str | None]:
        """Stage id -> name (None when a stage has none), read once per connector."""
        if self._stages is None:
            stages: dict[int, str | None] = {}
            for items, _ in self._v2_pages("/api/v2/stages", None, incremental=False):
                stages.update({stage["id"]: stage.get("name") for stage in items})
            self._stages = stages
        return self._stages

    def _v2_pages(
        self, path: str, cursor: str | None, *, incremental: bool = True, **filters: str
    ) -> Iterator[tuple[list[dict[str, Any]], Page]]:
        """The items of each page of a v2 list, with an empty Page whose cursor is already advanced.

        Incremental lists are sorted by ``update_time`` and, given a cursor, start ``lookback`` before it.
        """
        params: dict[str, Any] = {"limit": self.page_size, **filters}
        latest = parse_time(cursor) if cursor else None
        if incremental:
            params["sort_by"] = "update_time"
            params["sort_direction"] = "asc"
            if latest is not None:
                params["updated_since"] = _format_time(latest - self.lookback)
        while True:
            body = self.get(path, params)
            items = body.get("data") or []
            for item in items:
                try:
                    updated = parse_time(item.get("update_time"))
                except ValueError:
                    continue
                if updated is not None and (latest is None or updated > latest):
                    latest = updated
            page_cursor = _format_time(latest) if incremental and latest is not None else None
            yield items, Page(locations=[], cursor=page_cursor)
            next_cursor = (body.get("additional_data") or {}).get("next_cursor")
            if not next_cursor:
                return
            params["cursor"] = next_cursor

    def get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = self.api.get(path, params)
        if not isinstance(body, dict) or body.get("success") is False:
            raise ApiError(f"Pipedrive GET {path}: unexpected answer {str(body)[:200]}")
        return body


# -- records -----------------------------------------------------------------------------------------


def _ids(items: list[dict[str, Any]]) -> list[str]:
    """The crm_ids of items reported deleted; one without an id names no record (a None matched none)."""
    return [record_id for item in items if (record_id := crm_id(item.get("id"))) is not None]


def _deal(deal: dict[str, Any], stages: dict[int, str | None]) -> dict[str, Any]:
    status = deal.get("status")
    stage_id = deal.get("stage_id")
    stage = stages.get(stage_id) if stage_id is not None else None
    if stage is None and stage_id is not None:
        stage = str(stage_id)
    if status in ("won", "lost"):
        closed = _first_time(deal, f"{status}_time", "close_time")
    else:
        closed = _first_time(deal, "close_time") or parse_date(deal.get("expected_close_date"), "expected_close_date")
    return {
        "crm_id": crm_id(deal.get("id")),
        "name": deal.get("title"),
        "owner_crm_id": crm_id(deal.get("owner_id")),
        "amount": amount(deal.get("value")),
        "currency": deal.get("currency") or None,
        "stage": stage,
        "status": status,
        "probability": probability(deal.get("probability"), percent=True),
        "created_at": _first_time(deal, "add_time"),
        "updated_at": _first_time(deal, "update_time"),
        "close_date": closed,
        "stage_changed_at": _first_time(deal, "stage_change_time"),
    }


def _activity(activity: dict[str, Any], kind: str) -> dict[str, Any]:
    """An activity; ``occurred_at`` is its due date and time, and only once it is done (else None)."""
    occurred = None
    if activity.get("done"):
        occurred = _due(activity.get("due_date"), activity.get("due_time")) or _first_time(activity, "add_time")
    return {
        "crm_id": crm_id(activity.get("id")),
        "type": kind,
        "owner_crm_id": crm_id(activity.get("owner_id")),
        "deal_crm_id": crm_id(activity.get("deal_id")),
        "created_at": _first_time(activity, "add_time"),
        "occurred_at": occurred,
    }


def _first_time(record: dict[str, Any], *fields: str) -> dt.datetime | None:
    """The first of ``fields`` that holds a time (a value that is not a time is rejected, naming its field)."""
    for field in fields:
        if (moment := parse_time(record.get(field), field)) is not None:
            return moment
    return None


def _due(date: Any, time_of_day: Any) -> dt.datetime | None:
    """Pipedrive's due date and time (UTC; the time may be empty) as one naive UTC datetime."""
    day = parse_date(date, "due_date")
    if day is None or not time_of_day:
        return day
    try:
        clock = dt.time.fromisoformat(str(time_of_day))
    except ValueError:
        raise ValueError(f"due_time {time_of_day!r} is not a time") from None
    return dt.datetime.combine(day.date(), clock)


def _positions(live: str, deleted: str) -> str:
    """The deals cursor: the live list's position, and the deleted list's when it differs."""
    return live if live == deleted else f"{live};{deleted}"


def _format_time(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def rate_limit_wait(status: int, headers: Message) -> float | None:
    """Pipedrive's rule: after a 429, or once the window's budget is spent, wait ``x-ratelimit-reset`` seconds."""
    reset = seconds(headers.get("x-ratelimit-reset"))
    if status == 429:
        return reset or seconds(headers.get("Retry-After")) or 1.0
    if headers.get("x-ratelimit-remaining") == "0":
        return reset
    return None
