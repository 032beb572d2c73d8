"""What the fake CRM APIs share: a JSON API served on a local port, its request log, and the test controls.

A vendor's fake (tests/fakes/hubspot.py, salesforce.py, pipedrive.py) subclasses :class:`FakeApi` and says
only what is its own: :meth:`~FakeApi.admit` (its credentials and quotas), :meth:`~FakeApi.route` (its paths
and shapes) and :meth:`~FakeApi.refusal` (its error body and headers for a rate limit or a server failure).
The base does the rest, the same way for every vendor:

* ``with fake:`` (or :meth:`~FakeApi.start` and :meth:`~FakeApi.stop`) serves ``fake.url`` from a thread;
  a request's query string, and a form body, become its parameters; a JSON body is decoded; the answer is
  written as JSON with the vendor's headers;
* ``fake.requests`` lists every request received, refused ones included, as :class:`Request`;
* ``fake.lock`` is held while a request is answered, so a change a test makes lands between two answers.

Test controls. ``path`` is the path of a request (``/crm/v3/owners``); one ending in "/" stands for every
path under it. ``served`` counts the answers (2xx) to ``path`` from the moment the control is set.

* ``rate_limit_once(path, served=0, status=429, headers=None)``: one rate-limit refusal once ``served``
  more answers went out, with the vendor's headers for it, or ``headers`` instead;
* ``fail_once(path, served=0)``: one 500;
* ``fail_from(path, served, times=None)``: 503 once ``served`` more answers went out: ``times`` times,
  or until :meth:`~FakeApi.mend`;
* ``mend()``: every fault set is gone;
* ``on_page(path, k, action)``: runs ``action`` right after the k-th answer, before the next request is
  answered (a change made *during* a sync).
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple, Self

#: An answer: its status, its headers, and its body (written as JSON).
Answer = tuple[int, dict[str, str], Any]


class Request(NamedTuple):
    """A request as the fake received it."""

    method: str
    path: str
    params: dict[str, str]  # the query string's, then a form body's
    body: Any  # a JSON body, decoded; None without one
    headers: Message
    at: float  # the fake's ``timer()`` when it arrived


class Refused(Exception):
    """An answer other than 2xx: raised inside a fake, answered with ``status``, ``body`` and ``headers``."""

    def __init__(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = headers or {}


@dataclass
class _Fault:
    path: str
    served: int  # answers still to go out before it refuses
    status: int
    limited: bool  # a rate limit, else a server failure
    headers: dict[str, str] | None  # instead of the vendor's
    times: int | None  # requests still to refuse; None: until mend()


@dataclass
class _Hook:
    path: str
    served: int  # answers still to go out before it runs
    action: Callable[[], None]


class FakeApi:
    """A fake JSON API on a local port; a subclass gives :meth:`route` and :meth:`refusal`, maybe :meth:`admit`."""

    #: The Content-Type of every answer, as the vendor writes it.
    content_type = "application/json;charset=utf-8"

    def __init__(self, *, timer: Callable[[], float] = time.monotonic) -> None:
        self.timer = timer
        self.requests: list[Request] = []
        self.lock = threading.RLock()
        self._faults: list[_Fault] = []
        self._hooks: list[_Hook] = []
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        # polled every 10 ms, so that leaving the ``with`` block does not wait half a second
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.01,), daemon=True)

    def start(self) -> Self:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what a vendor says ----------------------------------------------------------------------------

    def admit(self, request: Request) -> dict[str, str]:
        """What the vendor checks before anything else (credentials, quotas): raise :class:`Refused`, or
        return the headers that every answer to ``request`` carries, a refusal or a fault's included."""
        return {}

    def route(self, request: Request) -> Answer:
        """The vendor's answer to ``request``; :class:`Refused` for anything but a 2xx."""
        raise NotImplementedError

    def refusal(self, status: int, limited: bool) -> Refused:
        """The vendor's refusal with ``status`` for a fault: a rate limit (``limited``), else a server failure."""
        raise NotImplementedError

    # -- test controls ---------------------------------------------------------------------------------

    def rate_limit_once(
        self, path: str, *, served: int = 0, status: int = 429, headers: dict[str, str] | None = None
    ) -> None:
        """Once ``served`` more answers to ``path`` went out, refuse one request to it as rate-limited, with
        the vendor's headers for that, or ``headers`` instead."""
        self._fault(_Fault(path, served, status, True, headers, 1))

    def fail_once(self, path: str, *, served: int = 0) -> None:
        """Once ``served`` more answers to ``path`` went out, answer one 500 to it."""
        self._fault(_Fault(path, served, 500, False, None, 1))

    def fail_from(self, path: str, served: int, *, times: int | None = None) -> None:
        """Serve ``served`` more answers to ``path``, then answer 503 to it: ``times`` times, or until :meth:`mend`."""
        self._fault(_Fault(path, served, 503, False, None, times))

    def mend(self) -> None:
        """Every fault set is gone: the fake answers again."""
        with self.lock:
            self._faults.clear()

    def on_page(self, path: str, k: int, action: Callable[[], None]) -> None:
        """Run ``action`` right after the k-th answer (from now) to ``path``, before the next request."""
        with self.lock:
            self._hooks.append(_Hook(path, k, action))

    def _fault(self, fault: _Fault) -> None:
        with self.lock:
            self._faults.append(fault)

    # -- answering -------------------------------------------------------------------------------------

    def serve(self, method: str, path: str, params: dict[str, str], body: Any, headers: Message) -> Answer:
        """Log a request, then answer it: the vendor's refusal, a fault that is due, or the vendor's answer."""
        with self.lock:
            request = Request(method, path, params, body, headers, self.timer())
            self.requests.append(request)
            carried: dict[str, str] = {}
            try:
                carried = self.admit(request)
                self._refuse_if_faulty(path)
                status, answered, answer = self.route(request)
            except Refused as refused:
                return refused.status, {**carried, **refused.headers}, refused.body
            self._served(path)
            return status, {**carried, **answered}, answer

    def _refuse_if_faulty(self, path: str) -> None:
        fault = next((fault for fault in self._faults if fault.served == 0 and _matches(fault.path, path)), None)
        if fault is None:
            return
        if fault.times is not None:
            fault.times -= 1
            if fault.times == 0:
                self._faults.remove(fault)
        refused = self.refusal(fault.status, fault.limited)
        raise refused if fault.headers is None else Refused(refused.status, refused.body, fault.headers)

    def _served(self, path: str) -> None:
        """One more answer to ``path``: the faults and hooks waiting for it count it."""
        for fault in self._faults:
            if fault.served > 0 and _matches(fault.path, path):
                fault.served -= 1
        for hook in list(self._hooks):
            if _matches(hook.path, path):
                hook.served -= 1
                if hook.served == 0:
                    self._hooks.remove(hook)
                    hook.action()


def _matches(pattern: str, path: str) -> bool:
    return path == pattern or (pattern.endswith("/") and path.startswith(pattern))


def _handler(fake: FakeApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the name http.server calls)
            self._answer("GET")

        def do_POST(self) -> None:  # noqa: N802
            self._answer("POST")

        def _answer(self, method: str) -> None:
            parts = urllib.parse.urlsplit(self.path)
            params = dict(urllib.parse.parse_qsl(parts.query))
            length = int(self.headers.get("Content-Length") or 0)
            received = self.rfile.read(length) if length else b""
            body = None
            if self.headers.get_content_type() == "application/x-www-form-urlencoded":
                params |= dict(urllib.parse.parse_qsl(received.decode("utf-8")))
            elif received:
                body = json.loads(received)
            status, headers, answer = fake.serve(method, parts.path, params, body, self.headers)
            data = json.dumps(answer).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", fake.content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # a client a test killed
                self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

    return Handler
