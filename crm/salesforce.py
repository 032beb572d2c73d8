"""The Salesforce connector: reps, deals, leads and activities read with SOQL over the REST API.

``SalesforceConnector(instance_url, access_token)`` reads

* ``reps`` from ``User`` (standard users only: not the automated-process, partner or portal users);
* ``deals`` from ``Opportunity``. Whether a stage is won, lost or open comes from ``OpportunityStage``
  (read once), keyed by ``StageName``, and the stage is stored under its label; a stage missing from
  that list falls back to the opportunity's own ``IsClosed`` and ``IsWon``. A deal entered its stage at
  ``LastStageChangeDate`` (else at its creation) where the org's describe lists that field;
* ``leads`` from ``Lead``: an owner that is a queue (id prefix ``00G``) becomes no owner; a converted lead
  keeps its ``ConvertedDate`` (a date: midnight UTC) and its opportunity;
* ``activities`` from two objects, in this order: ``Task`` with ``TaskSubtype = 'Call'`` (calls, which
  occurred once completed: at ``CompletedDateTime``, else on their ``ActivityDate``) and ``Event``
  (meetings, which occur at ``StartDateTime``, even a future one: meetings count when booked, by
  ``created_at``, and an upcoming meeting is not modified when its time passes, so an incremental sync
  could never correct an ``occurred_at`` left empty because of the sync's clock). An activity's deal is
  its ``WhatId`` when that is an opportunity (prefix ``006``).

Paging and cursors: a query answers ``page_size`` records (200 to 2,000, asked in the
``Sforce-Query-Options`` header) and a ``nextRecordsUrl`` for the rest, a snapshot Salesforce keeps on its
side. Every query is ordered by ``SystemModstamp, Id``; the cursor is JSON with the ``SystemModstamp`` of
the last record read from each object, to the second (``{"Task": "2026-05-01T10:00:00Z", "Event": ...}``:
two objects feed activities, and Salesforce ids are unique across objects, so neither needs a prefix).
An incremental sync asks for ``SystemModstamp >= position - lookback``: inclusive, so the records sharing
the last timestamp (split by a page boundary, or written in the same second) are read again, never lost,
and a record changed while a sync runs gets a later timestamp, which the next sync reads.

Deletions: deletable objects are read through ``queryAll``, which also returns archived activities (a full
sync through ``query`` would see old calls vanish once Salesforce archives them, and delete them). A full
sync asks for ``IsDeleted = false`` and the runner marks deleted what it did not see. An incremental sync
reads the deleted rows too (in the recycle bin: ``IsDeleted = true``) and hands their ids to the runner
in :attr:`crm.interface.Page.deleted`, in timestamp order, so a record deleted then restored ends up
restored. Before that, it asks ``getDeleted`` (``/sobjects/{Type}/deleted/``) about the same window, for
records purged from the recycle bin, which ``queryAll`` no longer returns; those ids go first, in a page
that keeps the cursor where it was, so that a sync killed later asks again (reported after the query,
they would come after a committed cursor that a resumed sync starts from). getDeleted also lists records
restored since: one ``queryAll`` by id keeps only those deleted now. Salesforce keeps that delete log about
15 days: when the window starts earlier, or the log was purged after its start, deletions may have been
missed. The connector says so in :attr:`SalesforceConnector.warnings` (and the log) and goes on, rather
than failing every sync until someone intervenes: the next full sync marks those records deleted.

Limits: 429 and 503 are retried after ``Retry-After``, 5xx and network errors after a back-off
(:mod:`crm.http`). Each answer's ``Sforce-Limit-Info: api-usage=N/M`` is noted: once the org has used
``max_api_usage`` of its daily requests, the connector stops before its next request with an
:class:`~crm.http.ApiError` saying so, leaving the rest to the org's other integrations (an incremental
sync keeps the pages it committed, and the next one resumes from there). ``REQUEST_LIMIT_EXCEEDED`` (403)
is not retried.

Record links: opportunities and leads open in Lightning under the instance URL the connector was given
(the login's ``instance_url``): ``{instance_url}/lightning/r/Opportunity/{id}/view``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import Message
from typing import Any

from crm.http import ApiError, JsonApi, Throttle, retry_after
from crm.interface import Page, Reject
from crm.values import amount, crm_id, lead_source, parse_date, parse_time, probability
from kpi.links import templates
from kpi.periods import utc_now

log = logging.getLogger("kpibot.salesforce")

API_VERSION = "v60.0"

#: Salesforce's bounds on a query's batch size.
BATCH_SIZES = range(200, 2001)

#: The share of the org's daily API requests past which a sync stops, leaving the rest to other integrations.
MAX_API_USAGE = 0.9

#: getDeleted wants a window longer than a minute (and ignores seconds).
DELETED_WINDOW = dt.timedelta(minutes=2)

#: Ids per ``WHERE Id IN (...)`` query: well under SOQL's 100,000 characters and a URL's length.
IDS_PER_QUERY = 200

#: Id prefixes: an opportunity (an activity's ``WhatId`` may be any record) and a queue (a lead's owner).
OPPORTUNITY_PREFIX = "006"
QUEUE_PREFIX = "00G"

#: The canonical deal type of words found in an Opportunity ``Type`` (first match wins); otherwise "new".
#: Salesforce's standard values: New Customer, Existing Customer - Upgrade / Replacement / Downgrade.
DEAL_TYPES = (
    (("renewal", "replacement", "downgrade"), "renewal"),
    (("cross",), "cross-sell"),
    (("upgrade", "upsell", "up-sell", "expansion"), "upsell"),
)

#: What to do about an error, by Salesforce error code.
ADVICE = {
    "REQUEST_LIMIT_EXCEEDED": (
        "the org has reached a Salesforce API limit (TotalRequests is the rolling 24-hour allowance shown in "
        "Setup > Company Information); sync again once Salesforce accepts requests"
    ),
    "INVALID_SESSION_ID": (
        "the access token is invalid or expired: log in again with the client credentials, "
        "or give a fresh SALESFORCE_ACCESS_TOKEN"
    ),
}

_USAGE = re.compile(r"(?<![\w-])api-usage=(\d+)/(\d+)")

Row = dict[str, Any]
Convert = Callable[[Row], dict[str, Any]]


@dataclass(frozen=True)
class SObject:
    """A Salesforce object read for a canonical object: the fields selected and the rows wanted."""

    name: str
    fields: str  # the SOQL select list
    where: str | None = None
    optional: tuple[str, ...] = ()  # selected when the org has them (e.g. multi-currency's CurrencyIsoCode)
    deletable: bool = True  # has IsDeleted: read through queryAll, and asked about with getDeleted


USER = SObject("User", "Id, Name, Email, IsActive", "UserType = 'Standard'", deletable=False)
OPPORTUNITY = SObject(
    "Opportunity",
    "Id, Name, Amount, StageName, IsClosed, IsWon, Probability, CloseDate, Type, OwnerId, CreatedDate",
    optional=("CurrencyIsoCode", "LastStageChangeDate"),
)
LEAD = SObject(
    "Lead", "Id, Name, OwnerId, LeadSource, Status, IsConverted, ConvertedDate, ConvertedOpportunityId, CreatedDate"
)
TASK = SObject(
    "Task",
    "Id, OwnerId, WhatId, Status, IsClosed, ActivityDate, CompletedDateTime, CreatedDate",
    "TaskSubtype = 'Call'",
)
EVENT = SObject("Event", "Id, OwnerId, WhatId, StartDateTime, CreatedDate")


class SalesforceConnector:
    """A :class:`crm.interface.Connector` over one Salesforce org."""

    source = "salesforce"
    objects = ("reps", "deals", "leads", "activities")

    def __init__(
        self,
        instance_url: str,
        access_token: str,
        *,
        api_version: str = API_VERSION,
        page_size: int = 2000,
        lookback: dt.timedelta = dt.timedelta(minutes=5),
        throttle: Throttle | None = None,
        max_api_usage: float = MAX_API_USAGE,
        clock: Callable[[], dt.datetime] = utc_now,
        **http: Any,
    ) -> None:
        """``clock`` (naive UTC) ends the getDeleted window; ``http`` goes to :class:`crm.http.JsonApi`
        (``max_retries``, ``backoff``, ``timeout``, ``sleep``). Salesforce has no per-second rate limit to
        stay under, so there is no default ``throttle``.
        """
        if page_size not in BATCH_SIZES:
            raise ValueError(f"page_size: Salesforce pages 200 to 2,000 records, not {page_size}")
        headers = {"Authorization": f"Bearer {access_token}", "Sforce-Query-Options": f"batchSize={page_size}"}
        self.api = JsonApi(instance_url, headers, vendor="Salesforce", wait=self.wait, throttle=throttle, **http)
        self.data = f"/services/data/{api_version}"
        self.lookback = lookback
        self.max_api_usage = max_api_usage
        self.clock = clock
        #: (used, allowed) daily API requests, from the last answer's ``Sforce-Limit-Info``.
        self.api_usage: tuple[int, int] | None = None
        #: Things a person should know about the syncs run, such as deletions that may have been missed.
        self.warnings: list[str] = []
        self._stages: dict[str, tuple[str, str]] | None = None
        self._described: dict[str, set[str]] = {}

    def read(self, object: str, cursor: str | None) -> Iterator[Page]:
        if object not in self.objects:
            raise KeyError(f"Salesforce offers no {object!r}")
        return self._read(object, cursor)

    def links(self) -> dict[str, str]:
        """Where opportunities and leads open in Lightning: under the org's instance URL, the one the token
        was issued for (the login's ``instance_url``)."""
        return templates(self.source, {"instance_url": self.api.base_url})

    # -- reading -------------------------------------------------------------------------------------

    def _sources(self, object: str) -> list[tuple[SObject, Convert]]:
        """The Salesforce objects read for ``object``, in order, each with how a row becomes a record."""
        if object == "reps":
            return [(USER, _rep)]
        if object == "deals":
            return [(OPPORTUNITY, functools.partial(_deal, stages=self.stages()))]
        if object == "leads":
            return [(LEAD, _lead)]
        return [(TASK, _call), (EVENT, _meeting)]

    def _read(self, object: str, cursor: str | None) -> Iterator[Page]:
        positions = _positions(cursor)
        incremental = cursor is not None
        now = self.clock()
        expected = 0  # records the queries announced so far, for a progress bar
        for sobject, convert in self._sources(object):
            position = parse_time(positions.get(sobject.name))
            since = None if position is None else position - self.lookback
            if since is not None and sobject.deletable:
                # first, with the cursor as it was: a sync killed later asks again about the same window
                gone = self._gone(sobject, self._deleted(sobject, since, now))
                if gone:
                    yield Page(deleted=gone, cursor=_cursor(positions))
            for number, body in enumerate(self._query(sobject, since, include_deleted=incremental)):
                if number == 0:
                    expected += body.get("totalSize", 0)
                page = Page(locations=[], total=expected)
                for row in body.get("records") or []:
                    self._take(object, sobject, convert, row, page)
                    if stamp := parse_time(row.get("SystemModstamp"), "SystemModstamp"):
                        positions[sobject.name] = _literal(stamp)
                page.cursor = _cursor(positions)
                yield page

    def _take(self, object: str, sobject: SObject, convert: Convert, row: Row, page: Page) -> None:
        """Add one row to ``page``: a record, a deleted id, or a reject."""
        location = f"Salesforce {sobject.name} {row.get('Id')}"
        if row.get("IsDeleted"):
            page.deleted.append(row["Id"])
            return
        try:
            record = convert(row)
        except ValueError as problem:
            raw = {key: value for key, value in row.items() if key != "attributes"}
            page.rejects.append(Reject(object, location, str(problem), raw, crm_id(row.get("Id"))))
            return
        page.records.append(record)
        page.locations.append(location)

    def _query(self, sobject: SObject, since: dt.datetime | None, *, include_deleted: bool) -> Iterator[Row]:
        """The answers to one query, page by page: ``sobject``'s rows changed since ``since`` (all rows when
        None), oldest change first, with the deleted ones when ``include_deleted``.
        """
        fields = [sobject.fields, *self._optional_fields(sobject), "SystemModstamp"]
        conditions = [sobject.where] if sobject.where else []
        if sobject.deletable:
            fields.append("IsDeleted")
            if not include_deleted:
                conditions.append("IsDeleted = false")
        if since is not None:
            conditions.append(f"SystemModstamp >= {_literal(since)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        soql = f"SELECT {', '.join(fields)} FROM {sobject.name}{where} ORDER BY SystemModstamp, Id"
        return self._pages("queryAll" if sobject.deletable else "query", soql)

    def _pages(self, resource: str, soql: str) -> Iterator[Row]:
        body = self.get(f"{self.data}/{resource}", {"q": soql})
        while True:
            yield body
            if body.get("done", True) or not body.get("nextRecordsUrl"):
                return
            body = self.get(body["nextRecordsUrl"])

    def _optional_fields(self, sobject: SObject) -> list[str]:
        """The optional fields ``sobject`` has in this org, from its describe (read once per connector)."""
        if not sobject.optional:
            return []
        if sobject.name not in self._described:
            body = self.get(f"{self.data}/sobjects/{sobject.name}/describe")
            self._described[sobject.name] = {field.get("name") for field in body.get("fields") or []}
        return [name for name in sobject.optional if name in self._described[sobject.name]]

    def _deleted(self, sobject: SObject, since: dt.datetime, now: dt.datetime) -> list[str]:
        """The ids getDeleted lists as deleted between ``since`` and ``now`` (to the minute).

        The window starts at least two minutes before ``now``, as getDeleted wants more than a minute.
        """
        end = now.replace(second=0, microsecond=0)
        start = min(since, end - DELETED_WINDOW).replace(second=0, microsecond=0)
        window = {"start": f"{start:%Y-%m-%dT%H:%M:%S}+00:00", "end": f"{end:%Y-%m-%dT%H:%M:%S}+00:00"}
        try:
            body = self.get(f"{self.data}/sobjects/{sobject.name}/deleted/", window)
        except ApiError as error:
            if _error_code(error) != "INVALID_REPLICATION_DATE":
                raise
            self._warn(
                f"Salesforce cannot list the {sobject.name} deletions since {start:%Y-%m-%d %H:%M} UTC ({error})"
            )
            return []
        available = parse_time(body.get("earliestDateAvailable"), "earliestDateAvailable")
        if available is not None and available > start:
            self._warn(
                f"Salesforce lists {sobject.name} deletions only since {available:%Y-%m-%d %H:%M} UTC, and this "
                f"sync needed them since {start:%Y-%m-%d %H:%M} UTC"
            )
        return [item["id"] for item in body.get("deletedRecords") or []]

    def _gone(self, sobject: SObject, ids: list[str]) -> list[str]:
        """Those of ``ids`` that are deleted now: purged (``queryAll`` no longer has them) or in the recycle
        bin. getDeleted also lists records restored since, which must not be marked deleted even for a while.
        """
        live: set[str] = set()
        for start in range(0, len(ids), IDS_PER_QUERY):
            chosen = ", ".join(f"'{record_id}'" for record_id in ids[start : start + IDS_PER_QUERY])
            soql = f"SELECT Id, IsDeleted FROM {sobject.name} WHERE Id IN ({chosen})"
            for body in self._pages("queryAll", soql):
                live.update(row["Id"] for row in body.get("records") or [] if not row.get("IsDeleted"))
        return [record_id for record_id in ids if record_id not in live]

    def _warn(self, problem: str) -> None:
        message = (
            f"{problem}: records deleted and purged from the recycle bin in that time may still count; "
            "the next full sync marks them deleted"
        )
        log.warning(message)
        self.warnings.append(message)

    def stages(self) -> dict[str, tuple[str, str]]:
        """StageName (the API name or the label) -> (label, status), from OpportunityStage, read once."""
        if self._stages is None:
            stages = {}
            for body in self._pages("query", "SELECT ApiName, MasterLabel, IsClosed, IsWon FROM OpportunityStage"):
                for row in body.get("records") or []:
                    stage = (row["MasterLabel"], _status(row.get("IsClosed"), row.get("IsWon")))
                    stages[row["MasterLabel"]] = stages[row.get("ApiName") or row["MasterLabel"]] = stage
            self._stages = stages
        return self._stages

    # -- HTTP ----------------------------------------------------------------------------------------

    def get(self, path: str, params: dict[str, Any] | None = None) -> Row:
        """GET a Salesforce resource, unless the org's daily API usage has reached ``max_api_usage``."""
        if self.api_usage is not None:
            used, allowed = self.api_usage
            if allowed and used >= self.max_api_usage * allowed:
                raise ApiError(
                    f"Salesforce API usage is {used:,} of the org's {allowed:,} daily requests: syncs stop at "
                    f"{self.max_api_usage:.0%} to leave the rest to the org's other integrations, and go on once "
                    "the rolling 24-hour usage is lower"
                )
        try:
            body = self.api.get(path, params)
        except ApiError as error:
            code = _error_code(error)
            if code in ADVICE:
                raise ApiError(f"{error} ({code}): {ADVICE[code]}", error.status, error.body) from None
            raise
        if not isinstance(body, dict):
            raise ApiError(f"Salesforce GET {path}: unexpected answer {str(body)[:200]}")
        return body

    def wait(self, status: int, headers: Message) -> float | None:
        """Salesforce's rule: ``Retry-After`` on 429 and 503; and note the daily usage each answer reports."""
        usage = _USAGE.search(headers.get("Sforce-Limit-Info") or "")
        if usage:
            self.api_usage = (int(usage[1]), int(usage[2]))
        return retry_after(status, headers)


def salesforce_login(login_url: str, client_id: str, client_secret: str, **http: Any) -> tuple[str, str]:
    """``(instance_url, access_token)`` from the OAuth 2.0 client-credentials flow of a connected app, in the
    order :class:`SalesforceConnector` takes them.

    ``login_url`` is the org's My Domain URL (``https://acme.my.salesforce.com``): Salesforce refuses this
    flow on login.salesforce.com. The credentials travel in a form body, as OAuth wants (never in the URL,
    which proxies and access logs record). ``http`` goes to :class:`crm.http.JsonApi`.
    """
    api = JsonApi(login_url, {}, vendor="Salesforce", **http)
    params = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": client_secret}
    try:
        answer = api.request("POST", "/services/oauth2/token", form=params)
    except ApiError as error:
        said = error.body if isinstance(error.body, dict) else {}
        reason = ": ".join(str(said[key]) for key in ("error", "error_description") if said.get(key)) or str(error)
        raise ApiError(f"Salesforce login at {login_url} failed: {reason}", error.status, error.body) from None
    if not isinstance(answer, dict) or not answer.get("access_token") or not answer.get("instance_url"):
        raise ApiError(f"Salesforce login at {login_url}: unexpected answer {str(answer)[:200]}")
    return answer["instance_url"], answer["access_token"]


# -- records -----------------------------------------------------------------------------------------


def _rep(row: Row) -> dict[str, Any]:
    return {
        "crm_id": crm_id(row.get("Id")),
        "name": row.get("Name"),
        "email": row.get("Email") or None,
        "active": bool(row.get("IsActive")),
    }


def _deal(row: Row, stages: dict[str, tuple[str, str]]) -> dict[str, Any]:
    stage_name = row.get("StageName")
    known = stages.get(stage_name) if isinstance(stage_name, str) else None
    stage, status = known or (stage_name, _status(row.get("IsClosed"), row.get("IsWon")))
    return {
        "crm_id": crm_id(row.get("Id")),
        "name": row.get("Name"),
        "owner_crm_id": crm_id(row.get("OwnerId")),
        "amount": amount(row.get("Amount"), "Amount"),
        "currency": row.get("CurrencyIsoCode"),
        "stage": stage,
        "status": status,
        "type": _deal_type(row.get("Type")),
        "probability": probability(row.get("Probability"), percent=True),
        "created_at": parse_time(row.get("CreatedDate"), "CreatedDate"),
        "close_date": parse_date(row.get("CloseDate"), "CloseDate"),
        "updated_at": parse_time(row.get("SystemModstamp"), "SystemModstamp"),
        **_stage_change(row),
    }


def _stage_change(row: Row) -> dict[str, Any]:
    """``stage_changed_at`` where the org has ``LastStageChangeDate`` (empty until a stage change: then the
    opportunity is in the stage it was created in); nothing otherwise, and the sync dates the changes it sees."""
    if "LastStageChangeDate" not in row:
        return {}
    changed = parse_time(row.get("LastStageChangeDate"), "LastStageChangeDate")
    return {"stage_changed_at": changed or parse_time(row.get("CreatedDate"), "CreatedDate")}


def _lead(row: Row) -> dict[str, Any]:
    owner = crm_id(row.get("OwnerId"))
    return {
        "crm_id": crm_id(row.get("Id")),
        "name": row.get("Name"),
        "owner_crm_id": None if owner and owner.startswith(QUEUE_PREFIX) else owner,
        "lead_source": lead_source(row.get("LeadSource")),
        "status": row.get("Status"),
        "created_at": parse_time(row.get("CreatedDate"), "CreatedDate"),
        "converted_at": parse_date(row.get("ConvertedDate"), "ConvertedDate") if row.get("IsConverted") else None,
        "converted_deal_crm_id": crm_id(row.get("ConvertedOpportunityId")),
    }


def _call(row: Row) -> dict[str, Any]:
    """A call task: it occurred once completed, at its completion time or, without one, on its due date."""
    done = row.get("IsClosed") or row.get("Status") == "Completed"
    completed = parse_time(row.get("CompletedDateTime"), "CompletedDateTime")
    due = parse_date(row.get("ActivityDate"), "ActivityDate")
    return _activity(row, "call", (completed or due) if done else None)


def _meeting(row: Row) -> dict[str, Any]:
    return _activity(row, "meeting", parse_time(row.get("StartDateTime"), "StartDateTime"))


def _activity(row: Row, kind: str, occurred: dt.datetime | None) -> dict[str, Any]:
    what = crm_id(row.get("WhatId"))
    return {
        "crm_id": crm_id(row.get("Id")),
        "type": kind,
        "owner_crm_id": crm_id(row.get("OwnerId")),
        "deal_crm_id": what if what and what.startswith(OPPORTUNITY_PREFIX) else None,
        "created_at": parse_time(row.get("CreatedDate"), "CreatedDate"),
        "occurred_at": occurred,
    }


def _status(closed: Any, won: Any) -> str:
    return ("won" if won else "lost") if closed else "open"


def _deal_type(value: Any) -> str:
    text = str(value or "").lower()
    return next((kind for words, kind in DEAL_TYPES if any(word in text for word in words)), "new")


# -- cursors and errors ------------------------------------------------------------------------------


def _positions(cursor: str | None) -> dict[str, str]:
    """The cursor's SystemModstamp per Salesforce object; empty on a full sync."""
    if cursor is None:
        return {}
    try:
        positions = json.loads(cursor)
    except ValueError:
        positions = None
    if not isinstance(positions, dict):
        raise ValueError(f"Salesforce cursor {cursor!r} was not written by this connector: run a full sync")
    return positions


def _cursor(positions: dict[str, str]) -> str:
    return json.dumps(positions, separators=(",", ":"))


def _literal(moment: dt.datetime) -> str:
    """A SOQL datetime literal (UTC, to the second: a cursor only needs to be no later than the record)."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


def _error_code(error: ApiError) -> str | None:
    """Salesforce's ``errorCode`` in an error answer: ``[{"message": ..., "errorCode": ...}]``."""
    body = error.body
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return body[0].get("errorCode")
    return None
