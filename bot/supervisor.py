"""The process `kpibot serve` becomes once it has checked the configuration and the database: uvicorn's supervisor
of the HTTP workers, which imports uvicorn and nothing of the app.

Each worker imports the app by its import string (``bot.server:asgi_app``) in a process of its own; the supervisor
only binds the socket, starts the workers, pings them and replaces one that dies (with one worker, uvicorn serves
in this process instead). `kpibot serve` loads the whole app to check the configuration and the database
(kpi.service, SQLAlchemy, the Bolt app: 109 MiB at 2,000 reps), so it replaces itself with ``python -m
bot.supervisor PORT WORKERS`` (:func:`become`) rather than calling uvicorn: the supervisor starts afresh (25 MiB;
issue 17: the server's processes within 400 MB) and keeps the process id a platform signals.
"""

from __future__ import annotations

import os
import sys
from typing import Any, NoReturn

import uvicorn

#: How long the supervisor waits for a worker's answer to its ping before it kills the worker as hung. A worker
#: answers from a thread of its own, which needs the GIL: with its 16 threads all computing organisation-wide answers
#: on a loaded machine, uvicorn's default of 5 s killed one and lost its requests in flight (issue 17). A worker
#: that is truly hung is still replaced, later.
HEALTHCHECK_SECONDS = 30

#: glibc's allocator, read when a process starts. It gives each thread that allocates under contention an arena of its
#: own (up to 8 per core) and keeps what is freed there for that arena: 16 threads answering organisation leaderboards
#: grew a process by 59 MiB that stayed after the answers were sent, 25 MiB with two arenas (issue 17).
MALLOC = {"MALLOC_ARENA_MAX": "2"}


def options(port: int, workers: int) -> dict[str, Any]:
    """uvicorn's settings: ``workers`` processes, each an event loop that reads requests and a thread pool that
    answers them."""
    return {
        "app": "bot.server:asgi_app",
        "factory": True,
        "host": "0.0.0.0",
        "port": port,
        "workers": workers,
        "log_level": "warning",
        "access_log": False,
        "timeout_keep_alive": 5,
        "timeout_worker_healthcheck": HEALTHCHECK_SECONDS,
        "h11_max_incomplete_event_size": 16 * 1024,  # request line and headers
    }


def become(port: int, workers: int) -> NoReturn:
    """Replace this process with the supervisor (same process id, nothing of this process's memory kept), in the
    environment of :data:`MALLOC` unless this one says otherwise; the workers inherit it. Open files and sockets are
    closed by the exec (Python opens them non-inheritable); output is flushed first."""
    sys.stdout.flush()
    sys.stderr.flush()
    argv = [sys.executable, "-m", __name__, str(port), str(workers)]
    os.execve(sys.executable, argv, MALLOC | dict(os.environ))


if __name__ == "__main__":
    port, workers = (int(argument) for argument in sys.argv[1:3])
    uvicorn.run(**options(port, workers))
