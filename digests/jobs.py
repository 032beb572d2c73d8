"""Digests as scheduled jobs: one cron job per digest, each delivery posted once through the delivery ledger."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path

from slack_sdk import WebClient

from digests.build import Numbers, build_digest
from digests.building import Built, built
from digests.config import DigestSpec, load_digests
from digests.deliveries import Outcome, Rebuilt
from digests.planning import Delivery, DigestError, delivery_from_key, plan
from digests.render import DigestTemplateError, render_digest
from digests.scheduler import Job
from digests.send import digest_metadata, post_all, post_rendered
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
    team or a failed post stops only that delivery. Posts keep the order of the plan.

    The deliveries of one audience are built together (its leaderboards serve the team's digest and every
    rep's DM). With many audiences they are built by worker processes, one per core (digests/building.py).
    """
    as_of = fire_time.astimezone(spec.zone(kpibot.org.timezone)).date()
    groups: dict[str, list[Delivery]] = {}
    for delivery in plan([spec], kpibot, as_of):
        groups.setdefault(delivery.audience.key, []).append(delivery)
    build = partial(build_audience, config_dir=config_dir, spec=spec, as_of=as_of)
    return post_all(kpibot, client, built(kpibot, config_dir, list(groups.values()), build), posters=1)


def build_audience(
    kpibot: Kpibot, deliveries: list[Delivery], *, config_dir: Path, spec: DigestSpec, as_of: dt.date
) -> Built:
    """Build and render the deliveries of one audience, sharing its answers."""
    numbers = Numbers(kpibot)
    made: Built = []
    for delivery in deliveries:
        try:
            digest = build_digest(kpibot, spec, delivery.audience, delivery.recipient, as_of, numbers=numbers)
            made.append(None if digest.skip else render_digest(digest, config_dir))
        except (DigestError, DigestTemplateError) as exc:
            log.error("digest not built", extra={"command": spec.name, "question": str(exc)})
            made.append(str(exc))
    return made


def digest_rebuilder(kpibot: Kpibot, config_dir: Path) -> Callable[[str], Rebuilt | None]:
    """Recreate a digest post from its delivery key, to settle a post left unconfirmed or retry a failed one."""
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
        return {"text": rendered.parent.text}, partial(post_rendered, rendered, metadata=digest_metadata(delivery))

    return rebuild
