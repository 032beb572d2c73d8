"""The HTTP client every CRM connector shares: JSON in and out, retries, and manners towards rate limits.

A connector names the vendor's rules and this module applies them the same way for everyone:

* :class:`Throttle` keeps a connector under the vendor's documented rate (say 100 requests per 10 s)
  by waiting *before* a request would exceed it, rather than bouncing off 429s;
* after a response, the vendor's ``wait`` function reads its headers (``Retry-After``,
  ``X-HubSpot-RateLimit-*``, ``x-ratelimit-*``) and says how long to pause: on a 429 before retrying,
  on a success before the next request when the window's budget is spent;
* 429, 5xx and network errors are retried a bounded number of times (5xx and network errors after an
  exponential back-off), then :class:`ApiError` is raised with the method, path and status.

Nothing here is vendor-specific: the standard library's ``urllib`` does the HTTP, so tests point a
connector's ``base_url`` at a fake server on loopback.
"""

from __future__ import annotations

import collections
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any

#: Longest pause honoured for one rate-limit answer, in seconds (a longer one is cut to this).
MAX_WAIT = 60.0

#: How a vendor reads its rate-limit headers: (status, headers) -> seconds to wait, or None for no opinion.
WaitRule = Callable[[int, Message], float | None]


class ApiError(RuntimeError):
    """The API refused a request, or kept failing after the retries."""

    def __init__(self, message: str, status: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def retry_after(status: int, headers: Message) -> float | None:
    """The standard rule: a 429 or 503 waits ``Retry-After`` seconds (1 s when absent)."""
    if status not in (429, 503):
        return None
    return seconds(headers.get("Retry-After")) or (1.0 if status == 429 else None)


def seconds(value: Any) -> float | None:
    """A header's number of seconds, bounded to ``[0, MAX_WAIT]``; None when absent or not a number."""
    try:
        return min(max(float(value), 0.0), MAX_WAIT) if value not in (None, "") else None
    except ValueError:
        return None


@dataclass
class Throttle:
    """At most ``requests`` requests in any ``per_seconds`` window: waits before the one that would exceed it."""

    requests: int
    per_seconds: float
    clock: Callable[[], float] = time.monotonic
    sent: collections.deque[float] = field(default_factory=collections.deque)

    def delay(self) -> float:
        """Seconds to wait before the next request may go (and records that it will go then)."""
        now = self.clock()
        while self.sent and now - self.sent[0] >= self.per_seconds:
            self.sent.popleft()
        wait = 0.0
        if len(self.sent) >= self.requests:
            wait = self.per_seconds - (now - self.sent[0])
            self.sent.popleft()
        self.sent.append(now + wait)
        return wait


class JsonApi:
    """A JSON API at ``base_url``, with the headers every request carries (the credentials)."""

    def __init__(
        self,
        base_url: str,
        headers: Mapping[str, str],
        *,
        vendor: str,
        wait: WaitRule = retry_after,
        throttle: Throttle | None = None,
        max_retries: int = 5,
        backoff: float = 0.5,
        timeout: float = 30.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.headers = {"Accept": "application/json", **headers}
        self.vendor = vendor
        self.wait = wait
        self.throttle = throttle
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.sleep = sleep
        self.requests = 0  # sent, retries included: for reports and benchmarks

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, params: Mapping[str, Any] | None = None) -> Any:
        return self.request("POST", path, params=params, body=body)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        form: Mapping[str, str] | None = None,
    ) -> Any:
        """Send one request (``path`` relative to ``base_url``, or a full URL) and return the decoded JSON.

        ``body`` is sent as JSON, ``form`` as an HTML form (OAuth token endpoints want that, and secrets in
        a body stay out of the access logs that record URLs).
        """
        url = path if "://" in path else f"{self.base_url}{path}"
        if params:
            url = f"{url}{'&' if '?' in url else '?'}{urllib.parse.urlencode(params)}"
        headers = dict(self.headers)
        data = None
        if form is not None:
            data = urllib.parse.urlencode(form).encode("utf-8")
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif body is not None:
            data = json.dumps(body).encode("utf-8")
            headers["Content-Type"] = "application/json"
        where = f"{self.vendor} {method} {urllib.parse.urlsplit(url).path}"
        attempt = 0
        while True:
            attempt += 1
            if self.throttle is not None and (delay := self.throttle.delay()) > 0:
                self.sleep(delay)
            self.requests += 1
            request = urllib.request.Request(url, data=data, headers=headers, method=method)
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = response.read()
                    pause = self.wait(response.status, response.headers)
            except urllib.error.HTTPError as error:
                answer = _decoded(error.read())
                error.close()
                retryable = error.code == 429 or error.code >= 500
                if attempt > self.max_retries or not retryable:
                    raise ApiError(f"{where}: HTTP {error.code} {_summary(answer)}", error.code, answer) from None
                pause = self.wait(error.code, error.headers)
                self.sleep(pause if pause is not None else self.backoff * 2 ** (attempt - 1))
                continue
            except (urllib.error.URLError, TimeoutError, ConnectionError) as error:
                if attempt > self.max_retries:
                    raise ApiError(f"{where}: {getattr(error, 'reason', error)}") from None
                self.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            if pause:
                self.sleep(pause)
            try:
                return json.loads(payload.decode("utf-8")) if payload else None
            except ValueError:
                raise ApiError(f"{where}: the answer is not JSON: {payload[:200]!r}") from None


def _decoded(payload: bytes) -> Any:
    try:
        return json.loads(payload.decode("utf-8"))
    except ValueError:
        return payload.decode("utf-8", "replace")


def _summary(answer: Any) -> str:
    """The vendor's own words about an error, short."""
    if isinstance(answer, list) and answer and isinstance(answer[0], dict):  # Salesforce: [{message, errorCode}]
        answer = answer[0]
    if isinstance(answer, dict):
        for key in ("message", "error", "errorCode"):
            if answer.get(key):
                return str(answer[key])[:300]
    return str(answer)[:300]
