"""The Block Kit blocks every kpibot message is made of, each within Slack's limits (:mod:`slackui.limits`)."""

from __future__ import annotations

from typing import Any

from slackui.limits import MAX_ELEMENTS, MAX_FIELD, MAX_FIELDS, MAX_HEADER, MAX_OPTION_TEXT, MAX_OPTIONS, MAX_SECTION
from slackui.text import clip


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER), "emoji": True}}


def section(
    text: str,
    fields: list[str] | None = None,
    *,
    accessory: dict[str, Any] | None = None,
    block_id: str | None = None,
) -> dict[str, Any]:
    """A section; ``accessory`` is an element shown beside its text (a menu); ``block_id`` names it for the
    actions of its accessory."""
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}
    if block_id:
        block["block_id"] = block_id
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, MAX_FIELD)} for f in fields[:MAX_FIELDS]]
    if accessory:
        block["accessory"] = accessory
    return block


def context(*texts: str) -> dict[str, Any]:
    elements = [{"type": "mrkdwn", "text": clip(t, MAX_SECTION)} for t in texts[:MAX_ELEMENTS]]
    return {"type": "context", "elements": elements}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def static_select(
    action_id: str, placeholder: str, options: list[tuple[str, str]], *, initial: str | None = None
) -> dict[str, Any]:
    """A menu of ``(text, value)`` options (plain text: shown as it is); ``initial`` is the value chosen now."""

    def option(text: str, value: str) -> dict[str, Any]:
        return {"text": {"type": "plain_text", "text": clip(text, MAX_OPTION_TEXT)}, "value": value}

    menu: dict[str, Any] = {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": clip(placeholder, MAX_OPTION_TEXT)},
        "options": [option(text, value) for text, value in options[:MAX_OPTIONS]],
    }
    chosen = [option(text, value) for text, value in options[:MAX_OPTIONS] if value == initial]
    if chosen:
        menu["initial_option"] = chosen[0]
    return menu
