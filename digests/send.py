"""Posting a rendered digest: the parent message, its thread replies, then the charts into the thread.

A plain function over a slack_sdk ``WebClient``: retries belong to the client's retry handlers
(:func:`bot.app.web_client`), idempotency to the delivery ledger (:mod:`digests.deliveries`) the worker posts
through. When a step after the parent fails, :class:`PartialDigest` says what was already posted, so that a retry
can avoid posting the parent twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from digests.building import Built
from digests.deliveries import Outcome, Posted, Status, deliver
from digests.planning import Delivery
from digests.render import RenderedDigest
from kpi.service import Kpibot

log = logging.getLogger("kpibot.digests")
DIGEST_EVENT = "kpibot_digest"


@dataclass(frozen=True)
class SentDigest:
    channel: str  # the channel id Slack posted in (a DM's D... id when sent to a user)
    ts: str  # the parent message
    thread_ts: list[str] = field(default_factory=list)  # the replies, in order
    files: list[str] = field(default_factory=list)  # the uploaded charts' file ids


class PartialDigest(Exception):
    """The parent was posted but a later step failed; ``sent`` holds what is in Slack."""

    def __init__(self, sent: SentDigest, step: str, cause: Exception) -> None:
        response = getattr(cause, "response", None)
        error = response.get("error") if isinstance(cause, SlackApiError) and response is not None else cause
        super().__init__(f"Digest posted as {sent.channel}/{sent.ts}, but the {step} failed: {error}")
        self.sent, self.step, self.cause = sent, step, cause


def send_digest(
    client: WebClient, rendered: RenderedDigest, channel: str, metadata: dict[str, Any] | None = None
) -> SentDigest:
    """Post ``rendered`` to ``channel`` (a channel id or ``#name``, or a user id for a DM); the parent carries
    ``metadata`` (:func:`digest_metadata`) when given."""
    parent = rendered.parent
    response = client.chat_postMessage(
        channel=channel,
        text=parent.text,
        blocks=parent.blocks,
        unfurl_links=False,
        unfurl_media=False,
        metadata=metadata,  # None: left out of the request
    )
    channel_id, ts = response["channel"], response["ts"]
    replies: list[str] = []
    files: list[str] = []
    step = "thread reply 1"
    try:
        for number, reply in enumerate(rendered.replies, start=1):
            step = f"thread reply {number}"
            answer = client.chat_postMessage(
                channel=channel_id, thread_ts=ts, text=reply.text, blocks=reply.blocks, unfurl_links=False
            )
            replies.append(answer["ts"])
        if rendered.charts:
            step = "chart upload"
            uploads = [
                {"content": chart.png, "filename": chart.filename, "title": chart.title, "alt_txt": chart.alt_text}
                for chart in rendered.charts
            ]
            uploaded = client.files_upload_v2(file_uploads=uploads, channel=channel_id, thread_ts=ts)
            files = [item["id"] for item in uploaded.get("files") or []]
    except Exception as exc:  # Slack errors, and connections lost after the client's own retries
        raise PartialDigest(SentDigest(channel_id, ts, replies, files), step, exc) from exc
    return SentDigest(channel_id, ts, replies, files)


#: Digests posted at once by a fan-out: each waits a second between its own messages (its channel's rate, see
#: digests/ratelimit.py), so it takes several to keep the workspace's rate busy.
POSTERS = 16


def post_all(
    kpibot: Kpibot, client: WebClient, ready: Iterable[tuple[list[Delivery], Built]], posters: int = POSTERS
) -> list[Outcome]:
    """Post each built delivery once through the ledger as soon as it is built, ``posters`` at a time (each in
    its own channel, as a subscriber's DM; one keeps the order of the plan); the outcomes in the plan's order."""
    with ThreadPoolExecutor(posters, thread_name_prefix="post") as pool:
        pending: list[Future[Outcome] | Outcome] = []
        for deliveries, made in ready:
            for delivery, rendered in zip(deliveries, made, strict=True):
                if isinstance(rendered, str):
                    pending.append(Outcome(delivery.key, Status.FAILED, error=rendered))
                elif rendered is not None:
                    pending.append(pool.submit(deliver_rendered, kpibot, client, delivery, rendered))
    return [item.result() if isinstance(item, Future) else item for item in pending]


def deliver_rendered(kpibot: Kpibot, client: WebClient, delivery: Delivery, rendered: RenderedDigest) -> Outcome:
    """Post a built digest once through the ledger (a YAML digest's or a subscription's delivery): to a channel,
    or by DM to the recipient's user id (the ledger keeps the IM Slack answers with)."""
    text = {"text": rendered.parent.text}
    post = partial(post_rendered, rendered, metadata=digest_metadata(delivery))
    return deliver(kpibot.engine, client, delivery.key, delivery.recipient.channel, text, post=post)


def post_rendered(
    rendered: RenderedDigest,
    client: WebClient,
    channel: str,
    _message: dict | None = None,
    *,
    metadata: dict[str, Any] | None = None,
) -> Posted:
    """Post the digest; when only its thread or chart failed, the parent is in Slack: the post counts."""
    try:
        sent = send_digest(client, rendered, channel, metadata)
    except PartialDigest as exc:
        log.warning("digest posted incompletely", extra={"command": channel, "question": str(exc)})
        sent = exc.sent
    return Posted(sent.channel, sent.ts)


def digest_metadata(delivery: Delivery) -> dict[str, Any]:
    """The Slack message metadata of a digest post (``kpibot_digest``), so that Workflow Builder and other apps
    can react to it: which digest, its target KPI, whose numbers, the period and who it went to."""
    payload = {
        "digest": delivery.spec.name,
        "kpi": delivery.spec.target,
        "scope": delivery.audience.name,
        "period": delivery.period,
        "recipient": delivery.recipient.kind,
    }
    return {"event_type": DIGEST_EVENT, "event_payload": payload}
