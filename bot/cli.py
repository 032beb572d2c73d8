"""The `kpibot` command line: ask questions, load demo data, sync the CRM, manage the database.

Every command is a thin wrapper: parse options, call the core, print the result.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from bot.commands_deliveries import deliveries
from bot.commands_digests import digest_app
from bot.commands_sync import sync_app
from bot.commands_targets import targets_app
from bot.records_export import print_tables, write_csv
from bot.terminal import console, errors, fail
from kpi.access import AccessDenied
from kpi.catalog import UnknownKpi
from kpi.config import ConfigError, config_dir, load_org
from kpi.db import DatabaseProblem
from kpi.directory import Person, UnknownPerson
from kpi.grammar.queries import RecordsQuery, ValueQuery
from kpi.periods import PeriodError
from kpi.records import RecordList

if TYPE_CHECKING:
    from kpi.service import Kpibot

app = typer.Typer(help="kpibot: sales KPIs from your CRM, in Slack and on the command line.", no_args_is_help=True)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")
rollups_app = typer.Typer(help="Rollups: the owners' months and the organisation's days.", no_args_is_help=True)
app.add_typer(rollups_app, name="rollups")
app.add_typer(digest_app, name="digest")
app.add_typer(targets_app, name="targets")
app.add_typer(sync_app, name="sync")
app.command()(deliveries)

#: The failures a person can act on: configuration, the database's whereabouts. They are printed in one line;
#: anything else is a bug, also printed in one line, with the way to get its traceback for a report.
EXPECTED = (ConfigError, DatabaseProblem)


def main() -> None:
    """The `kpibot` entry point: the commands, with no Python traceback for a problem a person can fix.

    ``--debug`` (or ``KPIBOT_DEBUG=1``) lets every exception through with its traceback, for bug reports.
    """
    debug = "--debug" in sys.argv[1:] or os.environ.get("KPIBOT_DEBUG", "") not in ("", "0")
    try:
        app()
    except EXPECTED as exc:
        if debug:
            raise
        errors.print(str(exc), style="red", highlight=False, markup=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:
        if debug:
            raise
        errors.print(
            f"kpibot failed: {type(exc).__name__}: {exc}. This is a bug; run the command again with --debug "
            "(or KPIBOT_DEBUG=1) for the details to report.",
            style="red",
            highlight=False,
            markup=False,
            soft_wrap=True,
        )
        sys.exit(1)


def _version(value: bool) -> None:
    if value:
        console.print(f"kpibot {metadata.version('kpibot')}", highlight=False)
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
    debug: Annotated[
        bool, typer.Option("--debug", help="Show Python tracebacks (for bug reports); also KPIBOT_DEBUG=1.")
    ] = False,
) -> None:
    """kpibot: sales KPIs from your CRM, in Slack and on the command line."""


AsOf = Annotated[
    dt.datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Answer as if today were this date."),
]


@app.command()
def ask(
    question: Annotated[
        str, typer.Argument(help='e.g. "my win rate", "top 5 reps by calls", "how am I doing", "help"')
    ],
    who: Annotated[str, typer.Option("--as", help="Ask as this person (email or name).")],
    as_of: AsOf = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    records: Annotated[bool, typer.Option("--records", help="List the records behind the answer.")] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, help="With --records: the most records per side.")] = 10,
    csv_file: Annotated[
        Path | None, typer.Option("--csv", help="With --records: write the records to this CSV file.")
    ] = None,
) -> None:
    """Answer a KPI question as a given person (with --records: the records behind the answer)."""
    from kpi.service import Kpibot

    try:
        bot = Kpibot()
        asker = bot.person(who)
        day = as_of.date() if as_of else None
        answer = _records(bot, question, asker, day, limit) if records or csv_file else bot.ask(question, asker, day)
    except UnknownKpi as exc:
        fail(str(exc), as_json=as_json, suggestions=exc.suggestions)
    except UnknownPerson as exc:
        fail(str(exc), as_json=as_json, suggestions=exc.suggestions)
    except (PeriodError, AccessDenied, ConfigError, LookupError) as exc:
        fail(str(exc), as_json=as_json)
    if csv_file is not None and isinstance(answer, RecordList):
        written = write_csv(answer, csv_file)
        console.print(f"Wrote {written} records to {csv_file}.", highlight=False, markup=False)
    elif as_json:
        print(json.dumps(answer.to_json(), indent=2, ensure_ascii=False))
    elif isinstance(answer, RecordList):
        print_tables(answer)
    else:
        console.print(answer.text, highlight=False, markup=False)


def _records(bot: Kpibot, question: str, asker: Person, as_of: dt.date | None, limit: int) -> RecordList:
    """The records behind the answer to ``question``, or the deals it asks for; LookupError for a question that
    is not about a number (a leaderboard, a scorecard: ask for one person's or team's number)."""
    query = bot.parse(question, as_of)
    if not isinstance(query, ValueQuery | RecordsQuery):
        raise LookupError(
            "--records lists the records behind one number (`my revenue last month`) or the deals a question "
            "asks for (`my open deals`); ask for one number."
        )
    return bot.records(query, asker, as_of, limit=limit)


@app.command()
def demo(
    seed: Annotated[int, typer.Option(help="Random seed: the same seed gives the same company.")] = 7,
    reps: Annotated[int, typer.Option(help="Number of reps.")] = 40,
    regions: Annotated[int | None, typer.Option(help="Number of regions (default: one per 200 reps).")] = None,
    months: Annotated[int, typer.Option(help="Months of history.")] = 24,
    as_of: AsOf = None,
    fresh: Annotated[bool, typer.Option(help="Delete existing data first.")] = True,
) -> None:
    """Generate a believable demo company in the database (DATABASE_URL)."""
    import demo as demo_data
    from kpi.db import get_engine

    try:
        org = load_org()
    except ConfigError as exc:
        fail(str(exc))
    day = as_of.date() if as_of else dt.datetime.now(org.tz).date()
    try:
        with console.status("Generating demo data…"):
            summary = demo_data.generate(
                get_engine(),
                seed=seed,
                reps=reps,
                regions=regions,
                months=months,
                as_of=day,
                timezone=org.timezone,
                fresh=fresh,
            )
    except demo_data.NotDemoData as exc:
        fail(f"Not generating the demo: {exc}.")
    apply_people_config()
    rebuild_rollups(only_if_stale=True)
    console.print(f"Demo company generated as of {day}: {summary}", highlight=False)


@app.command()
def serve(
    port: Annotated[int, typer.Option(envvar="PORT", help="HTTP port.")] = 3000,
    socket: Annotated[bool, typer.Option("--socket", help="Socket Mode (needs SLACK_APP_TOKEN).")] = False,
    workers: Annotated[int, typer.Option(envvar="WEB_CONCURRENCY", help="Worker processes.")] = 2,
) -> None:
    """Serve the Slack app: POST /slack/events and GET /healthz, or Socket Mode.

    The configuration and the database are checked here, where a problem is printed in one line; then, over HTTP,
    this process becomes the workers' supervisor (bot/supervisor.py), which holds nothing of what was loaded here.
    """
    from bot import server, supervisor

    socket = socket or bool(os.environ.get("SLACK_APP_TOKEN"))
    missing = server.missing_settings(socket)
    if missing:
        fail(f"Set {', '.join(missing)} in the environment (see README, 'Installing the Slack app').")
    try:
        from kpi.service import Kpibot

        engine = Kpibot().engine  # validate config and database before starting the workers
    except ConfigError as exc:
        fail(str(exc))
    rebuild_rollups(only_if_stale=True)
    if socket:
        server.serve_socket_mode()
    else:
        engine.dispose()  # closed politely: each worker opens its own connections, the supervisor needs none
        supervisor.become(port, workers)


@app.command()
def schedule() -> None:
    """Run the worker: digests, celebrations and periodic sync, with one leader among all workers."""
    from bot.app import web_client
    from bot.server import configure_logging
    from digests.schedule_config import load_schedule
    from digests.scheduler import Worker
    from kpi.service import Kpibot

    if not os.environ.get("SLACK_BOT_TOKEN"):
        fail("Set SLACK_BOT_TOKEN in the environment (see README, 'Installing the Slack app').")
    try:
        kpibot, config = Kpibot(), load_schedule()
    except ConfigError as exc:
        fail(str(exc))
    from digests.jobs import digest_jobs, digest_rebuilder

    configure_logging()
    client = web_client(os.environ["SLACK_BOT_TOKEN"], paced=True)
    try:
        jobs = digest_jobs(kpibot, client, config_dir())
    except ConfigError as exc:
        fail(str(exc))
    rebuilders = [digest_rebuilder(kpibot, config_dir())]
    Worker(kpibot, client, config, config_dir(), extra_jobs=jobs, rebuilders=rebuilders).run_forever()


def apply_people_config() -> None:
    """Apply config/people.yaml (roles, Slack ids, teams) on top of what the CRM or the demo created."""
    from crm.people import apply_people
    from kpi.config import load_people
    from kpi.db import get_engine

    apply_people(get_engine(), load_people())


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Apply pending database migrations (also done automatically at start)."""
    from kpi.db import get_engine

    get_engine()
    console.print("Database schema is up to date.")


@rollups_app.command("rebuild")
def rollups_rebuild() -> None:
    """Fill the rollups again for the catalog's measures in the org's time zone (after changing either)."""
    rebuild_rollups(only_if_stale=False)


def rebuild_rollups(*, only_if_stale: bool) -> None:
    """Rebuild the rollups (with ``only_if_stale``: only when they hold other measures or another zone than the
    catalog and org.yaml say, which one read of a few rows decides); until then answers read the rows."""
    from kpi import rollups
    from kpi.service import Kpibot

    bot = Kpibot()
    if only_if_stale and not rollups.stale(bot.engine, bot.catalog, bot.calendar):
        return
    with console.status("Building the monthly rollups…"):
        written = rollups.rebuild(bot.engine, bot.catalog, bot.calendar)
    console.print(f"Monthly rollups built: {written:,} rows.", highlight=False)


if __name__ == "__main__":
    main()
