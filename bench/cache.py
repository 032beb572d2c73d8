"""Benchmark 7: the answer cache (kpi/cache.py), cold and warm, in-process.

Each question of the mix is asked cold (first after a change of the data: the data generation is advanced just
before, as a sync's commit does) and then warm (the same question again: the generation read and a store hit).
The other benchmarks run with the cache off, so that their figures stay those of computing the answers.
"""

from __future__ import annotations

import datetime as dt
import time
from collections import defaultdict

from sqlalchemy import Engine

from bench.common import CONFIG_DIR, Report, Section, median, ms, percentile, ratio
from bench.mix import KINDS, Ask
from kpi import generation
from kpi.cache import LocalStore
from kpi.service import Kpibot

#: Warm answers are a read of the generation and a store hit: far inside any kind's latency goal.
WARM_GOAL = 0.010  # seconds, p95 of an organisation answer


def _timed(kpibot: Kpibot, ask: Ask, as_of: dt.date) -> float:
    start = time.perf_counter()
    kpibot.ask(ask.text, ask.person, as_of)
    return time.perf_counter() - start


def run(report: Report, engine: Engine, asks: list[Ask]) -> None:
    kpibot = Kpibot(engine, CONFIG_DIR, LocalStore(64 * 1024 * 1024))
    as_of = kpibot.calendar.today()
    cold: dict[str, list[float]] = defaultdict(list)
    warm: dict[str, list[float]] = defaultdict(list)
    for ask in asks:
        with engine.begin() as connection:
            generation.advance(connection)
        cold[ask.kind].append(_timed(kpibot, ask, as_of))
        warm[ask.kind].append(_timed(kpibot, ask, as_of))
    section = Section(
        "7. Answer cache: cold (first ask after a change of the data) and warm (ms)",
        ["kind", "questions", "cold p50", "cold p95", "warm p50", "warm p95", "cold/warm p50"],
    )
    for kind in KINDS:
        section.add(
            kind,
            len(cold[kind]),
            ms(median(cold[kind])),
            ms(percentile(cold[kind], 95)),
            ms(median(warm[kind])),
            ms(percentile(warm[kind], 95)),
            ratio(median(cold[kind]), median(warm[kind])),
        )
    section.notes.append(
        "`Kpibot.ask` in-process with a 64 MB in-process store; cold: the data generation advanced just before "
        "(every cached answer is then of an older state of the data); warm: the same question again. Benchmarks "
        "1-5 run with the cache off (`KPIBOT_CACHE_MB=0`): their figures are those of computing each answer."
    )
    report.add(section)
    org = percentile(warm["org"], 95)
    report.check("org answer p95, warm cache", f"<= {WARM_GOAL * 1000:.0f} ms", f"{ms(org)} ms", org <= WARM_GOAL)
