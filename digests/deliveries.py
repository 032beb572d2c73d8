"""Exactly-once Slack posts: every post has an idempotency key recorded before sending and completed after.

    claim (INSERT key, status "pending")  ->  post  ->  complete (status "sent", ts)

A second worker, a restart or a re-run finds the key and does not post again. A crash between the post and
its completion leaves a "pending" row; :func:`resolve_pending` settles it by looking for the message in the
channel's history (by the fingerprint of its text) before posting it once more.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from kpi.periods import utc_now
from kpi.schema import Delivery

log = logging.getLogger("kpibot.deliveries")
STALE_PENDING = dt.timedelta(minutes=5)
Post = Callable[[WebClient, str, dict[str, Any]], str]  # posts a message, returns its Slack ts
Rebuilt = tuple[dict[str, Any], Post | None]  # a message rebuilt for recovery, and how to post it


@dataclass(frozen=True)
class Outcome:
    key: str
    status: str  # sent | duplicate | pending-elsewhere | failed-elsewhere | failed | review
    ts: str | None = None
    error: str | None = None


def fingerprint(message: dict[str, Any]) -> str:
    return hashlib.sha256(message.get("text", "").encode()).hexdigest()


def deliver(
    engine: Engine,
    client: WebClient,
    key: str,
    channel: str,
    message: dict[str, Any],
    post: Post | None = None,
) -> Outcome:
    """Post ``message`` to ``channel`` once for ``key``; ``post`` returns the Slack ts (default chat.postMessage)."""
    post = post or _post_message
    if not _claim(engine, key, channel, fingerprint(message)):
        with engine.connect() as connection:
            status = connection.execute(select(Delivery.status).where(Delivery.key == key)).scalar_one()
        return Outcome(key, "duplicate" if status == "sent" else f"{status}-elsewhere")
    return _send(engine, client, key, channel, message, post)


def _send(engine, client, key, channel, message, post) -> Outcome:
    try:
        ts = post(client, channel, message)
    except SlackApiError as exc:
        error = str(exc.response.get("error", exc))
        _finish(engine, key, status="failed", error=error)
        log.warning("delivery failed", extra={"key": key, "channel": channel, "error": error})
        return Outcome(key, "failed", error=error)
    _finish(engine, key, status="sent", ts=ts)
    return Outcome(key, "sent", ts=ts)


def _post_message(client: WebClient, channel: str, message: dict[str, Any]) -> str:
    return client.chat_postMessage(channel=channel, **message)["ts"]


def _claim(engine: Engine, key: str, channel: str, print_: str) -> bool:
    """Record the intent to post; False when the key exists already (posted, or being posted elsewhere)."""
    try:
        with engine.begin() as connection:
            connection.execute(
                Delivery.__table__.insert().values(
                    key=key, status="pending", created_at=utc_now(), channel=channel, fingerprint=print_
                )
            )
        return True
    except IntegrityError:
        return False


def _finish(engine: Engine, key: str, *, status: str, ts: str | None = None, error: str | None = None) -> None:
    with engine.begin() as connection:
        connection.execute(
            update(Delivery)
            .where(Delivery.key == key)
            .values(status=status, ts=ts, error=error, sent_at=utc_now() if status == "sent" else None)
        )


def resolve_pending(engine: Engine, client: WebClient, rebuild: Callable[[str], Rebuilt | None]) -> list[Outcome]:
    """Settle deliveries a crash left "pending": found in the channel -> sent; else posted now, once.

    ``rebuild(key)`` recreates the message for a key and how to post it (None when it can no longer be built:
    the delivery is marked for review).
    """
    cutoff = utc_now() - STALE_PENDING
    with engine.connect() as connection:
        rows = connection.execute(
            select(Delivery).where(Delivery.status == "pending", Delivery.created_at < cutoff)
        ).all()
    outcomes = []
    for row in rows:
        found = _find_in_history(client, row.channel, row.fingerprint, row.created_at)
        if found:
            _finish(engine, row.key, status="sent", ts=found)
            outcomes.append(Outcome(row.key, "sent", ts=found))
            continue
        rebuilt = rebuild(row.key)
        if rebuilt is None or fingerprint(rebuilt[0]) != row.fingerprint:
            _finish(engine, row.key, status="review", error="crashed while posting; could not confirm the post")
            outcomes.append(Outcome(row.key, "review"))
            continue
        message, post = rebuilt
        outcomes.append(_send(engine, client, row.key, row.channel, message, post or _post_message))
    return outcomes


def _find_in_history(client: WebClient, channel: str, print_: str, since: dt.datetime) -> str | None:
    oldest = since.replace(tzinfo=dt.UTC).timestamp() - 60
    try:
        history = client.conversations_history(channel=channel, oldest=f"{oldest:.6f}", limit=200)
    except SlackApiError:
        return None
    for message in history.get("messages", []):
        if fingerprint(message) == print_:
            return message["ts"]
    return None
