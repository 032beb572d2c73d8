"""Who may see which numbers, asked end to end through Kpibot.ask (the policy of kpi/access.py).

The world (2017-Q2 revenue, as of 2018-01-15):

    West (managed by Morgan Manager, who belongs to it)   Alice Adams 1,100   Amy Allen 2,300
      West Enterprise (a sub-team of West)                 Wendy Wu 4,700
    East (managed by Evan East, who belongs to it)        Bob Brown 8,900
    Ada Admin: an admin in no team.

West with its sub-team: 1,100 + 2,300 + 4,700 = 8,100; the organisation: 8,100 + 8,900 = 17,000.
Every amount is distinct, so a refusal can be checked for not leaking any of them.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from kpi.access import AccessDenied, people_seen
from kpi.answers import Answer, Leaderboard
from kpi.service import Kpibot
from tests.world import World

AS_OF = dt.date(2018, 1, 15)
REVENUE = {"Alice Adams": 1100, "Amy Allen": 2300, "Wendy Wu": 4700, "Bob Brown": 8900}
# Every number a refusal could leak, as people and machines write it.
SECRETS = [text for amount in (1100, 2300, 4700, 8100, 8900, 17000) for text in (f"{amount:,}", str(amount))]


@pytest.fixture(scope="module")
def bot(module_engine, tmp_path_factory) -> Kpibot:
    """One world per backend for the whole module: every test only reads it."""
    folder = tmp_path_factory.mktemp("access")
    with Session(module_engine, expire_on_commit=False) as session:
        world = World(session)
        west, east = world.team("West"), world.team("East")
        enterprise = world.team("West Enterprise", parent=west)
        world.manage(west, world.rep("Morgan Manager", team=west, role="manager"))
        world.manage(east, world.rep("Evan East", team=east, role="manager"))
        world.rep("Ada Admin", role="admin")
        for name, team in (("Alice Adams", west), ("Amy Allen", west), ("Wendy Wu", enterprise), ("Bob Brown", east)):
            world.deal(world.rep(name, team=team), REVENUE[name], "won", closed="2017-05-10")
        world.commit()
    config = folder / "config"
    config.mkdir()
    return Kpibot(module_engine, config)


def ask(bot: Kpibot, asker: str, question: str) -> Answer | Leaderboard:
    return bot.ask(question, bot.person(asker), AS_OF)


def refusal(bot: Kpibot, asker: str, question: str) -> str:
    with pytest.raises(AccessDenied) as raised:
        ask(bot, asker, question)
    message = str(raised.value)
    assert [secret for secret in SECRETS if secret in message] == []
    return message


# --- reps --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "scope", "value"),
    [
        ("my revenue 2017-Q2", "Alice Adams", 1100),
        ("team revenue 2017-Q2", "West", 1100 + 2300 + 4700),
        ("West revenue 2017-Q2", "West", 1100 + 2300 + 4700),
        ("Alice Adams revenue 2017-Q2", "Alice Adams", 1100),
    ],
    ids=["my", "team", "own-team-by-name", "self-by-name"],
)
def test_rep_sees_own_numbers_and_own_team(bot, question, scope, value):
    answer = ask(bot, "Alice Adams", question)

    assert (answer.scope.name, answer.result.value) == (scope, Decimal(value))


@pytest.mark.parametrize(
    ("question", "why"),
    [
        ("org revenue 2017-Q2", "Organisation-wide numbers are for admins"),
        ("amy revenue 2017-Q2", "not another rep's numbers"),
        ("revenue 2017-Q2 for amy", "not another rep's numbers"),
        ("bob revenue 2017-Q2", "not another rep's numbers"),
        ("East revenue 2017-Q2", "East is neither"),
        ("West Enterprise revenue 2017-Q2", "West Enterprise is neither"),
    ],
    ids=["org", "teammate", "teammate-for", "outside-person", "other-team", "sub-team-of-own-team"],
)
def test_rep_is_refused_the_org_other_people_and_other_teams_without_their_numbers(bot, question, why):
    assert why in refusal(bot, "Alice Adams", question)


# --- managers -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "scope", "value"),
    [
        ("my revenue 2017-Q2", "Morgan Manager", 0),
        ("team revenue 2017-Q2", "West", 1100 + 2300 + 4700),
        ("amy revenue 2017-Q2", "Amy Allen", 2300),
        ("wendy revenue 2017-Q2", "Wendy Wu", 4700),
        ("West revenue 2017-Q2", "West", 1100 + 2300 + 4700),
        ("West Enterprise revenue 2017-Q2", "West Enterprise", 4700),
    ],
    ids=["my", "team", "rep-in-managed-team", "rep-in-sub-team", "managed-team-by-name", "sub-team-by-name"],
)
def test_manager_sees_managed_teams_and_their_reps(bot, question, scope, value):
    answer = ask(bot, "Morgan Manager", question)

    assert (answer.scope.name, answer.result.value) == (scope, Decimal(value))


@pytest.mark.parametrize(
    ("asker", "question", "why"),
    [
        ("Morgan Manager", "org revenue 2017-Q2", "Organisation-wide numbers are for admins"),
        ("Morgan Manager", "bob revenue 2017-Q2", "Bob Brown is not in a team you manage"),
        ("Morgan Manager", "East revenue 2017-Q2", "East is neither"),
        ("Evan East", "alice revenue 2017-Q2", "Alice Adams is not in a team you manage"),
        ("Evan East", "Morgan Manager revenue 2017-Q2", "Morgan Manager is not in a team you manage"),
    ],
    ids=["org", "outside-person", "other-team", "other-manager-outside-person", "other-manager"],
)
def test_manager_is_refused_the_org_and_people_and_teams_outside_without_their_numbers(bot, asker, question, why):
    assert why in refusal(bot, asker, question)


# --- admins -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("question", "scope", "value"),
    [
        ("my revenue 2017-Q2", "Ada Admin", 0),
        ("org revenue 2017-Q2", "the whole organisation", 1100 + 2300 + 4700 + 8900),
        ("bob revenue 2017-Q2", "Bob Brown", 8900),
        ("amy revenue 2017-Q2", "Amy Allen", 2300),
        ("East revenue 2017-Q2", "East", 8900),
        ("West Enterprise revenue 2017-Q2", "West Enterprise", 4700),
    ],
    ids=["my", "org", "any-person", "another-person", "any-team", "any-sub-team"],
)
def test_admin_sees_every_person_team_and_the_org(bot, question, scope, value):
    answer = ask(bot, "Ada Admin", question)

    assert (answer.scope.name, answer.result.value) == (scope, Decimal(value))


def test_admin_in_no_team_is_told_team_means_nothing_without_numbers(bot):
    assert "not in a team" in refusal(bot, "Ada Admin", "team revenue 2017-Q2")


# --- leaderboards -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("asker", "scope", "names"),
    [
        ("Alice Adams", "West", ["Wendy Wu", "Amy Allen", "Alice Adams"]),
        ("Bob Brown", "East", ["Bob Brown"]),
        ("Morgan Manager", "West", ["Wendy Wu", "Amy Allen", "Alice Adams"]),
        ("Ada Admin", "the whole organisation", ["Bob Brown", "Wendy Wu", "Amy Allen", "Alice Adams"]),
    ],
    ids=["rep-own-team", "rep-other-team", "manager-managed-teams", "admin-org"],
)
def test_leaderboard_without_a_scope_ranks_the_askers_team_or_the_org_for_admins(bot, asker, scope, names):
    board = ask(bot, asker, "leaderboard revenue 2017-Q2")

    assert board.scope.name == scope
    assert [(row.name, row.result.value) for row in board.rows] == [(name, REVENUE[name]) for name in names]


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("leaderboard East revenue 2017-Q2", ["Bob Brown"]),
        ("leaderboard revenue 2017-Q2 for East", ["Bob Brown"]),
        ("leaderboard West Enterprise revenue 2017-Q2", ["Wendy Wu"]),
        ("leaderboard revenue org 2017-Q2", ["Bob Brown", "Wendy Wu", "Amy Allen", "Alice Adams"]),
    ],
    ids=["another-team", "another-team-for", "sub-team", "org"],
)
def test_leaderboards_of_any_team_and_the_org_are_open_to_reps(bot, question, names):
    board = ask(bot, "Alice Adams", question)

    assert [row.name for row in board.rows] == names


@pytest.mark.parametrize(
    ("asker", "seen"),
    [
        ("Alice Adams", []),  # a rep: no one else
        ("Morgan Manager", ["Alice Adams", "Amy Allen", "Wendy Wu"]),  # West's reps and its sub-team's, not East's
        ("Evan East", ["Bob Brown"]),
        ("Ada Admin", ["Alice Adams", "Amy Allen", "Bob Brown", "Evan East", "Morgan Manager", "Wendy Wu"]),
    ],
)
def test_the_people_whose_numbers_one_may_see_are_a_managers_reps_everyone_for_an_admin_and_no_one_for_a_rep(
    bot, asker, seen
):
    people = people_seen(bot.directory, bot.person(asker), AS_OF)

    assert [person.name for person in people] == seen
    assert all(ask(bot, asker, f"{person.email or person.name} revenue 2017-Q2") for person in people)
