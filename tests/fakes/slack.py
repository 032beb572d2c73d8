"""A fake Slack Web API server for tests, answering like Slack, meant to be driven by the real slack_sdk client.

    with FakeSlack() as fake:
        fake.add_user("U1", email="alice@example.com", real_name="Alice")
        client = WebClient(token=fake.token, base_url=fake.url)   # or fake.client()
        client.chat_postMessage(channel="U1", text="hi")
        assert fake.messages[0]["channel"] == fake.im_for("U1")

It is a standard-library HTTP server (``ThreadingHTTPServer`` on 127.0.0.1, a free port, served from a daemon
thread). Every request is recorded in ``calls``; every API method answers HTTP 200 with ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}`` as Slack does, unless a fault was injected with ``rate_limit``, ``fail`` or
``error``, or a call goes past the rates ``limit_rates`` set (chat.postMessage's, and the tiers of
:data:`TIER_PER_MINUTE`). All shared state sits behind one lock, so
a threaded bot and the test thread can use it together.

Routes: ``/api/<method>`` (the Web API), ``/upload/<file_id>`` (upload URLs handed out by
files.getUploadURLExternal) and ``/response/<n>`` (slash-command response_urls handed out by ``response_url()``).
Requests to the last two are recorded in ``calls`` with the path as method.
"""

from __future__ import annotations

import copy
import datetime as dt
import itertools
import json
import math
import mimetypes
import re
import socket
import threading
import time
import traceback
import urllib.request
from collections import deque
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit
from zoneinfo import ZoneInfo

from slack_sdk.signature import SignatureVerifier

if TYPE_CHECKING:
    from collections.abc import Callable

    from slack_sdk import WebClient
    from slack_sdk.http_retry import RetryHandler

# Form fields that slack_sdk (and Slack) carry as JSON strings inside application/x-www-form-urlencoded bodies.
JSON_FIELDS = frozenset({"blocks", "attachments", "view", "files", "metadata", "unfurls", "outputs"})

MAX_MESSAGE_BLOCKS = 50
MAX_VIEW_BLOCKS = 100
MAX_TEXT_LENGTH = 40_000
RESPONSE_URL_USES = 5  # Slack lets an app use one response_url five times
POST_JITTER = 0.25  # seconds a call may come early under limit_rates: travel times vary, Slack allows short bursts
#: Slack's per-minute tiers (https://api.slack.com/apis/rate-limits) of the methods the worker may call in bulk,
#: enforced under limit_rates: Tier 3 ("50+ per minute") and Tier 4 ("100+").
TIER_PER_MINUTE = {
    "conversations.open": 50,
    "conversations.history": 50,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
    "users.info": 100,
}

BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)
TEXT_TYPES = ("mrkdwn", "plain_text")


@dataclass(frozen=True)
class Call:
    """One request the fake received.

    ``method`` is the API method ("chat.postMessage") or, outside /api/, the path ("/upload/F0000001").
    ``params`` merges the query string and the body: form values are strings, except the JSON-carrying fields
    (blocks, attachments, view, files, metadata) which are decoded; JSON bodies keep their types; multipart
    file parts are bytes. ``headers`` has lower-cased names. ``at`` is ``time.time()`` on arrival.
    """

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    at: float


class ApiError(Exception):
    """Raised inside a method handler: the fake answers HTTP 200 ``{"ok": false, "error": error, **extra}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def invalid(error: str, messages: list[str]) -> ApiError:
    """An error carrying Slack's ``response_metadata.messages`` detail lines."""
    return ApiError(error, errors=messages, response_metadata={"messages": messages})


@dataclass
class _Reply:
    status: int
    body: bytes
    content_type: str = "application/json; charset=utf-8"
    headers: dict[str, str] | None = None


def _json_reply(payload: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> _Reply:
    return _Reply(status, json.dumps(payload).encode("utf-8"), headers=headers)


def _text_reply(text: str, status: int = 200) -> _Reply:
    return _Reply(status, text.encode("utf-8"), content_type="text/plain; charset=utf-8")


class FakeSlack:
    """A fake Slack workspace with a Web API. See the module docstring."""

    def __init__(
        self,
        token: str = "xoxb-test-token",
        team_id: str = "T0TEST",
        bot_user_id: str = "U0BOT",
        *,
        team_name: str = "KPI Test",
        team_domain: str = "kpi-test",
        bot_name: str = "kpibot",
        bot_id: str = "B0BOT",
        app_id: str = "A0APP",
    ) -> None:
        self.token = token
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.team_name = team_name
        self.team_domain = team_domain
        self.bot_name = bot_name
        self.bot_id = bot_id
        self.app_id = app_id

        self.calls: list[Call] = []
        self.responses: list[Call] = []  # accepted POSTs to response_urls
        self.uploads: dict[str, bytes] = {}  # file_id -> bytes POSTed to its upload_url
        self.files: dict[str, dict[str, Any]] = {}  # file_id -> file object, once files.completeUploadExternal ran
        self.messages: list[dict[str, Any]] = []  # every accepted chat.postMessage / postEphemeral / update
        self.home_views: dict[str, dict[str, Any]] = {}  # user_id -> the home view last published
        self.modals: list[dict[str, Any]] = []  # {"trigger_id", "view"} for each modal views.open opened
        self.warnings: list[dict[str, str]] = []  # {"method", "warning"} for each ok-with-warning answer
        self.internal_errors: list[str] = []  # tracebacks of bugs in the fake itself (answered HTTP 500)

        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._last_ts = 0
        self._faults: dict[str, deque[tuple[str, int | str]]] = {}
        self._post_rate: tuple[float, float] | None = None  # per channel, workspace: chat.postMessage a second
        self._free_at: dict[str, float] = {}  # a rate's bucket (a channel's, the workspace's, a method's) -> next free
        self.ratelimited = 0  # 429s answered for going past a rate of limit_rates
        self._users: dict[str, dict[str, Any]] = {}
        self._conversations: dict[str, dict[str, Any]] = {}
        self._members: dict[str, list[str]] = {}  # channel id -> its members' user ids (the bot's own left out)
        self._history: dict[str, list[dict[str, Any]]] = {}  # channel id -> messages, oldest first
        self._ims: dict[str, str] = {}  # user id -> IM channel id
        self._mpims: dict[frozenset[str], str] = {}
        self._pending_files: dict[str, dict[str, Any]] = {}  # file_id -> what files.getUploadURLExternal was told
        self._response_urls: dict[str, int] = {}  # path -> uses left
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._root = ""

        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "api.test": self._api_test,
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "users.list": self._users_list,
            "conversations.open": self._conversations_open,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.history": self._conversations_history,
            "conversations.replies": self._conversations_replies,
            "files.getUploadURLExternal": self._files_get_upload_url_external,
            "files.completeUploadExternal": self._files_complete_upload_external,
            "files.upload": self._files_upload_v1,
        }
        self.add_user(bot_user_id, name=bot_name, real_name=bot_name, is_bot=True)

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        """The Web API base URL, ending in "/api/" as slack_sdk's ``base_url`` must."""
        return self.root + "/api/"

    @property
    def root(self) -> str:
        """``http://127.0.0.1:PORT``, without a trailing slash."""
        if not self._root:
            raise RuntimeError("FakeSlack is not started: call start() or use it as a context manager")
        return self._root

    def start(self) -> FakeSlack:
        if self._server is not None:
            return self
        handler = type("BoundFakeSlackHandler", (_Handler,), {"fake": self})
        server = _Server(("127.0.0.1", 0), handler)
        host, port = server.server_address[:2]
        self._server = server
        self._root = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="FakeSlack", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is not None:
            server.shutdown()
            server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def client(self, *, token: str | None = None, retry_handlers: list[RetryHandler] | None = None) -> WebClient:
        """A real slack_sdk WebClient pointed at this fake (with the fake's token unless told otherwise)."""
        from slack_sdk import WebClient

        return WebClient(token=self.token if token is None else token, base_url=self.url, retry_handlers=retry_handlers)

    # ------------------------------------------------------------------ test set-up and inspection

    def calls_to(self, method: str) -> list[Call]:
        with self._lock:
            return [call for call in self.calls if call.method == method]

    def add_user(
        self,
        user_id: str,
        *,
        email: str | None = None,
        name: str = "",
        real_name: str = "",
        tz: str = "UTC",
        is_bot: bool = False,
        deleted: bool = False,
    ) -> None:
        zone = ZoneInfo(tz)  # an unknown zone fails here, in the test, not later in the bot
        now = dt.datetime.now(zone)
        offset = now.utcoffset() or dt.timedelta(0)
        name = name or user_id.lower()
        profile: dict[str, Any] = {
            "real_name": real_name,
            "real_name_normalized": real_name,
            "display_name": name,
            "display_name_normalized": name,
            "image_72": f"https://avatars.example.invalid/{user_id}_72.png",
            "image_192": f"https://avatars.example.invalid/{user_id}_192.png",
            "team": self.team_id,
        }
        if email is not None:
            profile["email"] = email
        if is_bot and user_id == self.bot_user_id:
            profile["bot_id"] = self.bot_id
        user = {
            "id": user_id,
            "team_id": self.team_id,
            "name": name,
            "deleted": deleted,
            "real_name": real_name,
            "tz": tz,
            "tz_label": now.tzname() or tz,
            "tz_offset": int(offset.total_seconds()),
            "profile": profile,
            "is_admin": False,
            "is_owner": False,
            "is_bot": is_bot,
            "is_app_user": False,
            "updated": int(time.time()),
        }
        with self._lock:
            self._users[user_id] = user

    def add_channel(self, channel_id: str, name: str, members: tuple[str, ...] = ()) -> None:
        """A channel the bot is in, with ``members`` (user ids) besides it, as conversations.members lists them."""
        with self._lock:
            self._members[channel_id] = list(members)
            self._conversations[channel_id] = {
                "id": channel_id,
                "name": name.lstrip("#"),
                "is_channel": not channel_id.startswith("G"),
                "is_group": channel_id.startswith("G"),
                "is_im": False,
                "is_mpim": False,
                "is_private": channel_id.startswith("G"),
                "is_archived": False,
                "is_member": True,
                "created": int(time.time()),
            }
            self._history.setdefault(channel_id, [])

    def im_for(self, user_id: str) -> str:
        """The IM channel id the bot has (or now opens) with a user, as conversations.open would return."""
        with self._lock:
            return self._open_im(user_id)

    def history(self, channel_id: str) -> list[dict[str, Any]]:
        """Every message stored in a channel (thread replies included), oldest first, as Slack holds them."""
        with self._lock:
            return copy.deepcopy(self._history.get(channel_id, []))

    def rate_limit(self, method: str, *, times: int = 1, retry_after: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 429, ``Retry-After: retry_after``."""
        self._add_fault(method, "ratelimit", retry_after, times)

    def limit_rates(self, per_channel: float = 1.0, workspace: float = 10.0) -> None:
        """From now on a call faster than Slack's rates answers 429 with a Retry-After: chat.postMessage faster
        than ``per_channel`` a second to one channel (a DM addressed to a member counts in their IM) or
        ``workspace`` a second in all, and a method of :data:`TIER_PER_MINUTE` faster than its tier, each evenly
        spaced; a call up to :data:`POST_JITTER` early is let through, as Slack tolerates short bursts."""
        with self._lock:
            self._post_rate = (per_channel, workspace)

    def fail(self, method: str, *, status: int = 500, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP ``status``."""
        self._add_fault(method, "status", status, times)

    def error(self, method: str, error: str, *, times: int = 1) -> None:
        """The next ``times`` calls to ``method`` answer HTTP 200 ``{"ok": false, "error": error}``."""
        self._add_fault(method, "error", error, times)

    def response_url(self) -> str:
        """A fresh response_url, as Slack sends with a slash command; accepted POSTs land in ``responses``."""
        with self._lock:
            path = f"/response/{self.team_id}/{next(self._ids)}"
            self._response_urls[path] = RESPONSE_URL_USES
        return self.root + path

    def slash_command(self, user_id: str, text: str, *, channel_id: str = "C0X", trigger_id: str = "1.2.3") -> str:
        """The form body Slack posts to the app for ``/kpi text``, with a fresh response_url."""
        fields = {
            "token": "legacy",
            "team_id": self.team_id,
            "channel_id": channel_id,
            "user_id": user_id,
            "command": "/kpi",
            "text": text,
            "response_url": self.response_url(),
            "trigger_id": trigger_id,
        }
        return urlencode(fields)

    def block_actions(self, user_id: str, action: dict[str, Any], response_url: str, *, channel_id: str = "C0X") -> str:
        """The form body Slack posts to the app when a user presses a button or picks from a menu of an
        ephemeral message (``action`` as the element sent it, with its ``block_id``)."""
        payload = {
            "type": "block_actions",
            "user": {"id": user_id},
            "team": {"id": self.team_id},
            "channel": {"id": channel_id},
            "container": {"type": "message", "channel_id": channel_id, "is_ephemeral": True},
            "response_url": response_url,
            "trigger_id": "4.5.6",
            "actions": [action],
        }
        return urlencode({"payload": json.dumps(payload)})

    def home_actions(self, user_id: str, action: dict[str, Any]) -> str:
        """The form body Slack posts when a user presses a button of their App Home (a view, not a message:
        no channel and no response_url)."""
        payload = {
            "type": "block_actions",
            "user": {"id": user_id},
            "team": {"id": self.team_id},
            "container": {"type": "view", "view_id": "VHOME"},
            "view": {"id": "VHOME", "type": "home"},
            "trigger_id": "7.8.9",
            "actions": [action],
        }
        return urlencode({"payload": json.dumps(payload)})

    def view_submission(self, user_id: str, callback_id: str, values: dict[str, Any]) -> str:
        """The form body Slack posts when a user submits a modal: its ``state.values``
        (``{block_id: {action_id: element state}}``)."""
        view = {"id": "VMODAL", "type": "modal", "callback_id": callback_id, "state": {"values": values}}
        payload = {"type": "view_submission", "user": {"id": user_id}, "team": {"id": self.team_id}, "view": view}
        return urlencode({"payload": json.dumps(payload)})

    def _add_fault(self, method: str, kind: str, value: int | str, times: int) -> None:
        """Faults queue per method, first in first out; "upload" and "response_url" match every such path."""
        with self._lock:
            self._faults.setdefault(method, deque()).extend([(kind, value)] * times)

    def _take_fault(self, *keys: str) -> _Reply | None:
        for key in keys:
            queue = self._faults.get(key)
            if queue:
                kind, value = queue.popleft()
                if kind == "ratelimit":
                    return _json_reply({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(value)})
                if kind == "status":
                    error = {500: "fatal_error", 503: "service_unavailable"}.get(int(value), "request_failed")
                    return _json_reply({"ok": False, "error": error}, int(value))
                return _json_reply({"ok": False, "error": str(value)})
        return None

    # ------------------------------------------------------------------ HTTP dispatch

    def _handle(self, http_method: str, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        url = urlsplit(path)
        try:
            query = dict(parse_qsl(url.query, keep_blank_values=True))
            if url.path.startswith("/api/"):
                return self._handle_api(url.path[len("/api/") :], query, headers, body)
            if url.path.startswith("/upload/"):
                return self._handle_upload(url.path, headers, body)
            if url.path.startswith("/response/"):
                return self._handle_response_url(url.path, headers, body)
            with self._lock:
                self.calls.append(Call(url.path, query, headers, time.time()))
            return _text_reply("not_found", 404)
        except Exception:
            trace = traceback.format_exc()
            with self._lock:
                self.internal_errors.append(trace)
            return _json_reply({"ok": False, "error": "fake_slack_internal_error", "detail": trace}, 500)

    def _handle_api(self, method: str, query: dict[str, str], headers: dict[str, str], body: bytes) -> _Reply:
        is_json = headers.get("content-type", "").split(";")[0].strip().lower() == "application/json"
        params: dict[str, Any] = dict(query)
        try:
            params.update(_parse_body(headers.get("content-type", ""), body))
        except ValueError:
            params["__unparsed_body__"] = body
            with self._lock:
                self.calls.append(Call(method, params, headers, time.time()))
            return _json_reply({"ok": False, "error": "invalid_json" if is_json else "invalid_form_data"})
        with self._lock:
            self.calls.append(Call(method, params, headers, time.time()))
            fault = self._take_fault(method) or self._past_rate(method, params)
            if fault is not None:
                return fault
            handler = self._methods.get(method)
            if handler is None:
                return _json_reply({"ok": False, "error": "unknown_method", "req_method": method})
            # Slack takes a JSON body's token only from the Authorization header.
            token = _bearer(headers) or (None if is_json else params.get("token"))
            if not token:
                return _json_reply({"ok": False, "error": "not_authed"})
            if token != self.token:
                return _json_reply({"ok": False, "error": "invalid_auth"})
            try:
                result = handler(params)
            except ApiError as exc:
                return _json_reply({"ok": False, "error": exc.error, **exc.extra})
            if "warning" in result:
                self.warnings.append({"method": method, "warning": result["warning"]})
            return _json_reply({"ok": True, **result})

    def _past_rate(self, method: str, params: dict[str, Any]) -> _Reply | None:
        """429 for a call faster than :meth:`limit_rates` allows; an accepted one takes its buckets' next slots
        (the generic cell rate algorithm): a post its channel's and the workspace's, a tiered method its own."""
        if self._post_rate is None:
            return None
        if method == "chat.postMessage":
            try:
                channel = self._resolve_channel(params.get("channel"))
            except ApiError:
                channel = str(params.get("channel"))  # refused by the method itself, after counting
            buckets = {f"{method}:{channel}": self._post_rate[0], method: self._post_rate[1]}
        elif method in TIER_PER_MINUTE:
            buckets = {method: TIER_PER_MINUTE[method] / 60.0}
        else:
            return None
        now = time.monotonic()
        early = max(self._free_at.get(key, 0.0) - now for key in buckets)
        if early > POST_JITTER:
            self.ratelimited += 1
            retry_after = 1 if method == "chat.postMessage" else math.ceil(early)
            return _json_reply({"ok": False, "error": "ratelimited"}, 429, {"Retry-After": str(retry_after)})
        for key, rate in buckets.items():
            self._free_at[key] = max(self._free_at.get(key, 0.0), now) + 1.0 / rate
        return None

    def _handle_upload(self, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        file_id = path[len("/upload/") :].strip("/")
        content_type = headers.get("content-type", "")
        data = body
        if content_type.lower().startswith("multipart/form-data"):
            try:
                fields, files = _parse_multipart(content_type, body)
            except ValueError:
                fields, files = {}, {}
            if files or fields:
                data = next(iter(files.values()), None) or next(iter(fields.values()), "").encode("utf-8")
        with self._lock:
            self.calls.append(Call(path, {"file_id": file_id, "length": len(data)}, headers, time.time()))
            fault = self._take_fault(path, "upload")
            if fault is not None:
                return fault
            if file_id not in self._pending_files:
                return _text_reply("not_found", 404)
            self.uploads[file_id] = data
        return _text_reply(f"OK - {len(data)}")

    def _handle_response_url(self, path: str, headers: dict[str, str], body: bytes) -> _Reply:
        try:
            payload = _parse_body(headers.get("content-type", ""), body)
            if set(payload) == {"payload"} and isinstance(payload["payload"], str):
                payload = json.loads(payload["payload"])
            if not isinstance(payload, dict):
                raise ValueError("payload is not an object")
        except ValueError:
            with self._lock:
                self.calls.append(Call(path, {"__unparsed_body__": body}, headers, time.time()))
            return _text_reply("invalid_payload", 400)
        payload = {key: _decode_json_field(key, value) for key, value in payload.items()}
        call = Call(path, payload, headers, time.time())
        with self._lock:
            self.calls.append(call)
            fault = self._take_fault(path, "response_url")
            if fault is not None:
                return fault
            uses = self._response_urls.get(path)
            if uses is None:
                return _text_reply("no_service", 404)
            if uses <= 0:
                return _text_reply("used_url", 404)
            if not _truthy(payload.get("delete_original")):
                try:
                    self._content(payload)
                except ApiError as exc:
                    return _text_reply(exc.error, 400)
            self._response_urls[path] = uses - 1
            self.responses.append(call)
        return _json_reply({"ok": True})

    # ------------------------------------------------------------------ helpers shared by the methods

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}0{next(self._ids):08X}"

    def _next_ts(self) -> str:
        """A message ts: wall-clock microseconds, strictly increasing, "1700000000.000100" style."""
        now = int(time.time() * 1_000_000)
        self._last_ts = max(now, self._last_ts + 1)
        seconds, micros = divmod(self._last_ts, 1_000_000)
        return f"{seconds}.{micros:06d}"

    def _user(self, user_id: Any, error: str = "user_not_found") -> dict[str, Any]:
        user = self._users.get(user_id) if isinstance(user_id, str) else None
        if user is None:
            raise ApiError(error)
        return user

    def _open_im(self, user_id: str) -> str:
        user = self._user(user_id)
        if user["is_bot"]:
            raise ApiError("cannot_dm_bot")
        if user_id not in self._ims:
            channel_id = self._new_id("D")
            self._ims[user_id] = channel_id
            self._conversations[channel_id] = {
                "id": channel_id,
                "is_im": True,
                "is_channel": False,
                "is_group": False,
                "is_mpim": False,
                "is_private": True,
                "user": user_id,
                "created": int(time.time()),
                "is_open": True,
            }
            self._history.setdefault(channel_id, [])
        return self._ims[user_id]

    def _resolve_channel(self, value: Any) -> str:
        """A channel id, a "#name" / "name" of an added channel, or a known user's id (the bot's IM with them)."""
        if not isinstance(value, str) or not value:
            raise ApiError("channel_not_found")
        if value in self._conversations:
            return value
        name = value.removeprefix("#")
        for channel_id, conversation in self._conversations.items():
            if conversation.get("name") == name:
                return channel_id
        if value in self._users:
            return self._open_im(value)
        raise ApiError("channel_not_found")

    def _content(self, params: dict[str, Any]) -> tuple[str | None, list[Any] | None, list[Any] | None, str | None]:
        """(text, blocks, attachments, warning) of a message, validated as Slack does."""
        text = params.get("text")
        text = None if text is None else str(text)
        blocks = params.get("blocks")
        attachments = params.get("attachments")
        if blocks is not None:
            if isinstance(blocks, str):
                raise ApiError("invalid_blocks_format")
            errors = validate_blocks(blocks, "/blocks", MAX_MESSAGE_BLOCKS)
            if errors:
                raise invalid("invalid_blocks", errors)
        if attachments is not None and not isinstance(attachments, list):
            raise ApiError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        if text and len(text) > MAX_TEXT_LENGTH:
            raise ApiError("msg_too_long")
        warning = None if text else "missing_text_or_fallback_or_attachments"
        return text, blocks or None, attachments or None, warning

    def _metadata(self, value: Any) -> dict[str, Any] | None:
        """Message metadata as Slack checks it: an ``event_type`` and an ``event_payload`` object."""
        if value is None:
            return None
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ApiError("invalid_metadata_format") from None
        if not isinstance(value, dict) or not isinstance(value.get("event_type"), str):
            raise ApiError("invalid_metadata_schema")
        if not isinstance(value.get("event_payload"), dict):
            raise ApiError("invalid_metadata_schema")
        return value

    def _bot_message(self, ts: str, text: str | None, blocks: Any, attachments: Any) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "team": self.team_id,
            "text": text or "",
            "ts": ts,
        }
        if blocks:
            message["blocks"] = blocks
        if attachments:
            message["attachments"] = attachments
        return message

    def _find_message(self, channel: str, ts: Any) -> dict[str, Any]:
        for message in self._history.get(channel, []):
            if message["ts"] == ts:
                return message
        raise ApiError("message_not_found")

    def _store(self, channel: str, message: dict[str, Any], thread_ts: str | None, broadcast: bool = False) -> None:
        if thread_ts:
            message["thread_ts"] = thread_ts
            if broadcast:
                message["subtype"] = "thread_broadcast"
            for parent in self._history.get(channel, []):
                if parent["ts"] == thread_ts:
                    parent["thread_ts"] = thread_ts
                    parent["reply_count"] = parent.get("reply_count", 0) + 1
                    parent["latest_reply"] = message["ts"]
                    parent["reply_users"] = sorted({*parent.get("reply_users", []), message["user"]})
                    parent["reply_users_count"] = len(parent["reply_users"])
        self._history.setdefault(channel, []).append(message)

    def _with_warning(self, result: dict[str, Any], warning: str | None) -> dict[str, Any]:
        if warning:
            result["warning"] = warning
            result["response_metadata"] = {"warnings": [warning]}
        return result

    # ------------------------------------------------------------------ API methods

    def _api_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"args": {k: v for k, v in params.items() if k != "token"}}

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{self.team_domain}.slack.com/",
            "team": self.team_name,
            "user": self.bot_name,
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        text, blocks, attachments, warning = self._content(params)
        thread_ts = params.get("thread_ts") or None
        ts = self._next_ts()
        metadata = self._metadata(params.get("metadata"))
        message = self._bot_message(ts, text, blocks, attachments)
        if metadata is not None:
            message["metadata"] = metadata
        self._store(channel, message, thread_ts, _truthy(params.get("reply_broadcast")))
        self.messages.append(
            {
                "method": "chat.postMessage",
                "channel": channel,
                "ts": ts,
                "text": text,
                "blocks": blocks,
                "attachments": attachments,
                "thread_ts": thread_ts,
                "user": None,
                "metadata": metadata,
            }
        )
        return self._with_warning({"channel": channel, "ts": ts, "message": copy.deepcopy(message)}, warning)

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        user = params.get("user")
        if not user:
            raise invalid("invalid_arguments", ["[ERROR] missing required field: user"])
        self._user(user)
        text, blocks, attachments, warning = self._content(params)
        ts = self._next_ts()
        self.messages.append(
            {
                "method": "chat.postEphemeral",
                "channel": channel,
                "ts": ts,
                "text": text,
                "blocks": blocks,
                "attachments": attachments,
                "thread_ts": params.get("thread_ts") or None,
                "user": user,
            }
        )
        return self._with_warning({"message_ts": ts}, warning)

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        ts = params.get("ts")
        if not ts:
            raise ApiError("message_not_found")
        message = self._find_message(channel, ts)
        text, blocks, attachments, warning = self._content(params)
        message["text"] = text or ""
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        message["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        self.messages.append(
            {
                "method": "chat.update",
                "channel": channel,
                "ts": ts,
                "text": text,
                "blocks": blocks,
                "attachments": attachments,
                "thread_ts": message.get("thread_ts"),
                "user": None,
            }
        )
        result = {"channel": channel, "ts": ts, "text": text or "", "message": copy.deepcopy(message)}
        return self._with_warning(result, warning)

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._resolve_channel(params.get("channel"))
        message = self._find_message(channel, params.get("ts"))
        self._history[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = params.get("user_id")
        if not user_id:
            raise invalid("invalid_arguments", ["[ERROR] missing required field: user_id"])
        self._user(user_id)
        view = self._view(params, "home")
        previous = self.home_views.get(user_id)
        if params.get("hash") and previous is not None and params["hash"] != previous["hash"]:
            raise ApiError("hash_conflict")
        view_id = previous["id"] if previous else self._new_id("V")
        published = {
            "id": view_id,
            "team_id": self.team_id,
            "type": "home",
            "blocks": view["blocks"],
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "external_id": view.get("external_id", ""),
            "state": {"values": {}},
            "hash": f"{time.time():.6f}.{next(self._ids)}",
            "title": {"type": "plain_text", "text": "View Title", "emoji": True},
            "clear_on_close": False,
            "notify_on_close": False,
            "close": None,
            "submit": None,
            "previous_view_id": None,
            "root_view_id": view_id,
            "app_id": self.app_id,
            "app_installed_team_id": self.team_id,
            "bot_id": self.bot_id,
        }
        self.home_views[user_id] = published
        return {"view": copy.deepcopy(published)}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        """A modal opened with a trigger_id, which Slack accepts once (a real one also expires after 3 s)."""
        trigger_id = params.get("trigger_id")
        if not trigger_id:
            raise invalid("invalid_arguments", ["[ERROR] missing required field: trigger_id"])
        if any(opened["trigger_id"] == trigger_id for opened in self.modals):
            raise ApiError("exchanged_trigger_id")
        view = self._view(params, "modal")
        opened = {"id": self._new_id("V"), "team_id": self.team_id, **copy.deepcopy(view), "app_id": self.app_id}
        self.modals.append({"trigger_id": trigger_id, "view": opened})
        return {"view": copy.deepcopy(opened)}

    def _view(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        """The ``view`` argument, checked as Slack checks a home tab or a modal."""
        view = params.get("view")
        if isinstance(view, str):
            try:
                view = json.loads(view)
            except ValueError:
                raise invalid("invalid_arguments", ["[ERROR] failed to parse view as JSON"]) from None
        if not isinstance(view, dict):
            raise invalid("invalid_arguments", ["[ERROR] missing required field: view"])
        errors = []
        if view.get("type") != kind:
            errors.append(f"[ERROR] must be {kind} [json-pointer:/view/type]")
        if "blocks" not in view:
            errors.append("[ERROR] missing required field: blocks [json-pointer:/view]")
        else:
            errors += validate_blocks(view["blocks"], "/view/blocks", MAX_VIEW_BLOCKS)
        for field, limit in (("private_metadata", 3000), ("callback_id", 255), ("external_id", 255)):
            value = view.get(field)
            if value is not None and (not isinstance(value, str) or len(value) > limit):
                pointer = f"/view/{field}"
                errors.append(f"[ERROR] must be a string of less than {limit + 1} characters [json-pointer:{pointer}]")
        if kind == "modal":
            if not isinstance(view.get("title"), dict):
                errors.append("[ERROR] missing required field: title [json-pointer:/view]")
            for field in ("title", "submit", "close"):
                text = (view.get(field) or {}).get("text", "")
                if len(text) > 24:
                    errors.append(f"[ERROR] must be less than 25 characters [json-pointer:/view/{field}/text]")
        if errors:
            raise invalid("invalid_arguments", errors)
        return view

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"user": copy.deepcopy(self._user(params.get("user")))}

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip().lower()
        for user in self._users.values():
            if email and str(user["profile"].get("email", "")).lower() == email:
                return {"user": copy.deepcopy(user)}
        raise ApiError("users_not_found")

    def _users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        return {
            "members": copy.deepcopy(list(self._users.values())),
            "cache_ts": int(time.time()),
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if params.get("channel") and not params.get("users"):
            channel_id = params["channel"]
            if channel_id not in self._conversations:
                raise ApiError("channel_not_found")
            return {"channel": {"id": channel_id}, "no_op": True, "already_open": True}
        users = [u.strip() for u in str(params.get("users") or "").split(",") if u.strip()]
        if not users:
            raise ApiError("users_list_not_supplied")
        if len(users) > 8:
            raise ApiError("too_many_users")
        for user_id in users:
            if self._user(user_id)["is_bot"]:
                raise ApiError("cannot_dm_bot")
        if len(users) == 1:
            already = users[0] in self._ims
            channel_id = self._open_im(users[0])
        else:
            key = frozenset(users)
            already = key in self._mpims
            if not already:
                channel_id = self._new_id("G")
                self._mpims[key] = channel_id
                self._conversations[channel_id] = {
                    "id": channel_id,
                    "name": "mpdm-" + "--".join(sorted(self._users[u]["name"] for u in users)) + "-1",
                    "is_mpim": True,
                    "is_im": False,
                    "is_channel": False,
                    "is_group": False,
                    "is_private": True,
                    "created": int(time.time()),
                }
                self._history.setdefault(channel_id, [])
            channel_id = self._mpims[key]
        channel = copy.deepcopy(self._conversations[channel_id]) if _truthy(params.get("return_im")) else {}
        channel["id"] = channel_id
        result: dict[str, Any] = {"channel": channel}
        if already:
            result.update(no_op=True, already_open=True)
        return result

    def _conversation(self, channel_id: Any) -> dict[str, Any]:
        conversation = self._conversations.get(channel_id) if isinstance(channel_id, str) else None
        if conversation is None:
            raise ApiError("channel_not_found")
        return conversation

    def _conversations_members(self, params: dict[str, Any]) -> dict[str, Any]:
        self._conversation(params.get("channel"))
        members = self._members.get(str(params.get("channel")), [])
        return {"members": list(members), "response_metadata": {"next_cursor": ""}}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"channel": copy.deepcopy(self._conversation(params.get("channel")))}

    def _conversations_history(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._conversation(params.get("channel"))["id"]
        limit = _int_param(params, "limit", 100, low=1, high=999)
        inclusive = _truthy(params.get("inclusive"))
        oldest = _ts_param(params, "oldest", "invalid_ts_oldest")
        latest = _ts_param(params, "latest", "invalid_ts_latest")
        found = []
        for message in reversed(self._history.get(channel_id, [])):
            if message.get("thread_ts") not in (None, message["ts"]) and message.get("subtype") != "thread_broadcast":
                continue  # a thread reply: only conversations.replies shows it
            at = _ts_micros(message["ts"])
            if oldest is not None and (at < oldest or (at == oldest and not inclusive)):
                continue
            if latest is not None and (at > latest or (at == latest and not inclusive)):
                continue
            found.append(message)
        return {
            "messages": copy.deepcopy(found[:limit]),
            "has_more": len(found) > limit,
            "pin_count": 0,
            "response_metadata": {"next_cursor": ""},
        }

    def _conversations_replies(self, params: dict[str, Any]) -> dict[str, Any]:
        channel_id = self._conversation(params.get("channel"))["id"]
        ts = params.get("ts")
        try:
            parent = self._find_message(channel_id, ts)
        except ApiError:
            raise ApiError("thread_not_found") from None
        replies = [m for m in self._history[channel_id] if m is not parent and m.get("thread_ts") == ts]
        limit = _int_param(params, "limit", 1000, low=1, high=1000)
        found = [parent, *replies]
        return {"messages": copy.deepcopy(found[:limit]), "has_more": len(found) > limit}

    def _files_get_upload_url_external(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = params.get("filename")
        if not filename:
            raise invalid("invalid_arguments", ["[ERROR] missing required field: filename"])
        try:
            length = int(params.get("length"))
        except (TypeError, ValueError):
            raise invalid("invalid_arguments", ["[ERROR] missing required field: length"]) from None
        if length < 1:
            raise invalid("invalid_arguments", ["[ERROR] length must be greater than 0"])
        file_id = self._new_id("F")
        self._pending_files[file_id] = {
            "filename": str(filename),
            "length": length,
            "alt_txt": params.get("alt_txt"),
            "snippet_type": params.get("snippet_type"),
        }
        return {"upload_url": f"{self.root}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload_external(self, params: dict[str, Any]) -> dict[str, Any]:
        items = params.get("files")
        if not isinstance(items, list) or not items or not all(isinstance(f, dict) and f.get("id") for f in items):
            raise invalid("invalid_arguments", ["[ERROR] files must be a non-empty array of {id, title}"])
        for item in items:
            if item["id"] not in self._pending_files or item["id"] not in self.uploads:
                raise ApiError("file_not_found")
        channel_ids = []
        if params.get("channel_id"):
            channel_ids.append(params["channel_id"])
        channel_ids += [c.strip() for c in str(params.get("channels") or "").split(",") if c.strip()]
        channels = [self._resolve_channel(c) for c in channel_ids]
        thread_ts = params.get("thread_ts") or None
        if thread_ts and not channels:
            raise invalid("invalid_arguments", ["[ERROR] thread_ts requires channel_id"])
        now = int(time.time())
        shared = []
        for item in items:
            pending = self._pending_files[item["id"]]
            name = pending["filename"]
            mimetype = mimetypes.guess_type(name)[0] or "application/octet-stream"
            file = {
                "id": item["id"],
                "created": now,
                "timestamp": now,
                "name": name,
                "title": item.get("title") or name,
                "mimetype": mimetype,
                "filetype": name.rsplit(".", 1)[-1].lower() if "." in name else "binary",
                "user": self.bot_user_id,
                "user_team": self.team_id,
                "size": len(self.uploads[item["id"]]),
                "mode": "hosted",
                "is_external": False,
                "is_public": False,
                "alt_txt": pending.get("alt_txt"),
                "url_private": f"{self.root}/files-pri/{self.team_id}-{item['id']}/{name}",
                "permalink": f"https://{self.team_domain}.slack.com/files/{self.bot_user_id}/{item['id']}/{name}",
                "channels": [c for c in channels if not c.startswith(("D", "G"))],
                "groups": [c for c in channels if c.startswith("G")],
                "ims": [c for c in channels if c.startswith("D")],
                "initial_comment": params.get("initial_comment"),
                "thread_ts": thread_ts,
            }
            self.files[item["id"]] = file
            shared.append(file)
        for channel in channels:  # Slack shares the files in one message carrying initial_comment
            message = self._bot_message(self._next_ts(), params.get("initial_comment"), None, None)
            message.update(upload=True, files=copy.deepcopy(shared), display_as_bot=False)
            self._store(channel, message, thread_ts)
        return {"files": copy.deepcopy(shared)}

    def _files_upload_v1(self, params: dict[str, Any]) -> dict[str, Any]:
        raise ApiError("method_deprecated")  # files.upload is retired: use files_upload_v2


def signed_request(
    base: str,
    body: str,
    secret: str,
    *,
    content_type: str = "application/x-www-form-urlencoded",
    timestamp: int | None = None,
) -> urllib.request.Request:
    """What Slack sends the app at ``base``: a POST to /slack/events signed with the app's signing secret
    (a slash command is form-encoded, an event JSON)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    signature = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    headers = {"Content-Type": content_type, "X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
    return urllib.request.Request(f"{base}/slack/events", data=body.encode(), headers=headers)


def slow_connection(base: str, announced: int, sent: bytes = b"0123456789") -> socket.socket:
    """A client of the app at ``base`` that announces ``announced`` bytes of body, sends ``sent`` and waits: what a
    slow or hostile client does to a server (close it when done)."""
    host, port = base.removeprefix("http://").split(":")
    connection = socket.create_connection((host, int(port)))
    head = (
        "POST /slack/events HTTP/1.1\r\nHost: kpibot\r\nContent-Type: application/json\r\n"
        f"Content-Length: {announced}\r\n\r\n"
    )
    connection.sendall(head.encode() + sent)
    return connection


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # the default backlog of 5 stalls concurrent clients for a second (SYN retry)


class _Handler(BaseHTTPRequestHandler):
    fake: FakeSlack
    server_version = "FakeSlack/1.0"

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        headers = {name.lower(): value for name, value in self.headers.items()}
        reply = self.fake._handle(self.command, self.path, headers, body)
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(reply.body)))
        for name, value in (reply.headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(reply.body)

    do_GET = do_POST = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the tests' output quiet


# ---------------------------------------------------------------------- parsing


def _bearer(headers: dict[str, str]) -> str | None:
    value = headers.get("authorization", "")
    if value[:7].lower() == "bearer ":
        return value[7:].strip() or None
    return None


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str | int) and str(value).lower() in ("1", "true"))


def _decode_json_field(key: str, value: Any) -> Any:
    if key in JSON_FIELDS and isinstance(value, str) and value.lstrip()[:1] in ("[", "{"):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _parse_body(content_type: str, body: bytes) -> dict[str, Any]:
    """The parameters of a request body: JSON, multipart or form-encoded (raises ValueError when malformed)."""
    kind = content_type.split(";")[0].strip().lower()
    if not body:
        return {}
    if kind == "application/json":
        parsed = json.loads(body.decode("utf-8"))
        if not isinstance(parsed, dict):
            raise ValueError("a JSON body must be an object")
        return parsed
    if kind == "multipart/form-data":
        fields, files = _parse_multipart(content_type, body)
        params: dict[str, Any] = {key: _decode_json_field(key, value) for key, value in fields.items()}
        params.update(files)
        return params
    pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True)
    return {key: _decode_json_field(key, value) for key, value in pairs}


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict[str, str], dict[str, bytes]]:
    """(fields, files) of a multipart/form-data body; a part with a filename is a file."""
    match = re.search(r'boundary="?([^";]+)"?', content_type)
    if match is None:
        raise ValueError("multipart body without a boundary")
    delimiter = b"--" + match.group(1).encode("latin-1")
    fields: dict[str, str] = {}
    files: dict[str, bytes] = {}
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break
        part = part.removeprefix(b"\r\n")
        head, _, data = part.partition(b"\r\n\r\n")
        data = data.removesuffix(b"\r\n")
        disposition = ""
        for line in head.decode("utf-8", "replace").split("\r\n"):
            header, _, value = line.partition(":")
            if header.strip().lower() == "content-disposition":
                disposition = value
        name_match = re.search(r';\s*name="([^"]*)"', disposition)
        name = name_match.group(1) if name_match else f"part{len(fields) + len(files)}"
        if re.search(r';\s*filename="', disposition):
            files[name] = data
        else:
            fields[name] = data.decode("utf-8")
    return fields, files


def _ts_micros(ts: str) -> int:
    seconds, _, fraction = str(ts).partition(".")
    return int(seconds) * 1_000_000 + int((fraction + "000000")[:6])


def _ts_param(params: dict[str, Any], name: str, error: str) -> int | None:
    value = params.get(name)
    if value in (None, ""):
        return None
    try:
        return _ts_micros(value)
    except ValueError:
        raise ApiError(error) from None


def _int_param(params: dict[str, Any], name: str, default: int, *, low: int, high: int) -> int:
    try:
        value = int(params.get(name) or default)
    except (TypeError, ValueError):
        raise ApiError("invalid_limit") from None
    return max(low, min(high, value))


# ---------------------------------------------------------------------- Block Kit validation


def validate_blocks(blocks: Any, pointer: str, max_blocks: int) -> list[str]:
    """Slack-style "[ERROR] ... [json-pointer:/blocks/0/text/text]" lines for the limits Slack enforces."""
    if not isinstance(blocks, list):
        return [f"[ERROR] must be an array [json-pointer:{pointer}]"]
    errors = []
    if len(blocks) > max_blocks:
        errors.append(f"[ERROR] no more than {max_blocks} items allowed [json-pointer:{pointer}]")
    block_ids: set[str] = set()
    for index, block in enumerate(blocks):
        where = f"{pointer}/{index}"
        if not isinstance(block, dict):
            errors.append(f"[ERROR] must be an object [json-pointer:{where}]")
            continue
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                errors.append(f"[ERROR] must be a string of 1 to 255 characters [json-pointer:{where}/block_id]")
            elif block_id in block_ids:
                errors.append(f"[ERROR] duplicate block_id {block_id!r} [json-pointer:{where}/block_id]")
            else:
                block_ids.add(block_id)
        errors += _block_errors(block, where)
    return errors


def _block_errors(block: dict[str, Any], where: str) -> list[str]:
    kind = block.get("type")
    if kind not in BLOCK_TYPES:
        return [f"[ERROR] unsupported type: {kind!r} [json-pointer:{where}/type]"]
    errors: list[str] = []
    if kind == "section":
        if block.get("text") is None and block.get("fields") is None:
            errors.append(f"[ERROR] must provide text or fields [json-pointer:{where}]")
        if block.get("text") is not None:
            errors += _text_errors(block["text"], f"{where}/text", 3000)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list) or not 0 < len(fields) <= 10:
                errors.append(f"[ERROR] must be an array of 1 to 10 items [json-pointer:{where}/fields]")
            else:
                for i, field in enumerate(fields):
                    errors += _text_errors(field, f"{where}/fields/{i}", 2000)
        accessory = block.get("accessory")
        if accessory is not None and not (isinstance(accessory, dict) and accessory.get("type")):
            errors.append(f"[ERROR] must be an element object [json-pointer:{where}/accessory]")
    elif kind == "header":
        errors += _text_errors(block.get("text"), f"{where}/text", 150, plain_only=True)
    elif kind == "context":
        errors += _elements_errors(block, where, 10)
        for i, element in enumerate(block.get("elements") or []):
            if isinstance(element, dict) and element.get("type") in TEXT_TYPES:
                errors += _text_errors(element, f"{where}/elements/{i}", 3000)
            elif isinstance(element, dict) and element.get("type") == "image":
                errors += _image_errors(element, f"{where}/elements/{i}")
            else:
                errors.append(f"[ERROR] must be a text or image element [json-pointer:{where}/elements/{i}]")
    elif kind == "actions":
        errors += _elements_errors(block, where, 25)
    elif kind == "image":
        errors += _image_errors(block, where)
        if block.get("title") is not None:
            errors += _text_errors(block["title"], f"{where}/title", 2000, plain_only=True)
    elif kind == "markdown":
        text = block.get("text")
        if not isinstance(text, str) or not 0 < len(text) <= 12000:
            errors.append(f"[ERROR] must be a string of 1 to 12000 characters [json-pointer:{where}/text]")
    elif kind == "input":
        errors += _text_errors(block.get("label"), f"{where}/label", 2000, plain_only=True)
        if not isinstance(block.get("element"), dict):
            errors.append(f"[ERROR] missing required field: element [json-pointer:{where}]")
    elif kind == "rich_text" and not isinstance(block.get("elements"), list):
        errors.append(f"[ERROR] missing required field: elements [json-pointer:{where}]")
    return errors


def _text_errors(obj: Any, where: str, max_length: int, *, plain_only: bool = False) -> list[str]:
    if obj is None:
        return [f"[ERROR] missing required field: text [json-pointer:{where.rsplit('/', 1)[0]}]"]
    if not isinstance(obj, dict):
        return [f"[ERROR] must be a text object [json-pointer:{where}]"]
    errors = []
    allowed = ("plain_text",) if plain_only else TEXT_TYPES
    if obj.get("type") not in allowed:
        errors.append(f"[ERROR] must be one of {', '.join(allowed)} [json-pointer:{where}/type]")
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        errors.append(f"[ERROR] must be more than 0 characters [json-pointer:{where}/text]")
    elif len(text) > max_length:
        errors.append(f"[ERROR] must be less than {max_length + 1} characters [json-pointer:{where}/text]")
    return errors


def _elements_errors(block: dict[str, Any], where: str, max_items: int) -> list[str]:
    elements = block.get("elements")
    if not isinstance(elements, list) or not 0 < len(elements) <= max_items:
        return [f"[ERROR] must be an array of 1 to {max_items} items [json-pointer:{where}/elements]"]
    return [
        f"[ERROR] must be an element object [json-pointer:{where}/elements/{i}]"
        for i, element in enumerate(elements)
        if not (isinstance(element, dict) and element.get("type"))
    ]


def _image_errors(image: dict[str, Any], where: str) -> list[str]:
    errors = []
    url = image.get("image_url")
    if image.get("slack_file") is None and (not isinstance(url, str) or not 0 < len(url) <= 3000):
        errors.append(f"[ERROR] must provide image_url (1 to 3000 characters) or slack_file [json-pointer:{where}]")
    alt = image.get("alt_text")
    if not isinstance(alt, str) or not 0 < len(alt) <= 2000:
        errors.append(f"[ERROR] must be a string of 1 to 2000 characters [json-pointer:{where}/alt_text]")
    return errors
