"""`kpibot sync [--source NAME] [--full]` and `kpibot sync status`.

The sync itself is :func:`crm.sources.sync_source` (the worker runs the same); this module shows a progress
bar per object while it runs, prints what changed, and celebrates targets the new data crossed.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from bot.terminal import console, fail

if TYPE_CHECKING:
    from crm.interface import Counts

#: `kpibot sync`'s exit statuses beside 0 (every row imported) and 2 (a problem with the command or the config).
EXIT_FAILED = 1  # the sync failed or was refused: the data is as the last committed sync left it
EXIT_REJECTED = 3  # the sync completed, but some rows were rejected: the numbers miss them

sync_app = typer.Typer(
    help="Import CRM data (crm.yaml's source), or show the state of past syncs with `kpibot sync status`.",
    invoke_without_command=True,
)


@sync_app.callback()
def sync(
    context: typer.Context,
    source: Annotated[
        str | None, typer.Option(help="csv, hubspot, salesforce or pipedrive (default: crm.yaml's source).")
    ] = None,
    path: Annotated[Path | None, typer.Option(help="Folder of CSV exports (csv source).")] = None,
    full: Annotated[
        bool | None,
        typer.Option(
            "--full/--incremental",
            help="Full reconcile (marks deleted what the CRM lacks), or only what changed. Default: full when due.",
        ),
    ] = None,
) -> None:
    """Sync the CRM into the local database: only what changed since the last sync, or everything."""
    if context.invoked_subcommand is not None:
        return
    from crm.http import ApiError
    from crm.sources import load_crm, sync_source
    from crm.sync import SyncBusy
    from kpi.config import ConfigError, config_dir, load_people
    from kpi.db import get_engine

    try:
        config = load_crm()
        with _ProgressBars() as bars:
            report = sync_source(
                get_engine(),
                config,
                source=source,
                full=full,
                path=path,
                people=load_people(config_dir()),
                progress=bars.update,
            )
    except (ConfigError, SyncBusy) as exc:
        fail(str(exc))
    except ApiError as exc:
        fail(f"The sync stopped: {exc}\nWhat was committed is kept; the next sync resumes from there.", 1)
    for line in report.lines():
        console.print(line, highlight=False, markup=False)
    if report.status != "ok":
        raise typer.Exit(EXIT_FAILED)
    _celebrate()
    if report.rejected:
        raise typer.Exit(EXIT_REJECTED)


@sync_app.command()
def status() -> None:
    """Each source's cursors, its last runs (duration, counts, errors) and how fresh the data is."""
    from crm.sources import full_due, load_crm
    from crm.status import freshness, sources
    from kpi.db import get_engine
    from kpi.periods import utc_now

    engine, config, now = get_engine(create=False), load_crm(), utc_now()
    console.print(freshness(engine, now), highlight=False)
    known = sources(engine)
    if not known:
        console.print(f"No sync has run yet. Run `kpibot sync` (crm.yaml's source: {config.source}).")
        return
    for state in known:
        chosen = " (crm.yaml's source)" if state.source == config.source else ""
        due = "due at the next sync" if full_due(engine, state.source, config, now) else "not due"
        console.print(f"\n[bold]{state.source}[/bold]{chosen}: full reconcile {due}", highlight=False)
        for cursor in state.cursors:
            console.print(f"  cursor {cursor.object}: {cursor.value}  (saved {cursor.saved_at:%Y-%m-%d %H:%M} UTC)")
        for object, template in state.links.items():
            console.print(f"  {object} open at {template}", highlight=False, markup=False)
        if not state.links:
            console.print("  no record links: its records are listed without a link into the CRM", highlight=False)
        table = Table("run", "started (UTC)", "kind", "status", "took", "changes")
        for run in state.runs:
            took = f"{run.duration.total_seconds():.1f} s" if run.duration is not None else "running"
            kind = "full" if run.full else "incremental"
            changes = f"{run.created} created, {run.updated} updated, {run.deleted} deleted, {run.rejected} rejected"
            table.add_row(str(run.id), f"{run.started_at:%Y-%m-%d %H:%M}", kind, run.status, took, changes)
        console.print(table)
        for run in state.runs:
            if run.error:
                console.print(f"  run {run.id} {run.status}: {run.error}", highlight=False, markup=False)


class _ProgressBars:
    """A bar per object (a counter when the source does not say how many records to expect)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.description:>12}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[changes]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self.tasks: dict[str, TaskID] = {}

    def __enter__(self) -> _ProgressBars:
        self.progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.progress.stop()

    def update(self, name: str, counts: Counts, total: int | None) -> None:
        done = counts.created + counts.updated + counts.unchanged + counts.rejected
        changes = f"+{counts.created} ~{counts.updated} -{counts.deleted} !{counts.rejected}"
        if name not in self.tasks:
            self.tasks[name] = self.progress.add_task(name, total=total, changes=changes)
        self.progress.update(self.tasks[name], completed=done, total=total or None, changes=changes)


def _celebrate() -> None:
    """Targets crossed by the new data are celebrated at once (when Slack and a channel are configured)."""
    from digests.schedule_config import load_schedule

    celebrations = load_schedule().celebrations
    if not (celebrations.channel and os.environ.get("SLACK_BOT_TOKEN")):
        return
    from bot.app import web_client
    from digests.celebrations import celebrate
    from kpi.service import Kpibot

    kpibot = Kpibot()
    outcomes = celebrate(
        kpibot,
        web_client(os.environ["SLACK_BOT_TOKEN"]),
        celebrations.channel,
        kpibot.calendar.today(),
        celebrations.thresholds,
        celebrations.kpis,
        celebrations.big_deal_amount,
    )
    for outcome in outcomes:
        console.print(f"celebration {outcome.key}: {outcome.status}", highlight=False, markup=False)
