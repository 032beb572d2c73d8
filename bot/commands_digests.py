"""`kpibot digest ...`: list the configured digests, preview one as Block Kit, or send one now.

Wired into the main command by ``app.add_typer(digest_app, name="digest")`` in bot/cli.py. Imports stay
inside the commands so that ``kpibot --help`` does not load matplotlib or the Slack client.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from bot.terminal import console, errors, fail

if TYPE_CHECKING:
    from digests.config import DigestSpec
    from digests.planning import Audience, Recipient
    from kpi.service import Kpibot

digest_app = typer.Typer(help="Digests: list them, preview one as Block Kit, send one now.", no_args_is_help=True)

AsOf = Annotated[
    dt.datetime | None,
    typer.Option("--as-of", formats=["%Y-%m-%d"], help="Build the digest as if sent on this date."),
]
Team = Annotated[str | None, typer.Option("--team", help="Only this team's digest (for 'each team' digests).")]


def _load(name: str | None = None) -> tuple[Kpibot, Any, DigestSpec | None]:
    from digests.config import load_digests
    from kpi.config import ConfigError
    from kpi.service import Kpibot

    try:
        bot = Kpibot()
        config = load_digests(bot.config_dir, bot.catalog)
        return bot, config, config.get(name) if name else None
    except ConfigError as exc:
        fail(str(exc))
    raise AssertionError("unreachable")


def _as_of(bot: Kpibot, spec: DigestSpec, as_of: dt.datetime | None) -> dt.date:
    return as_of.date() if as_of else dt.datetime.now(spec.zone(bot.org.timezone)).date()


def _audiences(bot: Kpibot, spec: DigestSpec, team: str | None) -> list[Audience]:
    from digests.planning import DigestError, audiences

    try:
        found = audiences(spec, bot)
    except DigestError as exc:
        fail(str(exc))
    chosen = [a for a in found if team is None or a.name.lower() == team.lower()]
    if not chosen:
        names = ", ".join(a.name for a in found) or "none (no team has a manager)"
        fail(f"Digest '{spec.name}' has no audience '{team}'. Its audiences: {names}.")
    return chosen


@digest_app.command("list")
def list_digests() -> None:
    """The configured digests: when they run, for whom, where they go."""
    bot, config, _ = _load()
    for spec in config.digests:
        state = "" if spec.enabled else " (disabled)"
        zone = spec.timezone or bot.org.timezone
        console.print(
            f"[bold]{spec.name}[/bold]{state}: {spec.kind}, cron '{spec.cron}' {zone}; audience {spec.audience}; "
            f"to {', '.join(spec.recipients)}; KPIs {', '.join(spec.kpi_keys)}; template {spec.template_name}",
            highlight=False,
        )


@digest_app.command()
def preview(
    name: Annotated[str, typer.Argument(help="The digest's name in digests.yaml (daily, weekly, monthly...).")],
    team: Team = None,
    as_of: AsOf = None,
    rep: Annotated[str | None, typer.Option("--rep", help="Preview the DM this rep (email or name) gets.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    charts: Annotated[Path | None, typer.Option("--charts", help="Also draw the charts into this folder.")] = None,
) -> None:
    """Print a digest's Block Kit, with a Block Kit Builder link per message. Sends nothing."""
    from digests.build import Numbers, build_digest
    from digests.config import EACH_TEAM
    from digests.planning import DigestError, Recipient, home_team
    from digests.render import DigestTemplateError, render_digest
    from kpi.directory import UnknownPerson

    bot, _config, spec = _load(name)
    assert spec is not None
    day = _as_of(bot, spec, as_of)
    recipient: Recipient | None = None
    chosen = _audiences(bot, spec, team)
    if rep is not None:
        try:
            person = bot.person(rep)
        except UnknownPerson as exc:
            fail(str(exc))
        recipient = Recipient("rep", person.slack_user_id or person.email or person.name, person)
        home = home_team(bot, person) if spec.audience == EACH_TEAM else None
        chosen = [a for a in chosen if a.kind == "org" or _member(bot, a, person.id)]
        chosen = [a for a in chosen if home is None or a.team_id == home][:1]
        if not chosen:
            fail(f"{person.name} is not in the audience of digest '{name}'.")
    numbers, previews, problems = Numbers(bot), [], []
    for audience in chosen:
        try:
            digest = build_digest(bot, spec, audience, recipient, day, numbers=numbers)
            rendered = render_digest(digest, bot.config_dir, charts=charts is not None)
        except (DigestError, DigestTemplateError) as exc:
            problems.append(f"{audience.name}: {exc}")
            if not as_json:
                errors.print(f"[red]{audience.name}: {exc}[/red]", highlight=False)
            continue
        for chart in rendered.charts:
            assert charts is not None
            charts.mkdir(parents=True, exist_ok=True)
            (charts / chart.filename).write_bytes(chart.png)
        head = {"digest": spec.name, "audience": audience.name, "as_of": day.isoformat(), "skip": digest.skip}
        previews.append({**head, "period": digest.period.dates, **rendered.to_json()})
        if not as_json:
            _print_preview(previews[-1], digest.skip)
    if as_json:
        print(json.dumps({"previews": previews, "errors": problems}, indent=2, ensure_ascii=False))
    if problems:
        raise typer.Exit(1)


def _member(bot: Kpibot, audience: Audience, person_id: int) -> bool:
    team_id = bot.directory.people[person_id].team_id
    return audience.team_id is not None and team_id in bot.directory.subtree({audience.team_id})


def _print_preview(preview: dict[str, Any], skip: bool) -> None:
    console.rule(f"{preview['digest']} · {preview['audience']} · {preview['period']}", style="bold")
    console.print(f"Template: {preview['template']}", highlight=False)
    if skip:
        console.print("Nothing happened in the period: with skip_when_empty, this digest is not sent.")
    for number, message in enumerate(preview["messages"]):
        where = "Parent message" if number == 0 else f"Thread reply {number}"
        console.print(f"[bold]{where}[/bold] ({len(message['blocks'])} blocks), text: {message['text']}")
        print(json.dumps(message["blocks"], indent=2, ensure_ascii=False))
        console.print(f"Block Kit Builder: {message['block_kit_builder']}", highlight=False, soft_wrap=True)
    for chart in preview["charts"]:
        console.print(f"Chart {chart['filename']}: {chart['alt_text']}", highlight=False)


@digest_app.command()
def send(
    name: Annotated[str, typer.Argument(help="The digest's name in digests.yaml.")],
    team: Team = None,
    as_of: AsOf = None,
    to: Annotated[
        str | None, typer.Option("--to", help="Send to this channel (id or #name) or user id instead.")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Send even when skip_when_empty would skip it.")] = False,
) -> None:
    """Build and post a digest now to its recipients (SLACK_BOT_TOKEN; SLACK_API_URL for a fake Slack).

    Posting now is not deduplicated: the worker's delivery ledger is what posts each digest once.
    """
    from bot.app import web_client
    from digests.build import Numbers, build_digest
    from digests.planning import Delivery, DigestError, Recipient, period_key, plan
    from digests.render import DigestTemplateError, render_digest
    from digests.send import PartialDigest, digest_metadata, send_digest

    token = os.environ.get("SLACK_BOT_TOKEN")
    if not token:
        fail("Set SLACK_BOT_TOKEN (see README, 'Installing the Slack app').")
    bot, _config, spec = _load(name)
    assert spec is not None
    day = _as_of(bot, spec, as_of)
    chosen = _audiences(bot, spec, team)
    if to is not None:
        period = period_key(spec, day, bot.calendar)
        deliveries = [Delivery(spec, a, Recipient("channel", to), period) for a in chosen]
    else:
        try:
            deliveries = plan([spec], bot, day, team=team)
        except DigestError as exc:
            fail(str(exc))
    if not deliveries:
        fail(f"Digest '{name}' has nobody to send to (recipients without a Slack user id are left out).", 1)
    client, numbers, failed = web_client(token), Numbers(bot), 0
    for delivery in deliveries:
        where = f"{delivery.audience.name} → {delivery.recipient.key}"
        try:
            digest = build_digest(bot, spec, delivery.audience, delivery.recipient, day, numbers=numbers)
            if digest.skip and not force:
                console.print(f"{where}: skipped, nothing happened in {digest.period.dates}.", highlight=False)
                continue
            rendered = render_digest(digest, bot.config_dir)
            sent = send_digest(client, rendered, delivery.recipient.channel, digest_metadata(delivery))
        except (DigestError, DigestTemplateError, PartialDigest) as exc:
            failed += 1
            errors.print(f"[red]{where}: {exc}[/red]", highlight=False)
            continue
        except Exception as exc:  # a Slack error: report it and go on with the other recipients
            failed += 1
            errors.print(f"[red]{where}: {type(exc).__name__}: {exc}[/red]", highlight=False)
            continue
        extra = f", {len(sent.thread_ts)} thread replies" if sent.thread_ts else ""
        files = f", {len(sent.files)} charts" if sent.files else ""
        console.print(f"{where}: sent to {sent.channel} at {sent.ts}{extra}{files}.", highlight=False)
    if failed:
        raise typer.Exit(1)
