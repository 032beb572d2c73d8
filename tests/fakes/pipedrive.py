"""A fake Pipedrive API on a local port: users (v1), pipelines, stages, deals and activities (v2).

``with FakePipedrive() as fake:`` serves ``fake.url`` from a thread, seeded with a small company (see
:meth:`FakePipedrive.seed`), or with a :class:`tests.fakes.business.Business` after ``fake.load(business)``.
It behaves as Pipedrive does where the connector relies on it:

* every request carries ``x-api-token: TOKEN``, else 401 with Pipedrive's error body;
* ``GET /api/v1/users`` pages with ``start`` and ``limit``, and says so in ``additional_data.pagination``;
  ``GET /api/v1/users/me`` is the token's user (101) with the company's data, ``company_domain``
  (:data:`COMPANY_DOMAIN`, or ``fake.company_domain``) among them;
* deals carry ``stage_change_time``: when they entered their stage (their creation, until a change);
* ``GET /api/v2/deals``, ``/activities``, ``/stages`` and ``/pipelines`` page with ``limit`` (at most 500)
  and ``cursor``, an opaque marker of the first item of the next page (``additional_data.next_cursor``,
  null on the last page): a record changed between two requests moves to its new place in the order, and
  no other record is skipped for it;
* deals and activities filter on ``updated_since`` (RFC 3339, inclusive) and sort by ``sort_by`` (``id``,
  the default, ``update_time`` or ``add_time``) and ``sort_direction`` (``asc`` or ``desc``);
  anything else is refused with a 400, as v2's strict validation does;
* deleted deals are left out unless asked for: ``status=deleted`` lists the deleted ones only (``status``
  takes a comma-separated list of open, won, lost and deleted); the activity list never shows deleted ones;
* values come as v2 sends them: numbers, RFC 3339 times, ``due_time`` as "HH:MM" or "" for a whole day.
  The seed has a few odd amounts all the same ("", null, "1,200.50"): the connector must read those too.

Changes as a user makes them in Pipedrive: :meth:`change_stage`, :meth:`change_owner`, :meth:`set_value`,
:meth:`delete_deal`, :meth:`restore_deal`, :meth:`add_deal`, :meth:`edit_activity`. Each stamps
``update_time`` with the fake's clock ``fake.now`` (which starts at :data:`CHANGES_FROM`, after every seeded
time), then moves that clock one minute on.

Test controls (:mod:`tests.fakes.api`), counted in pages (answers) served to ``path`` from the moment they
are set: ``on_page(path, k, action)`` runs ``action`` right after the k-th page, before the next request is
answered (a change made *during* a sync); ``fail_from(path, k, times=None)`` answers 503 to ``path`` once
k pages went out, ``times`` times or until :meth:`mend`; ``rate_limit_once(path, served=k)`` answers one
429 with Pipedrive's ``x-ratelimit-*`` headers (:data:`RATE_LIMITED`, or the ``headers`` given).
``fake.requests`` lists every request (refused ones included) with the ``clock()`` time it arrived at.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import operator
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from tests.fakes import api
from tests.fakes.business import Business

TOKEN = "test-token"

#: The fake's clock starts here: every change is stamped after the seeded times, one minute apart.
CHANGES_FROM = dt.datetime(2026, 4, 1, 9, 0)

#: What Pipedrive answers with a 429: the 2-second burst window is spent, and resets in 2 seconds.
RATE_LIMITED = {"x-ratelimit-limit": "20", "x-ratelimit-remaining": "0", "x-ratelimit-reset": "2"}

#: The largest v2 page.
MAX_LIMIT = 500

#: The statuses ``status`` may ask for; a deal that was deleted has status "deleted" and ``is_deleted``.
STATUSES = ("open", "won", "lost", "deleted")
#: The orders v2 lists may be asked for.
SORT_KEYS = ("id", "update_time", "add_time")

#: The seeded team: (name, email); Grace Hopper (105) has left (deactivated).
USERS = [
    ("Zoë Ångström", "zoe@example.com"),
    ("Björn Müller", "bjorn@example.com"),
    ("José Núñez", "jose@example.com"),
    ("Ada Lovelace", "ada@example.com"),
    ("Grace Hopper", "grace@example.com"),
    ("李 雷", "li.lei@example.com"),
    ("Søren Kierkegaard", "soren@example.com"),
    ("Chloé Dubois", "chloe@example.com"),
    ("Łukasz Wójcik", "lukasz@example.com"),
    ("Ayşe Yılmaz", "ayse@example.com"),
    ("Олег Петров", "oleg@example.com"),
    ("Mary O'Neil", "mary@example.com"),
]
#: The seeded pipelines and their stages: (id, name, [(stage id, stage name, deal probability)]).
PIPELINES = [
    (1, "Ventes", [(1, "Qualified", 10), (2, "Proposal", 40), (3, "Négociation", 70), (4, "Contract sent", 90)]),
    (2, "Partenariats", [(5, "Introduction", 20), (6, "Signature", 80)]),
]
#: The status of seeded deal i is ``DEAL_STATUSES[i % 5]``; every 25th deal (1025, 1050...) was won, then deleted.
DEAL_STATUSES = ("open", "won", "lost", "open", "won")
#: The seeded activity types, in turn: only calls and meetings are imported.
ACTIVITY_TYPES = ("call", "meeting", "task", "email", "deadline")
SUBJECTS = {"call": "Appel", "meeting": "Réunion", "task": "Tâche", "email": "E-mail", "deadline": "Échéance"}


class Refused(api.Refused):
    """An answer other than 200, raised inside the fake to answer with Pipedrive's error body."""

    def __init__(self, status: int, error: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, {"success": False, "error": error, "errorCode": status}, headers)


def rfc3339(moment: dt.datetime) -> str:
    """A naive UTC time as v2 writes it: ``2026-03-10T08:00:00Z``."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}Z"


#: The company's subdomain: its deals open at https://cafe-zurich.pipedrive.com/deal/{id}.
COMPANY_DOMAIN = "cafe-zurich"


class FakePipedrive(api.FakeApi):
    content_type = "application/json; charset=utf-8"

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(timer=clock)
        self.now = CHANGES_FROM
        self.company_domain: str | None = COMPANY_DOMAIN
        self.users: dict[int, dict[str, Any]] = {}
        self.pipelines: dict[int, dict[str, Any]] = {}
        self.stages: dict[int, dict[str, Any]] = {}
        self.deals: dict[int, dict[str, Any]] = {}
        self.activities: dict[int, dict[str, Any]] = {}
        self._status_before_deletion: dict[int, str] = {}
        self.seed()

    # -- data ----------------------------------------------------------------------------------------

    def seed(self) -> None:
        """The default company: 12 users (101..112, non-ASCII names, 105 deactivated), 2 pipelines of 6
        stages, 300 deals (1001..1300) and 200 activities (5001..5200).

        Deal 1001 + i has status ``DEAL_STATUSES[i % 5]`` (120 open, 108 won, 60 lost) but every 25th one
        (1025, 1050... 1300) is deleted (12); stage ``1 + i % 6``; owner ``101 + i % 12``; a value of
        ``500 + 50 * (37 * i % 100)`` (with .75 when ``i % 9 == 4``) in EUR, USD when ``i % 8 == 7``;
        added ``2025-09-01 09:00 + 12 h * i``, won or lost ``3 + i % 30`` days later, expected to close on
        ``2026-04-01 + i % 60`` days when open; updated ``2026-03-10 08:00 + 37 min * (119 * i % 300)``, so
        the update order is not the id order. Odd ones: 1001 is "Contrat café — Zürich", 1002 is
        "東京 — renouvellement" worth "1,200.50", 1005 is worth "" and 1007 null (all three won), 1003 has no
        owner.

        Activity 5001 + i is a ``ACTIVITY_TYPES[i % 5]`` of user ``101 + i % 12``, on a live deal unless
        ``i % 4 == 3``, added ``2026-01-05 08:00 + 6 h * i``, due two days later at ``9 + i % 8``:``15 * i %
        60`` (a whole day when ``i % 3 == 0``), done unless ``i % 4 == 2``, updated
        ``2026-03-20 08:00 + 29 min * (101 * i % 200)``.
        """
        with self.lock:
            self._clear()
            for n, (name, email) in enumerate(USERS):
                self._add_user(101 + n, name, email, active=n != 4)
            for pipeline_id, name, stages in PIPELINES:
                self._add_pipeline(pipeline_id, name, stages)
            odd = {1: "1,200.50", 4: "", 6: None}
            titles = {0: "Contrat café — Zürich", 1: "東京 — renouvellement"}
            for i in range(300):
                added = dt.datetime(2025, 9, 1, 9) + i * dt.timedelta(hours=12)
                status = DEAL_STATUSES[i % 5]
                value = 500 + 50 * (37 * i % 100) + (0.75 if i % 9 == 4 else 0)
                deal = self._add_deal(
                    1001 + i,
                    titles.get(i, f"Deal {1001 + i}"),
                    owner_id=None if i == 2 else 101 + i % 12,
                    stage_id=1 + i % 6,
                    value=odd.get(i, value),
                    currency="USD" if i % 8 == 7 else "EUR",
                    status=status,
                    added=added,
                    closed=None if status == "open" else added + dt.timedelta(days=3 + i % 30),
                    expected=dt.date(2026, 4, 1) + dt.timedelta(days=i % 60) if status == "open" else None,
                    probability=None if status != "open" or i % 3 == 0 else 10 * (1 + i % 9),
                    updated=dt.datetime(2026, 3, 10, 8) + dt.timedelta(minutes=37 * (119 * i % 300)),
                )
                if i % 25 == 24:
                    self._status_before_deletion[deal["id"]] = deal["status"]
                    deal.update(status="deleted", is_deleted=True)
            live = [deal_id for deal_id, deal in self.deals.items() if not deal["is_deleted"]]
            for i in range(200):
                added = dt.datetime(2026, 1, 5, 8) + i * dt.timedelta(hours=6)
                due = added + dt.timedelta(days=2)
                kind = ACTIVITY_TYPES[i % 5]
                self._add_activity(
                    5001 + i,
                    f"{SUBJECTS[kind]} {i}",
                    kind,
                    owner_id=101 + i % 12,
                    deal_id=None if i % 4 == 3 else live[7 * i % len(live)],
                    added=added,
                    due_date=due.date(),
                    due_time="" if i % 3 == 0 else f"{9 + i % 8:02d}:{15 * i % 60:02d}",
                    done=i % 4 != 2,
                    updated=dt.datetime(2026, 3, 20, 8) + dt.timedelta(minutes=29 * (101 * i % 200)),
                )
            self.now = CHANGES_FROM

    def load(self, business: Business) -> None:
        """Replace the data with ``business`` in Pipedrive's shapes: users 101... from its people (inactive
        ones deactivated), one pipeline "Pipeline" of its stages (1...), deals 1001... from its sales (status
        from the stage; won or lost at ``closed``, else expected to close that day), activities 5001... from
        its touches (a call or a meeting due at ``at``, done or not). Pipedrive's leads are not served:
        the connector does not read the Leads API, so a business's prospects have no Pipedrive form here.
        """
        with self.lock:
            self._clear()
            user = {person.id: 101 + n for n, person in enumerate(business.people)}
            stage = {item.label: 1 + n for n, item in enumerate(business.stages)}
            deal = {sale.id: 1001 + n for n, sale in enumerate(business.sales)}
            for person in business.people:
                self._add_user(user[person.id], person.name, person.email, active=person.active)
            stages = [(stage[item.label], item.label, int(item.probability * 100)) for item in business.stages]
            self._add_pipeline(1, "Pipeline", stages)
            status = {item.label: item.status for item in business.stages}
            for sale in business.sales:
                is_open = status[sale.stage] == "open"
                self._add_deal(
                    deal[sale.id],
                    sale.name,
                    owner_id=user[sale.owner],
                    stage_id=stage[sale.stage],
                    value=None if sale.amount is None else _number(sale.amount),
                    currency="USD",
                    status=status[sale.stage],
                    added=sale.created,
                    closed=None if is_open else sale.closed,
                    expected=sale.closed.date() if is_open and sale.closed else None,
                    probability=_number(sale.probability * 100),
                    updated=sale.created if is_open or sale.closed is None else sale.closed,
                )
            for n, touch in enumerate(business.touches):
                self._add_activity(
                    5001 + n,
                    f"{SUBJECTS[touch.kind]} {touch.id}",
                    touch.kind,
                    owner_id=user[touch.owner],
                    deal_id=deal[touch.sale] if touch.sale else None,
                    added=touch.at,
                    due_date=touch.at.date(),
                    due_time=f"{touch.at:%H:%M}",
                    done=touch.done,
                    updated=touch.at,
                )
            self.now = CHANGES_FROM

    def deal(self, deal_id: int) -> dict[str, Any]:
        """The deal as stored: a test may change a value in place (not stamped: an incremental sync misses it)."""
        return self.deals[deal_id]

    def _clear(self) -> None:
        for records in (self.users, self.pipelines, self.stages, self.deals, self.activities):
            records.clear()
        self._status_before_deletion.clear()

    def _add_user(self, user_id: int, name: str, email: str, *, active: bool) -> None:
        self.users[user_id] = {
            "id": user_id,
            "name": name,
            "email": email,
            "phone": None,
            "default_currency": "EUR",
            "locale": "fr_FR",
            "lang": 1,
            "activated": active,
            "active_flag": active,
            "is_admin": 1 if user_id == 101 else 0,
            "role_id": 1,
            "timezone_name": "Europe/Paris",
            "created": "2024-01-08 09:00:00",
            "modified": "2026-01-05 10:00:00",
            "is_you": user_id == 101,
            "icon_url": None,
        }

    def _add_pipeline(self, pipeline_id: int, name: str, stages: list[tuple[int, str, int]]) -> None:
        added = rfc3339(dt.datetime(2024, 1, 8, 9))
        self.pipelines[pipeline_id] = {
            "id": pipeline_id,
            "name": name,
            "order_nr": pipeline_id,
            "is_deleted": False,
            "is_deal_probability_enabled": True,
            "add_time": added,
            "update_time": added,
            "is_selected": pipeline_id == 1,
        }
        for order, (stage_id, stage_name, probability) in enumerate(stages, start=1):
            self.stages[stage_id] = {
                "id": stage_id,
                "order_nr": order,
                "name": stage_name,
                "is_deleted": False,
                "deal_probability": probability,
                "pipeline_id": pipeline_id,
                "is_deal_rot_enabled": False,
                "days_to_rotten": None,
                "add_time": added,
                "update_time": added,
            }

    def _add_deal(
        self,
        deal_id: int,
        title: str,
        *,
        owner_id: int | None,
        stage_id: int,
        value: Any,
        currency: str,
        status: str,
        added: dt.datetime,
        closed: dt.datetime | None,
        expected: dt.date | None,
        probability: int | float | None,
        updated: dt.datetime,
    ) -> dict[str, Any]:
        stamp = rfc3339(closed) if closed else None
        self.deals[deal_id] = deal = {
            "id": deal_id,
            "title": title,
            "creator_user_id": 101,
            "owner_id": owner_id,
            "person_id": None,
            "org_id": None,
            "pipeline_id": self.stages[stage_id]["pipeline_id"],
            "stage_id": stage_id,
            "value": value,
            "currency": currency,
            "status": status,
            "is_deleted": False,
            "probability": probability,
            "lost_reason": "Prix trop élevé" if status == "lost" else None,
            "visible_to": 3,
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
            "stage_change_time": rfc3339(added),
            "close_time": stamp,
            "won_time": stamp if status == "won" else None,
            "lost_time": stamp if status == "lost" else None,
            "expected_close_date": expected.isoformat() if expected else None,
            "label_ids": [],
        }
        return deal

    def _add_activity(
        self,
        activity_id: int,
        subject: str,
        kind: str,
        *,
        owner_id: int,
        deal_id: int | None,
        added: dt.datetime,
        due_date: dt.date,
        due_time: str,
        done: bool,
        updated: dt.datetime,
    ) -> None:
        self.activities[activity_id] = {
            "id": activity_id,
            "subject": subject,
            "type": kind,
            "owner_id": owner_id,
            "creator_user_id": owner_id,
            "is_deleted": False,
            "deal_id": deal_id,
            "lead_id": None,
            "person_id": None,
            "org_id": None,
            "due_date": due_date.isoformat(),
            "due_time": due_time,
            "duration": "00:30" if due_time else "",
            "busy": bool(due_time),
            "done": done,
            "marked_as_done_time": rfc3339(updated) if done else None,
            "add_time": rfc3339(added),
            "update_time": rfc3339(updated),
        }

    # -- changes between (or during) syncs ---------------------------------------------------------

    def change_stage(self, deal_id: int, stage_id: int) -> None:
        with self.lock:
            stage = self.stages[stage_id]
            deal = self._change(self.deals[deal_id], stage_id=stage_id, pipeline_id=stage["pipeline_id"])
            deal["stage_change_time"] = deal["update_time"]

    def change_owner(self, deal_id: int, owner_id: int | None) -> None:
        self._change(self.deals[deal_id], owner_id=owner_id)

    def set_value(self, deal_id: int, value: Any, currency: str | None = None) -> None:
        deal = self.deals[deal_id]
        self._change(deal, value=value, currency=currency or deal["currency"])

    def delete_deal(self, deal_id: int) -> None:
        """Delete a deal: Pipedrive keeps it 30 days, listed with ``status=deleted`` only."""
        with self.lock:
            deal = self.deals[deal_id]
            self._status_before_deletion[deal_id] = deal["status"]
            self._change(deal, status="deleted", is_deleted=True)

    def restore_deal(self, deal_id: int) -> None:
        """Bring a deleted deal back, with the status it had."""
        with self.lock:
            self._change(self.deals[deal_id], status=self._status_before_deletion.pop(deal_id), is_deleted=False)

    def add_deal(self, title: str, owner_id: int, stage_id: int, value: Any) -> int:
        """A new open deal, in EUR; returns its id."""
        with self.lock:
            deal_id = max(self.deals) + 1
            now = self._tick()
            self._add_deal(
                deal_id,
                title,
                owner_id=owner_id,
                stage_id=stage_id,
                value=value,
                currency="EUR",
                status="open",
                added=now,
                closed=None,
                expected=None,
                probability=None,
                updated=now,
            )
            return deal_id

    def edit_activity(self, activity_id: int, **fields: Any) -> None:
        """Change an activity's fields (``done``, ``type``, ``due_time``...), as a user would."""
        self._change(self.activities[activity_id], **fields)

    def _change(self, record: dict[str, Any], **fields: Any) -> dict[str, Any]:
        with self.lock:
            record.update(fields, update_time=rfc3339(self._tick()))
            return record

    def _tick(self) -> dt.datetime:
        now, self.now = self.now, self.now + dt.timedelta(minutes=1)
        return now

    # -- answering -----------------------------------------------------------------------------------

    def admit(self, request: api.Request) -> dict[str, str]:
        if request.headers.get("x-api-token") != TOKEN:
            raise Refused(401, "unauthorized access")
        return {}

    def refusal(self, status: int, limited: bool) -> api.Refused:
        if limited:
            return Refused(status, "Request over limit", RATE_LIMITED)
        return Refused(status, "Internal server error" if status == 500 else "Service unavailable")

    def route(self, request: api.Request) -> api.Answer:
        if request.method != "GET":
            raise Refused(405, f"the fake serves GET requests only, not {request.method}")
        return 200, {}, self._route(request.path, request.params)

    def _route(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        if path == "/api/v1/users":
            return self._users(params)
        if path == "/api/v1/users/me":
            return self._me()
        if path == "/api/v2/pipelines":
            return _paged(list(self.pipelines.values()), params, "id")
        if path == "/api/v2/stages":
            return _paged(list(self.stages.values()), params, "id")
        if path == "/api/v2/deals":
            wanted = params.get("status", "open,won,lost").split(",")
            if not set(wanted) <= set(STATUSES):
                raise Refused(400, f"status must be a list of {', '.join(STATUSES)}")
            deals = [deal for deal in self.deals.values() if deal["status"] in wanted]
            return _paged(_updated_since(deals, params), params, _sort_key(params))
        if path == "/api/v2/activities":
            activities = [activity for activity in self.activities.values() if not activity["is_deleted"]]
            return _paged(_updated_since(activities, params), params, _sort_key(params))
        raise Refused(404, f"Unknown method {path}")

    def _me(self) -> dict[str, Any]:
        """The token's user, with the company it belongs to (v1's shape)."""
        company = {"company_id": 7001, "company_name": "Café Zürich SARL", "company_domain": self.company_domain}
        return {"success": True, "data": {**self.users[101], **company, "company_country": "FR"}}

    def _users(self, params: dict[str, str]) -> dict[str, Any]:
        users = list(self.users.values())
        start, limit = int(params.get("start", 0)), _limit(params)
        more = start + limit < len(users)
        pagination = {"start": start, "limit": limit, "more_items_in_collection": more}
        if more:
            pagination["next_start"] = start + limit
        data = [dict(user) for user in users[start : start + limit]]
        return {"success": True, "data": data, "additional_data": {"pagination": pagination}}


def _limit(params: dict[str, str]) -> int:
    limit = int(params.get("limit", 100))
    if not 1 <= limit <= MAX_LIMIT:
        raise Refused(400, f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def _sort_key(params: dict[str, str]) -> str:
    key = params.get("sort_by", "id")
    if key not in SORT_KEYS:
        raise Refused(400, f"sort_by must be one of {', '.join(SORT_KEYS)}")
    return key


def _updated_since(items: list[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
    since = params.get("updated_since")
    if since is None:
        return items
    try:
        moment = dt.datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise Refused(400, "updated_since must be an RFC 3339 date and time") from None
    if moment.tzinfo is None:
        raise Refused(400, "updated_since must be an RFC 3339 date and time")
    return [item for item in items if item["update_time"] >= rfc3339(moment.astimezone(dt.UTC))]


def _paged(items: list[dict[str, Any]], params: dict[str, str], key: str) -> dict[str, Any]:
    """One page of a v2 list sorted on ``key`` (then id): from the item the cursor marks, ``limit`` items."""
    direction = params.get("sort_direction", "asc")
    if direction not in ("asc", "desc"):
        raise Refused(400, "sort_direction must be asc or desc")
    ordered = sorted(items, key=lambda item: (item[key], item["id"]), reverse=direction == "desc")
    limit = _limit(params)
    start = 0
    if params.get("cursor"):
        try:
            mark = tuple(json.loads(base64.urlsafe_b64decode(params["cursor"])))
        except ValueError:
            raise Refused(400, "cursor is not valid") from None
        reached = operator.ge if direction == "asc" else operator.le
        start = next((n for n, item in enumerate(ordered) if reached((item[key], item["id"]), mark)), len(ordered))
    chunk = ordered[start : start + limit]
    following = ordered[start + limit] if start + limit < len(ordered) else None
    next_cursor = None
    if following is not None:
        next_cursor = base64.urlsafe_b64encode(json.dumps([following[key], following["id"]]).encode()).decode()
    return {"success": True, "data": [dict(item) for item in chunk], "additional_data": {"next_cursor": next_cursor}}


def _number(value: Decimal) -> int | float:
    """A decimal as v2's JSON writes a number: 25000, 1200.5."""
    return int(value) if value == value.to_integral_value() else float(value)
