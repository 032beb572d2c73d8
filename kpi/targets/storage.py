"""The targets table: one row per KPI, scope and period, created, updated or left as it is."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import Connection, Engine, and_, insert, select, update
from sqlalchemy.exc import IntegrityError

from kpi import generation
from kpi.periods import utc_now
from kpi.schema import Target
from kpi.targets.parsing import PRECISION, TargetSpec
from kpi.types import Who


@dataclass
class Report:
    """What a load or an import did."""

    source: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[str] = field(default_factory=list)

    def count(self, outcome: str) -> None:
        setattr(self, outcome, getattr(self, outcome) + 1)

    def lines(self) -> list[str]:
        summary = f"{self.source}: {self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        if self.errors:
            summary += f", {len(self.errors)} rejected"
        return [summary + ".", *self.errors]


def _matching(spec: TargetSpec) -> Any:
    kpi, kind, scope_id, start, end = spec.natural_key
    same_scope = Target.scope_id.is_(None) if scope_id is None else Target.scope_id == scope_id
    return and_(
        Target.kpi == kpi,
        Target.scope_type == kind,
        same_scope,
        Target.period_start == start,
        Target.period_end == end,
    )


def _owners(specs: Iterable[TargetSpec]) -> set[int | None]:
    """Whose rankings the targets change: a rep's target their own; any other every owner's."""
    return {
        scope_id if kind == "rep" else generation.EVERY_OWNER
        for _, kind, scope_id, _, _ in (s.natural_key for s in specs)
    }


def _save_one(connection: Connection, spec: TargetSpec, set_by: str | None, now: dt.datetime) -> str:
    current = connection.execute(select(Target.value).where(_matching(spec))).first()
    if current is None:
        kpi, kind, scope_id, start, end = spec.natural_key
        connection.execute(
            insert(Target).values(
                kpi=kpi,
                scope_type=kind,
                scope_id=scope_id,
                period_start=start,
                period_end=end,
                value=spec.value,
                set_by=set_by,
                set_at=now,
            )
        )
        return "created"
    if Decimal(str(current.value)).quantize(PRECISION) == spec.value:
        return "unchanged"
    connection.execute(update(Target).where(_matching(spec)).values(value=spec.value, set_by=set_by, set_at=now))
    return "updated"


def save(
    engine: Engine,
    specs: Iterable[TargetSpec],
    set_by: str | None,
    *,
    now: dt.datetime | None = None,
    report: Report | None = None,
) -> Report:
    """Store targets in one transaction: create, update the value, or leave an equal one untouched.

    Two people saving the same new target at once: the second insert breaks the unique key, and the
    transaction is run again, finding the first one's row to update.
    """
    report = report or Report("targets")
    stamp, specs = now or utc_now(), list(specs)
    for attempt in (1, 2):
        try:
            with engine.begin() as connection:
                outcomes = [_save_one(connection, spec, set_by, stamp) for spec in specs]
                changed = [spec for spec, outcome in zip(specs, outcomes, strict=True) if outcome != "unchanged"]
                if changed:  # paces and attainments change: a rep's own, or (a team's target) every rep's
                    generation.advance(connection, owners={"targets": _owners(changed)})
            break
        except IntegrityError:
            if attempt == 2:
                raise
    for outcome in outcomes:
        report.count(outcome)
    return report


def set_target(engine: Engine, spec: TargetSpec, set_by: str | None, now: dt.datetime | None = None) -> str:
    """Store one target; ``created``, ``updated`` or ``unchanged``."""
    report = save(engine, [spec], set_by, now=now)
    return "created" if report.created else "updated" if report.updated else "unchanged"


def stored(
    engine: Engine,
    *,
    kpi: str | None = None,
    who: Who | None = None,
    period: tuple[dt.date, dt.date] | None = None,
    running_on: dt.date | None = None,
) -> list[Any]:
    """Rows of the targets table, filtered."""
    query = select(Target)
    if kpi:
        query = query.where(Target.kpi == kpi)
    if who is not None:
        query = query.where(Target.scope_type == who.type)
        query = query.where(Target.scope_id.is_(None) if who.id is None else Target.scope_id == who.id)
    if period is not None:
        query = query.where(Target.period_start == period[0], Target.period_end == period[1])
    if running_on is not None:
        query = query.where(Target.period_start <= running_on, Target.period_end > running_on)
    with engine.connect() as connection:
        return list(connection.execute(query).all())
