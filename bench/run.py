"""``python -m bench.run [--quick] [--only NAME ...] [--database-url URL]``: the benchmarks of issues 6, 15, 16 and 17.

A full run (the default) uses the issue's company on PostgreSQL (database ``kpibot_bench``) and writes the
figures into bench/RESULTS.md; ``--quick`` uses 100 reps (database ``kpibot_bench_quick``, or any URL, SQLite
included) and only prints, unless ``--results`` names a file.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import cache, digests, fanout, floor, naive, records, rollups, serve, sync, sync_changes
from bench import data as dataset
from bench.common import CONFIG_DIR, Report, Settings, write_results
from bench.mix import mix
from kpi.db import engine_for
from kpi.service import Kpibot

BENCHMARKS = ("serve", "floor", "naive", "digests", "sync", "records", "cache", "fanout", "rollups")
RESULTS = Path(__file__).with_name("RESULTS.md")
GENERATION_GOAL = 600.0  # seconds


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a laptop-sized company (100 reps)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--database-url", help="where the data set lives (default: kpibot_bench[_quick])")
    parser.add_argument("--reps", type=int, help="company size (default: 2000, or 100 with --quick)")
    parser.add_argument("--per-kind", type=int, help="questions of each kind per pass (default: 20, quick: 8)")
    parser.add_argument("--results", type=Path, help="write the figures here (default: bench/RESULTS.md, full)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Report:
    args = parse(argv)
    settings = Settings.for_run(args.quick, args.database_url, args.reps)
    only = set(args.only or BENCHMARKS)
    report = Report(settings)
    report.say(f"Data set: {settings.reps:,} reps on {settings.backend} ({settings.database_url})")
    data, section = dataset.prepare(settings)
    report.add(section)
    seconds = data.generated_seconds
    report.check("data set generation", f"<= {GENERATION_GOAL:.0f} s", f"{seconds:.0f} s", seconds <= GENERATION_GOAL)
    engine = engine_for(data.url)
    kpibot = Kpibot(engine, CONFIG_DIR, None)  # no answer cache: benchmarks 1-5 measure computing answers
    asks = mix(kpibot.directory, args.per_kind or (8 if settings.quick else 20), settings.seed)
    served = serve.run(report, settings, data, asks) if "serve" in only else serve.ServeResult()
    cores = floor.run(report, settings, engine, kpibot, asks, served) if "floor" in only else {}
    if "naive" in only:
        naive.run(report, engine, kpibot, asks, cores)
    if "digests" in only:
        digests.run(report, kpibot, data.as_of)
    if "sync" in only:
        sync.run(report, settings, data)
        sync_changes.run(report, engine, kpibot.catalog, kpibot.calendar)
    if "records" in only:
        records.run(report, kpibot, data.as_of, settings.floor_repeats)
    if "cache" in only:
        cache.run(report, engine, asks)
    if "fanout" in only:
        fanout.run(report, kpibot, data.as_of)
    if "rollups" in only:
        rollups.run(report, engine, asks)
    report.close()
    results = args.results or (None if settings.quick else RESULTS)
    if results is not None:
        write_results(results, report.markdown())
        report.say(f"Figures written to {results}")
    return report


if __name__ == "__main__":
    main(sys.argv[1:])
