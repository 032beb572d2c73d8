"""Slack's Block Kit limits and the blocks every kpibot message is made of, shared by the bot and the digests.

Limits: 50 blocks per message, 3,000 characters per section text (2,000 per field), 150 per header text.
"""

from __future__ import annotations

from typing import Any

MAX_BLOCKS = 50
MAX_SECTION = 3000
MAX_HEADER = 150


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": clip(text, MAX_HEADER), "emoji": True}}


def section(text: str, fields: list[str] | None = None) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "section", "text": {"type": "mrkdwn", "text": clip(text, MAX_SECTION)}}
    if fields:
        block["fields"] = [{"type": "mrkdwn", "text": clip(f, 2000)} for f in fields[:10]]
    return block


def context(*texts: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": clip(t, MAX_SECTION)} for t in texts[:10]]}


def divider() -> dict[str, Any]:
    return {"type": "divider"}


def progress_bar(share: float, width: int = 10) -> str:
    filled = max(0, min(width, round(share * width)))
    return "▓" * filled + "░" * (width - filled)
