"""What a CRM sync left in the database, as the connectors' tests compare it: one source's rows, cursors, revenue.

Every function takes the source (``source="pipedrive"``) and sees only its rows; a test file binds its own
source once (``rows = partial(crm_rows.rows, source="pipedrive")``) and reads ``rows(engine, Deal)``.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Engine, Row, Table, func, select

from crm.canonical import OBJECTS
from crm.interface import SyncReport
from kpi.schema import Base, Deal, SyncRun, SyncState


def counts(report: SyncReport) -> dict[str, str]:
    """A sync report's counts per object: ``{"deals": "1 created, 0 updated, ..."}``."""
    return {name: str(object_counts) for name, object_counts in report.counts.items()}


def rows(engine: Engine, model: type[Base], *, source: str) -> dict[str, dict[str, Any]]:
    """The source's rows of a table by crm_id: every column but the ids, a reference as the crm_id it points to
    (``owner``: "101"), so that two databases with the same data compare equal.
    """
    return _rows(engine, model.__table__, source)


def cursors(engine: Engine, *, source: str) -> dict[str, str]:
    """The source's incremental-sync cursors by object."""
    query = select(SyncState.object, SyncState.cursor).where(SyncState.source == source)
    with engine.connect() as connection:
        return dict(connection.execute(query).all())


def database(engine: Engine, *, source: str) -> dict[str, Any]:
    """Everything a sync of the source keeps, but its run log: its rows of every canonical table, and its cursors."""
    tables = {name: _rows(engine, Base.metadata.tables[name], source) for name in OBJECTS}
    return tables | {"cursors": cursors(engine, source=source)}


def changed(before: dict[str, dict[str, Any]], after: dict[str, dict[str, Any]]) -> set[str]:
    """The crm_ids whose rows differ between two reads of :func:`rows` (added and removed ones included)."""
    return {crm_id for crm_id in before.keys() | after.keys() if before.get(crm_id) != after.get(crm_id)}


def revenue(engine: Engine, *, source: str) -> Decimal:
    """What the source's won deals not deleted are worth."""
    query = select(func.coalesce(func.sum(Deal.amount), 0)).where(
        Deal.crm == source, Deal.status == "won", Deal.deleted_at.is_(None)
    )
    with engine.connect() as connection:
        return Decimal(connection.execute(query).scalar())


def last_run(engine: Engine, *, source: str) -> Row:
    """The source's latest sync run, as its run log keeps it (``status``, ``created``, ``updated``, ``deleted``...)."""
    query = select(SyncRun.__table__).where(SyncRun.source == source).order_by(SyncRun.id.desc()).limit(1)
    with engine.connect() as connection:
        return connection.execute(query).one()


def _rows(engine: Engine, table: Table, source: str) -> dict[str, dict[str, Any]]:
    columns, joined = [], table
    for column in table.columns:
        if column.name in ("id", "crm", "crm_id"):
            continue
        foreign = next(iter(column.foreign_keys), None)
        if foreign is None:
            columns.append(column)
            continue
        target = foreign.column.table.alias(f"{column.name}_target")
        joined = joined.outerjoin(target, column == target.c.id)
        columns.append(target.c.crm_id.label(column.name.removesuffix("_id")))
    query = select(table.c.crm_id, *columns).select_from(joined).where(table.c.crm == source)
    with engine.connect() as connection:
        result = connection.execute(query)
        names = list(result.keys())[1:]
        return {row[0]: dict(zip(names, row[1:], strict=True)) for row in result}
