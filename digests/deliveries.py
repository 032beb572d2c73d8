"""The delivery ledger: every Slack post is posted once, and every attempt at it is kept.

A delivery is one row of ``deliveries``, keyed for idempotency (a celebration's crossing, a digest's audience,
recipient and period). Its state moves only as kpi/delivery_state.py allows, and every move is a
compare-and-set on the row as it was read, so of two workers doing the same thing one wins:

    claim: INSERT the key as SENDING, with attempt 1   ->   post   ->   SENT (ts) | FAILED (Slack's error)

A second worker, a restart or a job firing twice finds the key: SENT is a duplicate, SENDING is being posted
elsewhere. A post whose answer never came (the connection broke: UNCONFIRMED; or the worker died: SENDING
for longer than :data:`STALE_SENDING`) may or may not be in Slack; it is settled by looking for it in the
channel's history (by the fingerprint of its text) and posted once more only when it is not there. A post
Slack refused (``not_in_channel``, an archived channel, an outage the client's own retries did not ride out)
is tried again by a later run that asks for the same key, :data:`RETRY_AFTER` after the last attempt, up to
:data:`MAX_ATTEMPTS` attempts in all and only within :data:`RETRY_WITHIN` of the first.

A DM is a delivery to a member's user id: the one way kpibot sends one (digests, subscriptions, alerts). It is
posted to the user id, and the IM channel Slack answers with is kept on the delivery and for the member
(:mod:`digests.ims`); their later DMs are addressed to that IM, where an unconfirmed one is looked for.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import http.client
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from enum import StrEnum
from functools import partial
from typing import Any, NamedTuple

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Connection, Engine, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError

from digests import ims
from kpi.delivery_state import DeliveryState, check_transition
from kpi.periods import utc_now
from kpi.schema import Delivery, DeliveryAttempt

log = logging.getLogger("kpibot.deliveries")
STALE_SENDING = dt.timedelta(minutes=5)  # a post takes seconds: SENDING for this long means its worker died
RETRY_AFTER = dt.timedelta(minutes=10)  # time for someone to invite the bot, or for Slack to recover
MAX_ATTEMPTS = 3
RETRY_WITHIN = dt.timedelta(hours=1)  # a post first tried longer ago is old news: it is not retried


class Posted(NamedTuple):
    """Where Slack posted a message (the channel's id: a DM's IM, a ``#name``'s id) and its ts."""

    channel: str
    ts: str


Post = Callable[[WebClient, str, dict[str, Any]], Posted]  # posts a message to a channel or a member
Rebuilt = tuple[dict[str, Any], Post | None]  # a message rebuilt for recovery, and how to post it
Rebuild = Callable[[], Rebuilt | None]  # builds it only when needed (a digest takes a while)

#: What cannot be told from a post that raised it: the request may have reached Slack before it broke.
CONNECTION_LOST = (OSError, http.client.HTTPException)


class Status(StrEnum):
    """What one call did about a delivery (its state in the ledger says where the delivery stands)."""

    SENT = "sent"  # posted now, or found in the channel's history
    DUPLICATE = "duplicate"  # sent before: nothing posted
    BUSY = "sending-elsewhere"  # another worker is posting it
    FAILED = "failed"  # Slack refused this attempt (``error``): reported, retried later while attempts remain
    FAILED_BEFORE = "failed-earlier"  # refused before, and not retried now (too soon, or no attempts left)
    UNCONFIRMED = "unconfirmed"  # the connection broke mid-post: settled later from the channel's history
    REVIEW = "review"  # neither confirmed nor repeatable: left for a person


@dataclass(frozen=True)
class Outcome:
    key: str
    status: Status
    ts: str | None = None
    error: str | None = None
    channel: str | None = None  # where a post made now went (a DM's IM): where its thread is


@dataclass(frozen=True)
class Entry:
    """A delivery as read from the ledger, with its attempts so far and the last one's error."""

    key: str
    state: DeliveryState
    channel: str | None
    fingerprint: str | None
    created_at: dt.datetime
    updated_at: dt.datetime
    ts: str | None
    attempts: int
    last_error: str | None

    def stale(self, now: dt.datetime) -> bool:
        return self.state is DeliveryState.SENDING and self.updated_at < now - STALE_SENDING

    def retry_due(self, now: dt.datetime) -> bool:
        return (
            self.state is DeliveryState.FAILED
            and self.attempts < MAX_ATTEMPTS
            and self.updated_at <= now - RETRY_AFTER
            and self.created_at >= now - RETRY_WITHIN
        )


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
    """Post ``message`` to ``channel`` (a channel, or a member's user id for a DM) once for ``key``; ``post`` says
    where Slack posted it (default chat.postMessage)."""
    post = post or _post_message
    claimed = _claim(engine, key, ims.address(engine, channel), fingerprint(message))
    if claimed is not None:
        return _attempt(engine, client, claimed, message, post)
    entry = _entries(engine, Delivery.key == key)[0]
    return _again(engine, client, entry, lambda: (message, post))


def resolve_pending(engine: Engine, client: WebClient, rebuild: Callable[[str], Rebuilt | None]) -> list[Outcome]:
    """Settle the posts left unconfirmed (a lost connection, a worker that died) and retry the failed ones due.

    ``rebuild(key)`` recreates the message for a key and how to post it (None when it can no longer be built:
    an unconfirmed delivery not found in the channel is then left for review, a failed one as it is).
    """
    now = utc_now()
    waiting = or_(
        Delivery.status == DeliveryState.UNCONFIRMED,
        (Delivery.status == DeliveryState.SENDING) & (Delivery.updated_at < now - STALE_SENDING),
        (Delivery.status == DeliveryState.FAILED)
        & (Delivery.updated_at <= now - RETRY_AFTER)
        & (Delivery.created_at >= now - RETRY_WITHIN),
    )
    return [
        _again(engine, client, entry, partial(rebuild, entry.key))
        for entry in _entries(engine, waiting)
        if entry.state is not DeliveryState.FAILED or entry.retry_due(now)
    ]


def recent(engine: Engine, limit: int = 50, state: DeliveryState | None = None) -> list[Entry]:
    """The deliveries whose state changed last, newest first, optionally only those in ``state``
    (``kpibot deliveries``)."""
    return _entries(engine, *([Delivery.status == state] if state else []), limit=limit)


def _again(engine: Engine, client: WebClient, entry: Entry, rebuild: Rebuild) -> Outcome:
    """A delivery asked for once more: nothing, a retry, or settling a post nobody confirmed."""
    now = utc_now()
    if entry.state is DeliveryState.SENT:
        return Outcome(entry.key, Status.DUPLICATE, ts=entry.ts)
    if entry.state is DeliveryState.REVIEW:
        return Outcome(entry.key, Status.REVIEW, error=entry.last_error)
    if entry.state is DeliveryState.FAILED:
        rebuilt = rebuild() if entry.retry_due(now) else None
        if rebuilt is None:
            return Outcome(entry.key, Status.FAILED_BEFORE, error=entry.last_error)
        return _post_again(engine, client, entry, rebuilt)
    if entry.state is DeliveryState.SENDING:
        abandoned = _abandon(engine, entry) if entry.stale(now) else None
        if abandoned is None:
            return Outcome(entry.key, Status.BUSY)
        entry = abandoned
    return _settle(engine, client, entry, rebuild)


def _abandon(engine: Engine, entry: Entry) -> Entry | None:
    """Close the attempt of a worker that died mid-post: the delivery becomes UNCONFIRMED (None when another
    worker moved it first)."""
    error = "the worker stopped before Slack confirmed the post"
    with engine.begin() as connection:
        moved = _move(connection, entry, DeliveryState.UNCONFIRMED)
        if moved is not None:
            _close_attempt(connection, moved, error)
    return replace(moved, last_error=error) if moved else None


def _settle(engine: Engine, client: WebClient, entry: Entry, rebuild: Rebuild) -> Outcome:
    """An UNCONFIRMED delivery: found in the channel's history -> SENT; else posted once more (the same
    message, while attempts remain) or left for review."""
    assert entry.channel is not None and entry.fingerprint is not None
    channel = ims.im_of(engine, client, entry.channel) if ims.is_member(entry.channel) else entry.channel
    found = _find_in_history(client, channel, entry.fingerprint, entry.created_at) if channel else None
    if found:
        with engine.begin() as connection:
            moved = _move(connection, entry, DeliveryState.SENT, ts=found, channel=channel, sent_at=utc_now())
        return Outcome(entry.key, Status.SENT if moved else Status.BUSY, ts=found)
    rebuilt = rebuild()
    if rebuilt is None or fingerprint(rebuilt[0]) != entry.fingerprint or entry.attempts >= MAX_ATTEMPTS:
        with engine.begin() as connection:
            moved = _move(connection, entry, DeliveryState.REVIEW)
        if moved:
            log.warning("delivery left for review", extra={"key": entry.key, "channel": entry.channel})
        return Outcome(entry.key, Status.REVIEW if moved else Status.BUSY, error=entry.last_error)
    return _post_again(engine, client, entry, rebuilt)


def _post_again(engine: Engine, client: WebClient, entry: Entry, rebuilt: Rebuilt) -> Outcome:
    """Start attempt n+1 of a FAILED or UNCONFIRMED delivery, unless another worker moved it first. A failed
    post is retried with the message as it is now (it never reached Slack), so its fingerprint is renewed."""
    message, post = rebuilt
    try:
        with engine.begin() as connection:
            moved = _move(connection, entry, DeliveryState.SENDING, fingerprint=fingerprint(message))
            if moved is None:
                return Outcome(entry.key, Status.BUSY)
            moved = replace(moved, attempts=entry.attempts + 1, fingerprint=fingerprint(message), last_error=None)
            _open_attempt(connection, moved)
    except IntegrityError:  # another worker opened the same attempt number first
        return Outcome(entry.key, Status.BUSY)
    return _attempt(engine, client, moved, message, post or _post_message)


def _attempt(engine: Engine, client: WebClient, entry: Entry, message: dict[str, Any], post: Post) -> Outcome:
    """Post once for the attempt ``entry`` has just opened (SENDING), and record how it ended."""
    assert entry.channel is not None
    try:
        posted = post(client, entry.channel, message)
    except SlackApiError as exc:
        error = str(exc.response.get("error", exc))
        _finish(engine, entry, DeliveryState.FAILED, error=error)
        log.warning("delivery failed", extra={"key": entry.key, "channel": entry.channel, "error": error})
        return Outcome(entry.key, Status.FAILED, error=error)
    except CONNECTION_LOST as exc:
        error = f"{type(exc).__name__}: {exc}"[:1000]
        _finish(engine, entry, DeliveryState.UNCONFIRMED, error=error)
        log.warning("delivery unconfirmed", extra={"key": entry.key, "channel": entry.channel, "error": error})
        return Outcome(entry.key, Status.UNCONFIRMED, error=error)
    _finish(engine, entry, DeliveryState.SENT, ts=posted.ts, channel=posted.channel, sent_at=utc_now())
    if ims.is_member(entry.channel) and posted.channel != entry.channel:
        ims.remember_im(engine, entry.channel, posted.channel)
    return Outcome(entry.key, Status.SENT, ts=posted.ts, channel=posted.channel)


def _post_message(client: WebClient, channel: str, message: dict[str, Any]) -> Posted:
    response = client.chat_postMessage(channel=channel, **message)
    return Posted(response["channel"], response["ts"])


def _claim(engine: Engine, key: str, channel: str, print_: str) -> Entry | None:
    """Record the intent to post, with its attempt 1 open; None when the key exists already."""
    check_transition(None, DeliveryState.SENDING)
    now = utc_now()
    entry = Entry(key, DeliveryState.SENDING, channel, print_, now, now, None, 1, None)
    row = {"key": key, "status": entry.state, "created_at": now, "updated_at": now}
    try:
        with engine.begin() as connection:
            connection.execute(insert(Delivery).values(**row, channel=channel, fingerprint=print_))
            _open_attempt(connection, entry)
        return entry
    except IntegrityError:
        return None


def _finish(engine: Engine, entry: Entry, outcome: DeliveryState, error: str | None = None, **values: Any) -> None:
    """End the attempt ``entry`` is on: the delivery leaves SENDING for ``outcome``, the attempt records it."""
    with engine.begin() as connection:
        moved = _move(connection, entry, outcome, **values)
        _close_attempt(connection, replace(entry, state=outcome), error)
    if moved is None:  # taken for dead while it posted (longer than STALE_SENDING): the attempt says what happened
        log.error("a delivery finished after another worker took it over", extra={"key": entry.key})


def _move(connection: Connection, entry: Entry, new: DeliveryState, **values: Any) -> Entry | None:
    """The one way a delivery changes state: from the state it was read in to ``new`` (an illegal move
    raises), only if the row is still as read. Returns it as moved, or None when another worker changed it."""
    check_transition(entry.state, new)
    now = utc_now()
    moved = connection.execute(
        update(Delivery)
        .where(Delivery.key == entry.key, Delivery.status == entry.state, Delivery.updated_at == entry.updated_at)
        .values(status=new, updated_at=now, **values)
    )
    return replace(entry, state=new, updated_at=now) if moved.rowcount == 1 else None


def _open_attempt(connection: Connection, entry: Entry) -> None:
    started = {"delivery_key": entry.key, "number": entry.attempts, "started_at": utc_now()}
    connection.execute(insert(DeliveryAttempt).values(**started))


def _close_attempt(connection: Connection, entry: Entry, error: str | None) -> None:
    """Record how attempt ``entry.attempts`` ended: the state it left the delivery in, and why."""
    connection.execute(
        update(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_key == entry.key, DeliveryAttempt.number == entry.attempts)
        .values(finished_at=utc_now(), outcome=entry.state, error=error)
    )


def _entries(engine: Engine, *where: Any, limit: int | None = None) -> list[Entry]:
    attempts = (
        select(func.count()).where(DeliveryAttempt.delivery_key == Delivery.key).correlate(Delivery).scalar_subquery()
    )
    last_error = (
        select(DeliveryAttempt.error)
        .where(DeliveryAttempt.delivery_key == Delivery.key)
        .order_by(DeliveryAttempt.number.desc())
        .limit(1)
        .correlate(Delivery)
        .scalar_subquery()
    )
    query = (
        select(
            Delivery.key,
            Delivery.status,
            Delivery.channel,
            Delivery.fingerprint,
            Delivery.created_at,
            Delivery.updated_at,
            Delivery.ts,
            attempts,
            last_error,
        )
        .where(*where)
        .order_by(Delivery.updated_at.desc(), Delivery.id.desc())
        .limit(limit)
    )
    with engine.connect() as connection:
        return [Entry(*row) for row in connection.execute(query)]


def _find_in_history(client: WebClient, channel: str, print_: str, since: dt.datetime) -> str | None:
    oldest = since.replace(tzinfo=dt.UTC).timestamp() - 60
    try:
        history = client.conversations_history(channel=channel, oldest=f"{oldest:.6f}", limit=200)
    except SlackApiError:
        return None
    messages: list[dict[str, Any]] = history.get("messages", [])
    for message in messages:
        if fingerprint(message) == print_:
            return message["ts"]
    return None
