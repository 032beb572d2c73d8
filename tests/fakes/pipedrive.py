"""A fake Pipedrive API on a local port: users (v1), deals, stages and activities (v2).

``with FakePipedrive() as fake:`` serves ``fake.url`` from a thread. It checks the ``x-api-token`` header
(401 otherwise), pages v2 lists with ``next_cursor``, filters by ``updated_since`` (inclusive, as Pipedrive
does) and leaves deleted deals out unless ``status=deleted`` is asked for. ``fake.rate_limit_once(path)``
makes the next request to ``path`` answer 429 with ``x-ratelimit-reset: 1``; ``fake.fail_once(path)``
makes it answer 500. ``fake.requests`` lists the paths and parameters served (refused ones included).
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

TOKEN = "test-token"

STAGES = [
    {"id": 1, "name": "Qualified", "pipeline_id": 1, "order_nr": 1},
    {"id": 2, "name": "Proposal", "pipeline_id": 1, "order_nr": 2},
    {"id": 3, "name": "Négociation", "pipeline_id": 1, "order_nr": 3},
]


def seed_users() -> list[dict[str, Any]]:
    names = ["Zoë Ångström", "Björn Müller", "José Núñez", "Ada Lovelace", "Grace Hopper", "李 雷"]
    users = [
        {"id": 100 + i, "name": name, "email": f"rep{i}@example.com", "active_flag": True}
        for i, name in enumerate(names)
    ]
    users[-1]["active_flag"] = False
    return users


def seed_deals() -> list[dict[str, Any]]:
    """30 deals: 10 won, 8 lost, 10 open, 2 deleted; odd values among them."""
    deals = []
    for i in range(30):
        status = "won" if i < 10 else "lost" if i < 18 else "open" if i < 28 else "deleted"
        day = 1 + i % 28
        deal = {
            "id": 1000 + i,
            "title": f"Deal {i}",
            "owner_id": 100 + i % 5,
            "value": 1000 + 100 * i,
            "currency": "EUR",
            "status": status,
            "stage_id": 1 + i % 3,
            "pipeline_id": 1,
            "add_time": f"2026-01-{day:02d}T09:00:00Z",
            "update_time": f"2026-03-{day:02d}T10:{i:02d}:00Z",
            "won_time": f"2026-02-{day:02d}T12:00:00Z" if status == "won" else None,
            "lost_time": f"2026-02-{day:02d}T13:00:00Z" if status == "lost" else None,
            "close_time": f"2026-02-{day:02d}T12:00:00Z" if status in ("won", "lost") else None,
            "expected_close_date": f"2026-04-{day:02d}" if status == "open" else None,
            "probability": 50 if status == "open" else None,
        }
        deals.append(deal)
    deals[0]["title"] = "Contrat café — Zürich"
    deals[1]["value"] = "1200.5"  # Pipedrive sometimes sends amounts as text
    deals[2]["value"] = None  # a won deal without a value
    deals[20]["value"] = None
    deals[21]["owner_id"] = None
    return deals


def seed_activities() -> list[dict[str, Any]]:
    """24 activities: calls, meetings, emails and tasks (the last two are skipped), done or not."""
    types = ["call", "meeting", "email", "task"]
    activities = []
    for i in range(24):
        activities.append(
            {
                "id": 5000 + i,
                "type": types[i % 4],
                "subject": f"Activité {i}",
                "owner_id": 100 + i % 5,
                "deal_id": 1000 + i if i % 3 else None,
                "add_time": f"2026-02-{1 + i:02d}T08:00:00Z",
                "update_time": f"2026-03-{1 + i:02d}T08:00:00Z",
                "due_date": f"2026-02-{2 + i:02d}",
                "due_time": "14:30" if i % 2 else "",
                "done": i % 5 != 4,
            }
        )
    return activities


class FakePipedrive:
    def __init__(self) -> None:
        self.users = seed_users()
        self.deals = seed_deals()
        self.stages = [dict(stage) for stage in STAGES]
        self.activities = seed_activities()
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.lock = threading.Lock()
        self._rate_limited: set[str] = set()
        self._failing: set[str] = set()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakePipedrive:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def rate_limit_once(self, path: str) -> None:
        with self.lock:
            self._rate_limited.add(path)

    def fail_once(self, path: str) -> None:
        with self.lock:
            self._failing.add(path)

    def deal(self, deal_id: int) -> dict[str, Any]:
        return next(deal for deal in self.deals if deal["id"] == deal_id)

    # -- answering -----------------------------------------------------------------------------------

    def answer(self, path: str, params: dict[str, str], token: str | None) -> tuple[int, dict[str, str], Any]:
        with self.lock:
            self.requests.append((path, params))
            if token != TOKEN:
                return 401, {}, {"success": False, "error": "unauthorized access", "errorCode": 401}
            if path in self._rate_limited:
                self._rate_limited.discard(path)
                return 429, {"x-ratelimit-reset": "1"}, {"success": False, "error": "Too many requests"}
            if path in self._failing:
                self._failing.discard(path)
                return 500, {}, {"success": False, "error": "internal"}
            if path == "/api/v1/users":
                return 200, {}, {"success": True, "data": [dict(user) for user in self.users]}
            if path == "/api/v2/stages":
                return 200, {}, self._v2(self.stages, params, sort=False)
            if path == "/api/v2/deals":
                wanted = params.get("status")
                deals = [
                    deal for deal in self.deals if (deal["status"] == wanted if wanted else deal["status"] != "deleted")
                ]
                return 200, {}, self._v2(deals, params)
            if path == "/api/v2/activities":
                return 200, {}, self._v2(self.activities, params)
            return 404, {}, {"success": False, "error": "not found"}

    def _v2(self, items: list[dict[str, Any]], params: dict[str, str], *, sort: bool = True) -> dict[str, Any]:
        since = params.get("updated_since")
        if since:
            items = [item for item in items if item["update_time"] >= since]
        if sort and params.get("sort_by") == "update_time":
            items = sorted(items, key=lambda item: (item["update_time"], item["id"]))
        limit = min(int(params.get("limit", 100)), 500)
        start = int(params.get("cursor") or 0)
        chunk = items[start : start + limit]
        following = start + limit if start + limit < len(items) else None
        return {
            "success": True,
            "data": [dict(item) for item in chunk],
            "additional_data": {"next_cursor": str(following) if following is not None else None},
        }


def _handler(fake: FakePipedrive) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            parts = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parts.query))
            status, headers, body = fake.answer(parts.path, params, self.headers.get("x-api-token"))
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
