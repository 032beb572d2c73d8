"""The HubSpot connector: teams, reps, deals, leads and activities read from HubSpot's CRM API (v3, v4).

``HubSpotConnector(base_url, access_token)`` (a private app's token, sent as ``Authorization: Bearer``) reads

* ``teams`` and ``reps`` from the owners (``GET /crm/v3/owners``, live and archived, always the whole list:
  owners have no update filter). An archived owner is an *inactive* rep, not a deleted one: old deals
  still name them. A rep's team is the owner's primary team (else its first); teams are the owners' teams.
* ``deals``, with stages from ``GET /crm/v3/pipelines/deals``: a closed stage (``metadata.isClosed``) with
  probability 1 is won, any other closed stage lost, the rest open; ``stage`` is the stage's label and
  ``close_date`` is ``closedate`` (the expected close date while open). A deal in a stage no pipeline lists
  is rejected: its status would be a guess. Its stage history is ``dealstage``'s property history
  (``propertiesWithHistory``: lists and batch reads then serve 50 deals a request): every stay, handed to
  the runner in :attr:`crm.interface.Page.stage_history`, the last one's start its ``stage_changed_at``.
  ``dealtype`` is not read: HubSpot's two default values (new and existing business) do not say upsell,
  cross-sell or renewal, so every deal is "new".
* ``leads`` from contacts. Every contact is a lead (HubSpot's contacts are the people marketing and sales
  work on); ``lead_source`` is ``hs_analytics_source`` (``REFERRALS`` becomes "referral"), ``mql_at`` and
  ``sql_at`` the dates the contact entered those lifecycle stages. A contact associated with a deal
  converted into it (the oldest one, by id, when several); it converted when it became an opportunity
  (``hs_lifecyclestage_opportunity_date``), else, for a contact linked to a deal without that date, when
  the deal was created (one batch read per page for those). Disqualification has no date in HubSpot, so
  ``disqualified_at`` is left empty.
* ``activities`` from calls and meetings: two HubSpot types for one canonical object, so their ids are
  prefixed ("call-123", "meeting-123"), since HubSpot's engagement ids may repeat across types. A call
  took place (``occurred_at`` = ``hs_timestamp``) when its status is COMPLETED, a meeting
  (``hs_meeting_start_time``) when its outcome is; ``deal`` is the associated deal (the oldest).

A *full* sync reads each type with its list endpoint (``GET /crm/v3/objects/{type}``, by id, with
``associations=deals``), which has no result cap; the runner deletes whatever it does not list (archived
records included). The cursor it leaves is the newest modification time HubSpot reported when each type's
read *began* (one search, newest first): a record changed during a long full sync is read again next time.

An *incremental* sync searches (``POST /crm/v3/objects/{type}/search``) for the records modified since the
cursor minus ``lookback`` (HubSpot's search index lags behind writes), oldest change first, and reads the
deal associations of each page with one ``POST /crm/v4/associations/{type}/deals/batch/read`` (and the
deals' stage histories with ``POST /crm/v3/objects/deals/batch/read``: search gives no history). It pages by
*seeking*, not with search's ``after`` offset: each page is a new query from the last modification time
read (the records of that instant already read are skipped). An offset shifts when a record is modified
while the pages are read (it moves to the end of the results), which would silently skip the record after
it; and a query serves at most 10,000 results, which seeking never approaches. When a whole page shares one
modification time, that instant is read on its own, sorted by ``hs_object_id``, so ties never loop.
Every page carries the cursor: a JSON object with the newest modification time read per HubSpot type
(``{"calls": "2026-04-01T09:00:00.000Z", "meetings": ...}``), so a killed sync resumes where it stopped.
Before those pages comes one that lists, as deleted, the records archived since the cursor minus
``lookback`` (``archived=true`` lists: HubSpot keeps archived records 90 days).

Rate limits: private apps may send 100 requests per 10 s, and search 5 per second; both are kept by
throttles (a search waits for both). A 429 waits ``Retry-After``, else the 10-second window when its
budget is spent (``X-HubSpot-RateLimit-Remaining: 0``), else a second; 5xx and network errors are
retried after a back-off (:mod:`crm.http`). A 401 or 403 says to check the token and its scopes.

Record links: deals and contacts open at ``https://{uiDomain}/contacts/{portalId}/record/0-3/{id}`` (0-1 for
contacts), both read from ``GET /account-info/v3/details`` (:meth:`HubSpotConnector.links`).

A record that cannot be read (an amount "abc", an unknown stage) becomes a :class:`crm.interface.Reject`
("HubSpot deal 123") and the rest of its page is imported.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Iterator, Sequence
from email.message import Message
from typing import Any

from crm import hubspot_records as records
from crm.http import ApiError, JsonApi, Throttle, seconds
from crm.hubspot_records import CALLS, CONTACTS, DEALS, MEETINGS, OPPORTUNITY, Kind, Parse, Stage
from crm.interface import Page, Reject
from crm.values import crm_id, parse_time, probability
from kpi.links import templates

#: HubSpot's burst limit for a private app: requests per rolling 10-second window.
RATE_LIMIT = (100, 10.0)
#: The search endpoints' own limit: requests per second.
SEARCH_RATE_LIMIT = (5, 1.0)
#: Records per request: lists and batch reads serve at most 100, search 200, and 50 with property histories.
LIST_LIMIT = 100
SEARCH_LIMIT = 200
HISTORY_LIMIT = 50


#: The web app's domain of an account whose details do not say (accounts hosted in the US).
UI_DOMAIN = "app.hubspot.com"

_EPOCH = dt.datetime(1970, 1, 1)
_MS = dt.timedelta(milliseconds=1)


class HubSpotConnector:
    """A :class:`crm.interface.Connector` over one HubSpot account."""

    source = "hubspot"
    objects = ("teams", "reps", "deals", "leads", "activities")

    def __init__(
        self,
        base_url: str = "https://api.hubapi.com",
        access_token: str = "",
        *,
        page_size: int = 100,
        lookback: dt.timedelta = dt.timedelta(minutes=5),
        throttle: Throttle | None = None,
        search_throttle: Throttle | None = None,
        **http: Any,
    ) -> None:
        """``page_size`` is bounded by each endpoint's maximum; ``throttle`` keeps the burst limit and
        ``search_throttle`` the search limit (defaults: HubSpot's); ``http`` goes to :class:`crm.http.JsonApi`
        (``max_retries``, ``backoff``, ``timeout``, ``sleep``).
        """
        if not access_token:
            raise ValueError("HubSpot needs an access token: a private app's, with read scopes on the CRM objects")
        throttle = throttle or Throttle(*RATE_LIMIT)
        headers = {"Authorization": f"Bearer {access_token}"}
        self.api = JsonApi(base_url, headers, vendor="HubSpot", wait=rate_limit_wait, throttle=throttle, **http)
        self.search_throttle = search_throttle or Throttle(*SEARCH_RATE_LIMIT)
        self.page_size = page_size
        self.lookback = lookback

    def read(self, object: str, cursor: str | None) -> Iterator[Page]:
        if object == "teams":
            return self._teams()
        if object == "reps":
            return self._reps()
        if object == "deals":
            return self._deals(cursor)
        if object == "leads":
            return self._pages("leads", [(CONTACTS, records.lead)], cursor)
        if object == "activities":
            return self._pages("activities", [(CALLS, records.call), (MEETINGS, records.meeting)], cursor)
        raise KeyError(f"HubSpot offers no {object!r}")

    def links(self) -> dict[str, str]:
        """Where deals and contacts open: the account's portal id and UI domain (app-eu1.hubspot.com for an
        account hosted in the EU), from ``GET /account-info/v3/details``."""
        account = self._get("/account-info/v3/details")
        portal = account.get("portalId")
        base = {
            "portal_id": str(portal) if portal is not None else "",
            "ui_domain": account.get("uiDomain") or UI_DOMAIN,
        }
        return templates(self.source, base)

    # -- objects -------------------------------------------------------------------------------------

    def _teams(self) -> Iterator[Page]:
        teams: dict[str, Any] = {}
        for owner in self._owners():
            for team in owner.get("teams") or []:
                teams.setdefault(str(team.get("id")), team.get("name"))
        records = [{"crm_id": team_id, "name": name} for team_id, name in teams.items()]
        yield Page(records, locations=[f"HubSpot team {team_id}" for team_id in teams])

    def _reps(self) -> Iterator[Page]:
        page = Page(locations=[])
        for owner in self._owners():
            teams = owner.get("teams") or []
            team = next((team for team in teams if team.get("primary")), teams[0] if teams else None)
            record = {
                "crm_id": crm_id(owner.get("id")),
                "name": records.full_name(owner.get("firstName"), owner.get("lastName")) or owner.get("email") or None,
                "email": owner.get("email") or None,
                "active": not owner.get("archived", False),
                "team_crm_id": crm_id(team.get("id")) if team else None,
            }
            page.records.append(record)
            page.locations.append(f"HubSpot owner {owner.get('id')}")
        yield page

    def _deals(self, cursor: str | None) -> Iterator[Page]:
        yield from self._pages("deals", [(DEALS, functools.partial(records.deal, stages=self.stages()))], cursor)

    def stages(self) -> dict[str, Stage]:
        """Deal stage id -> label and status, over every pipeline (read at each deals sync: stages change)."""
        stages = {}
        for pipeline in self._get("/crm/v3/pipelines/deals").get("results") or []:
            for stage in pipeline.get("stages") or []:
                metadata = stage.get("metadata") or {}
                status = "open"
                if str(metadata.get("isClosed")).lower() == "true":
                    status = "won" if probability(metadata.get("probability"), percent=False) == 1 else "lost"
                stages[str(stage.get("id"))] = Stage(stage.get("label") or str(stage.get("id")), status)
        return stages

    def _pages(self, object: str, kinds: Sequence[tuple[Kind, Parse]], cursor: str | None) -> Iterator[Page]:
        """The pages of a canonical object read from one or more HubSpot types, in turn.

        ``cursor`` None reads everything; otherwise the deletions come first, then what changed.
        """
        marks = _marks(cursor)
        if cursor is not None:
            deleted = [
                f"{kind.prefix}{item['id']}"
                for kind, _ in kinds
                if kind.name in marks
                for item in self._archived(kind, marks[kind.name] - self.lookback // _MS)
            ]
            yield Page(deleted=deleted, cursor=cursor)
        for kind, parse in kinds:
            for items, mark in self._read(kind, marks.get(kind.name)):
                if mark is not None:
                    marks[kind.name] = mark
                if kind is CONTACTS:  # a lead converted without an opportunity date needs its deal's
                    self._add_deal_creation(items)
                page = Page(locations=[], cursor=_cursor(marks) if marks else None)
                for item in items:
                    location = f"HubSpot {kind.label} {item['id']}"
                    record_id = f"{kind.prefix}{item['id']}"
                    try:
                        record = {"crm_id": record_id, **parse(item)}
                    except ValueError as problem:
                        raw = {"id": item["id"], **(item.get("properties") or {})}
                        page.rejects.append(Reject(object, location, str(problem), raw, record_id))
                        continue
                    if stays := record.pop("stage_history", None):  # a deal's stays travel beside it
                        page.stage_history[record_id] = stays
                    page.records.append(record)
                    page.locations.append(location)
                yield page

    # -- reading HubSpot types -----------------------------------------------------------------------

    def _read(self, kind: Kind, mark: int | None) -> Iterator[tuple[list[dict[str, Any]], int | None]]:
        """Pages of ``kind`` with the mark to keep after each: all of them when ``mark`` is None, else
        those modified since ``mark`` minus the lookback, oldest change first. Each item gets ``deal``.
        """
        if mark is None:
            latest = self._latest(kind)
            limit = min(self.page_size, HISTORY_LIMIT if kind.history else LIST_LIMIT)
            params = {"limit": limit, "properties": ",".join(_properties(kind))}
            if kind.associated:
                params["associations"] = "deals"
            if kind.history:
                params["propertiesWithHistory"] = ",".join(kind.history)
            for items in self._list(f"/crm/v3/objects/{kind.name}", {**params, "archived": "false"}):
                for item in items:
                    links = ((item.get("associations") or {}).get("deals") or {}).get("results") or []
                    item["deal"] = _oldest(link.get("id") for link in links)
                yield items, latest
            return
        for items in self._changed(kind, mark - self.lookback // _MS):
            if items:
                mark = max(mark, _modified(kind, items[-1]))
            yield items, mark

    def _changed(self, kind: Kind, since: int) -> Iterator[list[dict[str, Any]]]:
        """The records of ``kind`` modified at ``since`` (epoch ms) or later, by seeking (see the module doc)."""
        low = since
        tied_after: str | None = None  # while reading the records modified exactly at ``low``, by id
        read_at_low: set[str] = set()  # ids read, modified at ``low``
        while True:
            if tied_after is None:
                body = self._search(kind, [_filter(kind.modified, "GTE", low)], kind.modified)
            else:
                filters = [_filter(kind.modified, "EQ", low), _filter("hs_object_id", "GT", tied_after)]
                body = self._search(kind, filters, "hs_object_id")
            results = body.get("results") or []
            items = [item for item in results if not (item["id"] in read_at_low and _modified(kind, item) == low)]
            if kind.associated:
                self._associate(kind, items)
            if kind.history:
                self._add_history(kind, items)
            yield items
            more = _next(body) is not None
            if tied_after is not None:
                if more:
                    tied_after = results[-1]["id"]
                else:
                    low, tied_after, read_at_low = low + 1, None, set()
                continue
            if not more or not results:
                return
            last = _modified(kind, results[-1])
            if last == low:  # a whole page modified at one instant: read that instant by id
                tied_after = "0"
            else:
                low, read_at_low = last, set()
            read_at_low.update(item["id"] for item in results if _modified(kind, item) == low)

    def _latest(self, kind: Kind) -> int | None:
        """The newest modification time of ``kind`` now (epoch ms), None when there is no record."""
        results = self._search(kind, [], kind.modified, direction="DESCENDING", limit=1).get("results") or []
        return _modified(kind, results[0]) if results else None

    def _archived(self, kind: Kind, since: int) -> Iterator[dict[str, Any]]:
        """The records of ``kind`` archived at ``since`` (epoch ms) or later."""
        params = {"limit": LIST_LIMIT, "archived": "true", "properties": "hs_object_id"}
        for items in self._list(f"/crm/v3/objects/{kind.name}", params):
            for item in items:
                archived = parse_time(item.get("archivedAt"), "archivedAt")
                if archived is None or _ms(archived) >= since:
                    yield item

    def _owners(self) -> Iterator[dict[str, Any]]:
        for archived in ("false", "true"):
            for owners in self._list("/crm/v3/owners", {"limit": LIST_LIMIT, "archived": archived}):
                yield from owners

    def _associate(self, kind: Kind, items: list[dict[str, Any]]) -> None:
        """Set each item's ``deal`` from a v4 batch read (search results carry no associations)."""
        deals: dict[str, str | None] = {}
        if items:
            inputs = [{"id": item["id"]} for item in items]
            body = self._post(f"/crm/v4/associations/{kind.name}/deals/batch/read", {"inputs": inputs})
            for result in body.get("results") or []:
                links = result.get("to") or []
                deals[str((result.get("from") or {}).get("id"))] = _oldest(link.get("toObjectId") for link in links)
        for item in items:
            item["deal"] = deals.get(item["id"])

    def _add_history(self, kind: Kind, items: list[dict[str, Any]]) -> None:
        """Give search results (which carry no history) their ``propertiesWithHistory``, by batch reads."""
        histories: dict[str, Any] = {}
        for start in range(0, len(items), HISTORY_LIMIT):
            inputs = [{"id": item["id"]} for item in items[start : start + HISTORY_LIMIT]]
            body = {"properties": [], "propertiesWithHistory": list(kind.history), "inputs": inputs}
            for found in self._post(f"/crm/v3/objects/{kind.name}/batch/read", body).get("results") or []:
                histories[str(found.get("id"))] = found.get("propertiesWithHistory")
        for item in items:
            item["propertiesWithHistory"] = histories.get(item["id"])  # None: archived since the search

    def _add_deal_creation(self, contacts: list[dict[str, Any]]) -> None:
        """Give the contacts converted without an opportunity date their deal's ``createdate``."""
        undated = [contact for contact in contacts if contact["deal"] and not contact["properties"].get(OPPORTUNITY)]
        ids = sorted({contact["deal"] for contact in undated}, key=int)
        created: dict[str, str | None] = {}  # deal id -> createdate
        for start in range(0, len(ids), LIST_LIMIT):
            inputs = [{"id": deal_id} for deal_id in ids[start : start + LIST_LIMIT]]
            body = self._post("/crm/v3/objects/deals/batch/read", {"properties": ["createdate"], "inputs": inputs})
            deals = body.get("results") or []
            created |= {deal["id"]: (deal.get("properties") or {}).get("createdate") for deal in deals}
        for contact in undated:
            contact["deal_createdate"] = created.get(contact["deal"])

    # -- HTTP ----------------------------------------------------------------------------------------

    def _list(self, path: str, params: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The ``results`` of each page of a list, following ``paging.next.after``."""
        after = None
        while True:
            body = self._get(path, {**params, "after": after} if after else params)
            yield body.get("results") or []
            after = _next(body)
            if after is None:
                return

    def _search(
        self,
        kind: Kind,
        filters: list[dict[str, str]],
        sort: str,
        *,
        direction: str = "ASCENDING",
        limit: int | None = None,
    ) -> dict[str, Any]:
        """One search request: it waits for the search limit here, then for the burst limit in JsonApi."""
        body = {
            "filterGroups": [{"filters": filters}] if filters else [],
            "sorts": [{"propertyName": sort, "direction": direction}],
            "properties": _properties(kind),
            "limit": limit or min(self.page_size, SEARCH_LIMIT),
        }
        if (pause := self.search_throttle.delay()) > 0:
            self.api.sleep(pause)
        return self._post(f"/crm/v3/objects/{kind.name}/search", body)

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._request("GET", path, params=params)

    def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._request("POST", path, body=body)

    def _request(self, method: str, path: str, **request: Any) -> dict[str, Any]:
        try:
            answer = self.api.request(method, path, **request)
        except ApiError as error:
            if error.status in (401, 403):
                hint = "check the private app's access token and that it has the CRM read scopes"
                raise ApiError(f"{error} ({hint})", error.status, error.body) from None
            raise
        if not isinstance(answer, dict):
            raise ApiError(f"HubSpot {method} {path}: unexpected answer {str(answer)[:200]}")
        return answer


# -- helpers -----------------------------------------------------------------------------------------


def rate_limit_wait(status: int, headers: Message) -> float | None:
    """HubSpot's rule: once a window's budget is spent, wait for the window (10 s, or 1 s for the secondly
    limit); a 429 waits ``Retry-After`` when given, else that, else a second.
    """
    spent = None
    if headers.get("X-HubSpot-RateLimit-Remaining") == "0":
        interval = headers.get("X-HubSpot-RateLimit-Interval-Milliseconds")
        spent = (seconds(float(interval) / 1000) if interval and interval.isdigit() else None) or 10.0
    elif headers.get("X-HubSpot-RateLimit-Secondly-Remaining") == "0":
        spent = 1.0
    if status == 429:
        return seconds(headers.get("Retry-After")) or spent or 1.0
    return spent


def _properties(kind: Kind) -> list[str]:
    return [*kind.properties, kind.modified]


def _ms(moment: dt.datetime) -> int:
    return (moment - _EPOCH) // _MS


def _mark(text: Any, name: str) -> int:
    """One type's position in a cursor, in epoch ms; ValueError for a blank one, like an unreadable one."""
    moment = parse_time(text, name)
    if moment is None:
        raise ValueError(f"{name}: no time")
    return _ms(moment)


def _modified(kind: Kind, item: dict[str, Any]) -> int:
    modified = records.time_of(item.get("properties") or {}, kind.modified)
    if modified is None:
        raise ApiError(f"HubSpot {kind.label} {item.get('id')} came without {kind.modified}")
    return _ms(modified)


def _filter(name: str, operator: str, value: int | str) -> dict[str, str]:
    return {"propertyName": name, "operator": operator, "value": str(value)}


def _next(body: dict[str, Any]) -> str | None:
    return ((body.get("paging") or {}).get("next") or {}).get("after")


def _oldest(ids: Any) -> str | None:
    """The oldest of some associated records (HubSpot's ids grow), as text; None for none."""
    ids = {str(value) for value in ids if value is not None}
    return min(ids, key=int) if ids else None


def _cursor(marks: dict[str, int]) -> str:
    moments = {name: _EPOCH + mark * _MS for name, mark in marks.items()}
    return json.dumps({name: f"{moment:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z" for name, moment in moments.items()})


def _marks(cursor: str | None) -> dict[str, int]:
    """The cursor's newest modification time per HubSpot type, in epoch ms."""
    if cursor is None:
        return {}
    try:
        marks = json.loads(cursor)
        return {name: _mark(text, name) for name, text in marks.items()}
    except (ValueError, TypeError, AttributeError):
        raise ValueError(f"HubSpot cursor {cursor!r} is unreadable: run a full sync to start afresh") from None
