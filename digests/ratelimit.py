"""Pacing chat.postMessage to Slack's rate, so that the Monday fan-out of 2,000 digests is not a storm of 429s.

Slack's published limit for chat.postMessage (its "Special" tier, https://api.slack.com/apis/rate-limits) is about
one message per second per channel, with short bursts tolerated but not guaranteed, under a workspace-wide limit
it does not publish. So a post waits for two buckets: its channel's (one a second, no burst relied on) and the
workspace's (:data:`WORKSPACE_PER_SECOND`); and when Slack answers 429 anyway, every thread waits out its
Retry-After, not only the one that got it (:class:`SharedRateLimitHandler`).

The buckets live in the process, shared by its threads. Only the elected leader of ``kpibot schedule`` posts
scheduled messages (the database lock of digests/scheduler.py), and it posts from its own process: its worker
processes build digests and post nothing (digests/building.py). Redis or the database would share a bucket
between processes that never post at the same time, at the cost of a round trip per message; the web process,
which answers people and posts now and then, is not paced: Retry-After covers what it adds.
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry import HttpRequest, HttpResponse, RateLimitErrorRetryHandler, RetryHandler, RetryState
from slack_sdk.web import SlackResponse

POST_METHOD = "chat.postMessage"
PER_CHANNEL_PER_SECOND = 1.0
#: Slack publishes no figure for the workspace: 10 a second (600 a minute) is well under what it accepts in
#: bursts and still posts 2,000 digests of three messages in ten minutes.
WORKSPACE_PER_SECOND = 10.0
_STALE_CHANNELS = 1000  # channels remembered before those idle are forgotten


class Bucket:
    """``rate`` posts a second, evenly spaced: kept as the time it is next free (the generic cell rate algorithm
    without a burst, as Slack promises none)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.free_at = 0.0

    def earliest(self, now: float) -> float:
        return max(now, self.free_at)

    def take(self, at: float) -> None:
        self.free_at = max(self.free_at, at) + self.interval


class PostingPace:
    """When each chat.postMessage may go: the later of its channel's bucket, the workspace's, and the end of the
    last Retry-After. Thread-safe: a post reserves its moment under the lock and sleeps outside it."""

    def __init__(
        self,
        per_channel: float = PER_CHANNEL_PER_SECOND,
        workspace: float = WORKSPACE_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.per_channel, self.clock, self.sleep = per_channel, clock, sleep
        self.workspace = Bucket(workspace)
        self.channels: dict[str, Bucket] = {}
        self.held_until = 0.0
        self.lock = threading.Lock()

    def wait(self, channel: str) -> float:
        """Wait until a message may be posted to ``channel``; the seconds waited."""
        with self.lock:
            now = self.clock()
            if len(self.channels) > _STALE_CHANNELS:
                self.channels = {key: b for key, b in self.channels.items() if b.free_at > now}
            bucket = self.channels.setdefault(channel, Bucket(self.per_channel))
            at = max(self.held_until, bucket.earliest(now), self.workspace.earliest(now))
            bucket.take(at)
            self.workspace.take(at)
        if at > now:
            self.sleep(at - now)
        return at - now

    def hold(self, seconds: float) -> None:
        """Slack said 429: no post goes before ``seconds`` from now."""
        with self.lock:
            self.held_until = max(self.held_until, self.clock() + seconds)


class SharedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's retry of a 429, which holds every post of the pace for the Retry-After and then retries a post
    in its turn among them (a retry that skipped the queue would be refused again)."""

    def __init__(self, pace: PostingPace, max_retry_count: int = 3) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.pace = pace

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error or RuntimeError("a 429 without a response")
        found = [value for key, value in response.headers.items() if key.lower() == "retry-after"]
        seconds = float(found[0][0]) if found and found[0] else 1.0 + random.random()
        self.pace.hold(seconds)
        state.next_attempt_requested = True
        if request.url.endswith(POST_METHOD):
            self.pace.wait(_channel(request))
        else:
            self.pace.sleep(seconds)
        state.increment_current_attempt()


def _channel(request: HttpRequest) -> str:
    """The channel a chat.postMessage request names (slack_sdk sends it as JSON)."""
    try:
        body = json.loads(request.data or b"{}") if request.data is not None else request.body_params or {}
    except (ValueError, TypeError):
        return ""
    return str(body.get("channel", "")) if isinstance(body, dict) else ""


class PacedClient(WebClient):
    """A WebClient whose chat.postMessage calls wait for :class:`PostingPace`; other methods go at once."""

    def __init__(self, pace: PostingPace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pace = pace

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method == POST_METHOD:
            body = kwargs.get("json") or kwargs.get("data") or kwargs.get("params") or {}
            self.pace.wait(str(body.get("channel", "")))
        return super().api_call(api_method, **kwargs)


def paced_client(token: str, base_url: str, others: list[RetryHandler], pace: PostingPace | None = None) -> PacedClient:
    """A client pacing its posts (a new pace unless one is shared), retrying 429s through the pace and, with
    ``others``, what else fails."""
    pace = pace or PostingPace()
    handlers = [SharedRateLimitHandler(pace), *others]
    return PacedClient(pace, token=token, base_url=base_url, retry_handlers=handlers)
