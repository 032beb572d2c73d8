"""The Block Kit blocks every kpibot message is made of, each within Slack's limits (:mod:`slackui.limits`)."""

from __future__ import annotations

from typing import Any

from slackui.limits import (
    MAX_ELEMENTS,
    MAX_FIELD,
    MAX_FIELDS,
    MAX_HEADER,
    MAX_OPTION_GROUPS,
    MAX_OPTION_TEXT,
    MAX_OPTIONS,
    MAX_SECTION,
)
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


def option(text: str, value: str) -> dict[str, Any]:
    """An option of a menu (plain text: shown as it is)."""
    return {"text": {"type": "plain_text", "text": clip(text, MAX_OPTION_TEXT)}, "value": value}


def static_select(
    action_id: str, placeholder: str, options: list[tuple[str, str]], *, initial: str | None = None
) -> dict[str, Any]:
    """A menu of ``(text, value)`` options (plain text: shown as it is); ``initial`` is the value chosen now."""
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


def grouped_select(
    action_id: str, placeholder: str, groups: list[tuple[str, list[dict[str, Any]]]]
) -> dict[str, Any] | None:
    """A static_select over ``groups`` of options: plain options when one group holds them all, option groups
    otherwise (a group of more than a select holds is split); None when even that exceeds Slack's limits."""
    groups = [(label, options) for label, options in groups if options]
    plain = {"type": "plain_text", "text": clip(placeholder, MAX_OPTION_TEXT), "emoji": True}
    element: dict[str, Any] = {"type": "static_select", "action_id": action_id, "placeholder": plain}
    if len(groups) == 1 and len(groups[0][1]) <= MAX_OPTIONS:
        return {**element, "options": groups[0][1]}
    split = []
    for label, options in groups:
        chunks = [options[i : i + MAX_OPTIONS] for i in range(0, len(options), MAX_OPTIONS)]
        for number, chunk in enumerate(chunks, start=1):
            name = label if len(chunks) == 1 else f"{label} ({number})"
            split.append(
                {"label": {"type": "plain_text", "text": clip(name, MAX_OPTION_TEXT), "emoji": True}, "options": chunk}
            )
    if not split or len(split) > MAX_OPTION_GROUPS:
        return None
    return {**element, "option_groups": split}
