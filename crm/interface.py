"""What passes between a connector, the sync runner and whoever runs a sync.

A connector implements :class:`Connector`: for each canonical object it yields :class:`Page` s of records
(dicts shaped as :mod:`crm.canonical` describes) and the source records it could not read
(:class:`Reject`). :func:`crm.sync.run_sync` writes them and returns a :class:`SyncReport`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from crm.people import PeopleReport


@dataclass(frozen=True)
class Reject:
    """A source record that was not imported, and why, worded for the person who fixes the source."""

    object: str
    location: str  # "deals.csv line 12", "HubSpot deal 1234"
    reason: str
    record: dict[str, Any] | None = None  # the raw source record, JSON-serialisable (see jsonable)
    crm_id: str | None = None  # when known, the version already stored is kept rather than deleted

    @property
    def origin(self) -> str:
        return origin(self.location, self.object)


def origin(location: str, object: str) -> str:
    """What a record was read from, for counting rejects: the file of a CSV row ("deals.csv" of
    "deals.csv line 12"), or the object of an API record ("deals" of "HubSpot deal 1234")."""
    file, found, _ = location.partition(" line ")
    return file if found else object


@dataclass
class Page:
    """Some records of one object, with the rejects met while reading them.

    ``locations`` (optional: empty, or one per record) says where each record came from, for the runner's own
    rejects (unknown reference, value that does not fit the schema). ``deleted`` lists the ``crm_id`` s
    of records the source reports deleted or archived: the runner marks them deleted (they stop counting
    in every KPI) and a record that comes back later is restored.

    ``cursor`` says how far the source has been read: everything up to it is in this page or an earlier
    one. On an incremental sync the runner commits each page that carries a cursor together with the
    cursor, so a sync killed half-way resumes from there; the next incremental sync is handed the last
    one. A connector reads records in cursor order (oldest change first) for that to hold.
    ``total`` (optional) is how many records the source expects to yield for this object in this run,
    for a progress bar. The runner normalises the records in place: hand it fresh dicts.

    ``stage_history`` (deals only, optional) is the CRM's own stage history of some of the page's deals, by
    ``crm_id``: every stage each entered, oldest first, as ``(stage, entered_at)``. It replaces what the sync
    knew of those deals' stays; the other deals' stage changes are the ones the sync sees (:mod:`crm.stage_history`).
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    locations: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    cursor: str | None = None
    total: int | None = None
    stage_history: dict[str, list[tuple[str, dt.datetime]]] = field(default_factory=dict)


class Connector(Protocol):
    """What the runner needs from a source."""

    # Both read-only: the runner never sets them, and a connector's tuple of objects (or a class attribute)
    # satisfies a read-only member where a settable ``objects: Collection[str]`` would have to be exactly that.
    @property
    def source(self) -> str:
        """Stored in the ``crm`` column of every record: "csv", "hubspot", ..."""
        ...

    @property
    def objects(self) -> Collection[str]:
        """The canonical objects this source provides (names from :data:`crm.canonical.OBJECTS`)."""
        ...

    # Optional: ``warnings: list[str]``, what the connector could not vouch for during the read ("the
    # delete log starts after the cursor: deletions before it wait for the next full sync"); the runner
    # copies them into the report.
    # Optional: ``links() -> dict[str, str]``, the URL template of each object's records in the CRM's web app
    # (:mod:`kpi.links`), learned from the CRM; called once the records are read. ValueError or
    # crm.http.ApiError: the sync warns and keeps the templates learned before.

    def read(self, object: str, cursor: str | None) -> Iterable[Page]:
        """Yield the pages of one object; ``cursor`` is None on a full sync.

        An API connector re-reads a *lookback* window before the cursor (a constructor option, from
        crm.yaml), so that records written late (a transaction committed after a later one) are not missed.

        The runner reads pages in a thread of its own (while it writes the previous page), so ``read``
        must not use the runner's database connection.
        """
        ...


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    rejected: int = 0

    @property
    def written(self) -> int:
        """The records this sync wrote: created, updated or marked deleted."""
        return self.created + self.updated + self.deleted

    def __str__(self) -> str:
        return ", ".join(f"{value} {name}" for name, value in vars(self).items())


@dataclass
class SyncReport:
    """What a sync did: counts per object, and the first rejects for printing."""

    source: str
    full: bool
    run_id: int | None = None
    status: str = "running"  # then "ok" or "failed"
    error: str | None = None
    counts: dict[str, Counts] = field(default_factory=dict)
    committed: dict[str, Counts] = field(default_factory=dict)  # the counts as of the last commit
    rejects: list[Reject] = field(default_factory=list)  # the first ones; all are in the rejects table
    warnings: list[str] = field(default_factory=list)  # what the connector could not vouch for
    people: PeopleReport | None = None
    read: Counter[str] = field(default_factory=Counter)  # records read per origin (file or object)
    rejected: Counter[str] = field(default_factory=Counter)  # records rejected per origin
    examples: dict[str, list[Reject]] = field(default_factory=dict)  # the first rejects of each origin

    def count_reject(self, reject: Reject) -> None:
        self.rejected[reject.origin] += 1
        examples = self.examples.setdefault(reject.origin, [])
        if len(examples) < EXAMPLES_PER_ORIGIN:
            examples.append(reject)

    def share_rejected(self, name: str) -> float:
        return self.rejected[name] / max(self.read[name], self.rejected[name], 1)

    def too_many_rejects(self, max_share: float) -> str | None:
        """Why a full sync must change nothing: a file (or object) of which more than ``max_share`` was
        rejected, which means the mapping is wrong far more often than the data; None when none is."""
        over = [name for name in sorted(self.rejected) if self.share_rejected(name) > max_share]
        if not over:
            return None
        name = max(over, key=self.share_rejected)
        common = Counter(_reason_kind(reject.reason) for reject in self.examples[name]).most_common(1)[0][0]
        return (
            f"{self.rejected[name]:,} of {self.read[name]:,} rows of {name} were rejected "
            f"({self.share_rejected(name):.0%}, more than max_rejected_share {max_share:.0%} in crm.yaml), "
            f"most often: {common}. The mapping is probably wrong: nothing was changed"
        )

    @property
    def total(self) -> Counts:
        return self.total_of(self.counts)

    @staticmethod
    def total_of(per_object: dict[str, Counts]) -> Counts:
        total = Counts()
        for counts in per_object.values():
            for name, value in vars(counts).items():
                setattr(total, name, getattr(total, name) + value)
        return total

    def lines(self) -> Iterator[str]:
        """A human summary: one line per object, then the rejects."""
        kind = "full" if self.full else "incremental"
        yield f"{self.source} sync ({kind}): {self.status}" + (f": {self.error}" if self.error else "")
        kept = self.counts
        if self.status == "refused":
            kept = {}
        elif self.status == "failed":
            kept = self.committed
            yield (
                "  kept what was committed before the failure; the next sync resumes from there"
                if kept
                else "  nothing was imported: the data is as it was before this sync"
            )
        for name, counts in kept.items():
            yield f"  {name}: {counts}"
        if self.people:
            yield f"  people.yaml: {self.people}"
        for warning in self.warnings:
            yield f"  warning: {warning}"
        yield from self.reject_lines()

    def reject_lines(self) -> Iterator[str]:
        """Rejected rows per file (or object), with the first reasons: the summary that ends every sync."""
        if not self.rejected:
            return
        total = sum(self.rejected.values())
        where = "" if self.status == "refused" else f" (all of them in the rejects table, run {self.run_id})"
        yield f"Rejected {total:,} {'row' if total == 1 else 'rows'}{where}:"
        for name in sorted(self.rejected):
            share = f" ({self.share_rejected(name):.1%})" if self.read[name] else ""
            yield f"  {name}: {self.rejected[name]:,} of {self.read[name]:,} rejected{share}"
            for reject in self.examples[name]:
                yield f"    {reject.location}: {reject.reason}"
            more = self.rejected[name] - len(self.examples[name])
            if more > 0:
                yield f"    ... and {more:,} more"


#: The reasons the summary of a sync shows per file.
EXAMPLES_PER_ORIGIN = 3


def _reason_kind(reason: str) -> str:
    """A reject reason without the value it quotes, to say which kind of problem is the most common."""
    return re.sub(r"'[^']*'|\d[\d.,-]*", "…", reason)


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a JSON column can store it (dates and amounts as text), for the rejects table."""
    plain = (str, int, float, type(None))
    return {key: value if isinstance(value, plain) else str(value) for key, value in record.items()}
