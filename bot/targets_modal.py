"""`/kpi targets`: a modal where managers set their people's and teams' targets, and admins anyone's.

Plain functions from core objects to Block Kit and back, within Slack's limits (blocks per view, options
per select or option group, characters per option text: :mod:`slackui.limits`). bot/app.py wires them: the /kpi
listener calls :func:`open_targets_modal` for the text "targets", and ``app.view("kpi_targets")`` calls
:func:`save_submission` with the submitted view's ``state.values``. Validation, access rules and storage
live in :mod:`kpi.targets` and :mod:`kpi.access`.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from slack_sdk.errors import SlackApiError

from bot import blocks
from kpi.access import target_scopes
from kpi.directory import Person
from kpi.formats import formatted
from kpi.service import Kpibot
from kpi.targets.parsing import (
    TargetErrors,
    period_label,
    resolve_who,
    upcoming_periods,
    validate,
    who_from_key,
)
from kpi.targets.storage import set_target, stored
from kpi.types import ORG, Role, Who
from slackui import blocks as slack
from slackui.limits import MAX_OPTION_TEXT, MAX_VIEW_BLOCKS
from slackui.text import clip, escape

CALLBACK_ID = "kpi_targets"
MAX_SUMMARY_LINES = 15
ACTION = "value"  # the action_id of every input: state.values[block_id]["value"]
_KEY = re.compile(r"org|(?:rep|team):\d+")
_PERIOD = re.compile(r"(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2})")
REFUSAL = (
    "Targets are set by managers, for the people and teams they manage, and by admins. "
    "Ask `/kpi my revenue` to see your progress against your own targets."
)


def _text(text: str, kind: str = "plain_text") -> dict[str, Any]:
    return {"type": kind, "text": text} if kind == "mrkdwn" else {"type": kind, "text": text, "emoji": True}


def _option(text: str, value: str) -> dict[str, Any]:
    return {"text": _text(clip(text, MAX_OPTION_TEXT)), "value": value}


def _input(block_id: str, label: str, element: dict[str, Any], hint: str | None = None) -> dict[str, Any]:
    block = {"type": "input", "block_id": block_id, "label": _text(label), "element": element}
    if hint:
        block["hint"] = _text(hint)
    return block


def _who_block(kpibot: Kpibot, scopes: list[Who]) -> dict[str, Any]:
    directory = kpibot.directory
    groups: dict[str, list[dict[str, Any]]] = {"Organisation": [], "Teams": []}
    people: dict[str, list[dict[str, Any]]] = {}
    for who in scopes:
        if who.type == "org":
            groups["Organisation"].append(_option("The whole organisation", who.key))
        elif who.type == "team":
            groups["Teams"].append(_option(f"Team {who.name}", who.key))
        else:
            person = directory.people[who.id]  # type: ignore[index]
            team = directory.teams.get(person.team_id) if person.team_id is not None else None
            people.setdefault(team.name if team else "No team", []).append(_option(who.name, who.key))
    ordered = [*groups.items(), *sorted(people.items(), key=lambda item: (item[0] == "No team", item[0].lower()))]
    element = slack.grouped_select(ACTION, "Pick a person or a team", ordered)
    if element is None:  # too many to list: typed, and checked on submission like any other target
        element = {
            "type": "plain_text_input",
            "action_id": ACTION,
            "placeholder": _text("Email or name of a person, a team's name, or org"),
        }
    return _input("who", "Who", element)


def _kpi_block(kpibot: Kpibot) -> dict[str, Any]:
    options = [_option(kpi.label, kpi.key) for kpi in kpibot.catalog]
    element = slack.grouped_select(ACTION, "Pick a KPI", [("KPIs", options)])
    assert element is not None  # fewer than 10,000 KPIs
    initial = next((option for option in options if option["value"] == "revenue"), None)
    if initial is not None and "options" in element:
        element["initial_option"] = initial
    return _input("kpi", "KPI", element)


def _period_block(kpibot: Kpibot, today: dt.date) -> dict[str, Any]:
    options = [
        _option(f"{choice} · {label}", f"{start.isoformat()}/{end.isoformat()}")
        for choice, label, start, end in upcoming_periods(kpibot.calendar, today)
    ]
    element = {
        "type": "static_select",
        "action_id": ACTION,
        "placeholder": _text("Pick a period"),
        "options": options,
        "initial_option": options[1],  # this quarter
    }
    return _input("period", "Period", element)


def _summary(kpibot: Kpibot, scopes: list[Who], today: dt.date) -> str | None:
    """Targets already set for the offered periods, for the scopes offered: what a change would replace."""
    wanted = {(who.type, who.id) for who in scopes}
    rows = [
        row
        for _, _, start, end in upcoming_periods(kpibot.calendar, today)
        for row in stored(kpibot.engine, period=(start, end))
        if (row.scope_type, row.scope_id) in wanted and row.kpi in kpibot.catalog.kpis
    ]
    if not rows:
        return None
    names = {(who.type, who.id): who.name for who in scopes}
    order = {"org": 0, "team": 1, "rep": 2}
    rows.sort(key=lambda r: (r.period_start, r.period_end, order[r.scope_type], names[(r.scope_type, r.scope_id)]))
    lines = []
    for row in rows[:MAX_SUMMARY_LINES]:
        kpi = kpibot.catalog[row.kpi]
        value = formatted(row.value, kpi.format, kpibot.org.currency)
        label = period_label(kpibot.calendar, row.period_start, row.period_end)
        lines.append(f"• {escape(names[(row.scope_type, row.scope_id)])} · {escape(kpi.label)} · {label}: {value}")
    if len(rows) > MAX_SUMMARY_LINES:
        lines.append(f"… and {len(rows) - MAX_SUMMARY_LINES} more (`kpibot targets list`).")
    return "*Already set* (saving the same person, KPI and period changes it)\n" + "\n".join(lines)


def targets_modal(kpibot: Kpibot, person: Person, today: dt.date | None = None) -> dict[str, Any]:
    """The modal view for ``person``: who (the people and teams they may set targets for), KPI, period
    (this month, quarter or year; next month or quarter) and value."""
    today = today or kpibot.calendar.today()
    scopes = target_scopes(kpibot.directory, person, today)
    view: dict[str, Any] = {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": _text("Set targets"),
        "close": _text("Cancel"),
    }
    if not scopes:
        return {**view, "close": _text("Close"), "blocks": [slack.section(REFUSAL)]}
    view_blocks = [
        slack.section(
            "Set a target for someone you manage. Answers, pace and digests use it from now on."
            if person.role != Role.ADMIN
            else "Set a target for anyone, a team or the whole organisation."
        ),
        _who_block(kpibot, scopes),
        _kpi_block(kpibot),
        _period_block(kpibot, today),
        _input(
            "value",
            "Target",
            {
                "type": "plain_text_input",
                "action_id": ACTION,
                "placeholder": _text("e.g. 120000, 120k, or 30% for a rate"),
            },
            hint="Money and counts as numbers (120k is 120,000); rates as 30% or 0.3; days as 30.",
        ),
    ]
    if summary := _summary(kpibot, scopes, today):
        view_blocks.append(slack.context(summary))
    return {**view, "submit": _text("Save"), "blocks": view_blocks[:MAX_VIEW_BLOCKS]}


def _picked(state: dict[str, Any], block_id: str) -> str | None:
    """The chosen option's value or the typed text of one input, None when empty."""
    action = (state.get(block_id) or {}).get(ACTION) or {}
    option = action.get("selected_option")
    value = option.get("value") if isinstance(option, dict) else action.get("value")
    return (value.strip() or None) if isinstance(value, str) else None


def save_submission(
    kpibot: Kpibot, person: Person, view_state: dict[str, Any], now: dt.datetime | None = None
) -> dict[str, str] | None:
    """Validate a submitted modal (``view["state"]["values"]``) as ``person`` and save the target with
    ``set_by`` = their email. Returns ``{block_id: message}`` for Slack's ``response_action: errors``, or
    None once saved."""
    errors: dict[str, str] = {}
    who_text, kpi_key = _picked(view_state, "who"), _picked(view_state, "kpi")
    period_text, value = _picked(view_state, "period"), _picked(view_state, "value")
    who: Any = who_text
    if who_text is None:
        errors["who"] = "Pick a person or a team."
    elif _KEY.fullmatch(who_text):
        try:
            who = ORG if who_text == "org" else who_from_key(kpibot.directory, who_text)
        except TargetErrors as exc:
            errors.update(exc.errors)
    else:
        try:
            who = resolve_who(kpibot.directory, who_text)
        except TargetErrors as exc:
            errors.update(exc.errors)
    period: Any = period_text
    if period_text is not None and (match := _PERIOD.fullmatch(period_text)):
        try:
            period = (dt.date.fromisoformat(match[1]), dt.date.fromisoformat(match[2]))
        except ValueError:
            errors["period"] = f"{period_text} holds a date that does not exist; pick a period from the list."
    try:
        spec = validate(kpibot, who, kpi_key, period, value, setter=person)
    except TargetErrors as exc:
        errors = {**exc.errors, **errors}
    if errors:
        return {name: clip(message, 300) for name, message in errors.items()}
    set_target(kpibot.engine, spec, person.email or person.name, now=now)
    return None


def open_targets_modal(client: Any, trigger_id: str, kpibot: Kpibot, person: Person) -> dict[str, Any] | None:
    """Open the modal for ``person`` (views.open with the command's ``trigger_id``). Returns None when it
    opened, or an ephemeral message to send instead (a rep, who sets no targets; Slack refusing)."""
    if not target_scopes(kpibot.directory, person, kpibot.calendar.today()):
        return blocks.problem_message(REFUSAL)
    try:
        client.views_open(trigger_id=trigger_id, view=targets_modal(kpibot, person))
    except SlackApiError as exc:
        error = exc.response.get("error") if exc.response is not None else str(exc)
        return blocks.problem_message(f"I couldn't open the targets form ({error}). Try `/kpi targets` again.")
    return None
