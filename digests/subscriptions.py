"""Digests people choose for themselves (``/kpi subscribe``): stored as rows, delivered in their own time zone.

A subscription names a YAML digest (digests.yaml: what it reports), whose numbers (``me``, a team, a person
or the organisation: never more than the subscriber may ask for, :mod:`kpi.access`), how often and at what
local time. The time is the subscriber's: their Slack ``tz`` (users.info), checked again once a day, so a
move to another office or a DST change moves the delivery with them.

The worker wakes once a minute (:func:`run_due`) and sends what fell due within the grace time, through the
delivery ledger with the digests' idempotency keys (``digest:sub-ID:AUDIENCE:RECIPIENT:LOCAL-DATE``): a second
worker, a restart or a minute seen twice posts nothing twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import zoneinfo
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Literal

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.orm import Session

from digests.build import Numbers, build_digest
from digests.building import Built, built
from digests.config import CONTENTS, DigestSpec, load_digests
from digests.deliveries import Outcome, Rebuilt
from digests.planning import Audience, Delivery, DigestError, Recipient, home_team
from digests.render import DigestTemplateError, RenderedDigest, render_digest
from digests.send import digest_metadata, post_all, post_rendered
from kpi import access
from kpi.config import WEEKDAYS
from kpi.delivery_state import DeliveryState
from kpi.directory import Person
from kpi.periods import utc_now
from kpi.schema import Delivery as Ledger
from kpi.schema import SlackUser, Subscription
from kpi.service import Kpibot
from kpi.types import Role, ScopeRef
from slackui.text import escape

log = logging.getLogger("kpibot.digests")
TZ_MAX_AGE = dt.timedelta(days=1)  # people travel and move: their Slack time zone is read again daily
#: Time zones read again per wake of the worker (a minute), the oldest first: users.info is Slack's Tier 4 (some
#: 100 a minute), so 2,000 read together (after a day without a worker) would hold the Monday fan-out behind them.
TZ_REFRESHES_PER_RUN = 40
KEY_PREFIX = "digest:sub-"
ME, ORG_AUDIENCE = "me", "org"
_TIME = re.compile(r"(\d{1,2}):(\d{2})")


class SubscriptionError(ValueError):
    """A subscription that cannot be made as asked; the message says what can."""


class ChannelError(SubscriptionError):
    """A channel the digest may not go to."""


@dataclass(frozen=True)
class Request:
    """What the modal (or a test) asks for; validated by :func:`subscribe`."""

    digest: str
    audience: str  # me | org | team:<id> | person:<id>
    cadence: str  # daily | weekly | monthly
    time: str  # HH:MM, local
    day: str | None = None  # weekly: a weekday; monthly: 1..28
    channel: str | None = None  # None: by DM


Choices = list[tuple[str, list[tuple[str, str]]]]  # groups of (label, value), as a form's menu shows them
PEOPLE_IN = "People in "  # the label of a group of people, before their team's name


def audience_choices(kpibot: Kpibot, person: Person) -> Choices:
    """Whose digest ``person`` may subscribe to, in groups: their own; the organisation for an admin; the teams
    they may see the totals of; then, team by team, the people whose numbers they may see (a manager's reps:
    that rep's own digest, sent to the manager; :func:`kpi.access.people_seen`)."""
    directory = kpibot.directory
    groups: Choices = [("Yours", [("My own numbers", ME)])]
    if person.role == Role.ADMIN:
        teams = list(directory.teams.values())
        groups.append(("The organisation", [("The whole organisation", ORG_AUDIENCE)]))
    else:
        wanted = directory.managed_teams(person) | ({person.team_id} if person.team_id is not None else set())
        teams = [directory.teams[i] for i in wanted if i in directory.teams]
    by_name = sorted(teams, key=lambda t: (t.name.lower(), t.id))
    groups.append(("Teams", [(team.name, f"team:{team.id}") for team in by_name]))
    people: dict[str, list[tuple[str, str]]] = {}
    for other in access.people_seen(directory, person, kpibot.calendar.today()):
        team = directory.teams.get(other.team_id) if other.team_id is not None else None
        people.setdefault(team.name if team else "no team", []).append((other.name, f"person:{other.id}"))
    groups += [(f"{PEOPLE_IN}{name}", found) for name, found in sorted(people.items(), key=lambda i: i[0].lower())]
    return [(label, choices) for label, choices in groups if choices]


def subscribe(kpibot: Kpibot, person: Person, slack_user_id: str, request: Request, timezone: str) -> Subscription:
    """Store ``request`` for ``person`` (the Slack user ``slack_user_id``) in ``timezone``, after checking it:
    a known digest and schedule, and an audience the subscriber may see (raises SubscriptionError or
    :class:`kpi.access.AccessDenied`). The same digest for the same audience replaces the earlier one."""
    specs = load_digests(kpibot.config_dir, kpibot.catalog)
    names = [spec.name for spec in specs.digests if spec.enabled]
    if request.digest not in names:
        raise SubscriptionError(f"There is no digest called '{request.digest}'. Digests: {', '.join(names)}.")
    _check_schedule(request)
    scope = _audience_scope(kpibot, person, request.audience)
    if request.channel is not None and scope.type == "rep":
        raise ChannelError("A digest of one person's numbers goes by DM; a team's digest can go to a channel.")
    zoneinfo.ZoneInfo(timezone)  # an unknown zone fails here, not at every minute of the worker
    now = utc_now()
    row = Subscription(
        slack_user_id=slack_user_id,
        digest=request.digest,
        audience=request.audience,
        cadence=request.cadence,
        time=_clock(request.time),
        day=request.day,
        channel=request.channel,
        timezone=timezone,
        timezone_checked_at=now,
        enabled=True,
        created_at=now,
    )
    with Session(kpibot.engine, expire_on_commit=False) as session, session.begin():
        same = (Subscription.slack_user_id == slack_user_id) & (Subscription.digest == request.digest)
        session.execute(delete(Subscription).where(same & (Subscription.audience == request.audience)))
        session.add(row)
    return row


def subscriptions_of(engine: Engine, slack_user_id: str) -> list[Subscription]:
    with Session(engine, expire_on_commit=False) as session:
        query = select(Subscription).where(Subscription.slack_user_id == slack_user_id).order_by(Subscription.id)
        return list(session.scalars(query))


def unsubscribe(engine: Engine, slack_user_id: str, subscription_id: int) -> bool:
    """Delete one of the user's subscriptions; False when they have none with that id."""
    with engine.begin() as connection:
        mine = (Subscription.id == subscription_id) & (Subscription.slack_user_id == slack_user_id)
        return connection.execute(delete(Subscription).where(mine)).rowcount == 1


def set_enabled(engine: Engine, slack_user_id: str, subscription_id: int, enabled: bool) -> bool:
    """Pause or resume one of the user's subscriptions (the App Home's toggle); False when it is not theirs."""
    with engine.begin() as connection:
        mine = (Subscription.id == subscription_id) & (Subscription.slack_user_id == slack_user_id)
        return connection.execute(update(Subscription).where(mine).values(enabled=enabled)).rowcount == 1


def describe(kpibot: Kpibot, row: Subscription) -> str:
    """One line for lists, in mrkdwn with names escaped:
    "weekly digest 'weekly' · West · Mondays at 08:00 (Asia/Kolkata) · by DM"."""
    when = {"daily": "every day", "weekly": f"{(row.day or 'monday').capitalize()}s", "monthly": f"day {row.day or 1}"}
    whose = dict((value, label) for label, value in _all_audiences(kpibot)).get(row.audience, row.audience)
    where = "by DM" if row.channel is None else f"in <#{row.channel}>"
    paused = "" if row.enabled else " · paused"
    schedule = f"{when[row.cadence]} at {row.time} ({row.timezone})"
    return f"{row.cadence} digest '{escape(row.digest)}' · {escape(whose)} · {schedule} · {where}{paused}"


# --- delivery ---------------------------------------------------------------------------------------------


def spec_for(row: Subscription, base: DigestSpec) -> DigestSpec:
    """The YAML digest ``base`` on the subscription's schedule: its content, the subscriber's time and zone.

    It fires on a cron of its own, so its period key is the local date of the run (a daily subscription to
    the weekly digest is sent each day, not once a week)."""
    hour, minute = (int(part) for part in row.time.split(":"))
    days = {"daily": "* * *", "weekly": f"* * {(row.day or 'monday')[:3]}", "monthly": f"{row.day or 1} * *"}
    cron = f"{minute} {hour} {days[row.cadence]}"
    update_ = {"name": f"sub-{row.id}", "cadence": cron, "content": base.kind, "time": None, "day": None}
    return base.model_copy(update={**update_, "timezone": row.timezone, "recipients": []})


def due(
    rows: list[Subscription], specs: dict[str, DigestSpec], now: dt.datetime, grace: dt.timedelta
) -> Iterator[tuple[Subscription, DigestSpec, dt.date]]:
    """Each enabled subscription whose local time fell within ``grace`` before ``now``, with its spec and the
    local date of the run: one trigger lookup per subscription, however many there are."""
    for row in rows:
        base = specs.get(row.digest)
        if not row.enabled or base is None:
            continue
        spec = spec_for(row, base)
        fire = spec.trigger("UTC").get_next_fire_time(None, now - grace)
        if fire is not None and fire <= now:
            yield row, spec, fire.astimezone(spec.zone("UTC")).date()


def run_due(
    kpibot: Kpibot, client: WebClient, config_dir: Path, now: dt.datetime, grace: dt.timedelta
) -> list[Outcome]:
    """Send every subscription due at ``now`` (aware) and not yet in the ledger; refresh stale time zones first.

    The Monday fan-out: 2,000 subscribers' digests are built by worker processes (digests/building.py) and posted
    as they come, several at a time, at the pace of the client (digests/ratelimit.py)."""
    refresh_timezones(kpibot.engine, client, now.astimezone(dt.UTC).replace(tzinfo=None))
    with Session(kpibot.engine) as session:
        rows = list(session.scalars(select(Subscription).order_by(Subscription.id)))
    specs = {spec.name: spec for spec in load_digests(config_dir, kpibot.catalog).digests if spec.enabled}
    planned = [delivery_of(kpibot, row, spec, as_of) for row, spec, as_of in due(rows, specs, now, grace)]
    sent = _in_ledger(kpibot.engine, [d.key for d in planned if d is not None])
    groups: dict[str, list[Delivery]] = {}  # by audience: the subscribers of a team ask its leaderboards once
    for delivery in planned:
        if delivery is not None and delivery.key not in sent:
            groups.setdefault(delivery.audience.key, []).append(delivery)
    build = partial(build_subscriptions, config_dir=config_dir)
    return post_all(kpibot, client, built(kpibot, config_dir, list(groups.values()), build))


def build_subscriptions(kpibot: Kpibot, deliveries: list[Delivery], *, config_dir: Path) -> Built:
    """Build the due deliveries of one audience, sharing its answers; each on its subscriber's local date."""
    numbers = Numbers(kpibot)
    return [_render(kpibot, config_dir, d, dt.date.fromisoformat(d.period), numbers) for d in deliveries]


def delivery_of(kpibot: Kpibot, row: Subscription, spec: DigestSpec, as_of: dt.date) -> Delivery | None:
    """The delivery of one run; None (logged) when the subscriber or their audience is no longer there, or the
    subscriber may no longer see it (a manager who moved on)."""
    directory = kpibot.directory
    subscriber = person_of(kpibot, row.slack_user_id)
    try:
        if subscriber is None:
            raise LookupError("the subscriber is no longer in the directory")
        scope = _audience_scope(kpibot, subscriber, row.audience)
    except (LookupError, PermissionError, SubscriptionError) as exc:
        log.warning("subscription not sent", extra={"command": f"sub-{row.id}", "question": str(exc)})
        return None
    where = row.channel or row.slack_user_id
    kind: Literal["channel", "manager"] = "channel" if row.channel else "manager"
    if scope.type == "rep":
        person = directory.people[scope.rep_id]  # type: ignore[index]
        team_id = home_team(kpibot, person)
        team = directory.teams.get(team_id) if team_id is not None else None
        audience = Audience("team", team.name, team.id) if team else Audience("org", access.org_scope().name)
        reader = subscriber if subscriber.id != person.id else None
        return Delivery(spec, audience, Recipient("rep", where, person, reader), as_of.isoformat())
    if scope.type == "org":
        return Delivery(spec, Audience("org", scope.name), Recipient(kind, where, subscriber), as_of.isoformat())
    team = directory.teams[scope.team_ids[0]]
    manager = directory.people.get(team.manager_id or -1)
    audience = Audience("team", team.name, team.id, manager)
    return Delivery(spec, audience, Recipient(kind, where, subscriber), as_of.isoformat())


def rebuilder(kpibot: Kpibot, config_dir: Path) -> Callable[[str], Rebuilt | None]:
    """Recreate a subscription's post from its key, to settle or retry it (digests/deliveries.py)."""

    def rebuild(key: str) -> Rebuilt | None:
        if not key.startswith(KEY_PREFIX):
            return None
        number, _, rest = key.removeprefix(KEY_PREFIX).partition(":")
        with Session(kpibot.engine) as session:
            row = session.get(Subscription, int(number)) if number.isdigit() else None
        specs = {spec.name: spec for spec in load_digests(config_dir, kpibot.catalog).digests}
        if row is None or row.digest not in specs:
            return None
        as_of = dt.date.fromisoformat(rest.rpartition(":")[2])
        delivery = delivery_of(kpibot, row, spec_for(row, specs[row.digest]), as_of)
        if delivery is None or delivery.key != key:
            return None
        rendered = _render(kpibot, config_dir, delivery, as_of)
        if not isinstance(rendered, RenderedDigest):
            return None
        return {"text": rendered.parent.text}, partial(post_rendered, rendered, metadata=digest_metadata(delivery))

    return rebuild


def person_of(kpibot: Kpibot, slack_user_id: str) -> Person | None:
    """The person behind a Slack user, as the bot matched them (people.yaml's id, else the email match it cached);
    the worker has no users.info call to spare per subscriber."""
    directory = kpibot.directory
    found = next((p for p in directory.people.values() if p.slack_user_id == slack_user_id), None)
    if found is not None:
        return found
    with Session(kpibot.engine) as session:
        cached = session.get(SlackUser, slack_user_id)
    return directory.people.get(cached.rep_id) if cached and cached.rep_id else None


def refresh_timezones(engine: Engine, client: WebClient, now: dt.datetime) -> None:
    """Read again, from users.info, the time zone of the subscribers last read over a day ago, at most
    :data:`TZ_REFRESHES_PER_RUN` of them, those read longest ago first (the rest at the next wakes)."""
    with Session(engine) as session:
        old = Subscription.timezone_checked_at < now - TZ_MAX_AGE
        oldest = func.min(Subscription.timezone_checked_at)
        query = select(Subscription.slack_user_id).where(old).group_by(Subscription.slack_user_id)
        users = list(session.scalars(query.order_by(oldest, Subscription.slack_user_id).limit(TZ_REFRESHES_PER_RUN)))
    for user in users:
        try:
            zone = client.users_info(user=user)["user"].get("tz")
            zoneinfo.ZoneInfo(zone)
        except (SlackApiError, zoneinfo.ZoneInfoNotFoundError, ValueError, TypeError):
            continue  # kept as it was, and tried again the next minute
        with engine.begin() as connection:
            mine = Subscription.slack_user_id == user
            connection.execute(update(Subscription).where(mine).values(timezone=zone, timezone_checked_at=now))


def slack_timezone(client: WebClient, slack_user_id: str, default: str) -> str:
    """The user's Slack time zone (users.info ``tz``), else ``default`` (the organisation's)."""
    try:
        zone = client.users_info(user=slack_user_id)["user"].get("tz") or default
        zoneinfo.ZoneInfo(zone)
        return zone
    except (SlackApiError, zoneinfo.ZoneInfoNotFoundError, ValueError):
        return default


# --- helpers -----------------------------------------------------------------------------------------------


def _render(
    kpibot: Kpibot, config_dir: Path, delivery: Delivery, as_of: dt.date, numbers: Numbers | None = None
) -> RenderedDigest | str | None:
    """The digest of one run, saying the local time and zone it is sent in; why it failed; None to skip."""
    try:
        spec, audience, recipient = delivery.spec, delivery.audience, delivery.recipient
        digest = build_digest(kpibot, spec, audience, recipient, as_of, numbers=numbers)
        if digest.skip:
            return None
        zone = delivery.spec.timezone
        digest.freshness = f"{digest.freshness} · your {delivery.spec.kind} digest, sent at your local time ({zone})"
        return render_digest(digest, config_dir)
    except (DigestError, DigestTemplateError) as exc:
        log.error("digest not built", extra={"command": delivery.spec.name, "question": str(exc)})
        return str(exc)


def _in_ledger(engine: Engine, keys: list[str]) -> set[str]:
    """The keys already sent or being sent (a failed one is retried by the ledger's own schedule)."""
    found: set[str] = set()
    with engine.connect() as connection:
        for start in range(0, len(keys), 500):
            chunk = Ledger.key.in_(keys[start : start + 500])
            rows = connection.execute(select(Ledger.key).where(chunk & (Ledger.status != DeliveryState.FAILED)))
            found.update(rows.scalars())
    return found


def _audience_scope(kpibot: Kpibot, person: Person, audience: str) -> access.Scope:
    """The scope ``audience`` names, if ``person`` may see it (the rules of asking: kpi/access.py)."""
    directory = kpibot.directory
    kind, _, number = audience.partition(":")
    if audience == ME:
        return access.resolve(directory, person, ScopeRef("me"))
    if audience == ORG_AUDIENCE:
        return access.resolve(directory, person, ScopeRef("org"))
    if kind == "team" and number.isdigit():
        team = directory.teams.get(int(number))
        return access.resolve(directory, person, ScopeRef("team", int(number), team.name if team else ""))
    if kind == "person" and number.isdigit():
        other = directory.people.get(int(number))
        return access.resolve(directory, person, ScopeRef("person", int(number), other.name if other else ""))
    raise SubscriptionError(f"'{audience}' is not a digest to subscribe to: choose me, a team or org.")


def _all_audiences(kpibot: Kpibot) -> list[tuple[str, str]]:
    people = [(p.name, f"person:{p.id}") for p in kpibot.directory.people.values()]
    teams = [(t.name, f"team:{t.id}") for t in kpibot.directory.teams.values()]
    return [("my own numbers", ME), ("the whole organisation", ORG_AUDIENCE), *teams, *people]


def _clock(value: str) -> str:
    match = _TIME.fullmatch(value.strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise SubscriptionError(f"'{value}' is not a time: write it as HH:MM, e.g. 08:00.")
    return f"{int(match[1]):02d}:{match[2]}"


def _check_schedule(request: Request) -> None:
    if request.cadence not in CONTENTS:
        raise SubscriptionError(f"'{request.cadence}': choose daily, weekly or monthly.")
    _clock(request.time)
    if request.cadence == "weekly" and (request.day or "monday") not in WEEKDAYS:
        raise SubscriptionError(f"'{request.day}' is not a day of the week.")
    monthly_day = request.day or "1"
    if request.cadence == "monthly" and not (monthly_day.isdigit() and 1 <= int(monthly_day) <= 28):
        raise SubscriptionError(f"'{request.day}': a monthly digest is sent on a day from 1 to 28.")
