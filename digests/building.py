"""Building many digests at once: here, or by worker processes, one per core.

A digest is CPU work (questions, then charts, which matplotlib draws holding the GIL): 200 teams' digests built
in one process took minutes. Deliveries come in groups that share their answers (one audience's: a team's
leaderboards serve the team's digest and every rep's DM), and each group is built by ``build``, a module-level
function (or a ``partial`` of one) so that a worker process can be sent it. Workers build and post nothing:
posting stays in the calling process, behind its client's pace (:mod:`digests.ratelimit`).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from digests.planning import Delivery
from digests.render import RenderedDigest
from kpi.db import engine_for
from kpi.service import Kpibot

#: Groups per worker process before a run builds in parallel: starting one costs about a second.
AUDIENCES_PER_PROCESS = 8

Built = list[RenderedDigest | str | None]  # per delivery: rendered, why it failed, or None when skipped
Build = Callable[[Kpibot, list[Delivery]], Built]


def built(
    kpibot: Kpibot, config_dir: Path, groups: list[list[Delivery]], build: Build
) -> Iterator[tuple[list[Delivery], Built]]:
    """Each group of deliveries with what ``build`` made of it, in order, as soon as it is ready."""
    workers = min(os.cpu_count() or 1, len(groups) // AUDIENCES_PER_PROCESS)
    if workers < 2:
        for group in groups:
            yield group, build(kpibot, group)
        return
    url = kpibot.engine.url.render_as_string(hide_password=False)
    # forkserver: a worker is never a fork of this process, with its threads and open database connections.
    context = multiprocessing.get_context("forkserver")
    with ProcessPoolExecutor(workers, context, initializer=_start_worker, initargs=(url, config_dir)) as pool:
        futures = [pool.submit(_build_in_worker, build, group) for group in groups]
        for group, future in zip(groups, futures, strict=True):
            yield group, future.result()


_worker_kpibot: Kpibot | None = None  # a worker process's own, over its own connections


def _start_worker(url: str, config_dir: Path) -> None:
    global _worker_kpibot
    _worker_kpibot = Kpibot(engine_for(url), config_dir)


def _build_in_worker(build: Build, deliveries: list[Delivery]) -> Built:
    assert _worker_kpibot is not None
    return build(_worker_kpibot, deliveries)
