"""What kpibot's listeners read from Slack's payloads, checked before any listener runs.

A signed request is from Slack, but its payload may still lack what a listener reads (a replayed or hand-made body,
a shape Slack changed): a listener that met a missing ``user_id`` raised, and Bolt answered 500. Here each payload
kind kpibot listens to is checked for the fields its listener reads; a payload without them gets 400, and nothing
runs. Payloads kpibot does not listen to go on to Bolt, which answers 404.
"""

from __future__ import annotations

import json
from typing import Any

from slack_bolt import BoltResponse


def problem(body: Any) -> str | None:
    """Why ``body`` (a parsed Slack payload) cannot be handled, or None when its listener has what it reads."""
    if not isinstance(body, dict):
        return "a payload is a JSON object"
    if "command" in body:
        return _command(body)
    kind = body.get("type")
    if kind in ("block_actions", "view_submission") and not _text(_get(body, "user", "id")):
        return "no user"
    if kind == "block_actions":
        return _actions(body.get("actions"))
    if kind == "view_submission":
        return None if isinstance(_get(body, "view", "state", "values"), dict) else "a view without state"
    if kind == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not _text(event.get("type")):
            return "an event without a type"
        if event["type"] == "app_home_opened" and not _text(event.get("user")):
            return "app_home_opened without a user"
    return None


def reject_malformed(body: Any, next: Any) -> BoltResponse | None:
    """Bolt middleware: 400 for a payload its listener could not read."""
    why = problem(body)
    if why is not None:
        return BoltResponse(status=400, body=f"malformed payload: {why}")
    return next()


def _command(body: dict[str, Any]) -> str | None:
    if not _text(body.get("user_id")):
        return "a command without user_id"
    if not isinstance(body.get("text", ""), str):
        return "a command whose text is not text"
    return None


def _actions(actions: Any) -> str | None:
    if not isinstance(actions, list) or not actions or not all(isinstance(a, dict) for a in actions):
        return "block_actions without actions"
    action = actions[0]
    if action.get("action_id") == "kpi_share":
        return None if _question(action.get("value"), "q") else "a share without its question"
    if action.get("action_id") == "kpi_period":
        value = _get(action, "selected_option", "value")
        return None if _question(value, "q", "p") else "a period choice without its question"
    return None


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
