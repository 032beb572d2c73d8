"""The suite's one way to wait: for an event that lands a moment later (a post after an acknowledgement, a server
that starts answering, a worker's log line), polled until it happens, never a fixed sleep that guesses how long.

    posted = wait_for(lambda: slack.messages)

A wait that runs out fails the test there, saying what was awaited and what was last seen, instead of handing a
falsy value to an assertion (or an ``[0]``) that then fails without saying why.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

#: How often an event is looked for: short against what a test waits for, long against what looking costs.
POLL_SECONDS = 0.01


def wait_for(found: Callable[[], T], timeout: float = 5.0, *, then: Callable[[], str] | None = None) -> T:
    """``found()`` once it is truthy. After ``timeout`` seconds the test fails naming ``found`` and its last value,
    followed by ``then()`` when given (a server's log, say)."""
    deadline = time.monotonic() + timeout
    while not (result := found()):
        if time.monotonic() > deadline:
            more = f"\n{then()}" if then else ""
            raise AssertionError(f"waited {timeout:g} s for {_described(found)}; last saw {result!r}{more}")
        time.sleep(POLL_SECONDS)
    return result


def _described(found: Callable[[], object]) -> str:
    """The source of ``found`` (a lambda is its line), or its name when the source is not at hand."""
    try:
        return inspect.getsource(found).strip()
    except (OSError, TypeError):
        return getattr(found, "__qualname__", repr(found))
