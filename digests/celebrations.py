"""Celebrations: a post, exactly once, when a rep or a team crosses a target threshold, or wins a big deal.

A crossing is keyed by the target's natural key and the threshold, never by the target's value, so a target
edited later, a re-sync, a restart or a second worker never celebrates twice, and a number that dips below
the target and crosses it again in the same period does not fire again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import select

from digests.deliveries import Outcome, Status, deliver
from kpi import access
from kpi.formats import formatted
from kpi.results import Result
from kpi.schema import Deal, Target
from kpi.service import Kpibot
from kpi.targets.parsing import target_period
from kpi.types import Scope
from slackui.blocks import context, section
from slackui.text import escape

#: The ``event_type`` of celebration posts' Slack message metadata, for Workflow Builder and other apps.
TARGET_REACHED, BIG_DEAL = "kpibot_target_reached", "kpibot_big_deal"


@dataclass(frozen=True)
class Crossing:
    key: str
    scope: Scope
    result: Result
    target: Decimal
    attainment: Decimal
    threshold: float
    mention: str | None


def crossings(
    kpibot: Kpibot, thresholds: list[float], as_of: dt.date, kpis: list[str] | None = None
) -> Iterator[Crossing]:
    """Every threshold crossed by a target running on ``as_of`` (one query per target's scope and KPI)."""
    query = select(Target).where(Target.period_start <= as_of, Target.period_end > as_of)
    if kpis:
        query = query.where(Target.kpi.in_(kpis))
    with kpibot.engine.connect() as connection:
        targets = connection.execute(query).all()
    for target in targets:
        if target.kpi not in kpibot.catalog.kpis:
            continue
        kpi = kpibot.catalog[target.kpi]
        scope, mention = _scope(kpibot, target)
        if scope is None:
            continue
        period = target_period(kpibot.calendar, target.period_start, target.period_end, as_of)
        result = kpibot.metrics.result(kpi, period, scope, as_of)
        value, goal = result.value, Decimal(target.value)
        if value is None or goal <= 0 or (not kpi.higher_is_better and value <= 0):
            continue
        attainment = value / goal if kpi.higher_is_better else goal / value
        if not kpi.higher_is_better and period.to_date:
            continue  # a lower-is-better KPI is only judged once its period is over
        for threshold in sorted(thresholds):
            if attainment >= Decimal(str(threshold)):
                key = (
                    f"celebration:{target.kpi}:{target.scope_type}:{target.scope_id or 'org'}:"
                    f"{target.period_start}:{target.period_end}:{threshold:g}"
                )
                yield Crossing(key, scope, result, goal, attainment, threshold, mention)


def _scope(kpibot: Kpibot, target: Any) -> tuple[Scope | None, str | None]:
    directory = kpibot.directory
    if target.scope_type == "rep":
        person = directory.people.get(target.scope_id)
        return (access.rep_scope(person), person.slack_user_id) if person else (None, None)
    if target.scope_type == "team":
        team = directory.teams.get(target.scope_id)
        return (access.team_scope(directory, [team], team.name), None) if team else (None, None)
    return access.org_scope(), None


def message(crossing: Crossing, currency: str) -> dict[str, Any]:
    kpi, result = crossing.result.kpi, crossing.result
    who = f"<@{crossing.mention}>" if crossing.mention else escape(crossing.scope.name)
    level = f"{crossing.threshold * 100:.0f}%"
    value = formatted(result.value, kpi.format, currency)
    goal = formatted(crossing.target, kpi.format, currency)
    over = f"{crossing.attainment * 100:.0f}%"
    text = (
        f":tada: {who} hit {level} of the {escape(kpi.label.lower())} target for {result.period.label}: "
        f"{value} of {goal} ({over})!"
    )
    payload = {
        "kpi": kpi.key,
        "scope": crossing.scope.name,
        "period": f"{result.period.start}..{result.period.full_end - dt.timedelta(days=1)}",
        "value": float(result.value or 0),  # numbers, for workflows to compare
        "target": float(crossing.target),
        "threshold": crossing.threshold,
    }
    metadata = {"event_type": TARGET_REACHED, "event_payload": payload}
    return {"text": text, "blocks": [section(text), context(f"_{escape(kpi.description)}_")], "metadata": metadata}


def celebrate(
    kpibot: Kpibot,
    client: WebClient,
    channel: str,
    as_of: dt.date,
    thresholds: list[float],
    kpis: list[str] | None = None,
    big_deal_amount: Decimal | None = None,
) -> list[Outcome]:
    """Post every new crossing (and big deal) once; crossings already celebrated are skipped silently."""
    outcomes = []
    for crossing in crossings(kpibot, thresholds, as_of, kpis):
        outcome = deliver(kpibot.engine, client, crossing.key, channel, message(crossing, kpibot.org.currency))
        if outcome.status != Status.DUPLICATE:
            outcomes.append(outcome)
    if big_deal_amount is not None:
        for key, text in big_deals(kpibot, big_deal_amount, as_of):
            metadata = {"event_type": BIG_DEAL, "event_payload": {"deal": key.removeprefix("big-deal:")}}
            announcement = {"text": text, "blocks": [section(text)], "metadata": metadata}
            outcome = deliver(kpibot.engine, client, key, channel, announcement)
            if outcome.status != Status.DUPLICATE:
                outcomes.append(outcome)
    return outcomes


def big_deals(kpibot: Kpibot, amount: Decimal, as_of: dt.date, days: int = 7) -> Iterator[tuple[str, str]]:
    """Deals of at least ``amount`` won in the last ``days`` days (the few rows to announce, not a KPI)."""
    since = dt.datetime.combine(as_of - dt.timedelta(days=days), dt.time())
    query = select(Deal.id, Deal.owner_id, Deal.amount, Deal.name).where(
        Deal.status == "won", Deal.deleted_at.is_(None), Deal.amount >= amount, Deal.close_date >= since
    )
    with kpibot.engine.connect() as connection:
        rows = connection.execute(query).all()
    for deal_id, owner_id, deal_amount, name in rows:
        person = kpibot.directory.people.get(owner_id)
        who = (
            f"<@{person.slack_user_id}>"
            if person and person.slack_user_id
            else escape(person.name if person else "Someone")
        )
        money = formatted(Decimal(deal_amount), "currency", kpibot.org.currency)
        yield f"big-deal:{deal_id}", f":moneybag: {who} just won a big one: {escape(name or 'a deal')} for {money}!"
