"""Statements kept by their shape: a question's SQL is built once for every scope of its kind.

Building an answer's statement (kpi/compiler.py) and SQLAlchemy's key for its compiled form were a third of a
rep's answer in Python (at 10,000 reps: 3.1 ms a question, 0.9 ms of it this), and every rep asking "my revenue
this month" today builds the same statement but for the rep's id. So a statement names its scope's owners as
parameters (:func:`kpi.compiler.scope_parameters`, :func:`parameters`), whose values are given each time it runs,
and is kept under everything else it is made of: the KPI's measures, the windows' instants, the kind of scope and
the rollups held. Kept statements are SQLAlchemy's immutable constructs, run side by side by the server's threads.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping, Sequence
from typing import Any, TypeVar

from kpi.compiler import many_owners, scope_parameters
from kpi.measures import digest
from kpi.semantic import Window
from kpi.types import Kpi, Scope, WindowName

S = TypeVar("S")

#: Statements kept per process (some 100 KB of memory each): the cost curve asks some 130 shapes a day, and a rep
#: asks of some 30 (KPIs x periods); the least used of a deployment's more go first.
SIZE = 128
#: The parameters naming the scope itself in the targets it reads (its own rows), beside the compiler's.
SCOPE_REP, SCOPE_OWN_TEAMS = "scope_rep", "scope_own_teams"


class Kept:
    """Values kept by key in a process, the least recently used forgotten beyond ``size``: statements by their shape
    (:data:`SIZE`), and the organisation's target rows until the targets change (kpi/metrics.py). Thread-safe."""

    def __init__(self, size: int = SIZE) -> None:
        self.size = size
        self._kept: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._kept)

    def find(self, key: Hashable) -> Any | None:
        """The value kept under ``key``, if any."""
        with self._lock:
            found = self._kept.get(key)
            if found is not None:
                self._kept.move_to_end(key)
            return found

    def keep(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._kept[key] = value
            if len(self._kept) > self.size:
                self._kept.popitem(last=False)

    def get(self, key: Hashable, build: Callable[[], S]) -> S:
        """The value of ``key`` (a statement's shape), built by ``build()`` the first time."""
        found = self.find(key)
        if found is not None:
            return found
        built = build()
        self.keep(key, built)
        return built


def shape(kpi: Kpi, windows: Sequence[Mapping[WindowName, Window]], scope: Scope, *rest: Hashable) -> Hashable:
    """What a statement of ``kpi`` over ``windows`` for a scope like ``scope`` is made of, with ``rest``: each
    measure's definition and window, the windows, and the kind of scope (not whose it is: whether it has many owners,
    which decides how a stock is read)."""
    measures = tuple((name, digest(measure), measure.window) for name, measure in kpi.measures.items())
    of = scope.filter
    kind = (scope.type, of.rep_ids is None, of.team_ids is None, of.include_org_level, many_owners(of))
    return (measures, tuple(tuple(sorted(w.items())) for w in windows), kind, *rest)


def parameters(scope: Scope) -> dict[str, Any]:
    """The values of a kept statement's parameters for ``scope``: its owners, and the scope itself."""
    return scope_parameters(scope.filter) | {SCOPE_REP: scope.rep_id, SCOPE_OWN_TEAMS: list(scope.team_ids)}
