"""people.yaml applied to the database: CRM people updated in place, the others created, nothing duplicated."""

from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine, func, insert, select
from sqlalchemy.orm import Session, aliased

from crm.people import apply_people
from crm.sync import Page, run_sync
from kpi.config import ConfigError, PeopleConfig, load_people
from kpi.schema import Rep, Team

REPO = Path(__file__).parents[1]
NOW = dt.datetime(2024, 7, 1, 12, 0)


def people(text: str) -> PeopleConfig:
    return PeopleConfig.model_validate(yaml.safe_load(textwrap.dedent(text)))


def add(engine: Engine, model: type, **values: Any) -> int:
    """Insert a record as a CRM connector would have (crm "demo" unless given)."""
    values = {"crm": "demo", "crm_id": values.get("email") or values["name"], **values}
    with engine.begin() as connection:
        return connection.execute(insert(model).values(**values)).inserted_primary_key[0]


def reps(engine: Engine) -> list[tuple]:
    team = aliased(Team)
    query = (
        select(Rep.crm, Rep.name, Rep.email, Rep.role, Rep.slack_user_id, team.name, Rep.deleted_at)
        .outerjoin(team, team.id == Rep.team_id)
        .order_by(Rep.name)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def teams(engine: Engine) -> list[tuple]:
    parent, manager = aliased(Team), aliased(Rep)
    query = (
        select(Team.crm, Team.name, parent.name, manager.name, Team.deleted_at)
        .outerjoin(parent, parent.id == Team.parent_id)
        .outerjoin(manager, manager.id == Team.manager_id)
        .order_by(Team.name)
    )
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(query)]


def test_people_only_the_file_knows_are_created_as_config_records(engine):
    config = people(
        """
        teams:
          - {name: Ops}
        people:
          - {name: Sales Ops, email: ops@example.com, role: admin, team: Ops, slack_user_id: U0OPS}
          - {name: Pat Doe, hired_at: "2024-01-08", left_at: "2024-06-01"}
        """
    )
    report = apply_people(engine, config, now=NOW)

    assert reps(engine) == [
        ("config", "Pat Doe", None, "rep", None, None, None),
        ("config", "Sales Ops", "ops@example.com", "admin", "U0OPS", "Ops", None),
    ]
    assert teams(engine) == [("config", "Ops", None, None, None)]
    with engine.connect() as connection:
        pat = connection.execute(select(Rep.crm_id, Rep.hired_at, Rep.left_at, Rep.active).where(Rep.name == "Pat Doe"))
        assert pat.one() == ("pat doe", dt.date(2024, 1, 8), dt.date(2024, 6, 1), False)
    assert (report.people_created, report.teams_created) == (2, 1)


def test_a_crm_person_is_updated_in_place_by_email_and_keeps_what_the_file_does_not_say(engine):
    west = add(engine, Team, name="West 1")
    alice = add(engine, Rep, name="Alice Adams", email="Alice@Example.com", role="rep", team_id=west)
    add(engine, Rep, name="Morgan Manager", email="manager@example.com", role="manager", team_id=west)
    config = people(
        """
        people:
          - {name: Alice A., email: alice@example.com, slack_user_id: U0ALICE}
          - {name: Morgan Manager, slack_user_id: U0MANAGER}
        """
    )
    report = apply_people(engine, config, now=NOW)

    assert reps(engine) == [
        ("demo", "Alice Adams", "alice@example.com", "rep", "U0ALICE", "West 1", None),  # as the file writes it
        ("demo", "Morgan Manager", "manager@example.com", "manager", "U0MANAGER", "West 1", None),
    ]
    with engine.connect() as connection:
        assert connection.execute(select(Rep.id).where(Rep.slack_user_id == "U0ALICE")).scalar() == alice
    assert (report.people_created, report.people_updated) == (0, 2)


def test_a_crm_person_known_by_name_only_is_matched_whatever_the_case(engine):
    add(engine, Rep, name="Darcel Schlecht", role="rep")
    config = people(
        """
        people:
          - {name: darcel schlecht, email: darcel@example.com, role: manager, slack_user_id: U0DARCEL}
        """
    )
    apply_people(engine, config, now=NOW)

    assert reps(engine) == [("demo", "Darcel Schlecht", "darcel@example.com", "manager", "U0DARCEL", None, None)]


def test_teams_get_their_parent_and_manager_and_crm_teams_are_not_duplicated(engine):
    west = add(engine, Team, name="West")
    add(engine, Team, name="West 1", parent_id=west)
    add(engine, Rep, name="Morgan Manager", email="manager@example.com", role="manager")
    config = people(
        """
        teams:
          - {name: west 1, manager: manager@example.com}
          - {name: Enterprise, parent: West, manager: Lee Boss}
        people:
          - {name: Lee Boss, email: lee@example.com, role: manager}
          - {name: Ann New, team: Enterprise, manages: [West]}
        """
    )
    apply_people(engine, config, now=NOW)

    assert teams(engine) == [
        ("config", "Enterprise", "West", "Lee Boss", None),
        ("demo", "West", None, "Ann New", None),
        ("demo", "West 1", "West", "Morgan Manager", None),
    ]
    assert [row[:6] for row in reps(engine)] == [
        ("config", "Ann New", None, "rep", None, "Enterprise"),
        ("config", "Lee Boss", "lee@example.com", "manager", None, None),
        ("demo", "Morgan Manager", "manager@example.com", "manager", None, None),
    ]


def test_entries_removed_from_the_file_are_marked_deleted_and_come_back(engine):
    both = people("people: [{name: Sales Ops, email: ops@example.com, role: admin}, {name: Pat Doe}]")
    apply_people(engine, both, now=NOW)

    report = apply_people(engine, people("people: [{name: Sales Ops, email: ops@example.com, role: admin}]"), now=NOW)
    assert report.deleted == 1
    assert [(row[1], row[-1]) for row in reps(engine)] == [("Pat Doe", NOW), ("Sales Ops", None)]

    apply_people(engine, both, now=NOW)
    assert [(row[1], row[-1]) for row in reps(engine)] == [("Pat Doe", None), ("Sales Ops", None)]


def test_applying_the_same_file_twice_changes_nothing(engine):
    add(engine, Rep, name="Alice Adams", email="alice@example.com", role="rep")
    config = people(
        """
        teams: [{name: Ops, manager: alice@example.com}]
        people: [{name: Alice Adams, email: alice@example.com, team: Ops}, {name: Sales Ops, role: admin}]
        """
    )
    apply_people(engine, config, now=NOW)

    report = apply_people(engine, config, now=NOW)

    assert str(report) == "teams 0 created, 0 updated; people 0 created, 0 updated; 0 deleted"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("people: [{name: Ann, team: Nowhere}]", "key 'people.0.team' has value 'Nowhere': no team has this name"),
        ("teams: [{name: A, manager: ghost@example.com}]", "key 'teams.0.manager' has value 'ghost@example.com'"),
        ("teams: [{name: A, parent: A}]", "key 'teams.0.parent' has value 'A': a team cannot be its own parent"),
        ("people: [{name: Ann, hired_at: 01/02/2024}]", "'people.0.hired_at' has value '01/02/2024': expected a date"),
        ("people: [{name: Ann}, {name: ann}]", "key 'people.1.name' has value 'ann': people.0 is the same person"),
    ],
)
def test_a_dangling_name_is_a_config_error_naming_the_key(engine, text, expected):
    with pytest.raises(ConfigError) as error:
        apply_people(engine, people(text), path="config/people.yaml")

    assert str(error.value).startswith("config/people.yaml: ")
    assert expected in str(error.value)
    assert reps(engine) == []  # nothing half-applied


def test_apply_people_takes_an_engine_a_connection_or_a_session(engine):
    config = people("people: [{name: Sales Ops, role: admin}]")
    with engine.begin() as connection:
        apply_people(connection, config, now=NOW)
    with Session(engine) as session:
        apply_people(session, people("people: [{name: Pat Doe}]"), now=NOW)
        session.commit()

    assert [(row[1], row[-1] is None) for row in reps(engine)] == [("Pat Doe", True), ("Sales Ops", False)]


# -- the shipped file ----------------------------------------------------------------------------------------


def test_the_default_people_yaml_fits_the_demo_people(engine):
    """config/people.yaml gives the demo's three people their Slack ids, without duplicating them."""
    team = add(engine, Team, name="West 1")
    add(engine, Rep, name="Alice Adams", email="alice@example.com", role="rep", team_id=team)
    add(engine, Rep, name="Morgan Manager", email="manager@example.com", role="manager", team_id=team)
    add(engine, Rep, name="Ada Admin", email="admin@example.com", role="admin")

    apply_people(engine, load_people(REPO / "config"), now=NOW)

    assert reps(engine) == [
        ("demo", "Ada Admin", "admin@example.com", "admin", "U0ADMIN", None, None),
        ("demo", "Alice Adams", "alice@example.com", "rep", "U0ALICE", "West 1", None),
        ("demo", "Morgan Manager", "manager@example.com", "manager", "U0MANAGER", "West 1", None),
    ]


def test_the_default_people_yaml_on_an_empty_database_creates_the_three_people(engine):
    apply_people(engine, load_people(REPO / "config"), now=NOW)

    assert [(row[0], row[2], row[3]) for row in reps(engine)] == [
        ("config", "admin@example.com", "admin"),
        ("config", "alice@example.com", "rep"),
        ("config", "manager@example.com", "manager"),
    ]


# -- with the sync runner ------------------------------------------------------------------------------------


class Crm:
    """A connector with two teams and two people, as a CRM would send them."""

    source = "crm"
    objects = ("teams", "reps")

    def read(self, object: str, cursor: str | None):
        if object == "teams":
            yield Page([{"crm_id": "t1", "name": "West"}, {"crm_id": "t2", "name": "East"}])
        else:
            yield Page(
                [
                    {"crm_id": "r1", "name": "Ann Lee", "email": "ann@example.com", "team_crm_id": "t1"},
                    {"crm_id": "r2", "name": "Bo Chan", "role": "manager", "team_crm_id": "t2"},
                ]
            )


def test_every_sync_applies_people_yaml_and_a_second_sync_changes_nothing(engine):
    config = people(
        """
        teams: [{name: West, manager: Bo Chan}]
        people:
          - {name: Ann Lee, email: ann@example.com, role: admin, team: East, slack_user_id: U0ANN}
          - {name: Sales Ops, email: ops@example.com, role: admin}
        """
    )
    first = run_sync(engine, Crm(), full=True, now=NOW, people=config)

    expected = [
        ("crm", "Ann Lee", "ann@example.com", "admin", "U0ANN", "East", None),
        ("crm", "Bo Chan", None, "manager", None, "East", None),
        ("config", "Sales Ops", "ops@example.com", "admin", None, None, None),
    ]
    assert reps(engine) == expected
    assert teams(engine) == [("crm", "East", None, None, None), ("crm", "West", None, "Bo Chan", None)]
    assert (first.people.people_updated, first.people.people_created, first.people.teams_updated) == (1, 1, 1)

    second = run_sync(engine, Crm(), full=True, now=NOW, people=config)

    assert second.total.updated == second.total.created == 0
    assert str(second.people) == "teams 0 created, 0 updated; people 0 created, 0 updated; 0 deleted"
    assert reps(engine) == expected
    with engine.connect() as connection:
        assert connection.execute(select(func.count()).select_from(Rep)).scalar() == 3
