"""What kpibot's listeners (and Bolt before them) read from Slack's payloads, checked before Bolt sees them.

A signed request is from Slack, but its payload may still lack what is read (a hand-made body, a shape Slack
changed): a listener that met a missing ``user_id`` raised, and Bolt itself raises on a view without a ``type``;
either way Bolt answered 500. The HTTP front (:mod:`bot.front`) checks each payload kind kpibot listens to for
those fields; a payload without them gets 400, and nothing runs. Other kinds go on to Bolt, which answers 404.
"""

from __future__ import annotations

import json
from typing import Any

#: Fields Bolt reads from any payload to build its context (team, user, channel...), with the types Slack sends.
#: Another type made Bolt itself raise before any listener.
CONTEXT_FIELDS: dict[str, tuple[type, ...]] = {
    "team": (dict, str, type(None)),
    "user": (dict, str, type(None)),
    "channel": (dict, str, type(None)),
    "enterprise": (dict, str, type(None)),
    "container": (dict, type(None)),
    "message": (dict, type(None)),
    "authorizations": (list, type(None)),
    **dict.fromkeys(
        ("type", "team_id", "user_id", "channel_id", "enterprise_id", "api_app_id", "trigger_id", "response_url"),
        (str, type(None)),
    ),
}


def problem(body: Any) -> str | None:
    """Why ``body`` (a parsed Slack payload) cannot be handled, or None when its listener has what it reads."""
    if not isinstance(body, dict):
        return "a payload is a JSON object"
    for part in (body, body.get("event")):
        if isinstance(part, dict) and (why := _context(part)):
            return why
    if "command" in body:
        return _command(body)
    kind = body.get("type")
    if kind in ("block_actions", "view_submission") and not _text(_get(body, "user", "id")):
        return "no user"
    if kind == "block_actions":
        return _actions(body.get("actions"))
    if kind in ("view_submission", "view_closed"):
        view = body.get("view")
        if not isinstance(view, dict) or not _text(view.get("type")) or not isinstance(view.get("callback_id"), str):
            return "a view without its type"
        values = _get(body, "view", "state", "values")
        if kind == "view_submission" and not _state(values):
            return "a view without its state of blocks and inputs"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not _text(event.get("type")):
            return "an event without a type"
        if event["type"] == "app_home_opened" and not _text(event.get("user")):
            return "app_home_opened without a user"
    return None


def _context(part: dict[str, Any]) -> str | None:
    for name, kinds in CONTEXT_FIELDS.items():
        value = part.get(name)
        if not isinstance(value, kinds):
            return f"{name} is not what Slack sends"
        if isinstance(value, dict) and not isinstance(value.get("id", ""), str):
            return f"{name}.id is not text"
    return None


def _command(body: dict[str, Any]) -> str | None:
    if not _text(body.get("user_id")):
        return "a command without user_id"
    if not isinstance(body.get("text", ""), str):
        return "a command whose text is not text"
    return None


def _actions(actions: Any) -> str | None:
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        return "block_actions without actions"
    if not all(_text(a.get("action_id")) for a in actions):
        return "an action without its action_id"
    action = actions[0]
    if action.get("action_id") == "kpi_share":  # a scorecard's names no KPI: the query is checked when it is read
        return None if _question(action.get("value"), "q") else "a share without its question"
    if action.get("action_id") == "kpi_period":
        value = _get(action, "selected_option", "value")
        return None if _question(value, "p") else "a period choice without its question"
    if action.get("action_id") == "home_period":
        value = _get(action, "selected_option", "value")
        return None if _question(value, "numbers", "board") else "a home period choice without its periods"
    return None


def _state(values: Any) -> bool:
    """Whether a view's ``state.values`` is what Slack sends: block id -> action id -> the input's state."""
    if not isinstance(values, dict):
        return False
    blocks = values.values()
    return all(isinstance(block, dict) and all(isinstance(state, dict) for state in block.values()) for block in blocks)


def _question(value: Any, *keys: str) -> bool:
    """Whether ``value`` is the JSON object kpibot put in a button: text at each of ``keys``."""
    if not isinstance(value, str):
        return False
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    return isinstance(parsed, dict) and all(_text(parsed.get(key)) for key in keys)


def _get(data: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def _text(value: Any) -> bool:
    return isinstance(value, str) and value != ""
