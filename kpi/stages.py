"""How long deals have been in a stage, as of any moment, in SQL: for "deals stuck in stage for more than
30 days" and for a list of deals that shows each one's days in stage.

Everything reads ``deal_stage_history`` (kept by the sync, :mod:`crm.stage_history`; filled by the demo),
so the answer holds for a moment in the past as well as now: the stay that covers ``as_of`` is the one
entered at or before it and not left by then. A stay whose start nobody knows (a deal first seen in its
stage, from a source that does not say since when) covers no moment: such a deal has no days in stage and
is never "stuck", rather than stuck since an invented date.

Each function returns an expression over :class:`kpi.schema.Deal`, to put in a ``WHERE`` or a ``SELECT``
of deals; the correlated lookups go through the ``(deal_id, entered_at)`` index.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ColumnElement, DateTime, ScalarSelect, exists, literal, or_, select

from kpi.schema import Deal, DealStage
from kpi.sqlfuncs import days_between

deals, stays = Deal.__table__, DealStage.__table__


def _covering(as_of: dt.datetime) -> ColumnElement[bool]:
    """The stay of the outer query's deal that covers ``as_of``."""
    return (
        (stays.c.deal_id == deals.c.id)
        & (stays.c.entered_at <= as_of)
        & or_(stays.c.left_at.is_(None), stays.c.left_at > as_of)
    )


def _of_stay(column: ColumnElement[Any], as_of: dt.datetime) -> ScalarSelect[Any]:
    latest = select(column).where(_covering(as_of)).order_by(stays.c.entered_at.desc()).limit(1)
    return latest.correlate(deals).scalar_subquery()


def stage_at(as_of: dt.datetime) -> ScalarSelect[Any]:
    """The stage each deal was in at ``as_of`` (naive UTC); NULL when not known."""
    return _of_stay(stays.c.stage, as_of)


def days_in_stage(as_of: dt.datetime) -> ScalarSelect[Any]:
    """The days (fractional) each deal had spent in its stage at ``as_of``; NULL when not known."""
    return _of_stay(days_between(stays.c.entered_at, literal(as_of, DateTime)), as_of)


def in_stage_longer_than(days: float, as_of: dt.datetime) -> ColumnElement[bool]:
    """Deals that, at ``as_of``, had been in their stage for more than ``days`` days: a condition that
    compares stored times with one bound (no arithmetic on the column), so an index can serve it."""
    since = as_of - dt.timedelta(days=days)
    return exists().where(_covering(as_of), stays.c.entered_at < since)
