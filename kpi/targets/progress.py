"""Each stored target against its KPI on a day: the value so far, the pace, and the status."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

from kpi import access
from kpi.directory import Directory
from kpi.formats import formatted, raw
from kpi.metrics import Metrics
from kpi.pacing import Pace, Pacing
from kpi.targets.parsing import ONE_DAY, Names, period_label, target_period
from kpi.types import ORG, Kpi, Scope, ScopeFilter, Who


class Measuring(Names, Protocol):
    """What progress needs: names, and the metrics and pacing to measure with (the service, in practice)."""

    metrics: Metrics
    pacing: Pacing


@dataclass(frozen=True)
class Progress:
    """A stored target and how it is going on the as-of day."""

    who: Who
    kpi: Kpi
    start: dt.date
    end: dt.date
    label: str
    target: Decimal
    set_by: str | None
    value: Decimal | None = None
    pace: Pace | None = None
    started: bool = True

    @property
    def status(self) -> str:
        if not self.started:
            return "not started"
        return self.pace.status if self.pace else "no value"

    def to_json(self, currency: str) -> dict[str, Any]:
        fmt = self.kpi.format
        return {
            "kpi": self.kpi.key,
            "scope": {"type": self.who.type, "name": self.who.name},
            "period": {"label": self.label, "start": self.start.isoformat(), "end": (self.end - ONE_DAY).isoformat()},
            "value": raw(self.value, fmt),
            "formatted": formatted(self.value, fmt, currency) if self.started else None,
            "target": self.pace.to_json(self.kpi, currency)
            if self.pace
            else {"value": float(self.target), "formatted": formatted(self.target, fmt, currency)},
            "status": self.status,
            "set_by": self.set_by,
        }


def _who_of(directory: Directory, row: Any) -> tuple[Who, Scope] | None:
    if row.scope_type == "org":
        return ORG, access.org_scope()
    if row.scope_type == "team" and (team := directory.teams.get(row.scope_id)):
        return Who("team", team.id, team.name), access.team_scope(directory, [team], team.name)
    if row.scope_type == "rep" and (person := directory.people.get(row.scope_id)):
        return Who("rep", person.id, person.name), access.rep_scope(person)
    return None  # a person or team deleted since


def progress(measuring: Measuring, rows: Iterable[Any], as_of: dt.date) -> list[Progress]:
    """Each target's actual value for its own scope and period on ``as_of``, with pace.

    People's targets of the same KPI and period are measured by one query (a leaderboard's); a team's or
    the organisation's by one query each.
    """
    pacing = measuring.pacing
    directory, calendar = measuring.directory, measuring.calendar
    found: list[tuple[Any, Who, Scope, Kpi]] = []
    for row in rows:
        kpi = measuring.catalog.kpis.get(row.kpi)
        scoped = _who_of(directory, row)
        if kpi is not None and scoped is not None:
            found.append((row, *scoped, kpi))
    values: dict[int, Decimal | None] = {}
    groups: dict[tuple[str, dt.date, dt.date], dict[int, Scope]] = {}
    for row, who, scope, kpi in found:
        if row.period_start > as_of:
            continue
        if who.type == "rep":
            groups.setdefault((kpi.key, row.period_start, row.period_end), {})[row.id] = scope
        else:
            period = target_period(calendar, row.period_start, row.period_end, as_of)
            values[row.id] = measuring.metrics.result(kpi, period, scope, as_of).value
    for (key, start, end), members in groups.items():
        period = target_period(calendar, start, end, as_of)
        by_person = {scope.rep_id: scope for scope in members.values() if scope.rep_id is not None}
        everyone = Scope("team", "targets", ScopeFilter(frozenset(by_person), frozenset()))
        kpi = measuring.catalog[key]
        by_rep = measuring.metrics.results_by_owner(kpi, period, by_person, everyone, as_of).values()
        for row_id, scope in members.items():
            values[row_id] = by_rep[scope.rep_id]  # type: ignore[index]
    listed = []
    for row, who, _scope, kpi in found:
        target = Decimal(str(row.value))
        label = period_label(calendar, row.period_start, row.period_end)
        item = Progress(who, kpi, row.period_start, row.period_end, label, target, row.set_by)
        if row.period_start > as_of:
            listed.append(replace(item, started=False))
            continue
        period = target_period(calendar, row.period_start, row.period_end, as_of)
        value = values.get(row.id)
        listed.append(replace(item, value=value, pace=pacing.of(kpi, value, target, period)))
    order = {"org": 0, "team": 1, "rep": 2}
    return sorted(listed, key=lambda p: (p.start, -(p.end - p.start).days, p.kpi.key, order[p.who.type], p.who.name))
