"""Digests as scheduled jobs: one cron job per digest, each delivery posted once through the delivery ledger."""

from __future__ import annotations

import datetime as dt
import logging
import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path

from slack_sdk import WebClient

from digests.build import Numbers, build_digest
from digests.config import DigestSpec, load_digests
from digests.deliveries import Outcome, Rebuilt, Status
from digests.planning import Delivery, DigestError, delivery_from_key, plan
from digests.render import DigestTemplateError, RenderedDigest, render_digest
from digests.scheduler import Job
from digests.send import deliver_rendered, digest_metadata, post_rendered
from kpi.db import engine_for
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
    rep's DM). With many audiences they are built by worker processes, one per core: a digest is CPU work
    (questions, then charts, which matplotlib draws holding the GIL), and 200 teams built in one process
    took minutes.
    """
    as_of = fire_time.astimezone(spec.zone(kpibot.org.timezone)).date()
    groups: dict[str, list[Delivery]] = {}
    for delivery in plan([spec], kpibot, as_of):
        groups.setdefault(delivery.audience.key, []).append(delivery)
    outcomes = []
    for deliveries, built in _built(kpibot, config_dir, spec, as_of, list(groups.values())):
        for delivery, rendered in zip(deliveries, built, strict=True):
            if isinstance(rendered, str):
                outcomes.append(Outcome(delivery.key, Status.FAILED, error=rendered))
            elif rendered is not None:
                outcomes.append(deliver_rendered(kpibot, client, delivery, rendered))
    return outcomes


#: Audiences per worker process before a run builds in parallel: starting one costs about a second.
AUDIENCES_PER_PROCESS = 8

Built = list[RenderedDigest | str | None]  # per delivery: rendered, why it failed, or None when skipped


def build_audience(
    kpibot: Kpibot, config_dir: Path, spec: DigestSpec, deliveries: list[Delivery], as_of: dt.date
) -> Built:
    """Build and render the deliveries of one audience, sharing its answers."""
    numbers = Numbers(kpibot)
    built: Built = []
    for delivery in deliveries:
        try:
            digest = build_digest(kpibot, spec, delivery.audience, delivery.recipient, as_of, numbers=numbers)
            built.append(None if digest.skip else render_digest(digest, config_dir))
        except (DigestError, DigestTemplateError) as exc:
            log.error("digest not built", extra={"command": spec.name, "question": str(exc)})
            built.append(str(exc))
    return built


def _built(
    kpibot: Kpibot, config_dir: Path, spec: DigestSpec, as_of: dt.date, groups: list[list[Delivery]]
) -> Iterator[tuple[list[Delivery], Built]]:
    """Each group of deliveries with what was built for it, in order: here, or in worker processes."""
    workers = min(os.cpu_count() or 1, len(groups) // AUDIENCES_PER_PROCESS)
    if workers < 2:
        for group in groups:
            yield group, build_audience(kpibot, config_dir, spec, group, as_of)
        return
    url = kpibot.engine.url.render_as_string(hide_password=False)
    # forkserver: a worker is never a fork of this process, with its threads and open database connections.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(url, config_dir)) as pool:
        futures = [pool.submit(_build_in_worker, config_dir, spec, group, as_of) for group in groups]
        for group, future in zip(groups, futures, strict=True):
            yield group, future.result()


_worker_kpibot: Kpibot | None = None  # a worker process's own, over its own connections


def _start_worker(url: str, config_dir: Path) -> None:
    global _worker_kpibot
    _worker_kpibot = Kpibot(engine_for(url), config_dir)


def _build_in_worker(config_dir: Path, spec: DigestSpec, deliveries: list[Delivery], as_of: dt.date) -> Built:
    assert _worker_kpibot is not None
    return build_audience(_worker_kpibot, config_dir, spec, deliveries, as_of)


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
