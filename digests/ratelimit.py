"""Pacing the worker's Slack calls to Slack's rates, so that the Monday fan-out of 2,000 digests is not a storm of
429s.

Slack's published limit for chat.postMessage (its "Special" tier, https://api.slack.com/apis/rate-limits) is about
one message per second per channel, with short bursts tolerated but not guaranteed, under a workspace-wide limit
it does not publish. So a post waits for two buckets: its channel's (one a second, no burst relied on) and the
workspace's (:data:`WORKSPACE_PER_SECOND`). A DM is addressed to the member's user id and Slack answers with the
IM's id (D...): from then on both names share the IM's bucket, so the digest's thread replies, posted to the IM,
wait for its parent. The other methods the worker calls in bulk have a bucket each at their tier
(:data:`TIER_PER_MINUTE`): the conversations.open of a DM left unconfirmed, the conversations.history that settles
it, the two calls of each chart upload. When Slack answers 429 anyway, every call of that method waits out its
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
from collections.abc import Callable, Mapping
from typing import Any

from slack_sdk import WebClient
from slack_sdk.http_retry import HttpRequest, HttpResponse, RateLimitErrorRetryHandler, RetryHandler, RetryState
from slack_sdk.web import SlackResponse

POST_METHOD = "chat.postMessage"
PER_CHANNEL_PER_SECOND = 1.0
#: Slack publishes no figure for the workspace: 10 a second (600 a minute) is well under what it accepts in
#: bursts and still posts 2,000 digests of three messages in ten minutes.
WORKSPACE_PER_SECOND = 10.0
#: Calls a minute of the other methods the worker may make many of, at the floor of their Slack tier: Tier 3
#: ("50+ per minute") for conversations.open and .history, Tier 4 ("100+") for files.getUploadURLExternal and
#: files.completeUploadExternal (files_upload_v2's two API calls per upload) and users.info (time zones).
TIER_PER_MINUTE: Mapping[str, float] = {
    "conversations.open": 50,
    "conversations.history": 50,
    "files.getUploadURLExternal": 100,
    "files.completeUploadExternal": 100,
    "users.info": 100,
}
_STALE_CHANNELS = 1000  # channels remembered before those idle are forgotten


class Bucket:
    """``rate`` calls a second, evenly spaced: kept as the time it is next free (the generic cell rate algorithm
    without a burst, as Slack promises none)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.free_at = 0.0

    def earliest(self, now: float) -> float:
        return max(now, self.free_at)

    def take(self, at: float) -> None:
        self.free_at = max(self.free_at, at) + self.interval


class SlackPace:
    """When each call may go: a chat.postMessage at the later of its channel's bucket, the workspace's and the end
    of the last Retry-After of posts; a method of :data:`TIER_PER_MINUTE` at the later of its bucket and its own
    Retry-After; any other at once. Thread-safe: a call reserves its moment under the lock and sleeps outside it."""

    def __init__(
        self,
        per_channel: float = PER_CHANNEL_PER_SECOND,
        workspace: float = WORKSPACE_PER_SECOND,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        tiers: Mapping[str, float] = TIER_PER_MINUTE,
    ) -> None:
        self.per_channel, self.clock, self.sleep = per_channel, clock, sleep
        self.workspace = Bucket(workspace)
        self.methods = {method: Bucket(per_minute / 60.0) for method, per_minute in tiers.items()}
        self.channels: dict[str, Bucket] = {}
        self.ims: dict[str, str] = {}  # a member's user id -> the IM channel Slack posted their DMs in
        self.held_until: dict[str, float] = {}  # method -> the end of its last Retry-After
        self.lock = threading.Lock()

    def wait(self, channel: str) -> float:
        """Wait until a message may be posted to ``channel``; the seconds waited."""
        with self.lock:
            now = self.clock()
            if len(self.channels) > _STALE_CHANNELS:
                self.channels = {key: b for key, b in self.channels.items() if b.free_at > now}
            bucket = self.channels.setdefault(self.ims.get(channel, channel), Bucket(self.per_channel))
            at = self._reserve(now, POST_METHOD, bucket, self.workspace)
        return self._sleep_until(at, now)

    def wait_method(self, method: str) -> float:
        """Wait until ``method`` may be called (at once for a method without a tier here); the seconds waited."""
        bucket = self.methods.get(method)
        if bucket is None:
            return 0.0
        with self.lock:
            now = self.clock()
            at = self._reserve(now, method, bucket)
        return self._sleep_until(at, now)

    def same(self, address: str, channel: str) -> None:
        """Slack posted a message addressed to ``address`` (a member's user id) in ``channel`` (their IM): from
        now on both are one channel, and the IM's bucket is the one the post took."""
        if address == channel:
            return
        with self.lock:
            self.ims[address] = channel
            taken = self.channels.pop(address, None)
            known = self.channels.get(channel)
            if taken is not None and (known is None or known.free_at < taken.free_at):
                self.channels[channel] = taken

    def hold(self, seconds: float, method: str = POST_METHOD) -> None:
        """Slack said 429 to ``method``: no call of it goes before ``seconds`` from now."""
        with self.lock:
            self.held_until[method] = max(self.held_until.get(method, 0.0), self.clock() + seconds)

    def _reserve(self, now: float, method: str, *buckets: Bucket) -> float:
        """The moment a call of ``method`` taking ``buckets`` may go, taken (under the lock)."""
        at = max(self.held_until.get(method, 0.0), *(bucket.earliest(now) for bucket in buckets))
        for bucket in buckets:
            bucket.take(at)
        return at

    def _sleep_until(self, at: float, now: float) -> float:
        if at > now:
            self.sleep(at - now)
        return at - now


class SharedRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's retry of a 429, which holds every call of the refused method for the Retry-After and then retries
    the call in its turn among them (a retry that skipped the queue would be refused again). A method without a
    bucket of the pace only waits out its own Retry-After: Slack counts each method apart."""

    def __init__(self, pace: SlackPace, max_retry_count: int = 3) -> None:
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
        method = request.url.rstrip("/").rpartition("/")[2]
        state.next_attempt_requested = True
        if method == POST_METHOD:
            self.pace.hold(seconds)
            self.pace.wait(_channel(request))
        elif method in self.pace.methods:
            self.pace.hold(seconds, method)
            self.pace.wait_method(method)
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
    """A WebClient whose calls wait for their turn in a :class:`SlackPace`: posts for their channel's and the
    workspace's, the methods of :data:`TIER_PER_MINUTE` for their tier's; the rest go at once."""

    def __init__(self, pace: SlackPace, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.pace = pace

    def api_call(self, api_method: str, **kwargs: Any) -> SlackResponse:
        if api_method != POST_METHOD:
            self.pace.wait_method(api_method)
            return super().api_call(api_method, **kwargs)
        body = kwargs.get("json") or kwargs.get("data") or kwargs.get("params") or {}
        address = str(body.get("channel", ""))
        self.pace.wait(address)
        response = super().api_call(api_method, **kwargs)
        answered = response.get("channel")
        if isinstance(answered, str) and answered:  # a DM addressed to a member: Slack names their IM
            self.pace.same(address, answered)
        return response


def paced_client(token: str, base_url: str, others: list[RetryHandler], pace: SlackPace | None = None) -> PacedClient:
    """A client pacing its calls (a new pace unless one is shared), retrying 429s through the pace and, with
    ``others``, what else fails."""
    pace = pace or SlackPace()
    handlers = [SharedRateLimitHandler(pace), *others]
    return PacedClient(pace, token=token, base_url=base_url, retry_handlers=handlers)
