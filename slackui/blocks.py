"""The Block Kit blocks every kpibot message is made of, each within Slack's limits (:mod:`slackui.limits`)."""

from __future__ import annotations

from typing import Any

from slackui.limits import MAX_ELEMENTS, MAX_FIELD, MAX_FIELDS, MAX_HEADER, MAX_SECTION
from slackui.text import clip


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER), "emoji": True}}


def section(text: str, fields: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, MAX_FIELD)} for f in fields[:MAX_FIELDS]]
    return block


def context(*texts: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_SECTION)} for t in texts[:MAX_ELEMENTS]]
    return {"type": "context", "elements": elements}


def divider() -> dict[str, Any]:
    return {"type": "divider"}
