"""Goal alerts in Slack: what `/kpi alert me when ...` answers, and the list `/kpi alerts` and the App Home show,
each alert with Snooze (a week) and Delete buttons. The rules are :mod:`digests.alerts`'s."""

from __future__ import annotations

from typing import Any

from digests.alerts import alerts_of, describe
from kpi.schema import Alert
from kpi.service import Kpibot
from slackui import blocks as slack

SNOOZE_ACTION = "alert_snooze"  # value: the alert's id
DELETE_ACTION = "alert_delete"
NONE_YET = "You have no alerts. Try `/kpi alert me when my pipeline drops below 50k`."


def _button(text: str, action_id: str, value: str) -> dict[str, Any]:
    return {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value}


def alert_blocks(rows: list[Alert]) -> list[dict[str, Any]]:
    """Each alert as a line, with its Snooze and Delete buttons."""
    found = []
    for row in rows:
        found.append(slack.section(f"• {describe(row)}", block_id=f"alert_{row.id}"))
        buttons = [_button("Snooze a week", SNOOZE_ACTION, str(row.id)), _button("Delete", DELETE_ACTION, str(row.id))]
        found.append({"type": "actions", "block_id": f"alert_actions_{row.id}", "elements": buttons})
    return found


def alerts_message(kpibot: Kpibot, slack_user_id: str) -> dict[str, Any]:
    """What `/kpi alerts` answers."""
    rows = alerts_of(kpibot.engine, slack_user_id)
    if not rows:
        return {"text": NONE_YET, "blocks": [slack.section(NONE_YET)]}
    return {"text": f"You have {len(rows)} alert(s).", "blocks": [slack.section("*Your alerts*"), *alert_blocks(rows)]}


def created_message(row: Alert) -> dict[str, Any]:
    text = (
        f":bell: I'll tell you by DM, once per period, when {describe(row)} comes true (checked after every CRM "
        "sync). `/kpi alerts` lists, snoozes and deletes your alerts."
    )
    return {"text": text, "blocks": [slack.section(text)]}


def home_section(kpibot: Kpibot, slack_user_id: str) -> list[dict[str, Any]]:
    """The App Home's "Alerts" section."""
    rows = alerts_of(kpibot.engine, slack_user_id)
    intro = "Checked after every CRM sync." if rows else NONE_YET
    return [slack.header("Alerts"), slack.section(intro), *alert_blocks(rows)]
