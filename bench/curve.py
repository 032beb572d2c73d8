"""Benchmark 9: the cost curve of issue 17, through the real server, per kind, at 1 to 64 concurrent clients.

Each configuration (the answer cache off, in each process, or in Redis; the monthly rollups off or on) is a
`kpibot serve` of its own (benchmark 1's server and signed `/kpi` requests), warmed up with a cheap question from
every asker (identity look-ups), and before the first one the curve's questions are asked once (the database's
pages), as in a server that has been up a while. Then, at each number of clients:

* **cold**: a sync page of :data:`CHANGED` deals spread over the data set is committed first, their amounts
  moved by one (and back, before the next cold pass), through the one sync runner as bench/changes.py syncs
  them: a new data generation whose changed owners are noted (kpi/generation.py). Every question of the pass is
  one no other in the pass shares an answer with (:func:`bench.mix.curve_mix`), so each is the first ask of its
  answer after the change: what a user sees right after a sync (an organisation's ranking of the generation
  before is brought up to date then, kpi/kept_rankings.py);
* **warm**: the same pass again, answers cached (with the cache in each process, a question lands on either
  worker: about half of them are cached there).

With the cache off every ask computes its answer: one pass, reported as cold (warm is the same). An answer
later than the acknowledgement budget is acknowledged with "working on it" (counted late, at the time of that
acknowledgement) and still computed: each pass ends once those answers have reached their response_url. Last, the
realistic mix (70% rep, 20% team and leaderboards, 10% organisation, asked by people at random, some questions
repeating) at 16 clients right after a change of the data, for answers per second. The curve of each size is
kept as JSON beside the results file, so the table and the chart show every size measured side by side.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import time
from collections import defaultdict
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

import psutil
from sqlalchemy import Engine

from bench.changes import ChangedDeals, changed_deals, with_amounts
from bench.common import Report, Section, Settings, mib, ms, percentile, tree_peak_rss
from bench.data import DataSet
from bench.mix import CURVE_KINDS, Ask, curve_mix, realistic_mix
from bench.serve import LOG, Outcome, hammer, running_server
from bot.app import ACK_BUDGET_SECONDS
from crm.sync import run_sync
from kpi.cache import DEFAULT_MB
from kpi.db import vacuum
from kpi.directory import Directory
from tests.fakes import FakeSlack

CLIENTS = (1, 4, 16, 64)
#: The answer cache's settings, as a deployment sets them (kpi/cache.py). Redis: a database of the bench's own.
REDIS = "redis://127.0.0.1:6379/7"
CACHES = {
    "off": {"KPIBOT_CACHE_MB": "0"},
    "process": {"KPIBOT_CACHE_MB": str(DEFAULT_MB)},
    "redis": {"REDIS_URL": REDIS},
}
ROLLUPS = {"off": {"KPIBOT_ROLLUPS": "0"}, "on": {"KPIBOT_ROLLUPS": "1"}}
MIX_CLIENTS = 16
#: Deals a sync page changes before each cold pass: a quarter-hour's edits of a large floor, spread over every owner.
CHANGED = 200
#: The longest wait for late answers after a pass (an organisation scorecard at 5M deals takes ~10 s alone).
SETTLE_SECONDS = 300.0
WARM_UP = "my calls this week"

# The figures of issue 17 at 5M deals, for the product as deployed (rollups on, the cache in Redis).
P95_GOAL = 0.250  # every kind at 16 clients
BUDGET = ACK_BUDGET_SECONDS  # no answer later than this at 64 clients
THROUGHPUT_GOAL = 150.0  # answers/s at 16 clients, the realistic mix
COLD_ORG_GOAL = 0.200  # an organisation answer, first after a change of the data
SERVER_MEMORY_GOAL = 400 * 1000**2


@dataclass
class Cell:
    """One kind's latencies in one pass: configuration, state (cold or warm) and number of clients."""

    rollups: str
    cache: str
    state: str
    clients: int
    kind: str
    asks: int
    p50: float
    p95: float
    max: float
    late: int  # acknowledged with "working on it" or later than the answer budget
    failed: int = 0  # no answer, or an error instead of one


@dataclass
class Throughput:
    rollups: str
    cache: str
    asks: int
    seconds: float
    late: int
    failed: int

    @property
    def per_second(self) -> float:
        return self.asks / self.seconds


@dataclass
class Curve:
    """One size's curve, as kept in ``curve_<size>.json``."""

    size: str
    reps: int
    deals: int
    backend: str
    measured: str
    per_kind: int
    machine_load: str
    cells: list[Cell] = field(default_factory=list)
    throughput: list[Throughput] = field(default_factory=list)
    peak_rss: int = 0  # bytes, master and workers together, the largest of any configuration

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1) + "\n")

    @classmethod
    def load(cls, path: Path) -> Curve:
        raw = json.loads(path.read_text())
        cells = [Cell(**cell) for cell in raw.pop("cells")]
        throughput = [Throughput(**row) for row in raw.pop("throughput")]
        return cls(**raw, cells=cells, throughput=throughput)

    def cell(self, rollups: str, cache: str, state: str, clients: int, kind: str) -> Cell | None:
        for cell in self.cells:
            if (cell.rollups, cell.cache, cell.state, cell.clients, cell.kind) == (
                rollups,
                cache,
                state,
                clients,
                kind,
            ):
                return cell
        return None


class Changes:
    """The sync pages before the cold passes: the same :data:`CHANGED` deals, their amounts raised by one, then put
    back, and so on; :meth:`restore` leaves the data set as its tag says."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.records = changed_deals(engine, CHANGED)
        self.raised = False

    def sync(self) -> None:
        """A change of the data, as a sync of the CRM commits one: every cached answer is then of an older state.
        First, what autovacuum (off on the project's machine) would have done since the last page, at the thresholds
        of migration 0016: the 30 pages of a run left 80,000 dead versions of the rollups otherwise, and each pass
        read more of them than a deployment ever would."""
        vacuum(self.engine, "deals", "rollups")
        self.raised = not self.raised
        run_sync(self.engine, ChangedDeals(with_amounts(self.records, Decimal(int(self.raised)))), full=False)

    def restore(self) -> None:
        if self.raised:
            self.sync()


def cells_of(rollups: str, cache: str, state: str, clients: int, outcomes: list[Outcome]) -> list[Cell]:
    by_kind: dict[str, list[Outcome]] = defaultdict(list)
    for outcome in outcomes:
        by_kind[outcome.kind].append(outcome)
    cells = []
    for kind in CURVE_KINDS:
        seconds = [outcome.seconds for outcome in by_kind[kind]]
        late = sum(outcome.late or outcome.seconds > BUDGET for outcome in by_kind[kind])
        failed = len(failures(by_kind[kind]))
        p50, p95, slowest = percentile(seconds, 50), percentile(seconds, 95), max(seconds, default=math.nan)
        cells.append(Cell(rollups, cache, state, clients, kind, len(seconds), p50, p95, slowest, late, failed))
    return cells


def failures(outcomes: list[Outcome]) -> list[str]:
    return [outcome.detail for outcome in outcomes if not outcome.ok]


def settled(slack: FakeSlack, base: str, asks: list[Ask], clients: int) -> tuple[list[Outcome], float]:
    """A pass of ``asks`` at ``clients``, then a wait until every answer acknowledged late ("working on it") has
    reached its response_url: the server still computes those after the acknowledgement, and the next pass must
    not share the machine with them."""
    before = len(slack.responses)
    outcomes, seconds = hammer(base, slack, asks, clients)
    late = sum(outcome.late for outcome in outcomes)
    deadline = time.monotonic() + SETTLE_SECONDS
    while len(slack.responses) - before < late and time.monotonic() < deadline:
        time.sleep(0.1)
    return outcomes, seconds


def warm_up(slack: FakeSlack, base: str, people: list[Ask]) -> None:
    """One cheap question from every asker (their identity looked up and kept, as in a server up a while)."""
    problems = failures(hammer(base, slack, people, 4)[0])
    if problems:
        raise RuntimeError(f"{len(problems)} warm-up requests failed (see {LOG}): {problems[:3]}")


def measure(settings: Settings, data: DataSet, engine: Engine, asks: list[Ask], mix: list[Ask], curve: Curve) -> None:
    """Every configuration's server in turn: the curve's passes, then the realistic mix. Before the first, the
    curve's questions are asked once, so that the database's pages are as warm as a server's up a while."""
    caches = ("off", "process") if settings.quick else tuple(CACHES)
    people = list({ask.person.id: Ask("warm-up", WARM_UP, ask.person) for ask in asks + mix}.values())
    first = True
    changes = Changes(engine)
    with FakeSlack() as slack, contextlib.ExitStack() as restored:
        restored.callback(changes.restore)
        slack.add_channel("C0BENCH", "bench")
        for ask in people:
            slack.add_user(ask.slack_user_id, email=ask.person.email, real_name=ask.person.name)
        for rollups in ROLLUPS:
            for cache in caches:
                environment = ROLLUPS[rollups] | CACHES[cache]
                with running_server(data, slack, settings.workers, environment) as (base, process):
                    warm_up(slack, base, people)
                    if first:
                        settled(slack, base, asks, 4)
                        first = False
                    for clients in CLIENTS:
                        changes.sync()
                        outcomes, _ = settled(slack, base, asks, clients)
                        curve.cells += cells_of(rollups, cache, "cold", clients, outcomes)
                        if cache != "off":
                            outcomes, _ = settled(slack, base, asks, clients)
                            curve.cells += cells_of(rollups, cache, "warm", clients, outcomes)
                    changes.sync()
                    outcomes, seconds = settled(slack, base, mix, MIX_CLIENTS)
                    late = sum(outcome.late for outcome in outcomes)
                    curve.throughput.append(
                        Throughput(rollups, cache, len(outcomes), seconds, late, len(failures(outcomes)))
                    )
                    curve.peak_rss = max(curve.peak_rss, sum(tree_peak_rss(process.pid).values()))


def run(
    report: Report, settings: Settings, data: DataSet, engine: Engine, directory: Directory, per_kind: int
) -> Curve:
    asks = curve_mix(directory, per_kind, settings.seed)
    mix = realistic_mix(directory, settings.mix_asks, settings.seed)
    load_before, idle_before = os.getloadavg()[0], psutil.cpu_times().idle
    started = time.perf_counter()
    curve = Curve(
        settings.size,
        settings.reps,
        data.counts.get("deals", 0),
        settings.backend,
        dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        per_kind,
        "",
    )
    measure(settings, data, engine, asks, mix, curve)
    seconds = time.perf_counter() - started
    curve.machine_load = _load(load_before, idle_before, seconds)
    report.add(section(curve, seconds))
    if settings.size == "5x":
        check(report, curve)
    return curve


def _load(load_before: float, idle_before: float, seconds: float) -> str:
    """How busy the machine was during the run: load averages and the cores' busy share (all processes)."""
    idle = (psutil.cpu_times().idle - idle_before) / (seconds * (psutil.cpu_count() or 1))
    return (
        f"load average {load_before:.1f} at the start, {os.getloadavg()[0]:.1f} at the end; the "
        f"{psutil.cpu_count()} cores {100 * (1 - idle):.0f}% busy over the {seconds / 60:.0f} minutes"
    )


def section(curve: Curve, seconds: float) -> Section:
    """This size's curve as benchmark 9's section (the side-by-side table of every size goes in its own block)."""
    table = Section(
        f"9. Cost curve, {curve.size} ({curve.deals:,} deals): p50 / p95 ms",
        ["rollups", "cache", "state", "clients", *CURVE_KINDS],
    )
    for cell_key in sorted({(c.rollups, c.cache, c.state, c.clients) for c in curve.cells}, key=_order):
        row = [curve.cell(*cell_key, kind) for kind in CURVE_KINDS]
        table.add(*cell_key, *(f"{ms(c.p50)} / {ms(c.p95)}" if c else "-" for c in row))
    for mix in curve.throughput:
        table.notes.append(
            f"Realistic mix at {MIX_CLIENTS} clients, rollups {mix.rollups}, cache {mix.cache}: {mix.asks} answers in "
            f"{mix.seconds:.1f} s, {mix.per_second:.0f} answers/s ({mix.late} late, {mix.failed} failed)."
        )
    late, failed = sum(c.late for c in curve.cells), sum(c.failed for c in curve.cells)
    table.notes.append(f"Answers later than the {BUDGET:g}-s budget over all passes: {late}; failed: {failed}.")
    table.notes.append(
        f"Up to {curve.per_kind} questions of each kind per pass; {seconds / 60:.0f} minutes in all; peak RSS of "
        f"`kpibot serve` (master and workers) {mib(curve.peak_rss)}; {curve.machine_load}."
    )
    return table


def _order(key: tuple[str, str, str, int]) -> tuple[int, int, int, int]:
    rollups, cache, state, clients = key
    return (list(ROLLUPS).index(rollups), list(CACHES).index(cache), ("cold", "warm").index(state), clients)


def deployed(curve: Curve) -> tuple[str, str]:
    """The configuration the figures are checked on: rollups on when built, the cache in Redis when measured."""
    rollups = "on" if any(c.rollups == "on" for c in curve.cells) else "off"
    cache = "redis" if any(c.cache == "redis" for c in curve.cells) else "process"
    return rollups, cache


def check(report: Report, curve: Curve) -> None:
    rollups, cache = deployed(curve)
    where = f"rollups {rollups}, cache {cache}"
    for kind in CURVE_KINDS:
        cold = curve.cell(rollups, cache, "cold", 16, kind)
        p95 = cold.p95 if cold else float("nan")
        report.check(
            f"{kind} p95, 16 clients, cold ({where})", f"<= {ms(P95_GOAL)} ms", f"{ms(p95)} ms", p95 <= P95_GOAL
        )
    at_64 = [c for c in curve.cells if (c.rollups, c.cache, c.clients) == (rollups, cache, 64)]
    late = sum(c.late for c in at_64)
    slowest = max((c.max for c in at_64), default=float("nan"))
    report.check(
        f"answers later than {BUDGET:g} s, 64 clients ({where})",
        "none",
        f"{late} (slowest {ms(slowest)} ms)",
        late == 0 and bool(at_64),
    )
    mix = next((t for t in curve.throughput if (t.rollups, t.cache) == (rollups, cache)), None)
    rate = mix.per_second if mix else 0.0
    report.check(
        f"realistic mix, {MIX_CLIENTS} clients ({where})", f">= {THROUGHPUT_GOAL:.0f} answers/s", f"{rate:.0f}/s",
        rate >= THROUGHPUT_GOAL,
    )  # fmt: skip
    org = curve.cell(rollups, cache, "cold", 1, "org")
    first = org.p95 if org else float("nan")
    report.check(f"cold org answer p95, 1 client ({where})", f"<= {ms(COLD_ORG_GOAL)} ms", f"{ms(first)} ms",
                 first <= COLD_ORG_GOAL)  # fmt: skip
    report.check("peak RSS of kpibot serve", "<= 400 MB", mib(curve.peak_rss), curve.peak_rss <= SERVER_MEMORY_GOAL)
