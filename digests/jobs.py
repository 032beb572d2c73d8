"""Digests as scheduled jobs: one cron job per digest, each delivery posted once through the delivery log."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from slack_sdk import WebClient

from digests.build import DigestError, Numbers, build_digest, delivery_from_key, plan
from digests.config import DigestSpec, load_digests
from digests.deliveries import Outcome, Rebuilt, deliver
from digests.render import DigestTemplateError, RenderedDigest, render_digest
from digests.scheduler import Job
from digests.send import PartialDigest, send_digest
from kpi.service import Kpibot

log = logging.getLogger("kpibot.digests")


def digest_jobs(kpibot: Kpibot, client: WebClient, config_dir: Path) -> list[Job]:
    specs = load_digests(config_dir, kpibot.catalog).digests
    return [
        Job(
            f"digest:{spec.name}",
            spec.trigger(kpibot.org.timezone),
            partial(run_digest, kpibot, client, config_dir, spec),
            catch_up=True,
        )
        for spec in specs
        if spec.enabled
    ]


def run_digest(
    kpibot: Kpibot, client: WebClient, config_dir: Path, spec: DigestSpec, fire_time: dt.datetime
) -> list[Outcome]:
    """Build, render and post every delivery of ``spec`` for the run at ``fire_time``; a broken template, a bad
    team or a failed post stops only that delivery."""
    as_of = fire_time.astimezone(spec.zone(kpibot.org.timezone)).date()
    numbers = Numbers(kpibot)  # one run asks each team leaderboard once, for every recipient
    outcomes = []
    for delivery in plan([spec], kpibot, as_of):
        try:
            digest = build_digest(kpibot, spec, delivery.audience, delivery.recipient, as_of, numbers=numbers)
            if digest.skip:
                continue
            rendered = render_digest(digest, config_dir)
        except (DigestError, DigestTemplateError) as exc:
            log.error("digest not built", extra={"command": spec.name, "question": str(exc)})
            outcomes.append(Outcome(delivery.key, "failed", error=str(exc)))
            continue
        channel = delivery.recipient.channel
        if delivery.recipient.kind != "channel":  # a DM: record the IM channel, where recovery can find the post
            channel = client.conversations_open(users=channel)["channel"]["id"]
        text = {"text": rendered.parent.text}
        outcomes.append(deliver(kpibot.engine, client, delivery.key, channel, text, post=partial(_post, rendered)))
    return outcomes


def _post(rendered: RenderedDigest, client: WebClient, channel: str, _message: dict) -> str:
    """Post the digest; when only its thread or chart failed, the parent is in Slack: the post counts."""
    try:
        return send_digest(client, rendered, channel).ts
    except PartialDigest as exc:
        log.warning("digest posted incompletely", extra={"command": channel, "question": str(exc)})
        return exc.sent.ts


def digest_rebuilder(kpibot: Kpibot, config_dir: Path) -> Callable[[str], Rebuilt | None]:
    """Recreate a digest post from its delivery key, for the recovery of a post a crash left pending."""
    specs = load_digests(config_dir, kpibot.catalog)

    def rebuild(key: str) -> Rebuilt | None:
        found = delivery_from_key(key, specs, kpibot) if key.startswith("digest:") else None
        if found is None:
            return None
        delivery, as_of = found
        try:
            digest = build_digest(kpibot, delivery.spec, delivery.audience, delivery.recipient, as_of)
            rendered = render_digest(digest, config_dir)
        except (DigestError, DigestTemplateError):
            return None
        return {"text": rendered.parent.text}, partial(_post, rendered)

    return rebuild
