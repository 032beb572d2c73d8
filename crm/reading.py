"""How the runner reads a connector while it writes: pages read and checked ahead, in a thread or a process.

While the database writes one page, the next ones are read (parsed, fetched) and checked against the schema
(:meth:`crm.canonical.ObjectSpec.clean`). An API connector mostly waits for the network, which frees
Python's GIL, so a thread suffices (:func:`thread_reader`). A large CSV export keeps Python busy parsing
text, dates and amounts: in a thread it would take turns with the writer for the one GIL, so such a
connector offers a ``reopen`` factory and is read in a process of its own (:func:`process_reader`), on the
other core. Both read every object of the sync in the canonical order, so a connector that carries state
from one object to the next (the CSV connector's name and email indexes) works the same either way.
"""

from __future__ import annotations

import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from crm import canonical
from crm.interface import Connector, Page, Reject, jsonable

#: Pages a reader thread keeps ready ahead of the writer.
DEPTH = 3

#: ``pages(name)`` yields the checked pages of one object; objects must be asked for in the planned order.
Pages = Callable[[str], Iterator[Page]]


class _EndOfObject:
    """Marks the end of one object's pages in the stream."""


class _Failed:
    """An exception raised while reading, carried to the runner."""

    def __init__(self, error: BaseException) -> None:
        try:
            pickle.dumps(error)
            self.error = error
        except Exception:  # an exception that cannot travel between processes: its words can
            self.error = RuntimeError(f"{type(error).__name__}: {error}")


def checked(name: str, page: Page) -> Page:
    """The page with its records checked against the schema: those that fail become rejects."""
    spec = canonical.spec(name)
    locations = page.locations or [f"{name} {record.get('crm_id')}" for record in page.records]
    result = Page(
        rejects=list(page.rejects),
        locations=[],
        deleted=page.deleted,
        cursor=page.cursor,
        total=page.total,
        stage_history=page.stage_history,
    )
    for record, location in zip(page.records, locations, strict=True):
        reason = spec.clean(record)
        if reason is None:
            result.records.append(record)
            result.locations.append(location)
        else:
            result.rejects.append(Reject(name, location, reason, jsonable(record), record.get("crm_id")))
    return result


def _stream(connector: Connector, plan: list[tuple[str, str | None]]) -> Iterator[Any]:
    """Everything a reader hands the runner: each object's checked pages, then an end mark; or a failure."""
    try:
        for name, cursor in plan:
            for page in connector.read(name, cursor):
                yield checked(name, page)
            yield _EndOfObject()
    except BaseException as exc:  # handed to the runner, raised there
        yield _Failed(exc)


def _pages_from(get: Callable[[], Any]) -> Pages:
    def pages(name: str) -> Iterator[Page]:
        while not isinstance(item := get(), _EndOfObject):
            if isinstance(item, _Failed):
                raise item.error
            yield item

    return pages


@contextmanager
def thread_reader(connector: Connector, plan: list[tuple[str, str | None]]) -> Iterator[Pages]:
    """Read the planned objects in a thread, ``DEPTH`` pages ahead of the writer."""
    ready: queue.Queue[Any] = queue.Queue(maxsize=DEPTH)
    stop = threading.Event()

    def read() -> None:
        for item in _stream(connector, plan):
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.1)
                    break
                except queue.Full:
                    continue
            if stop.is_set():
                return

    reader = threading.Thread(target=read, name="sync-read-ahead", daemon=True)
    reader.start()
    try:
        yield _pages_from(ready.get)
    finally:
        stop.set()
        reader.join()


@contextmanager
def process_reader(reopen: Callable[[], Connector], plan: list[tuple[str, str | None]]) -> Iterator[Pages]:
    """Read the planned objects in a process of its own (:func:`read_in_process`), which builds the connector
    with ``reopen`` and streams pickled pages back through a pipe (a pipe's buffer keeps it a few pages ahead).

    A plain child process rather than :mod:`multiprocessing`, whose "spawn" re-runs the caller's main script.
    If the runner stops early (a database error), the reader is killed; if the runner dies, the reader's next
    write fails and it exits.
    """
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(path for path in sys.path if path)}
    command = [sys.executable, "-c", "from crm.reading import read_in_process; read_in_process()"]
    reader = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=environment)
    assert reader.stdin is not None and reader.stdout is not None
    pickle.dump((reopen, plan), reader.stdin)
    reader.stdin.close()
    pages = reader.stdout  # bound here: a closure does not keep the assert's narrowing

    def get() -> Any:
        try:
            return pickle.load(pages)
        except EOFError:
            raise RuntimeError(f"the sync's reader process stopped (exit code {reader.wait()})") from None

    try:
        yield _pages_from(get)
    finally:
        if reader.poll() is None:
            reader.kill()
        reader.wait()
        reader.stdout.close()


def read_in_process() -> None:
    """The reader process: (reopen, plan) in on stdin, pickled items out on stdout."""
    reopen, plan = pickle.load(sys.stdin.buffer)
    out = sys.stdout.buffer
    try:
        connector = reopen()
    except BaseException as exc:
        pickle.dump(_Failed(exc), out)
        return
    try:
        for item in _stream(connector, plan):
            pickle.dump(item, out, protocol=pickle.HIGHEST_PROTOCOL)
            out.flush()
    except BrokenPipeError:  # the runner is gone: nobody will read this
        pass
