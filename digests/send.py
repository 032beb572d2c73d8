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
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from digests.building import Built
from digests.deliveries import Outcome, Posted, Status, deliver
from digests.model import Chart
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
            files = upload_charts(client, rendered.charts, channel_id, ts)
    except Exception as exc:  # Slack errors, and connections lost after the client's own retries
        raise PartialDigest(SentDigest(channel_id, ts, replies, files), step, exc) from exc
    return SentDigest(channel_id, ts, replies, files)


def upload_charts(client: WebClient, charts: list[Chart], channel: str, thread_ts: str) -> list[str]:
    """Upload ``charts`` into the thread of ``thread_ts`` in ``channel``; their file ids."""
    uploads = [
        {"content": chart.png, "filename": chart.filename, "title": chart.title, "alt_txt": chart.alt_text}
        for chart in charts
    ]
    uploaded = client.files_upload_v2(file_uploads=uploads, channel=channel, thread_ts=thread_ts)
    return [item["id"] for item in uploaded.get("files") or []]


#: Digests posted at once by a fan-out: each waits a second between its own messages (its channel's rate, see
#: digests/ratelimit.py), so it takes several to keep the workspace's rate busy.
POSTERS = 16


def post_all(
    kpibot: Kpibot, client: WebClient, ready: Iterable[tuple[list[Delivery], Built]], posters: int = POSTERS
) -> list[Outcome]:
    """Post each built delivery once through the ledger as soon as it is built, ``posters`` at a time (each in
    its own channel, as a subscriber's DM; one keeps the order of the plan); then the charts of those posted, into
    their threads. Uploads are Slack's Tier 4 (some 100 a minute, digests/ratelimit.py), slower than the posts:
    the digests go first, the charts follow. The outcomes in the plan's order."""
    charts: list[tuple[Future[Outcome], list[Chart]]] = []
    with ThreadPoolExecutor(posters, thread_name_prefix="post") as pool:
        pending: list[Future[Outcome] | Outcome] = []
        for deliveries, made in ready:
            for delivery, rendered in zip(deliveries, made, strict=True):
                if isinstance(rendered, str):
                    pending.append(Outcome(delivery.key, Status.FAILED, error=rendered))
                elif rendered is not None:
                    text = replace(rendered, charts=[])
                    pending.append(posted := pool.submit(deliver_rendered, kpibot, client, delivery, text))
                    charts.append((posted, rendered.charts))
        for posted, pictures in charts:
            outcome = posted.result()
            if pictures and outcome.status is Status.SENT and outcome.channel and outcome.ts:
                pool.submit(_upload_into_thread, client, pictures, outcome)
    return [item.result() if isinstance(item, Future) else item for item in pending]


def _upload_into_thread(client: WebClient, charts: list[Chart], outcome: Outcome) -> None:
    """The charts of a digest posted by :func:`post_all`; a failure loses them, not the digest (as a
    :class:`PartialDigest`)."""
    assert outcome.channel is not None and outcome.ts is not None
    try:
        upload_charts(client, charts, outcome.channel, outcome.ts)
    except Exception as exc:  # Slack errors, and connections lost after the client's own retries
        log.warning("digest charts not uploaded", extra={"command": outcome.key, "question": str(exc)})


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
