"""A fake HubSpot API on a local port: owners, deal pipelines, deals, contacts, calls and meetings (CRM v3, v4).

``with FakeHubSpot() as fake:`` serves ``fake.url`` from a thread, seeded with a few hundred records (see
:meth:`FakeHubSpot.seed`), or with a :class:`tests.fakes.business.Business` after ``fake.load(business)``.
It behaves as HubSpot does where the connector relies on it:

* every request carries ``Authorization: Bearer TOKEN``, else 401 with HubSpot's error body;
* lists (``GET /crm/v3/objects/{type}``, ``GET /crm/v3/owners``) page with ``paging.next.after``, leave
  archived records out unless ``archived=true`` (then with ``archivedAt``), and give ``associations=deals``;
* search (``POST /crm/v3/objects/{type}/search``) filters and sorts on the last-modification property
  (``lastmodifieddate`` for contacts, ``hs_lastmodifieddate`` for the others) and on ``hs_object_id``,
  answers ``{"total", "results", "paging"}``, never lists archived records, sends no rate-limit headers,
  and serves at most ``search_cap`` results per query: a request whose ``after`` reaches it gets a 400;
* ``POST /crm/v4/associations/{type}/deals/batch/read`` and ``POST /crm/v3/objects/deals/batch/read``
  answer 207 with ``errors`` for the ids they cannot serve; links to archived deals are hidden;
* the list and the batch read of deals give ``propertiesWithHistory`` when asked (``dealstage``'s history
  only: every stage a deal was put in, newest first), and then serve at most 50 records;
* ``GET /account-info/v3/details`` answers the portal's details (:data:`ACCOUNT`: portal 62515, an EU one);
* property values are text or null; times are ISO 8601 with milliseconds (a few seeded ones epoch ms).

Changes as a user makes them: :meth:`add`, :meth:`update`, :meth:`change_stage`, :meth:`change_owner`,
:meth:`archive`, :meth:`restore`. Each stamps the record with the fake's clock ``fake.clock`` (epoch ms,
from :data:`START` on, after every seeded time), then moves it a second on, unless ``at`` is given.

Test controls (:mod:`tests.fakes.api`, counted in answers to a path): ``rate_limit_once(path)`` answers
one 429 with the ``X-HubSpot-RateLimit-*`` headers of the burst limit (or the ``headers`` given);
``fail_once(path)`` one 500; ``fail_from(path, served)`` 503 once ``served`` more answers went out, until
:meth:`mend`; ``on_page(path, k, action)`` runs ``action`` right after the k-th answer to ``path``, before
the next request (a change made *during* a sync). ``fake.requests`` lists every request, refused ones too.

Scale: per object type, the ids (live, archived) and the live records' ``(modified, id)`` pairs are kept in
sorted lists, rebuilt once after a change, and each page is found with ``bisect``: ``FakeHubSpot(deals=
100_000)`` seeds in about half a second and serves any page without scanning the others.
"""

from __future__ import annotations

import bisect
import contextlib
import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from tests.fakes import api
from tests.fakes.business import Business

TOKEN = "test-token"

#: The object types served, with the property holding their last modification time and creation time.
MODIFIED = {"deals": "hs_lastmodifieddate", "contacts": "lastmodifieddate"}
CREATED = {"calls": "hs_createdate", "meetings": "hs_createdate"}
TYPES = ("deals", "contacts", "calls", "meetings")

#: When the seeded records were last modified (from then on, one minute apart), and when tests' changes begin.
SEEDED = dt.datetime(2026, 3, 1)
START = dt.datetime(2026, 4, 1, 9, 0)

LIST_LIMIT = 100
SEARCH_LIMIT = 200
#: Lists and batch reads asking for ``propertiesWithHistory`` serve at most 50 records.
HISTORY_LIMIT = 50

#: ``GET /account-info/v3/details`` of the portal (``fake.account``, which a test may change).
ACCOUNT = {
    "portalId": 62515,
    "accountType": "STANDARD",
    "timeZone": "Europe/Paris",
    "companyCurrency": "EUR",
    "additionalCurrencies": ["USD"],
    "utcOffset": "+01:00",
    "utcOffsetMilliseconds": 3600000,
    "uiDomain": "app-eu1.hubspot.com",
    "dataHostingLocation": "eu1",
}

#: What HubSpot answers when the ten-secondly burst limit is spent.
BURST_LIMITED = {
    "X-HubSpot-RateLimit-Interval-Milliseconds": "10000",
    "X-HubSpot-RateLimit-Max": "100",
    "X-HubSpot-RateLimit-Remaining": "0",
    "X-HubSpot-RateLimit-Secondly": "10",
    "X-HubSpot-RateLimit-Secondly-Remaining": "0",
}
#: Sent with every successful answer except search ones (HubSpot's search sends no rate-limit headers).
BUDGET_LEFT = {**BURST_LIMITED, "X-HubSpot-RateLimit-Remaining": "99", "X-HubSpot-RateLimit-Secondly-Remaining": "9"}


def ms(moment: dt.datetime) -> int:
    """A naive UTC time as epoch milliseconds."""
    return (moment - dt.datetime(1970, 1, 1)) // dt.timedelta(milliseconds=1)


def iso(epoch_ms: int) -> str:
    """Epoch milliseconds as HubSpot writes times: ``2026-03-01T10:00:00.000Z``."""
    moment = dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=epoch_ms)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{epoch_ms % 1000:03d}Z"


@functools.lru_cache(maxsize=4096)  # seeding 100,000 deals writes the same few dates over and over
def when(moment: dt.datetime | None) -> str | None:
    return None if moment is None else iso(ms(moment))


#: Stages of the default seed: (id, label, closed, probability).
SALES_STAGES = [
    ("appointmentscheduled", "Appointment scheduled", False, "0.2"),
    ("qualifiedtobuy", "Qualified to buy", False, "0.4"),
    ("contractsent", "Contract sent", False, "0.8"),
    ("closedwon", "Closed won", True, "1.0"),
    ("closedlost", "Closed lost", True, "0.0"),
]
RENEWAL_STAGES = [
    ("renewal-open", "Renouvellement", False, "0.5"),
    ("renewal-won", "Renouvelé", True, "1.0"),
    ("renewal-lost", "Résilié", True, "0.0"),
]

#: HubSpot's original-source values for the business's lead sources.
SOURCES = {"Referral": "REFERRALS", "Web": "ORGANIC_SEARCH"}


@dataclass
class Record:
    """One CRM object: its properties as HubSpot stores them (text), times in epoch ms, and deal links."""

    id: int
    properties: dict[str, str | None]
    created: int
    modified: int
    archived: int | None = None  # when it was archived
    deals: list[int] = field(default_factory=list)  # the deals it is associated with
    stages: list[tuple[str | None, int]] = field(default_factory=list)  # the dealstage history: (value, when)


@dataclass
class _Index:
    live: list[int]  # ids of the records not archived, sorted
    archived: list[int]
    by_modified: list[tuple[int, int]]  # (modified, id) of the live records, sorted


class Refused(api.Refused):
    """An answer other than 2xx: raised inside the fake to answer with HubSpot's error shape."""

    def __init__(self, status: int, message: str, category: str = "VALIDATION_ERROR") -> None:
        super().__init__(status, {"status": "error", "message": message, "category": category, "correlationId": "fake"})


class FakeHubSpot(api.FakeApi):
    def __init__(self, *, seed: bool = True, deals: int = 150, search_cap: int = 10_000) -> None:
        super().__init__()
        self.owners: list[dict[str, Any]] = []
        self.pipelines: list[dict[str, Any]] = []
        self.objects: dict[str, dict[int, Record]] = {kind: {} for kind in TYPES}
        self.search_cap = search_cap
        self.account: dict[str, Any] = dict(ACCOUNT)
        self.clock, self.tick = ms(START), 1000
        self._indexes: dict[str, _Index] = {}
        if seed:
            self.seed(deals)

    # -- seeding -------------------------------------------------------------------------------------

    def seed(self, deals: int = 150) -> None:
        """The default portal: 5 owners (one archived) in 2 teams, 2 pipelines, ``deals`` deals (the last
        3 archived), 60 calls and 40 meetings (sharing ids, as HubSpot's engagements may; 2 calls and 1
        meeting archived) and 80 contacts (1 archived). Odd values: the amounts of deals 1001 ("1,200.50"),
        1002 ("") and 1003 (null), closedate as epoch ms on deals 1005, 1015...
        """
        with self._seeding(deals + 180):
            nord, sud = {"id": "7001", "name": "Équipe Nord"}, {"id": "7002", "name": "Süd"}
            people = [
                ("Zoë", "Ångström", "zoe", [nord]),
                ("Björn", "Müller", "bjorn", [nord]),
                ("José", "Núñez", "jose", [sud, nord]),
                ("Ada", "Lovelace", "ada", []),
                ("Grace", "Hopper", "grace", [sud]),
            ]
            for i, (first, last, email, teams) in enumerate(people):
                memberships = [{**team, "primary": n == 0} for n, team in enumerate(teams)]
                self.add_owner(101 + i, first, last, f"{email}@example.com", teams=memberships, archived=i == 4)
            self.add_pipeline("default", "Sales Pipeline", SALES_STAGES)
            self.add_pipeline("renewals", "Renouvellements", RENEWAL_STAGES)
            stages = [stage for stage, *_ in SALES_STAGES + RENEWAL_STAGES]
            probabilities = {stage: probability for stage, _, _, probability in SALES_STAGES + RENEWAL_STAGES}
            closed = {stage for stage, _, is_closed, _ in SALES_STAGES + RENEWAL_STAGES if is_closed}
            odd_amounts = {1: "1,200.50", 2: "", 3: None, 4: "999.99"}
            for i in range(deals):
                stage = stages[i % len(stages)]
                day = 1 + i % 28
                close = dt.datetime(2026, 2, day, 15, 45) if stage in closed else dt.datetime(2026, 4, day)
                self.add(
                    "deals",
                    1000 + i,
                    created=dt.datetime(2026, 1, day, 9, 30),
                    dealname="Contrat café — Zürich" if i == 0 else f"Deal {i}",
                    amount=odd_amounts.get(i, str(1000 + 10 * i)),
                    dealstage=stage,
                    pipeline="renewals" if stage.startswith("renewal") else "default",
                    closedate=str(ms(close)) if i % 10 == 5 else when(close),
                    hubspot_owner_id=str(101 + i % 5),
                    deal_currency_code="EUR",
                    hs_deal_stage_probability=probabilities[stage],
                )
            for i in range(60):
                at = dt.datetime(2026, 2, 1 + i % 28, 10, i % 60)
                self.add(
                    "calls",
                    5000 + i,
                    created=at - dt.timedelta(days=1),
                    deals=[1000 + i] if i % 3 else [],
                    hs_timestamp=when(at),
                    hubspot_owner_id=str(101 + i % 4),
                    hs_call_status="NO_ANSWER" if i % 5 == 4 else "COMPLETED",
                )
            for i in range(40):
                at = dt.datetime(2026, 2, 1 + i % 28, 14, 30)
                self.add(
                    "meetings",
                    5000 + i,
                    created=at - dt.timedelta(days=2),
                    deals=[1000 + 2 * i] if i % 2 == 0 else [],
                    hs_timestamp=when(at),
                    hs_meeting_start_time=when(at),
                    hubspot_owner_id=str(101 + i % 4),
                    hs_meeting_outcome="SCHEDULED" if i % 4 == 3 else "COMPLETED",
                )
            sources = ["ORGANIC_SEARCH", "REFERRALS", "PAID_SEARCH", "DIRECT_TRAFFIC", "OFFLINE"]
            day = dt.timedelta(days=1)
            for i in range(80):
                created = dt.datetime(2026, 1, 1 + i % 28, 8, 0)
                self.add(
                    "contacts",
                    3000 + i,
                    created=created,
                    deals=[1000 + i] if i % 5 == 0 else [],
                    firstname="Léa" if i % 2 else "Sam",
                    lastname=f"Contact{i}",
                    hubspot_owner_id=str(101 + i % 4),
                    hs_analytics_source=sources[i % 5],
                    hs_lifecyclestage_marketingqualifiedlead_date=when(created + day) if i % 2 == 0 else None,
                    hs_lifecyclestage_salesqualifiedlead_date=when(created + 3 * day) if i % 4 == 0 else None,
                    hs_lifecyclestage_opportunity_date=when(created + 5 * day) if i % 10 == 0 else None,
                )
            archived_at = dt.datetime(2026, 2, 20)
            for kind, ids in (("deals", range(1000 + deals - 3, 1000 + deals)), ("calls", (5058, 5059))):
                for record_id in ids:
                    self.archive(kind, record_id, at=archived_at)
            self.archive("meetings", 5039, at=archived_at)
            self.archive("contacts", 3079, at=archived_at)

    def load(self, business: Business) -> None:
        """Replace the fake's data with ``business``, in HubSpot's shapes: owners from people (the inactive
        ones archived), one pipeline of ``business.stages``, deals from sales, calls and meetings from touches
        (linked to their deal), contacts from prospects (a converted one linked to its deal, with the
        conversion as its opportunity date). Ids: owner 101..., deal 1000..., engagement 5000..., contact 3000...
        """
        records = len(business.sales) + len(business.touches) + len(business.prospects)
        with self._seeding(records):
            self.owners, self.pipelines = [], []
            self.objects = {kind: {} for kind in TYPES}
            self._indexes.clear()
            owner = {person.id: 101 + i for i, person in enumerate(business.people)}
            deal = {sale.id: 1000 + i for i, sale in enumerate(business.sales)}
            for person in business.people:
                self.add_owner(
                    owner[person.id], person.first_name, person.last_name, person.email, archived=not person.active
                )
            stage_id = {stage.label: stage.label.lower().replace(" ", "") for stage in business.stages}
            stages = [
                (stage_id[stage.label], stage.label, stage.status != "open", str(float(stage.probability)))
                for stage in business.stages
            ]
            self.add_pipeline("default", "Sales Pipeline", stages)
            for sale in business.sales:
                self.add(
                    "deals",
                    deal[sale.id],
                    created=sale.created,
                    dealname=sale.name,
                    amount=None if sale.amount is None else str(sale.amount),
                    dealstage=stage_id[sale.stage],
                    pipeline="default",
                    closedate=when(sale.closed),
                    hubspot_owner_id=str(owner[sale.owner]),
                    deal_currency_code="USD",
                    hs_deal_stage_probability=str(float(sale.probability)),
                )
            for i, touch in enumerate(business.touches):
                common = {
                    "created": touch.at,
                    "deals": [deal[touch.sale]] if touch.sale else [],
                    "hs_timestamp": when(touch.at),
                    "hubspot_owner_id": str(owner[touch.owner]),
                }
                if touch.kind == "call":
                    self.add("calls", 5000 + i, **common, hs_call_status="COMPLETED" if touch.done else "QUEUED")
                else:
                    outcome = "COMPLETED" if touch.done else "SCHEDULED"
                    self.add(
                        "meetings", 5000 + i, **common, hs_meeting_start_time=when(touch.at), hs_meeting_outcome=outcome
                    )
            for i, prospect in enumerate(business.prospects):
                self.add(
                    "contacts",
                    3000 + i,
                    created=prospect.created,
                    deals=[deal[prospect.converted_sale]] if prospect.converted_sale else [],
                    firstname=prospect.first_name,
                    lastname=prospect.last_name,
                    hubspot_owner_id=str(owner[prospect.owner]),
                    hs_analytics_source=SOURCES.get(prospect.source, "OTHER_CAMPAIGNS") if prospect.source else None,
                    hs_lifecyclestage_opportunity_date=when(prospect.converted),
                )

    @contextlib.contextmanager
    def _seeding(self, records: int) -> Iterator[None]:
        """Stamp the records added inside one minute apart from :data:`SEEDED` (closer when there are too
        many to fit before :data:`START`), then let changes go on from :data:`START`, a second apart."""
        with self.lock:
            self.clock, self.tick = ms(SEEDED), min(60_000, (ms(START) - ms(SEEDED)) // max(records, 1))
            yield
            self.clock, self.tick = ms(START), 1000

    def add_owner(
        self, owner_id: int, first: str, last: str, email: str, *, teams: list[dict] | None = None, archived=False
    ) -> None:
        with self.lock:
            stamp = iso(self.clock)
            self.owners.append(
                {
                    "id": str(owner_id),
                    "email": email,
                    "type": "PERSON",
                    "firstName": first,
                    "lastName": last,
                    "userId": owner_id * 10,
                    "createdAt": stamp,
                    "updatedAt": stamp,
                    "archived": archived,
                    "teams": teams or [],
                }
            )

    def add_pipeline(self, pipeline_id: str, label: str, stages: Iterable[tuple[str, str, bool, str]]) -> None:
        """A deal pipeline; ``stages``: (id, label, closed, probability as HubSpot writes it: "0.2")."""
        with self.lock:
            self.pipelines.append(
                {
                    "id": pipeline_id,
                    "label": label,
                    "displayOrder": len(self.pipelines),
                    "archived": False,
                    "stages": [
                        {
                            "id": stage_id,
                            "label": stage_label,
                            "displayOrder": order,
                            "archived": False,
                            "metadata": {"isClosed": "true" if closed else "false", "probability": probability},
                        }
                        for order, (stage_id, stage_label, closed, probability) in enumerate(stages)
                    ],
                }
            )

    def add(
        self,
        kind: str,
        record_id: int,
        *,
        created: dt.datetime,
        deals: list[int] | None = None,
        at: dt.datetime | None = None,
        **properties: str | None,
    ) -> Record:
        """Create a record of ``kind`` (deals, contacts, calls, meetings), last modified ``at`` (or now)."""
        with self.lock:
            record = Record(record_id, properties, ms(created), self._stamp(at), deals=list(deals or []))
            if "dealstage" in properties:
                record.stages.append((properties["dealstage"], record.created))
            self.objects[kind][record_id] = record
            self._indexes.pop(kind, None)
            return record

    # -- changes between (or during) syncs ---------------------------------------------------------

    def record(self, kind: str, record_id: int) -> Record:
        return self.objects[kind][record_id]

    def update(self, kind: str, record_id: int, *, at: dt.datetime | None = None, **properties: str | None) -> None:
        """Change some properties of a record (a stage, an owner, an amount...), as a user would."""
        with self.lock:
            record = self.objects[kind][record_id]
            record.properties.update(properties)
            record.modified = self._stamp(at)
            if "dealstage" in properties:
                record.stages.append((properties["dealstage"], record.modified))
            self._indexes.pop(kind, None)

    def change_stage(self, deal_id: int, stage_id: str, *, at: dt.datetime | None = None) -> None:
        """Move a deal to a stage as HubSpot does: the stage's probability comes along, and a deal that
        closes gets the day's ``closedate``."""
        with self.lock:
            stages = [stage for pipeline in self.pipelines for stage in pipeline["stages"]]
            metadata = next(stage["metadata"] for stage in stages if stage["id"] == stage_id)
            moment = at or dt.datetime(1970, 1, 1) + dt.timedelta(milliseconds=self._stamp(None))
            changes = {"dealstage": stage_id, "hs_deal_stage_probability": metadata["probability"]}
            if metadata["isClosed"] == "true":
                changes["closedate"] = when(moment)
            self.update("deals", deal_id, at=moment, **changes)

    def change_owner(self, kind: str, record_id: int, owner_id: int | None, *, at: dt.datetime | None = None) -> None:
        self.update(kind, record_id, at=at, hubspot_owner_id=None if owner_id is None else str(owner_id))

    def archive(self, kind: str, record_id: int, *, at: dt.datetime | None = None) -> None:
        with self.lock:
            self.objects[kind][record_id].archived = self._stamp(at)
            self._indexes.pop(kind, None)

    def restore(self, kind: str, record_id: int, *, at: dt.datetime | None = None) -> None:
        """Bring an archived record back (HubSpot keeps them 90 days): that counts as a modification."""
        with self.lock:
            record = self.objects[kind][record_id]
            record.archived = None
            record.modified = self._stamp(at)
            self._indexes.pop(kind, None)

    def _stamp(self, at: dt.datetime | None) -> int:
        if at is not None:
            return ms(at)
        stamp, self.clock = self.clock, self.clock + self.tick
        return stamp

    # -- answering -----------------------------------------------------------------------------------

    def admit(self, request: api.Request) -> dict[str, str]:
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            message = "Authentication credentials not found. This API supports OAuth 2.0 authentication."
            raise Refused(401, message, "INVALID_AUTHENTICATION")
        return {}

    def refusal(self, status: int, limited: bool) -> api.Refused:
        if limited:
            limit = {
                "status": "error",
                "message": "You have reached your ten_secondly_rolling limit.",
                "errorType": "RATE_LIMIT",
                "correlationId": "fake",
                "policyName": "TEN_SECONDLY_ROLLING",
            }
            return api.Refused(status, limit, BURST_LIMITED)
        if status == 500:
            return Refused(500, "internal error", "INTERNAL_ERROR")
        return Refused(status, "service unavailable", "SERVICE_UNAVAILABLE")

    def route(self, request: api.Request) -> api.Answer:
        status, answer = self._route(request.method, request.path, request.params, request.body)
        return status, {} if request.path.endswith("/search") else BUDGET_LEFT, answer

    def _route(self, method: str, path: str, params: dict[str, str], body: Any) -> tuple[int, Any]:
        match method, path.strip("/").split("/"):
            case "GET", ["crm", "v3", "owners"]:
                return 200, self._owners(params)
            case "GET", ["crm", "v3", "pipelines", "deals"]:
                return 200, {"results": self.pipelines}
            case "GET", ["account-info", "v3", "details"]:
                return 200, self.account
            case "GET", ["crm", "v3", "objects", kind] if kind in TYPES:
                return 200, self._list(kind, params)
            case "POST", ["crm", "v3", "objects", kind, "search"] if kind in TYPES:
                return 200, self._search(kind, body)
            case "POST", ["crm", "v3", "objects", "deals", "batch", "read"]:
                return self._batch_read(body)
            case "POST", ["crm", "v4", "associations", kind, "deals", "batch", "read"] if kind in TYPES:
                return self._associations(kind, body)
        raise Refused(404, f"no route for {method} {path}", "OBJECT_NOT_FOUND")

    def _owners(self, params: dict[str, str]) -> dict[str, Any]:
        archived = params.get("archived") == "true"
        owners = [owner for owner in self.owners if owner["archived"] == archived]
        start = int(params.get("after") or 0)
        limit = min(int(params.get("limit", 100)), 500)
        return _paged(owners[start : start + limit], start + limit if start + limit < len(owners) else None)

    def _list(self, kind: str, params: dict[str, str]) -> dict[str, Any]:
        index = self._index(kind)
        ids = index.archived if params.get("archived") == "true" else index.live
        history = [name for name in params.get("propertiesWithHistory", "").split(",") if name]
        limit = min(int(params.get("limit", 10)), HISTORY_LIMIT if history else LIST_LIMIT)
        start = bisect.bisect_left(ids, int(params.get("after") or 0))
        chunk = ids[start : start + limit]
        wanted = [name for name in params.get("properties", "").split(",") if name]
        associated = "deals" in params.get("associations", "").split(",")
        results = [self._json(kind, self.objects[kind][record_id], wanted, associated, history) for record_id in chunk]
        following = ids[start + limit] if start + limit < len(ids) else None
        return _paged(results, following)

    def _search(self, kind: str, body: dict[str, Any]) -> dict[str, Any]:
        """Search as the connector uses it: filters on the modified time and on ``hs_object_id``, one sort."""
        limit = int(body.get("limit", 10))
        after = int(body.get("after") or 0)
        if limit > SEARCH_LIMIT:
            raise Refused(400, f"limit must be at most {SEARCH_LIMIT}")
        if after >= self.search_cap:
            raise Refused(400, f"Search results are limited to {self.search_cap} records; after={after} is past it")
        groups = body.get("filterGroups") or []
        if len(groups) > 1:
            raise Refused(400, "the fake supports one filter group")
        modified = MODIFIED.get(kind, "hs_lastmodifieddate")
        low, high = (-1, -1), (2**63, 2**63)  # bounds on (modified, id)
        ids: list[tuple[str, int]] = []
        for rule in groups[0]["filters"] if groups else []:
            name, operator, value = rule["propertyName"], rule["operator"], int(rule["value"])
            if name == "hs_object_id":
                ids.append((operator, value))
            elif name != modified:
                raise Refused(400, f"the fake cannot filter on {name}")
            if name == modified and operator in ("GTE", "GT", "EQ"):
                low = max(low, (value + (operator == "GT"), -1))
            if name == modified and operator in ("LTE", "LT", "EQ"):
                high = min(high, (value - (operator == "LT"), 2**63))
        # one modification time: its ids are sorted in the index, so "id GT x" is a bisect too
        pinned = low[0] == high[0]
        if pinned and all(operator in ("GT", "GTE") for operator, _ in ids):
            for operator, value in ids:
                low = max(low, (low[0], value + (operator == "GT")))
            ids = []
        index = self._index(kind).by_modified
        keys = index[bisect.bisect_left(index, low) : bisect.bisect_right(index, high)]
        if ids:
            keys = [key for key in keys if all(_compare(key[1], operator, value) for operator, value in ids)]
        sorts = body.get("sorts") or [{"propertyName": "hs_object_id", "direction": "ASCENDING"}]
        sort = sorts[0]
        if sort["propertyName"] == "hs_object_id" and not pinned:
            keys = sorted(keys, key=lambda key: key[1])
        elif sort["propertyName"] not in ("hs_object_id", modified):
            raise Refused(400, f"the fake cannot sort on {sort['propertyName']}")
        if sort.get("direction") == "DESCENDING":
            keys = keys[::-1]
        end = min(after + limit, self.search_cap)
        wanted = list(body.get("properties") or [])
        results = [self._json(kind, self.objects[kind][key[1]], wanted, False) for key in keys[after:end]]
        answer = _paged(results, end if end < len(keys) else None)
        return {"total": len(keys), **answer}

    def _batch_read(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        wanted = list(body.get("properties") or [])
        history = list(body.get("propertiesWithHistory") or [])
        inputs = body.get("inputs") or []
        if len(inputs) > (HISTORY_LIMIT if history else LIST_LIMIT):
            raise Refused(400, f"at most {HISTORY_LIMIT if history else LIST_LIMIT} inputs", "VALIDATION_ERROR")
        found, missing = [], []
        for item in inputs:
            record = self.objects["deals"].get(int(item["id"]))
            if record is None or record.archived is not None:
                missing.append(item["id"])
            else:
                found.append(self._json("deals", record, wanted, False, history))
        errors = [_not_found("DEAL", missing)] if missing else []
        return _batch(found, errors)

    def _associations(self, kind: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        results, missing = [], []
        for item in body.get("inputs") or []:
            record = self.objects[kind].get(int(item["id"]))
            deals = self._live_deals(record) if record is not None and record.archived is None else []
            if not deals:
                missing.append(item["id"])
                continue
            to = [
                {"toObjectId": deal, "associationTypes": [{"category": "HUBSPOT_DEFINED", "typeId": 4, "label": None}]}
                for deal in deals
            ]
            results.append({"from": {"id": item["id"]}, "to": to})
        errors = [_not_found(kind.upper(), missing, "No deals are associated with")] if missing else []
        return _batch(results, errors)

    def _live_deals(self, record: Record) -> list[int]:
        """The deals a record is associated with, archived deals left out (HubSpot hides those links)."""
        deals = self.objects["deals"]
        return [deal for deal in record.deals if deal in deals and deals[deal].archived is None]

    def _json(
        self, kind: str, record: Record, wanted: list[str], associated: bool, history: list[str] | None = None
    ) -> dict[str, Any]:
        modified, created = MODIFIED.get(kind, "hs_lastmodifieddate"), CREATED.get(kind, "createdate")
        stored = {**record.properties, "hs_object_id": str(record.id)}
        stored[created], stored[modified] = iso(record.created), iso(record.modified)
        properties = {name: stored.get(name) for name in [created, modified, "hs_object_id", *wanted]}
        item: dict[str, Any] = {
            "id": str(record.id),
            "properties": properties,
            "createdAt": iso(record.created),
            "updatedAt": iso(record.modified),
            "archived": record.archived is not None,
        }
        if record.archived is not None:
            item["archivedAt"] = iso(record.archived)
        if history:
            item["propertiesWithHistory"] = {name: [] for name in history}
        if history and "dealstage" in history:
            item["propertiesWithHistory"]["dealstage"] = [
                {"value": value, "timestamp": iso(at), "sourceType": "CRM_UI", "sourceId": "userId:9001"}
                for value, at in reversed(record.stages)  # newest first
            ]
        if associated and (deals := self._live_deals(record)):
            links = [{"id": str(deal), "type": f"{kind[:-1]}_to_deal"} for deal in deals]
            item["associations"] = {"deals": {"results": links}}
        return item

    def _index(self, kind: str) -> _Index:
        index = self._indexes.get(kind)
        if index is None:
            records = self.objects[kind].values()
            index = _Index(
                sorted(record.id for record in records if record.archived is None),
                sorted(record.id for record in records if record.archived is not None),
                sorted((record.modified, record.id) for record in records if record.archived is None),
            )
            self._indexes[kind] = index
        return index


def _paged(results: list[Any], following: int | None) -> dict[str, Any]:
    answer: dict[str, Any] = {"results": results}
    if following is not None:
        answer["paging"] = {"next": {"after": str(following)}}
    return answer


def _batch(results: list[Any], errors: list[Any]) -> tuple[int, dict[str, Any]]:
    stamp = iso(ms(START))
    answer = {"status": "COMPLETE", "results": results, "startedAt": stamp, "completedAt": stamp}
    if errors:
        answer |= {"numErrors": len(errors), "errors": errors}
    return (207 if errors else 200), answer


def _not_found(kind: str, ids: list[str], message: str = "Could not get some objects of") -> dict[str, Any]:
    return {
        "status": "error",
        "category": "OBJECT_NOT_FOUND",
        "message": f"{message} {kind}: {', '.join(ids)}",
        "context": {"ids": ids},
    }


def _compare(left: int, operator: str, right: int) -> bool:
    return {"GT": left > right, "GTE": left >= right, "EQ": left == right, "LT": left < right, "LTE": left <= right}[
        operator
    ]
