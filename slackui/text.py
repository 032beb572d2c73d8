"""Text for Slack mrkdwn: the one way a string that came from the CRM, a config file or a person enters a message,
and the small pieces of text every kpibot message shares (clipping, mentions, arrows, progress bars, sparklines).

Slack reads ``&``, ``<`` and ``>`` as control characters (``<!channel>``, ``<@U123>``, ``<#C123>``,
``<https://evil.example|click me>``): a rep named ``<!channel>`` would ping a whole channel when an answer is shared.
Slack's documented escape turns them into ``&amp;``, ``&lt;`` and ``&gt;``, which it shows as the characters.
Formatting characters (``*bold*``, ``_italic_``, ``~strike~``, `` `code` ``) have no escape in mrkdwn; each is
fenced with zero-width spaces so that it can neither open nor close a span and shows as itself.

Only mrkdwn needs this: ``plain_text`` objects (headers, buttons, options) show their text as it is.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

#: A zero-width space: invisible, and not part of a word, so a formatting character beside it pairs with nothing.
FENCE = "\u200b"
_FORMATTING = str.maketrans({char: f"{FENCE}{char}{FENCE}" for char in "*_~`"})
#: A change's direction: up, down, or none (no change, or nothing to compare with).
ARROWS = {True: ":arrow_up_small:", False: ":arrow_down_small:", None: ":left_right_arrow:"}
#: A sparkline's eight heights, lowest first.
SPARKS = "▁▂▃▄▅▆▇█"


def escape(text: str, *, formatting: bool = True) -> str:
    """``text`` shown literally in mrkdwn: no mention, channel ping, link or formatting can come out of it.

    ``formatting=False`` escapes the control characters only, for kpibot's own sentences that quote a value and
    mean their own `code` spans and code blocks (a refusal, the people.yaml lines an admin copies): a value
    quoted there can still not mention, ping or link, and fences would break what is copied.
    """
    escaped = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return escaped.translate(_FORMATTING) if formatting else escaped


def clip(text: str, limit: int) -> str:
    """``text`` within ``limit`` characters, an ellipsis saying that some was cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class Mentionable(Protocol):
    """Someone who can be mentioned (a :class:`kpi.directory.Person`): slackui imports nothing of the core."""

    @property
    def name(self) -> str: ...

    @property
    def slack_user_id(self) -> str | None: ...


def mention(person: Mentionable) -> str:
    """``<@U123>`` for someone Slack knows, else their escaped name."""
    return f"<@{person.slack_user_id}>" if person.slack_user_id else escape(person.name)


def arrow(delta: float | None) -> str:
    """The arrow for a change: up, down, or sideways when there is none (zero, or nothing to compare with)."""
    return ARROWS[delta > 0] if delta else ARROWS[None]


def progress_bar(share: float, width: int = 10) -> str:
    """``▓▓▓▓▓▓░░░░`` for 0.6: a share of a target at a glance, full at 100% and beyond."""
    filled = max(0, min(width, round(share * width)))
    return "▓" * filled + "░" * (width - filled)


def sparkline(values: Sequence[float | None]) -> str:
    """``▁▅█▃`` for 0, 5, 9, 3: a series' shape in one line of text, each value a block of eight heights.

    Scaled from the series' lowest value to its highest, as sparklines are, so that a change shows however small
    (the numbers written beside it say how big); equal values draw a flat line of the lowest block, and a
    missing value (``None``) a gap.
    """
    known = [value for value in values if value is not None]
    low, high = (min(known), max(known)) if known else (0.0, 0.0)
    top = len(SPARKS) - 1

    def block(value: float) -> str:
        return SPARKS[int((value - low) / (high - low) * top + 0.5) if high > low else 0]

    return "".join(" " if value is None else block(value) for value in values)
