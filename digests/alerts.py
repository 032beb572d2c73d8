"""Goal alerts: "/kpi alert me when my pipeline drops below 50k", checked after every sync.

An alert watches one question, asked as its subscriber (so it sees only what they may ask), and:

* fires when its condition is true, it is armed, and it has not fired in the question's current period: at most
  once per period, posted by DM through the delivery ledger with the key ``alert:ID:PERIOD``;
* is then disarmed until the condition is false again by the re-arm margin (``alerts.rearm_margin`` of
  schedule.yaml, 5% by default): pipeline hovering around 50k does not fire at every sync; it must climb over
  52.5k first. A new period starts afresh only if that happened (a month's revenue falls back to zero, so a
  revenue alert re-arms with the month);
* can be snoozed for a week, listed and deleted.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from slack_sdk import WebClient
from sqlalchemy import Engine, delete, select, update
from sqlalchemy.orm import Session

from digests.deliveries import Outcome, deliver
from digests.records_button import records_button, records_label
from digests.subscriptions import person_of
from kpi.answers import Answer
from kpi.directory import Person
from kpi.formats import formatted
from kpi.grammar.alerts import AlertSyntaxError, parse_alert
from kpi.grammar.queries import ValueQuery, from_json, to_json
from kpi.periods import utc_now
from kpi.schema import Alert
from kpi.service import Kpibot
from slackui.text import escape

log = logging.getLogger("kpibot.alerts")
SNOOZE = dt.timedelta(days=7)
DEFAULT_REARM_MARGIN = Decimal("0.05")
EVENT_TYPE = "kpibot_alert"


@dataclass(frozen=True)
class Reading:
    """What the watched question gives now: the number compared with the threshold, and its period."""

    value: Decimal | None
    period: str  # "2026-10-01..2026-12-31": the whole calendar period the alert fires once in
    answer: Answer


def create_alert(kpibot: Kpibot, person: Person, slack_user_id: str, text: str) -> Alert:
    """Parse ``text`` and store the alert of ``person`` (the Slack user ``slack_user_id``), after asking its
    question once as them (an unknown KPI or a scope they may not see is refused here, as asking it would be)."""
    condition = parse_alert(text)
    query = kpibot.parse(condition.question)
    if not isinstance(query, ValueQuery):
        raise AlertSyntaxError(f"An alert watches one number, such as `my pipeline`; not `{condition.question}`.")
    kpibot.run(query, person, pace=condition.measure == "attainment")
    row = Alert(
        slack_user_id=slack_user_id,
        text=" ".join(text.split())[:500],
        query=to_json(query),
        direction=condition.direction,
        threshold=condition.threshold,
        measure=condition.measure,
        armed=True,
        created_at=utc_now(),
    )
    with Session(kpibot.engine, expire_on_commit=False) as session, session.begin():
        session.add(row)
    return row


def alerts_of(engine: Engine, slack_user_id: str) -> list[Alert]:
    with Session(engine, expire_on_commit=False) as session:
        return list(session.scalars(select(Alert).where(Alert.slack_user_id == slack_user_id).order_by(Alert.id)))


def delete_alert(engine: Engine, slack_user_id: str, alert_id: int) -> bool:
    with engine.begin() as connection:
        mine = (Alert.id == alert_id) & (Alert.slack_user_id == slack_user_id)
        return connection.execute(delete(Alert).where(mine)).rowcount == 1


def snooze_alert(engine: Engine, slack_user_id: str, alert_id: int, now: dt.datetime | None = None) -> bool:
    """Keep the alert quiet for a week from ``now`` (naive UTC); False when it is not the user's."""
    until = (now or utc_now()) + SNOOZE
    with engine.begin() as connection:
        mine = (Alert.id == alert_id) & (Alert.slack_user_id == slack_user_id)
        return connection.execute(update(Alert).where(mine).values(snoozed_until=until)).rowcount == 1


def read(kpibot: Kpibot, row: Alert, as_of: dt.date | None = None) -> Reading | None:
    """Ask the alert's question as its subscriber; None when they are gone or may no longer see it."""
    person = person_of(kpibot, row.slack_user_id)
    if person is None:
        return None
    query = from_json(row.query, kpibot.catalog, kpibot.directory)
    assert isinstance(query, ValueQuery)
    try:
        answer = kpibot.run(query, person, as_of, pace=row.measure == "attainment")
    except (LookupError, PermissionError) as exc:
        log.warning("alert not checked", extra={"command": f"alert:{row.id}", "question": str(exc)})
        return None
    value = answer.result.value
    if row.measure == "attainment":
        value = answer.pace.attainment if answer.pace is not None else None
    period = answer.result.period
    return Reading(value, f"{period.start}..{period.full_end - dt.timedelta(days=1)}", answer)  # the whole period


def check_alerts(
    kpibot: Kpibot,
    client: WebClient,
    margin: Decimal = DEFAULT_REARM_MARGIN,
    now: dt.datetime | None = None,
    as_of: dt.date | None = None,
) -> list[Outcome]:
    """Check every alert (after a sync): re-arm those false by the margin, fire those that became true."""
    now = now or utc_now()
    with Session(kpibot.engine) as session:
        rows = list(session.scalars(select(Alert).order_by(Alert.id)))
    outcomes = []
    for row in rows:
        reading = read(kpibot, row, as_of)
        if reading is None or reading.value is None:
            continue
        true, clear = _condition(row, reading.value, margin)
        armed = row.armed or clear
        fire = armed and true and row.fired_period != reading.period
        snoozed = row.snoozed_until is not None and row.snoozed_until > now
        if fire and not snoozed:
            key = f"alert:{row.id}:{reading.period}"  # by DM: the ledger posts to the member's user id
            outcomes.append(deliver(kpibot.engine, client, key, row.slack_user_id, message(row, reading)))
            values: dict[str, Any] = {"armed": False, "fired_period": reading.period}
        else:
            values = {"armed": armed}
        if values != {"armed": row.armed}:
            with kpibot.engine.begin() as connection:
                connection.execute(update(Alert).where(Alert.id == row.id).values(**values))
    return outcomes


def _condition(row: Alert, value: Decimal, margin: Decimal) -> tuple[bool, bool]:
    """Whether the condition holds, and whether it is false by the margin (what re-arms the alert)."""
    threshold = Decimal(row.threshold)
    if row.direction == "below":
        return value < threshold, value > threshold * (1 + margin)
    return value >= threshold, value < threshold * (1 - margin)


def message(row: Alert, reading: Reading) -> dict[str, Any]:
    """The alert's DM: the number, the threshold and the period, a button to the records behind the number where
    it is counted from records ("Show the deals"), and Slack message metadata for workflows."""
    answer = reading.answer
    kpi, scope = answer.kpi, answer.scope.name
    if row.measure == "attainment":
        shown = f"{(reading.value or 0) * 100:.0f}% of its target"
        limit = f"{Decimal(row.threshold) * 100:.0f}% of the target"
    else:
        shown = answer.formatted
        limit = formatted(Decimal(row.threshold), kpi.format, answer.currency)
    way = "below" if row.direction == "below" else "at or above"
    text = (
        f":bell: {escape(kpi.label)} for {escape(scope)} is *{shown}* ({escape(answer.result.period.label)}), "
        f"{way} your alert's {limit}."
    )
    context = f"You asked: `{escape(row.text, formatting=False)}` · `/kpi alerts` to snooze or delete it"
    payload = {
        "kpi": kpi.key,
        "scope": scope,
        "period": reading.period,
        "value": float(reading.value or 0),  # numbers, for workflows to compare
        "target": float(row.threshold),
    }
    blocks: list[dict[str, Any]] = [
        {"type": "section", "text": {"type": "mrkdwn", "text": text}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
    ]
    label = records_label(answer)
    button = records_button(row.query, label) if label is not None else None
    if button is not None:  # the records behind the number, as under an answer (the button carries the query)
        blocks.append({"type": "actions", "block_id": "alert_records", "elements": [button]})
    return {"text": text, "blocks": blocks, "metadata": {"event_type": EVENT_TYPE, "event_payload": payload}}


def describe(row: Alert, now: dt.datetime | None = None) -> str:
    """One line for lists (mrkdwn, escaped): what was asked, and whether it is snoozed or waiting to re-arm."""
    state = ""
    if row.snoozed_until is not None and row.snoozed_until > (now or utc_now()):
        state = f" · snoozed until {row.snoozed_until:%Y-%m-%d}"
    elif not row.armed:
        state = " · fired; re-arms when the condition is false again"
    return f"`{escape(row.text, formatting=False)}`{state}"
