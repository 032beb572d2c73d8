"""``python -m bench.run [--quick | --size 1x|5x] [--only NAME ...] [--database-url URL]``: the benchmarks of issues
6, 15, 16 and 17.

A full run (the default) uses issue 6's company on PostgreSQL (database ``kpibot_bench``; ``--size 5x``: issue
17's, five times larger, in ``kpibot_bench_5x``) and writes the figures into bench/RESULTS.md, each size in a
block of its own; ``--quick`` uses 100 reps (database ``kpibot_bench_quick``, or any URL, SQLite included) and only
prints, unless ``--results`` names a file. The cost curve (benchmark 9) is kept per size as ``curve_<size>.json``
beside the results file, and its side-by-side table and chart (``cost_curve.png``) are redrawn from every size
kept; a run of the curve alone leaves the size's other figures as they were.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench import cache, changes, curve, curve_report, digests, fanout, floor, naive, records, rollups, serve, sync
from bench import data as dataset
from bench.common import END, SIZES, START, Report, Settings, write_results
from bench.mix import mix
from kpi.db import engine_for

BENCHMARKS = ("serve", "floor", "naive", "digests", "sync", "records", "cache", "fanout", "curve", "changes", "rollups")
RESULTS = Path(__file__).with_name("RESULTS.md")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a laptop-sized company (100 reps)")
    parser.add_argument("--size", choices=SIZES, default="1x", help="the full run's company (default: 1x)")
    parser.add_argument("--only", nargs="+", choices=BENCHMARKS, help="run only these benchmarks")
    parser.add_argument("--database-url", help="where the data set lives (default: kpibot_bench[_quick])")
    parser.add_argument("--reps", type=int, help="company size (default: 2000, or 100 with --quick)")
    parser.add_argument("--per-kind", type=int, help="questions of each kind per pass (default: 20, quick: 8)")
    parser.add_argument("--results", type=Path, help="write the figures here (default: bench/RESULTS.md, full)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> Report:
    args = parse(argv)
    settings = Settings.for_run(args.quick, args.database_url, args.reps, args.size)
    only = set(args.only or BENCHMARKS)
    report = Report(settings)
    report.say(f"Data set: {settings.reps:,} reps on {settings.backend} ({settings.database_url})")
    data, section = dataset.prepare(settings)
    report.add(section)
    seconds, goal = data.generated_seconds, dataset.GENERATION_GOALS[settings.size]
    report.check("data set generation", f"<= {goal:.0f} s", f"{seconds:.0f} s", seconds <= goal)
    engine = engine_for(data.url)
    kpibot = rollups.prepared(engine)  # no answer cache: benchmarks 1-5 measure computing answers
    asks = mix(kpibot.directory, args.per_kind or (8 if settings.quick else 20), settings.seed)
    served = serve.run(report, settings, data, asks) if "serve" in only else serve.ServeResult()
    cores = floor.run(report, settings, engine, kpibot, asks, served) if "floor" in only else {}
    if "naive" in only:
        naive.run(report, engine, kpibot, asks, cores)
    if "digests" in only:
        digests.run(report, kpibot, data.as_of, digests.GOALS[settings.size])
    if "sync" in only:
        sync.run(report, settings, data)
    if "changes" in only:
        changes.run(report, settings, engine)
    if "records" in only:
        records.run(report, kpibot, data.as_of, settings.floor_repeats)
    if "cache" in only:
        cache.run(report, engine, asks)
    if "fanout" in only:
        fanout.run(report, kpibot, data.as_of)
    if "rollups" in only:
        rollups.run(report, engine, asks)
    per_kind = args.per_kind or (4 if settings.quick else 20)
    measured = curve.run(report, settings, data, engine, kpibot.directory, per_kind) if "curve" in only else None
    report.close()
    results = args.results or (None if settings.quick else RESULTS)
    if results is not None:
        if only != {"curve"}:
            write_results(results, report.markdown(), *markers(settings.size))
        if measured is not None:
            measured.save(results.with_name(f"curve_{settings.size}.json"))
            curve_report.write(results)
        report.say(f"Figures written to {results}")
    return report


def markers(size: str) -> tuple[str, str]:
    """The generated block of a size's figures: issue 6's (and a quick run's) as it always was, others their own."""
    if size in ("quick", "1x"):
        return START, END
    return f"<!-- bench:figures:{size}:start -->", f"<!-- bench:figures:{size}:end -->"


if __name__ == "__main__":
    main(sys.argv[1:])
