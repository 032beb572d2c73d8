"""`kpibot targets`: load config/targets.yaml, import a CSV, list targets with their progress.

Thin wrappers over :mod:`kpi.targets`. bot/cli.py mounts ``targets_app`` as ``kpibot targets``.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.terminal import console, errors, fail
from kpi.config import ConfigError, config_dir
from kpi.formats import formatted

targets_app = typer.Typer(
    help="Targets per person, team or organisation: load targets.yaml, import a CSV, list progress.",
    no_args_is_help=True,
)


def _kpibot() -> Any:
    from kpi.service import Kpibot

    try:
        return Kpibot()
    except ConfigError as exc:
        fail(str(exc))


def _print_report(report: Any) -> None:
    summary, *problems = report.lines()
    console.print(summary, highlight=False, markup=False)
    for line in problems:
        errors.print(line, highlight=False, markup=False)


@targets_app.command("load")
def load(
    file: Annotated[
        Path | None, typer.Option("--file", help="The YAML file (default: targets.yaml in the config folder).")
    ] = None,
) -> None:
    """Apply targets.yaml: whole or not at all; running it again changes nothing."""
    from kpi.targets.files import load_yaml

    path = file or config_dir() / "targets.yaml"
    if not path.exists():
        fail(f"{path} does not exist. See config/targets.yaml for the format.")
    bot = _kpibot()
    try:
        report = load_yaml(bot, path)
    except ConfigError as exc:
        fail(f"{exc}\nNothing was changed.")
    _print_report(report)


@targets_app.command("import")
def import_csv(
    file: Annotated[Path, typer.Argument(help="CSV with columns who,kpi,period,value (or who,kpi,start,end,value).")],
    by: Annotated[str | None, typer.Option("--by", help="Recorded as who set them (default: the file's name).")] = None,
) -> None:
    """Import targets from a CSV file; bad rows are reported with their line number, the rest imported.

    Exits with 1 when some rows were rejected, 2 when the file cannot be read at all.
    """
    from kpi.targets.files import CsvError
    from kpi.targets.files import import_csv as run_import

    bot = _kpibot()
    try:
        report = run_import(bot, file, set_by=by)
    except CsvError as exc:
        fail(str(exc))
    _print_report(report)
    if report.errors:
        raise typer.Exit(1)


@targets_app.command("list")
def list_targets(
    as_of: Annotated[
        dt.datetime | None, typer.Option("--as-of", formats=["%Y-%m-%d"], help="Measure as if today were this date.")
    ] = None,
    kpi: Annotated[str | None, typer.Option("--kpi", help="Only this KPI.")] = None,
    who: Annotated[str | None, typer.Option("--who", help="Only this person, team, or org.")] = None,
    period: Annotated[str | None, typer.Option("--period", help="Only targets for exactly this period.")] = None,
    every: Annotated[bool, typer.Option("--all", help="Every target, not only the running ones.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List targets (by default those running today) with actual, attainment, expected by now and status."""
    from kpi.targets import parsing, progress, storage

    bot = _kpibot()
    day = as_of.date() if as_of else bot.calendar.today()
    try:
        rows = storage.stored(
            bot.engine,
            kpi=parsing.resolve_kpi(bot.catalog, kpi).key if kpi else None,
            who=parsing.resolve_who(bot.directory, who) if who else None,
            period=parsing.parse_target_period(bot.calendar, period) if period else None,
            running_on=None if every or period else day,
        )
    except parsing.TargetErrors as exc:
        fail(str(exc))
    listed = progress.progress(bot, rows, day)
    currency = bot.org.currency
    if as_json:
        print(json.dumps({"as_of": day.isoformat(), "targets": [p.to_json(currency) for p in listed]}, indent=2))
        return
    if not listed:
        console.print(f"No targets{'' if every or period else f' running on {day}'}.", highlight=False)
        return
    console.print(f"Targets as of {day}:", highlight=False)
    for item in listed:
        console.print(progress_line(item, currency), highlight=False, markup=False)


def progress_line(item: Any, currency: str) -> str:
    """``Alice Adams · Revenue · 2026-Q4: $90,000.00 of $120,000.00 (75%), $100,000.00 expected by now,
    behind``: one target and its progress."""
    fmt, pace = item.kpi.format, item.pace
    head = f"{item.who.name} · {item.kpi.label} · {item.label}: "
    target = formatted(item.target, fmt, currency)
    if not item.started:
        return f"{head}{target}, starts {item.start}"
    line = f"{head}{formatted(item.value, fmt, currency)} of {target}"
    if pace is not None and pace.attainment is not None:
        line += f" ({pace.attainment * 100:.0f}%)"
    if pace is not None and pace.expected is not None:
        line += f", {formatted(pace.expected, fmt, currency)} expected by now"
    return f"{line}, {item.status}"
