"""Organisation rankings kept across a change of the data: only the owners it touched are measured again.

A leaderboard of the whole organisation ranks every rep (10,000 at five times the company), and after each sync
page the answer cache (kpi/cache.py) has none for the new data generation: each was measured again in full, some
60 ms of a core, though a page of a few hundred deals changes a few hundred reps' numbers. Each committed change
notes the owners of the rows it wrote, per table (kpi/generation.py), so a ranking of the generation before is
brought up to date by measuring those owners alone and putting their rows back in place
(:meth:`kpi.rankings.Leaderboard.respliced`), as a materialised view is maintained from its changes.

It is kept only when that is exactly the ranking measured afresh:

* the KPI reads tables whose rows each count for their owner alone (deals, activities, quotes: not leads, which
  read the deal each converted into, nor the customers, whose owner a won deal may decide), and targets when
  it has them in its formulas or the ranking shows paces;
* every change since noted its owners: none changed the people, the teams or the rollups built, and none wrote
  such a table without reading its owners;
* no more than a tenth of the members changed: past that, measuring everyone is about as cheap;
* what the CRM never supplied (a KPI's records "absent") is the same as before.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping

from sqlalchemy import Table

from kpi import generation
from kpi.generation import EVERY_OWNER, Generation
from kpi.measures import sample_window
from kpi.metrics import Metrics
from kpi.pacing import Pacing
from kpi.rankings import Leaderboard
from kpi.semantic import MODELS
from kpi.statements import Kept
from kpi.types import Kpi, Scope, ScopeFilter

#: Past this share of the members changed, a ranking is measured afresh; under :data:`FEW` it never is.
SHARE = 0.1
FEW = 50
#: The owners changed between two generations are kept for this many pairs (a ranking asked after each page).
CHANGES_KEPT = 8


def tables_read(kpi: Kpi, paces: bool) -> frozenset[str] | None:
    """The tables whose changed owners decide the KPI's value per rep, or None when one of its models is not one
    table of rows each counted for the owner in its ``owner_id`` (a join, or a team's)."""
    tables = {"targets"} if kpi.targets or paces else set()
    for measure in kpi.measures.values():
        model = MODELS[measure.model](sample_window())
        source = model.source
        if not isinstance(source, Table) or model.owned_by != "rep" or model.key is not source.c.get("owner_id"):
            return None
        tables.add(source.name)
    return frozenset(tables)


class KeptRankings:
    """Brings an organisation's ranking of reps measured at one generation up to date with another."""

    def __init__(self, metrics: Metrics, pacing: Pacing) -> None:
        self.metrics = metrics
        self.pacing = pacing
        self._changed = Kept(CHANGES_KEPT)

    def respliced(
        self,
        board: Leaderboard,
        since: Generation,
        now: Generation,
        members: Mapping[int, Scope],
        name_of: Callable[[int], str],
        as_of: dt.date,
        paces: bool,
    ) -> Leaderboard | None:
        """``board`` (every one of ``members`` ranked, measured at ``since``) as of ``now``, or None when it must be
        measured afresh (see the module). ``name_of``: a member's name, by id."""
        kpi, period = board.kpi, board.period
        tables = tables_read(kpi, paces)
        if tables is None:
            return None
        changed = self._changed_owners(since, now)
        if changed is None:
            return None
        owners = set().union(*(changed.get(table, set()) for table in tables))
        if EVERY_OWNER in owners:
            return None
        again = {id: members[id] for id in sorted(owners) if id in members}
        if len(again) > max(FEW, SHARE * len(members)):
            return None
        if not again:
            return board if tuple(self.metrics.absent(kpi)) == board.absent else None
        measured = self.metrics.results_by_owner(kpi, period, again, _reps(again), as_of, target=paces)
        paced = [self.pacing.pace(measured.result(i)) for i in range(len(measured))] if paces else None
        return board.respliced(measured, name_of, paced)

    def _changed_owners(self, since: Generation, now: Generation) -> dict[str, set[int]] | None:
        """:func:`kpi.generation.changed_owners`, read once per process for every ranking brought up to date across
        the same changes (after a sync page, each of the organisation's rankings asked: 1.5-2.5 ms each)."""

        def read() -> tuple[dict[str, set[int]] | None]:  # a tuple: None is kept too
            with self.metrics.engine.connect() as connection:
                return (generation.changed_owners(connection, since, now),)

        return self._changed.get((since, now), read)[0]


def _reps(members: Mapping[int, Scope]) -> Scope:
    """The members measured again, as one scope: their rows and their own targets."""
    return Scope("team", "the reps measured again", ScopeFilter(frozenset(members), frozenset()))
