"""Who gets which digest: the audiences of a digest spec, their recipients, and the deliveries of a run.

A :class:`Delivery` has a key (spec, audience, recipient, reported period) that the scheduler records before and
after posting, so that each digest is posted once; :func:`delivery_from_key` reads a key back, to rebuild a post
left unconfirmed by a crash (the delivery ledger, digests/deliveries.py).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from digests.config import EACH_TEAM, MANAGER, ORG, REPS, DigestsConfig, DigestSpec
from digests.windows import ONE_DAY, windows
from kpi import access
from kpi.directory import Person
from kpi.periods import Calendar
from kpi.service import Kpibot
from kpi.types import WHOLE_ORG, ScopeRef

log = logging.getLogger("kpibot.digests")


class DigestError(Exception):
    """A digest cannot be built (an unknown or ambiguous team, a question the core refused)."""


@dataclass(frozen=True)
class Audience:
    """Whose numbers a digest reports: one team (with its sub-teams) or the whole organisation."""

    kind: Literal["team", "org"]
    name: str
    team_id: int | None = None
    manager: Person | None = None

    @property
    def key(self) -> str:
        return f"team:{self.team_id}" if self.kind == "team" else "org"

    @property
    def ref(self) -> ScopeRef:
        """The audience as a query's scope."""
        return ScopeRef("team", self.team_id, self.name) if self.kind == "team" else WHOLE_ORG


@dataclass(frozen=True)
class Recipient:
    """Where a digest goes: a channel (by id or ``#name``), or a person by DM (their Slack user id)."""

    kind: Literal["channel", "manager", "rep"]
    channel: str
    person: Person | None = None
    #: who reads a rep's digest when it is not the rep: a manager subscribed to one of their reps' digests
    reader: Person | None = None

    @property
    def key(self) -> str:
        return f"channel:{self.channel}" if self.kind == "channel" else f"user:{self.channel}"

    @property
    def personal(self) -> bool:
        """A rep's DM carries their own numbers, not the team's per-rep table."""
        return self.kind == "rep"


@dataclass(frozen=True)
class Delivery:
    """One digest to send: the scheduler records ``key`` before and after posting, so it posts once."""

    spec: DigestSpec
    audience: Audience
    recipient: Recipient
    period: str  # the reported period ("2017-05-29..2017-06-04"), or the run's date for cron digests

    @property
    def key(self) -> str:
        return f"digest:{self.spec.name}:{self.audience.key}:{self.recipient.key}:{self.period}"


def audiences(spec: DigestSpec, kpibot: Kpibot) -> list[Audience]:
    """``each team``: every team with a manager, by name; ``org``; or the team named by ``audience``."""
    directory = kpibot.directory
    if spec.audience == ORG:
        return [Audience("org", access.org_scope().name)]
    if spec.audience == EACH_TEAM:
        teams = [t for t in directory.teams.values() if t.manager_id in directory.people]
        return [
            Audience("team", t.name, t.id, directory.people[t.manager_id])  # type: ignore[index]
            for t in sorted(teams, key=lambda t: (t.name.lower(), t.id))
        ]
    team = directory.find_team(spec.audience)
    if team is None:
        same = sorted(t.name for t in directory.teams.values() if t.name.lower() == spec.audience.lower())
        why = "several teams have that name" if same else "no team has that name"
        names = ", ".join(sorted(t.name for t in directory.teams.values())[:10]) or "none"
        raise DigestError(f"Digest '{spec.name}': audience '{spec.audience}': {why}. Teams: {names}.")
    return [Audience("team", team.name, team.id, directory.people.get(team.manager_id or -1))]


def members(kpibot: Kpibot, audience: Audience, day: dt.date) -> list[Person]:
    """The audience's reps working on ``day``, by name."""
    directory = kpibot.directory
    team = {audience.team_id} if audience.team_id is not None else set()
    ids = set(directory.people) if audience.kind == "org" else directory.members(directory.subtree(team))
    people = [directory.people[i] for i in ids]
    working = [p for p in people if p.role == "rep" and p.active_during(day, day + ONE_DAY)]
    return sorted(working, key=lambda p: (p.name.lower(), p.id))


def home_team(kpibot: Kpibot, person: Person) -> int | None:
    """The nearest team with a manager that ``person`` belongs to: their own team, else the closest above it."""
    teams, people = kpibot.directory.teams, kpibot.directory.people
    team_id, seen = person.team_id, set()
    while team_id is not None and team_id in teams and team_id not in seen:
        seen.add(team_id)
        if teams[team_id].manager_id in people:
            return team_id
        team_id = teams[team_id].parent_id
    return None


def recipients(spec: DigestSpec, audience: Audience, kpibot: Kpibot, as_of: dt.date) -> list[Recipient]:
    """The spec's recipients for one audience; people Slack cannot reach are logged and left out."""
    found: list[Recipient] = []
    for value in spec.recipients:
        if value == MANAGER:
            manager = audience.manager
            if manager is None:
                log.warning("digest %s: %s has no manager to send to", spec.name, audience.name)
            elif not manager.slack_user_id:
                log.warning("digest %s: manager %s has no Slack user id", spec.name, manager.name)
            else:
                found.append(Recipient("manager", manager.slack_user_id, manager))
        elif value == REPS:
            for rep in members(kpibot, audience, as_of):
                if spec.audience == EACH_TEAM and home_team(kpibot, rep) != audience.team_id:
                    continue  # a rep's DM comes from their own team's digest, not from every team above it
                if rep.slack_user_id:
                    found.append(Recipient("rep", rep.slack_user_id, rep))
                else:
                    log.warning("digest %s: rep %s has no Slack user id", spec.name, rep.name)
        else:
            found.append(Recipient("channel", value))
    return list({r.key: r for r in found}.values())


def plan(
    specs: DigestsConfig | Iterable[DigestSpec], kpibot: Kpibot, as_of: dt.date, *, team: str | None = None
) -> list[Delivery]:
    """Every delivery of ``specs`` run on ``as_of`` (the local date of the run in the digest's time zone).

    The scheduler calls it with the specs that are due; ``team`` keeps one audience (for the CLI).
    """
    specs = specs.digests if isinstance(specs, DigestsConfig) else list(specs)
    deliveries = []
    for spec in specs:
        if not spec.enabled:
            continue
        period = period_key(spec, as_of, kpibot.calendar)
        for audience in audiences(spec, kpibot):
            if team is not None and audience.name.lower() != team.lower():
                continue
            for recipient in recipients(spec, audience, kpibot, as_of):
                deliveries.append(Delivery(spec, audience, recipient, period))
    return deliveries


def delivery_from_key(
    key: str, specs: DigestsConfig | Iterable[DigestSpec], kpibot: Kpibot
) -> tuple[Delivery, dt.date] | None:
    """The delivery a :attr:`Delivery.key` names, and the date to build it as of (to rebuild a post left
    unconfirmed by a crash); None when the digest, the audience or the recipient no longer exists."""
    name, _, rest = key.removeprefix("digest:").partition(":")
    spec = next((s for s in (specs.digests if isinstance(specs, DigestsConfig) else specs) if s.name == name), None)
    recipient_key, _, period = rest.rpartition(":")
    if spec is None or not recipient_key:
        return None
    try:
        last = period.split("..")[-1]
        as_of = dt.date.fromisoformat(last) + (ONE_DAY if ".." in period else dt.timedelta(0))
    except ValueError:
        return None
    for audience in audiences(spec, kpibot):
        if not recipient_key.startswith(audience.key + ":"):
            continue
        wanted = recipient_key.removeprefix(audience.key + ":")
        if wanted.startswith("channel:"):
            return Delivery(spec, audience, Recipient("channel", wanted.removeprefix("channel:")), period), as_of
        for recipient in recipients(spec, audience, kpibot, as_of):
            if recipient.key == wanted:
                return Delivery(spec, audience, recipient, period), as_of
    return None


def period_key(spec: DigestSpec, as_of: dt.date, calendar: Calendar) -> str:
    """What a run reports, for idempotency keys: the same period is never posted twice to one recipient.

    A cron digest may run several times for one period (say weekly content on Mondays and Thursdays),
    so its runs are told apart by date.
    """
    if spec.cadence not in ("daily", "weekly", "monthly"):
        return as_of.isoformat()
    main = windows(spec.kind, as_of, calendar).main
    return f"{main.start}..{main.last}"
