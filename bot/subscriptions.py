"""Digest subscriptions in Slack: the `/kpi subscribe` modal, the list `/kpi subscriptions` and `/kpi unsubscribe`
show, and the App Home's "Digests" section with its pause, resume and delete buttons.

Plain functions from core objects to Block Kit and back; bot/app.py wires them. What may be subscribed to, and
when it is sent, is :mod:`digests.subscriptions`'s business.
"""

from __future__ import annotations

from typing import Any

from slack_sdk.errors import SlackApiError

from bot import blocks
from digests.config import CONTENTS, load_digests
from digests.subscriptions import (
    PEOPLE_IN,
    ChannelError,
    Choices,
    Request,
    SubscriptionError,
    audience_choices,
    describe,
    subscribe,
    subscriptions_of,
)
from kpi.access import AccessDenied
from kpi.config import WEEKDAYS
from kpi.directory import Person
from kpi.schema import Subscription
from kpi.service import Kpibot
from slackui import blocks as slack
from slackui.text import clip

CALLBACK_ID = "kpi_subscribe"
ACTION = "value"  # the action_id of every input: state.values[block_id]["value"]
ADD_ACTION = "subscription_add"  # the App Home's button that opens the modal
TOGGLE_ACTION = "subscription_toggle"  # value "ID:on" or "ID:off"
DELETE_ACTION = "subscription_delete"  # value "ID"
TIMES = [f"{hour:02d}:{minute:02d}" for hour in range(24) for minute in (0, 30)]
DAYS = [(day.capitalize(), day) for day in WEEKDAYS] + [(f"Day {n} of the month", str(n)) for n in range(1, 29)]
#: A channel you are in (the bot must be in it too: it never joins one by itself).
CHANNELS = {
    "type": "conversations_select",
    "action_id": ACTION,
    "placeholder": {"type": "plain_text", "text": "By DM"},
    "filter": {"include": ["public", "private"], "exclude_bot_users": True},
}
NOT_A_MEMBER = "You can send a digest only to a channel you are in."
BOT_NOT_IN = "I'm not in that channel: invite me with `/invite @kpibot`, then subscribe again."
NONE_YET = "You have no digest subscriptions. `/kpi subscribe` picks a digest, how often and at what time."


def _input(block_id: str, label: str, element: dict[str, Any], *, optional: bool = False) -> dict[str, Any]:
    block = {"type": "input", "block_id": block_id, "label": {"type": "plain_text", "text": label}}
    return {**block, "element": element, "optional": optional}


def subscribe_modal(kpibot: Kpibot, person: Person, timezone: str) -> dict[str, Any]:
    """The form: which digest, whose numbers (only what ``person`` may see), how often, what time and day."""
    specs = load_digests(kpibot.config_dir, kpibot.catalog).digests
    digests = [(spec.name, spec.name) for spec in specs if spec.enabled]
    cadences = [(cadence.capitalize(), cadence) for cadence in CONTENTS]
    view_blocks = [
        _input("digest", "Digest", slack.static_select(ACTION, "Pick a digest", digests, initial="weekly")),
        _input("audience", "Whose numbers", _whose(audience_choices(kpibot, person))),
        _input("cadence", "How often", slack.static_select(ACTION, "Pick", cadences, initial="weekly")),
        _input("time", "At", slack.static_select(ACTION, "Pick a time", [(t, t) for t in TIMES], initial="08:00")),
        _input("day", "On (weekly or monthly)", slack.static_select(ACTION, "Monday, or the 1st", DAYS), optional=True),
        _input("channel", "In a channel instead of a DM (a team's digest)", CHANNELS, optional=True),
        slack.context(f"Sent at your local time, in your Slack time zone ({timezone})."),
    ]
    return {
        "type": "modal",
        "callback_id": CALLBACK_ID,
        "title": {"type": "plain_text", "text": "Subscribe to a digest"},
        "submit": {"type": "plain_text", "text": "Subscribe"},
        "close": {"type": "plain_text", "text": "Cancel"},
        "blocks": view_blocks,
    }


def _whose(choices: Choices) -> dict[str, Any]:
    """The menu of whose numbers, in groups; without the groups of people when there are more than a menu holds
    (an admin of a company of hundreds of teams is offered the teams, the organisation and their own)."""

    def menu(groups: Choices) -> dict[str, Any] | None:
        return slack.grouped_select(
            ACTION, "Pick", [(label, [slack.option(*c) for c in found]) for label, found in groups]
        )

    whole = menu(choices) or menu([group for group in choices if not group[0].startswith(PEOPLE_IN)])
    assert whole is not None  # fewer than 10,000 teams
    return whole


def _picked(state: dict[str, Any], block_id: str) -> str | None:
    option = ((state.get(block_id) or {}).get(ACTION) or {}).get("selected_option")
    return option.get("value") if isinstance(option, dict) else None


def save_submission(
    kpibot: Kpibot, client: Any, person: Person, slack_user_id: str, view_state: dict[str, Any], timezone: str
) -> dict[str, str] | None:
    """Subscribe as the submitted form says; ``{block_id: message}`` for Slack's ``response_action: errors``,
    or None once saved. A channel must be one the subscriber and kpibot are both in."""
    channel = ((view_state.get("channel") or {}).get(ACTION) or {}).get("selected_conversation")
    if channel:
        try:
            members = client.conversations_members(channel=channel, limit=1000)["members"]
        except SlackApiError:
            return {"channel": BOT_NOT_IN}
        if slack_user_id not in members:
            return {"channel": NOT_A_MEMBER}
    picked = {name: _picked(view_state, name) for name in ("digest", "audience", "cadence", "time", "day")}
    missing = {name: "Pick one." for name, value in picked.items() if value is None and name != "day"}
    if missing:
        return missing
    cadence, day = picked["cadence"] or "", picked["day"]
    fits = {"daily": False, "weekly": day in WEEKDAYS, "monthly": day is not None and day not in WEEKDAYS}
    if not fits.get(cadence, False):
        day = None  # a day that does not fit the cadence: the cadence's first (Monday, or the 1st)
    request = Request(picked["digest"] or "", picked["audience"] or "", cadence, picked["time"] or "", day, channel)
    try:
        subscribe(kpibot, person, slack_user_id, request, timezone)
    except (AccessDenied, LookupError) as exc:  # not theirs to see, or a team or person gone since the form opened
        return {"audience": clip(str(exc), 300)}
    except ChannelError as exc:
        return {"channel": clip(str(exc), 300)}
    except SubscriptionError as exc:
        return {"digest": clip(str(exc), 300)}
    return None


def open_subscribe_modal(
    client: Any, trigger_id: str, kpibot: Kpibot, person: Person, timezone: str
) -> dict[str, Any] | None:
    """Open the form (views.open with the command's or the button's ``trigger_id``); a message saying why when
    Slack refused it, else None."""
    try:
        client.views_open(trigger_id=trigger_id, view=subscribe_modal(kpibot, person, timezone))
    except SlackApiError as exc:
        error = exc.response.get("error")
        return blocks.problem_message(f"I couldn't open the subscription form ({error}). Try `/kpi subscribe` again.")
    return None


def refusal_modal(message: dict[str, Any]) -> dict[str, Any]:
    """Why the form did not open, in a modal: what the App Home's button shows, having no response_url to answer
    through as a command does."""
    title = {"type": "plain_text", "text": "Subscribe to a digest"}
    return {
        "type": "modal",
        "title": title,
        "close": {"type": "plain_text", "text": "Close"},
        "blocks": message["blocks"],
    }


def _rows_blocks(kpibot: Kpibot, rows: list[Subscription]) -> list[dict[str, Any]]:
    """Each subscription with its buttons: pause or resume, and delete."""
    found = []
    for row in rows:
        toggle = ("Resume", f"{row.id}:on") if not row.enabled else ("Pause", f"{row.id}:off")
        found.append(slack.section(f"• {describe(kpibot, row)}", block_id=f"subscription_{row.id}"))
        found.append(
            {
                "type": "actions",
                "block_id": f"subscription_actions_{row.id}",
                "elements": [
                    _button(toggle[0], TOGGLE_ACTION, toggle[1]),
                    _button("Delete", DELETE_ACTION, str(row.id), style="danger"),
                ],
            }
        )
    return found


def _button(text: str, action_id: str, value: str, style: str | None = None) -> dict[str, Any]:
    button = {"type": "button", "action_id": action_id, "text": {"type": "plain_text", "text": text}, "value": value}
    return {**button, "style": style} if style else button


def subscriptions_message(kpibot: Kpibot, slack_user_id: str) -> dict[str, Any]:
    """What `/kpi subscriptions` and `/kpi unsubscribe` answer: the list, each with its buttons."""
    rows = subscriptions_of(kpibot.engine, slack_user_id)
    if not rows:
        return {"text": NONE_YET, "blocks": [slack.section(NONE_YET)]}
    head = slack.section("*Your digest subscriptions*")
    return {"text": f"You have {len(rows)} digest subscription(s).", "blocks": [head, *_rows_blocks(kpibot, rows)]}


def home_section(kpibot: Kpibot, slack_user_id: str) -> list[dict[str, Any]]:
    """The App Home's "Digests" section: the subscriptions with their toggles, and a button to add one."""
    rows = subscriptions_of(kpibot.engine, slack_user_id)
    add = _button("Subscribe to a digest", ADD_ACTION, "add")
    intro = "Digests you chose, sent at your local time." if rows else NONE_YET
    return [slack.header("Digests"), slack.section(intro, accessory=add), *_rows_blocks(kpibot, rows)]
