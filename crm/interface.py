"""What passes between a connector, the sync runner and whoever runs a sync.

A connector implements :class:`Connector`: for each canonical object it yields :class:`Page` s of records
(dicts shaped as :mod:`crm.canonical` describes) and the source records it could not read
(:class:`Reject`). :func:`crm.sync.run_sync` writes them and returns a :class:`SyncReport`.
"""

from __future__ import annotations

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


@dataclass
class Page:
    """Some records of one object, with the rejects met while reading them.

    ``locations`` (optional, one per record) says where each record came from, for the runner's own
    rejects (unknown reference, value that does not fit the schema). ``deleted`` lists the ``crm_id`` s
    of records the source reports deleted or archived: the runner marks them deleted (they stop counting
    in every KPI) and a record that comes back later is restored.

    ``cursor`` says how far the source has been read: everything up to it is in this page or an earlier
    one. On an incremental sync the runner commits each page that carries a cursor together with the
    cursor, so a sync killed half-way resumes from there; the next incremental sync is handed the last
    one. A connector reads records in cursor order (oldest change first) for that to hold.
    ``total`` (optional) is how many records the source expects to yield for this object in this run,
    for a progress bar. The runner normalises the records in place: hand it fresh dicts.
    """

    records: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[Reject] = field(default_factory=list)
    locations: list[str] | None = None
    deleted: list[str] = field(default_factory=list)
    cursor: str | None = None
    total: int | None = None


class Connector(Protocol):
    """What the runner needs from a source."""

    #: Stored in the ``crm`` column of every record: "csv", "hubspot", ...
    source: str
    #: The canonical objects this source provides (names from :data:`crm.canonical.OBJECTS`).
    objects: Collection[str]
    # Optional: ``warnings: list[str]``, what the connector could not vouch for during the read ("the
    # delete log starts after the cursor: deletions before it wait for the next full sync"); the runner
    # copies them into the report.

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
        if self.status == "failed":
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
        for reject in self.rejects:
            yield f"  rejected: {reject.location}: {reject.reason}"
        hidden = self.total.rejected - len(self.rejects)
        if hidden > 0:
            yield f"  ... and {hidden} more rejects (see the rejects table, run {self.run_id})"


def jsonable(record: dict[str, Any]) -> dict[str, Any]:
    """A record as a JSON column can store it (dates and amounts as text), for the rejects table."""
    plain = (str, int, float, type(None))
    return {key: value if isinstance(value, plain) else str(value) for key, value in record.items()}
