"""Scopes and who may see them.

The policy, in one place:

* everyone sees their own numbers, the totals of the team they belong to, and any leaderboard of people;
* a ranking of teams shows each team's totals, so it is for teams the asker may see the totals of;
* a manager also sees every team they manage (with the teams below) and every rep in those teams;
* an admin sees everything, including the organisation's totals;
* a list of records (the deals behind a number) is for those who may see every one of them: one's own, a
  manager's reps' and teams', an admin's anyone's; a rep sees their team's total but not their teammates' deals;
* targets are set by admins for anyone, by managers for the people and teams they manage (never their own).

Anything else is refused with the reason and what the asker *can* ask, never with the number.
"""

from __future__ import annotations

import datetime as dt
import functools

from kpi.directory import Directory, Person, TeamInfo
from kpi.types import EVERYONE, ORG, Role, Scope, ScopeFilter, ScopeRef, Who


class AccessDenied(PermissionError):
    """The asker may not see this scope; the message says why and what they can ask instead."""


def check_still_here(asker: Person, today: dt.date, grace_days: int) -> None:
    """Refuse everything to someone who has left: from ``grace_days`` after their leaving date (org.yaml's
    ``access_after_leaving_days``, 1 by default: the day after they leave) they see no number at all."""
    if asker.left_at is None:
        return
    ended = asker.left_at + dt.timedelta(days=grace_days)
    if today >= ended:
        raise AccessDenied(
            f"Your access to kpibot ended on {ended.isoformat()}: the CRM says you left on "
            f"{asker.left_at.isoformat()}. If that is wrong, ask an admin to correct your leaving date."
        )


@functools.lru_cache(maxsize=65536)
def rep_scope(person: Person) -> Scope:
    """A rep's scope. Kept per person (by value, so a reloaded directory still finds them): a leaderboard of
    2,000 reps built 2,000 scopes per question, a tenth of an organisation leaderboard's time. Room for every
    person of a large company and a reload's renamed ones (at 8,192, a 10,000-rep leaderboard walked through the
    cache in order and never found one: 30-56 ms a question); a scope is a few hundred bytes."""
    return Scope("rep", person.name, ScopeFilter(frozenset({person.id}), frozenset()), rep_id=person.id)


def team_scope(directory: Directory, teams: list[TeamInfo], name: str | None = None) -> Scope:
    tree = directory.subtree({t.id for t in teams})
    members = frozenset(directory.members(tree))
    label = name or " + ".join(sorted(t.name for t in teams))
    return Scope("team", label, ScopeFilter(members, frozenset(tree)), team_ids=tuple(sorted(t.id for t in teams)))


def org_scope() -> Scope:
    return Scope("org", "the whole organisation", EVERYONE)


def own_teams(directory: Directory, asker: Person) -> list[TeamInfo]:
    """The teams ``team`` means for the asker: the ones they manage, else the one they belong to."""
    managed = [t for t in directory.teams.values() if t.manager_id == asker.id]
    if managed:
        return managed
    return [directory.teams[asker.team_id]] if asker.team_id in directory.teams else []


def resolve(directory: Directory, asker: Person, ref: ScopeRef) -> Scope:
    """The :class:`Scope` a query's reference names, if the asker may see it; else refuse."""
    if ref.kind == "me":
        return rep_scope(asker)
    if ref.kind == "org":
        if asker.role != Role.ADMIN:
            yours = "your team's (`team revenue`), " if own_teams(directory, asker) else ""
            raise AccessDenied(
                f"Organisation-wide numbers are for admins. You can ask for your own numbers (`my revenue`), "
                f"{yours}or any leaderboard (`leaderboard revenue org`)."
            )
        return org_scope()
    if ref.kind == "my-team":
        teams = own_teams(directory, asker)
        if not teams:
            raise AccessDenied(
                f"{asker.name} is not in a team, so there is no team total to show yet. "
                "Try `my revenue` or `leaderboard revenue`."
            )
        return team_scope(directory, teams)
    if ref.kind == "team" and ref.id is not None and (team := directory.teams.get(ref.id)) is not None:
        return _team_if_allowed(directory, asker, team)
    if ref.kind == "person" and ref.id is not None and (person := directory.people.get(ref.id)):
        return _person_if_allowed(directory, asker, person)
    raise LookupError(f"{ref.name or 'That person or team'} is no longer in the directory.")


def _team_if_allowed(directory: Directory, asker: Person, team: TeamInfo) -> Scope:
    allowed = asker.role == Role.ADMIN or team.id in directory.managed_teams(asker) or team.id == asker.team_id
    if not allowed:
        raise AccessDenied(
            f"You can see the totals of your own team and of teams you manage; {team.name} is neither. "
            f"Leaderboards are open to everyone: try `leaderboard revenue {team.name}`."
        )
    return team_scope(directory, [team], team.name)


def _person_if_allowed(directory: Directory, asker: Person, person: Person) -> Scope:
    if person.id == asker.id or asker.role == Role.ADMIN or directory.manages(asker, person):
        return rep_scope(person)
    reason = (
        f"{person.name} is not in a team you manage."
        if asker.role == Role.MANAGER
        else "Reps can see their own numbers and leaderboards, not another rep's numbers."
    )
    raise AccessDenied(f"{reason} Try `my revenue` or `leaderboard revenue`.")


def people_seen(directory: Directory, asker: Person, today: dt.date) -> list[Person]:
    """The people besides themselves whose own numbers ``asker`` may see, still working on ``today``, by name: an
    admin's everyone, a manager's the reps of the teams they manage (with the teams below), a rep's no one (the
    rule :func:`resolve` applies to a person). What a form offers; asking checks again."""
    managed = directory.managed_teams(asker)
    seen = [
        person
        for person in directory.people.values()
        if person.id != asker.id
        and (asker.role == Role.ADMIN or person.team_id in managed)
        and (person.left_at is None or person.left_at > today)
    ]
    return sorted(seen, key=lambda person: (person.name.lower(), person.id))


def records_scope(directory: Directory, asker: Person, ref: ScopeRef) -> Scope:
    """The scope whose records ``ref`` names, if the asker may open them: the number's own rule (:func:`resolve`),
    and a team's records only for those who manage it (or admins): a team's records are its reps' records."""
    scope = resolve(directory, asker, ref)
    if scope.type != "team" or asker.role == Role.ADMIN:
        return scope
    if not set(scope.team_ids) <= directory.managed_teams(asker):
        raise AccessDenied(
            f"The records of {scope.name} are its reps' records, for the team's managers. You can see its total "
            "(`team revenue`) and your own records (`my open deals`)."
        )
    return scope


def default_leaderboard_scope(directory: Directory, asker: Person) -> Scope:
    """What a leaderboard ranks when no scope is named: a rep's team, a manager's teams, an admin's org."""
    if asker.role == Role.ADMIN:
        return org_scope()
    teams = own_teams(directory, asker)
    return team_scope(directory, teams) if teams else org_scope()


def leaderboard_scope(directory: Directory, asker: Person, ref: ScopeRef) -> Scope:
    """Leaderboards are open to everyone, for any team or the whole organisation."""
    if ref.kind == "me":
        return default_leaderboard_scope(directory, asker)
    if ref.kind == "org":
        return org_scope()
    if ref.kind == "my-team":
        teams = own_teams(directory, asker)
        return team_scope(directory, teams) if teams else org_scope()
    team = directory.teams.get(ref.id) if ref.kind == "team" and ref.id is not None else None
    if team is None:
        raise LookupError(f"A leaderboard ranks a team or the organisation; {ref.name or 'that'} is neither.")
    return team_scope(directory, [team], team.name)


def teams_below(directory: Directory, scope: Scope) -> list[TeamInfo]:
    """The teams a ranking of teams of ``scope`` compares: the organisation's top-level teams, the teams below
    one team, or a manager's teams (when they manage several)."""
    if scope.type == "org":
        return [t for t in directory.teams.values() if t.parent_id is None]
    if len(scope.team_ids) == 1:
        return [t for t in directory.teams.values() if t.parent_id == scope.team_ids[0]]
    return [directory.teams[team_id] for team_id in scope.team_ids]


def ranked_teams(directory: Directory, asker: Person, scope: Scope, kpi_key: str) -> dict[int, Scope]:
    """The teams a ranking of teams compares (:func:`teams_below`), by id; each must be one the asker may see."""
    teams = teams_below(directory, scope)
    if not teams:
        raise LookupError(
            f"{scope.name} has no teams below it to rank. Try `leaderboard {kpi_key}` to rank its people."
        )
    managed = directory.managed_teams(asker)
    hidden = sorted(t.name for t in teams if asker.role != "admin" and t.id not in managed and t.id != asker.team_id)
    if hidden:
        team = f", or `team {kpi_key}` for your team's total" if own_teams(directory, asker) else ""
        raise AccessDenied(
            f"A ranking of teams shows each team's totals, and you can see those of your own team and of teams you "
            f"manage, not of {', '.join(hidden)}. Try `leaderboard {kpi_key}` to rank people{team}."
        )
    return {t.id: team_scope(directory, [t], t.name) for t in sorted(teams, key=lambda t: (t.name.lower(), t.id))}


def check_may_set_target(directory: Directory, setter: Person, who: Who) -> None:
    """Admins set any target; managers the targets of the people and teams they manage (not their own)."""
    if setter.role == Role.ADMIN:
        return
    if who.type == "org":
        raise AccessDenied("Organisation targets are set by admins.")
    managed = directory.managed_teams(setter)
    if not managed:
        raise AccessDenied("Targets are set by managers, for the people and teams they manage, and by admins.")
    if who.type == "team":
        if who.id not in managed:
            raise AccessDenied(f"{who.name} is not a team you manage.")
        return
    if who.id == setter.id:
        raise AccessDenied("Your own targets are set by your manager or an admin.")
    person = directory.people.get(who.id) if who.id is not None else None
    if person is None or person.team_id not in managed:
        raise AccessDenied(f"{who.name} is not in a team you manage.")


def target_scopes(directory: Directory, setter: Person, today: dt.date) -> list[Who]:
    """Every scope ``setter`` may set targets for: the organisation (admins), teams, then people still
    working on ``today``, each group by name."""
    if setter.role == Role.ADMIN:
        teams = list(directory.teams.values())
        people = [p for p in directory.people.values() if p.left_at is None or p.left_at > today]
        scopes = [ORG]
    else:
        managed = directory.managed_teams(setter)
        teams = [directory.teams[team_id] for team_id in managed]
        people = [
            p
            for p in directory.people.values()
            if p.team_id in managed and p.id != setter.id and (p.left_at is None or p.left_at > today)
        ]
        scopes = []
    scopes += [Who("team", t.id, t.name) for t in sorted(teams, key=lambda t: (t.name.lower(), t.id))]
    scopes += [Who("rep", p.id, p.name) for p in sorted(people, key=lambda p: (p.name.lower(), p.id))]
    return scopes
