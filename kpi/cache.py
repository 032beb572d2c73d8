"""Answers cached until the data changes.

Between two changes of the data, an answer is a pure function of what is measured (the KPI, the resolved period,
the resolved *scope*, not the asker: two reps of one team asking "team revenue" get the same numbers), the as-of
day, and the code and configuration that compute it. So :class:`AnswerCache` keys what :mod:`kpi.service`
measures by all of these and by the data generation (:mod:`kpi.generation`), which every change of the data
advances in its own transaction. Nothing is ever invalidated: a new generation makes new keys, and old entries
age out of a store of bounded size.

* **Never a stale number.** The generation is read from the database once per question (one primary-key read),
  before anything is measured; the data a question then reads is at least as new as that generation.
* **Never more than the asker may see.** Only what is measured is cached, after the access checks of
  :mod:`kpi.access`, which run on every question, cached or not.
* **Shared where it helps.** With ``REDIS_URL`` set, the web workers and the digest builders share one Redis
  store (entries expire after :data:`REDIS_TTL`; give the server a ``maxmemory`` with an LRU policy); without it
  each process keeps its own, bounded by ``KPIBOT_CACHE_MB`` of memory (0 turns the cache off).
* **Computed once.** An answer many ask for right after a change of the data is computed once: in Redis, the
  process computing it holds a lock named after its key and the others wait for the stored answer (a Monday morning's
  organisation leaderboard was computed by each web worker that was asked it).

Redis holds values pickled (a KPI by its key, resolved in the reading process's catalog; a leaderboard's rows as
columns, :class:`kpi.rankings.Rows`, which load in a few ms where 10,000 row objects took 150); this process's
store holds the values themselves, sized by what they take in memory (estimated from their pickles).
"""

from __future__ import annotations

import contextvars
import dataclasses
import datetime as dt
import enum
import hashlib
import io
import json
import logging
import os
import pickle
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

import redis
from sqlalchemy import Engine

from kpi import generation
from kpi.catalog import Catalog
from kpi.generation import Generation
from kpi.types import Kpi

T = TypeVar("T")
log = logging.getLogger(__name__)

#: The in-process store's size in memory when ``KPIBOT_CACHE_MB`` is not set: some 2,500 answers, 13 leaderboards of
#: 2,000 reps or 2 of 10,000, in each web worker (two of them and their supervisor within 400 MB: issue 17).
DEFAULT_MB = 16
#: What an answer kept as objects takes in memory, per byte of its pickle (measured at 2,000 reps: 5.6 for a value,
#: 6.7 for a scorecard, 7.0 for a leaderboard); the process's store sizes what it keeps by it.
IN_MEMORY = 6
#: How long Redis keeps an entry: a generation rarely lives longer, and a forgotten one frees its memory.
REDIS_TTL = dt.timedelta(hours=6)
#: The longest a process waits for another computing the answer it needs (an organisation's scorecard takes a few
#: seconds at 5M deals), and the longest a process that died while computing one keeps the others waiting.
COMPUTING_WAIT = dt.timedelta(seconds=30)
#: The code whose changes change answers (a deploy must not read its predecessor's answers from Redis).
CODE = Path(__file__).parent


class Store(Protocol):
    """Where cached answers live, under a string key: given each value and its pickle, a store keeps either, and
    hands back what it kept (a pickle is ``bytes``; an answer never is)."""

    def get(self, key: str) -> Any | None: ...

    def get_many(self, keys: list[str]) -> list[Any | None]:
        """Each key's entry, or None, read at once (one round trip to Redis)."""
        ...

    def put(self, key: str, value: Any, pickled: bytes) -> None: ...

    def put_many(self, entries: list[tuple[str, Any, bytes]]) -> None:
        """:meth:`put` of each ``(key, value, pickled)``, at once (one round trip to Redis)."""
        ...

    def computing(self, key: str) -> AbstractContextManager[Any]:
        """Held while this process computes the value of ``key``: another process about to compute it waits
        instead, then finds it stored."""
        ...


class LocalStore:
    """This process's store: it keeps the values themselves (a hit allocates nothing: unpickling the 2,000 rows
    of an organisation leaderboard cost CPython's garbage collector up to 100 ms), each sized at :data:`IN_MEMORY`
    times its pickle; the least recently used go first once ``budget`` bytes are held. The values are frozen: no
    caller changes one."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.size = 0
        self._entries: OrderedDict[str, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()  # the server answers in several threads

    def __len__(self) -> int:
        return len(self._entries)

    def computing(self, key: str) -> AbstractContextManager[Any]:
        """Nothing to hold: no other process reads this store (the service's gates order its own threads)."""
        return nullcontext()

    def get(self, key: str) -> Any | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            self._entries.move_to_end(key)
            return entry[0]

    def get_many(self, keys: list[str]) -> list[Any | None]:
        return [self.get(key) for key in keys]

    def put_many(self, entries: list[tuple[str, Any, bytes]]) -> None:
        for entry in entries:
            self.put(*entry)

    def put(self, key: str, value: Any, pickled: bytes) -> None:
        size = len(pickled) * IN_MEMORY
        if size > self.budget:  # larger than the whole store: not worth every other entry
            return
        with self._lock:
            old = self._entries.pop(key, None)
            self.size += size - (old[1] if old is not None else 0)
            self._entries[key] = (value, size)
            while self.size > self.budget:
                _, (_, dropped) = self._entries.popitem(last=False)
                self.size -= dropped


class RedisStore:
    """A Redis server shared by every process of the deployment (``REDIS_URL``)."""

    def __init__(self, url: str, ttl: dt.timedelta = REDIS_TTL) -> None:
        self.client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.ttl = ttl

    def get(self, key: str) -> bytes | None:
        """The entry, or None: Redis out of reach is a miss (logged), not a failed question."""
        return self.get_many([key])[0]

    def get_many(self, keys: list[str]) -> list[Any | None]:
        try:
            values = self.client.mget(keys)
        except redis.RedisError as error:
            log.warning("answer cache: Redis did not answer, measuring instead: %s", error)
            return [None] * len(keys)
        return [value if isinstance(value, bytes) else None for value in values]

    def put(self, key: str, value: Any, pickled: bytes) -> None:
        self.put_many([(key, value, pickled)])

    def put_many(self, entries: list[tuple[str, Any, bytes]]) -> None:
        try:
            with self.client.pipeline(transaction=False) as pipeline:
                for key, _, pickled in entries:
                    pipeline.set(key, pickled, ex=self.ttl)
                pipeline.execute()
        except redis.RedisError as error:
            log.warning("answer cache: Redis did not store an answer: %s", error)

    @contextmanager
    def computing(self, key: str) -> Iterator[None]:
        """A lock in Redis named after the key. A process waits for it at most :data:`COMPUTING_WAIT`, and one
        that died holding it holds it no longer than that: then the waiter computes the value itself, as it does
        when Redis does not answer."""
        seconds = COMPUTING_WAIT.total_seconds()
        lock = self.client.lock(f"{key}:computing", timeout=seconds, sleep=0.01, blocking_timeout=seconds)
        try:
            held = lock.acquire()
        except redis.RedisError as error:
            log.warning("answer cache: Redis did not lock an answer being computed: %s", error)
            held = False
        try:
            yield
        finally:
            if held:
                with suppress(redis.RedisError):  # expired (computed for longer than the wait), or out of reach
                    lock.release()


#: Brings a value of an older generation up to date: ``(value, its generation, the current one)``, or None.
Since = Callable[[T, Generation, Generation], T | None]

#: The store the environment chooses (:func:`store_from_env`), as a :class:`kpi.service.Kpibot` is told.
FromEnv = Literal["env"]


def store_from_env() -> Store | None:
    """Redis when ``REDIS_URL`` is set, else this process's store of ``KPIBOT_CACHE_MB`` (0: no cache)."""
    url = os.environ.get("REDIS_URL")
    if url:
        return RedisStore(url)
    megabytes = float(os.environ.get("KPIBOT_CACHE_MB", DEFAULT_MB))
    return LocalStore(int(megabytes * 1024 * 1024)) if megabytes > 0 else None


class AnswerCache:
    """What :mod:`kpi.service` measured, by what it measured and the data generation (see the module).

    ``store`` None turns the cache off: every question is measured. ``fingerprint`` names the code and
    configuration (:func:`fingerprint`); it is part of every key."""

    def __init__(self, engine: Engine, catalog: Catalog, store: Store | None, fingerprint: str) -> None:
        self.engine = engine
        self.catalog = catalog
        self.store = store
        self.fingerprint = fingerprint
        self.hits = 0
        self.misses = 0
        self.kept = 0  # misses brought up to date from an older generation's value (see get's ``since``)
        #: Inside :meth:`one_generation`: the generation read first in the block (empty before the first read).
        self._pinned: contextvars.ContextVar[list[Generation] | None] = contextvars.ContextVar("pinned", default=None)

    @contextmanager
    def one_generation(self, seen: Generation | None = None) -> Iterator[None]:
        """Within the block (one question), every cached part is of the generation read first (``seen``, when the
        caller has just read it): the two parts of an answer beside its team's are of one state of the data, for
        one read. Inside another such block, the outer one's generation holds."""
        if self._pinned.get() is not None:
            yield
            return
        token = self._pinned.set([] if seen is None else [seen])
        try:
            yield
        finally:
            self._pinned.reset(token)

    def generation(self) -> Generation:
        """The generation now, or the one read first in this :meth:`one_generation` block."""
        pinned = self._pinned.get()
        if pinned is None:
            return generation.current(self.engine)
        if not pinned:
            pinned.append(generation.current(self.engine))
        return pinned[0]

    def get(
        self,
        key: tuple[Any, ...],
        compute: Callable[[], T],
        gate: AbstractContextManager[Any] | None = None,
        since: Since[T] | None = None,
    ) -> T:
        """The value cached under ``key`` for the current generation, or ``compute()``'s, stored.

        A value not found is computed once however many ask for it at once: in the store's hold on the key (another
        process asking waits, :meth:`Store.computing`) and in ``gate`` (a costly answer waits for a slot of this
        process, :mod:`kpi.service`), the store is read again, since the value may have been computed meanwhile.

        With ``since``, the value last stored under ``key`` for an older generation is brought up to date by
        ``since(value, its generation, this one)`` rather than computed, when it can be (kpi/kept_rankings.py),
        without waiting for ``gate``: that is a few owners measured, not the whole organisation."""
        if self.store is None:
            with gate or nullcontext():
                return compute()
        name = self.key(key)
        found = self._found(name)
        if found is None:
            with self.store.computing(name):
                # read again (stored while this waited?) and, with ``since``, the generation last stored: one read
                names = [name, self._latest(key)] if since is not None else [name]
                found, *latest = self._found_many(names)
                if found is None and since is not None:
                    brought = self._brought_up(key, latest[0], since)
                    if brought is not None:  # cheap: it does not wait for the gate
                        return self._stored(key, name, brought, since)
                if found is None:
                    with gate or nullcontext():
                        found = self._found(name) if gate is not None else None  # stored while this waited?
                        if found is None:
                            return self._stored(key, name, compute(), since)
        self.hits += 1
        return found

    def _stored(self, key: tuple[Any, ...], name: str, value: T, since: Since[T] | None) -> T:
        """``value`` stored as ``key``'s (``name``) while the key is held, so that those waiting find it; with
        ``since``, as the latest of the key too (one write: under load each round trip to Redis waits its turn for
        the interpreter again, a few ms)."""
        assert self.store is not None
        self.misses += 1
        entries: list[tuple[str, Any, bytes]] = [(name, value, self._dumps(value))]
        if since is not None:
            entries.append((self._latest(key), self.generation(), self._dumps(self.generation())))
        self.store.put_many(entries)
        return value

    def _brought_up(self, key: tuple[Any, ...], latest: Any, since: Since[T]) -> T | None:
        """The value of ``key`` stored for ``latest`` (the generation it was last stored for), brought up to date by
        ``since``, if that is an older one and it can be."""
        if not isinstance(latest, Generation) or latest == self.generation():
            return None
        before = self._found(self.key(key, latest))
        if before is None:
            return None
        value = since(before, latest, self.generation())
        if value is not None:
            self.kept += 1
        return value

    def _latest(self, key: tuple[Any, ...]) -> str:
        """Where the generation of the value last stored under ``key`` is kept."""
        text = json.dumps([self.fingerprint, canonical(key)], separators=(",", ":"))
        return "kpibot:latest:" + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()

    def _found(self, name: str) -> Any | None:
        assert self.store is not None
        return self._read(self.store.get(name))

    def _found_many(self, names: list[str]) -> list[Any | None]:
        assert self.store is not None
        return [self._read(found) for found in self.store.get_many(names)]

    def _read(self, found: Any | None) -> Any | None:
        """A store's entry as the value it holds: a pickle loaded, anything else as it is."""
        if isinstance(found, bytes):
            try:
                return self._loads(found)
            except Exception:  # an entry this code cannot read (of a version before): measure again
                return None
        return found

    def key(self, key: tuple[Any, ...], at: Generation | None = None) -> str:
        """The store's key: what is measured, the generation (``at``, else the current one) and the code, as a
        digest."""
        of = (at or self.generation()).key
        text = json.dumps([self.fingerprint, of, canonical(key)], separators=(",", ":"))
        return "kpibot:answer:" + hashlib.blake2b(text.encode(), digest_size=20).hexdigest()

    def _dumps(self, value: object) -> bytes:
        buffer = io.BytesIO()
        _KpiPickler(buffer, self.catalog).dump(value)
        return buffer.getvalue()

    def _loads(self, data: bytes) -> Any:
        return _KpiUnpickler(io.BytesIO(data), self.catalog).load()


def canonical(value: Any) -> Any:
    """``value`` as JSON that two equal values always write the same way (a set sorted, a KPI by its key and
    label, a dataclass by every field, those left out of its equality included). Raises TypeError for anything
    else, rather than key an answer by less than what decides it."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, Kpi):
        return ["kpi", value.key, value.label]  # the label tells a KPI ahead from itself
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, Decimal | dt.date | ZoneInfo):
        return str(value)
    if isinstance(value, tuple | list):
        return [canonical(item) for item in value]
    if isinstance(value, frozenset | set):
        return sorted((canonical(item) for item in value), key=json.dumps)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {field.name: canonical(getattr(value, field.name)) for field in dataclasses.fields(value)}
        return [type(value).__name__, fields]
    raise TypeError(f"cannot key an answer by a {type(value).__name__}")


def fingerprint(config: Path) -> str:
    """A digest of the core's code and of the configuration folder's YAML: a change of either changes every key."""
    digest = hashlib.blake2b(digest_size=16)
    files = sorted(CODE.rglob("*.py")) + sorted(CODE.rglob("*.yaml")) + sorted(config.glob("*.yaml"))
    for path in files:
        digest.update(str(path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


class _KpiPickler(pickle.Pickler):
    """Pickles a catalog KPI (or its ahead form) as its key: it holds formulas, and the reader has the catalog."""

    def __init__(self, file: io.BytesIO, catalog: Catalog) -> None:
        super().__init__(file, protocol=pickle.HIGHEST_PROTOCOL)
        self.catalog = catalog

    def persistent_id(self, obj: Any) -> tuple[str, str] | None:
        if not isinstance(obj, Kpi):
            return None
        known = self.catalog.kpis.get(obj.key)
        if obj is known:
            return ("kpi", obj.key)
        if known is not None and obj is known.ahead:
            return ("ahead", obj.key)
        return None


class _KpiUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BytesIO, catalog: Catalog) -> None:
        super().__init__(file)
        self.catalog = catalog

    def persistent_load(self, pid: Any) -> Kpi:
        kind, key = pid
        kpi = self.catalog[key]
        ahead = kpi.ahead if kind == "ahead" else kpi
        if ahead is None:
            raise pickle.UnpicklingError(f"the KPI {key} has no ahead form in this catalog")
        return ahead
