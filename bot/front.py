"""The HTTP front of the Slack app: an asyncio server reads each request whole before any thread works on it.

A thread-per-request server gives a slow client a thread while it trickles its body: 16 clients announcing 100 KB
and sending 10 bytes held every thread, and ``/healthz`` timed out. Here uvicorn's event loop reads bodies (many
thousands of waiting sockets cost nothing), and only a complete, bounded, well-formed and signed request reaches
Bolt, in a thread of :attr:`SlackFront.pool`. Before that:

* a body announced or streamed beyond :data:`MAX_BODY` gets 413, unread; one that takes longer than
  :data:`BODY_SECONDS` to arrive gets 408;
* a missing or bad signature gets 401 (Slack's scheme: HMAC-SHA256 of ``v0:timestamp:body``, a timestamp within
  five minutes); a malformed one (a timestamp that is not a number, a body that is not UTF-8, a payload that is not
  the JSON object Slack sends, or lacks what kpibot's listeners and Bolt read: :mod:`bot.payloads`) gets 400;
* a replay of a request already handled (same signature) gets 200 and does nothing (:class:`Replays`).

Nothing here logs a request body.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import redis
from slack_bolt import App, BoltRequest, BoltResponse
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import Engine, delete, insert
from sqlalchemy.exc import IntegrityError

from bot import payloads
from kpi.periods import utc_now
from kpi.schema import SeenRequest

log = logging.getLogger("kpibot.http")

#: The largest request body read. Slack's own payloads stay far below (a view submission is a few KB).
MAX_BODY = 64 * 1024
#: How long a request body may take to arrive, all of it.
BODY_SECONDS = 10.0
#: How long Slack's signature of a request is valid, and so how long a replay must be remembered.
REPLAY_SECONDS = 5 * 60

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class Replays:
    """The signatures of the requests handled in the last five minutes, where every server process sees them: the
    first to record a signature handles the request, any other sees a replay.

    In Redis when ``REDIS_URL`` is set (``SET NX`` with the five minutes as its expiry: one round trip), else in the
    database (an insert and its commit per request, and a sweep of the expired once a minute). Redis out of reach
    records in the database meanwhile: a request is never refused for it."""

    def __init__(self, engine: Engine, redis_url: str | None = None) -> None:
        self.engine = engine
        self.redis = (
            redis.Redis.from_url(redis_url, socket_timeout=0.5, socket_connect_timeout=0.5) if redis_url else None
        )
        self._swept = 0.0

    def seen(self, signature: str) -> bool:
        if self.redis is not None:
            try:
                return not self.redis.set(f"kpibot:replay:{signature[:100]}", 1, nx=True, ex=REPLAY_SECONDS)
            except redis.RedisError as error:
                log.warning("replays: Redis did not answer, recording in the database", extra={"detail": str(error)})
        now = utc_now()
        if time.monotonic() - self._swept > 60:  # forget what can no longer be replayed, once a minute
            with self.engine.begin() as connection:
                cutoff = now - dt.timedelta(seconds=REPLAY_SECONDS)
                connection.execute(delete(SeenRequest).where(SeenRequest.seen_at < cutoff))
            self._swept = time.monotonic()
        try:
            with self.engine.begin() as connection:
                connection.execute(insert(SeenRequest).values(signature=signature[:100], seen_at=now))
        except IntegrityError:
            return True
        return False


class SlackFront:
    """The ASGI application: ``POST /slack/events`` to Bolt, ``GET /healthz`` to ``health``."""

    def __init__(
        self, bolt: App, signing_secret: str, replays: Replays, health: Callable[[], tuple[int, dict[str, Any]]]
    ) -> None:
        self.bolt = bolt
        self.verifier = SignatureVerifier(signing_secret)
        self.replays = replays
        self.health = health
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="request")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path, method = scope.get("path", ""), scope.get("method", "")
        if path == "/healthz" and method in ("GET", "HEAD"):
            status, body = await asyncio.get_running_loop().run_in_executor(self.pool, self.health)
            await _respond(send, status, json.dumps(body), "application/json")
        elif path == "/slack/events" and method == "POST":
            await self.events(scope, receive, send)
        elif path in ("/healthz", "/slack/events"):
            await _respond(send, 405, "method not allowed")
        else:
            await _respond(send, 404, "not found")

    async def events(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in scope["headers"]}
        announced = headers.get("content-length", "0")
        if not announced.isdigit():
            await _respond(send, 400, "bad content-length")
            return
        if int(announced) > MAX_BODY:
            await _respond(send, 413, f"request bodies are limited to {MAX_BODY} bytes")
            return
        try:
            raw = await asyncio.wait_for(_body(receive), BODY_SECONDS)
        except TooLarge:
            await _respond(send, 413, f"request bodies are limited to {MAX_BODY} bytes")
            return
        except TimeoutError:
            await _respond(send, 408, "the request body took too long")
            return
        query = scope.get("query_string", b"").decode("latin-1")
        status, problem, request = signed_request(self.verifier, headers, raw, query)
        if request is None:
            await _respond(send, status, problem)
            return
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(self.pool, self.dispatch, request, headers["x-slack-signature"])
        await _respond(send, response.status, response.body, headers=response.headers)

    def dispatch(self, request: BoltRequest, signature: str) -> BoltResponse:
        """Bolt's answer, unless this exact request was already handled (a replay: 200, no effect)."""
        if self.replays.seen(signature):
            log.info("replay ignored", extra={"detail": "a signed request seen before"})
            return BoltResponse(status=200, body="")
        response = self.bolt.dispatch(request)
        if response.status == 404:  # a signed payload of a kind kpibot does not listen to: acknowledged, ignored
            return BoltResponse(status=200, body="")
        return response


def signed_request(
    verifier: SignatureVerifier, headers: dict[str, str], raw: bytes, query: str = ""
) -> tuple[int, str, BoltRequest | None]:
    """``(200, "", request)`` for a signed, well-formed Slack request, as Bolt is to read it; else the status, why,
    and None.

    Bolt is handed the payload as parsed and checked here, not the raw body: Bolt reads any form body that contains
    the word "payload" as a button's payload= field, so `/kpi payload` got a 404. Its own signature check is skipped
    for a parsed body ("socket_mode"), which is right: the signature was checked here.
    """
    timestamp, signature = headers.get("x-slack-request-timestamp"), headers.get("x-slack-signature")
    if not timestamp or not signature:
        return 401, "not signed", None
    if not timestamp.isdigit():
        return 400, "the timestamp is not a number", None
    try:
        body = raw.decode("utf-8")
    except UnicodeDecodeError:
        return 400, "the body is not UTF-8", None
    if not verifier.is_valid(body=body, timestamp=timestamp, signature=signature):
        return 401, "bad signature", None
    payload = _payload(headers.get("content-type", ""), body)
    if payload is None or not isinstance(payload, dict):
        return 400, "not a Slack payload", None
    if (why := payloads.problem(payload)) is not None:
        return 400, f"malformed payload: {why}", None
    return 200, "", BoltRequest(body=payload, query=query, headers=dict(headers), mode="socket_mode")


class TooLarge(Exception):
    """A streamed body grew past MAX_BODY."""


async def _body(receive: Receive) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise TimeoutError
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise TooLarge
        chunks.append(chunk)
        if not message.get("more_body"):
            return b"".join(chunks)


def _payload(content_type: str, body: str) -> Any:
    """The payload Slack sends, parsed: a form (a slash command; ``payload=`` with JSON for interactions) or JSON
    (events). None when the body is neither."""
    if content_type.startswith("application/json"):
        return _json(body)
    fields = parse_qs(body, keep_blank_values=True)
    if "payload" in fields:
        return _json(fields["payload"][0]) if len(fields["payload"]) == 1 else None
    return {name: values[0] for name, values in fields.items()} or None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


async def _respond(
    send: Send, status: int, body: str, content_type: str = "text/plain", headers: dict[str, Any] | None = None
) -> None:
    """Send a whole response; ``headers`` as Bolt gives them (a name to a list of values)."""
    given = {name.lower(): values for name, values in (headers or {}).items() if name.lower() != "content-length"}
    given.setdefault("content-type", [content_type])
    data = body.encode()
    pairs = [(name.encode(), str(value).encode()) for name, values in given.items() for value in _listed(values)]
    pairs.append((b"content-length", str(len(data)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": pairs})
    await send({"type": "http.response.body", "body": data})


def _listed(values: Any) -> list[Any]:
    return list(values) if isinstance(values, list | tuple) else [values]


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
