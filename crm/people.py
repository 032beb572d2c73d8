"""people.yaml applied to the database: teams, roles, emails and Slack ids that no CRM knows.

A CRM rarely knows who is an admin of the bot, which Slack user a rep is, or (in a CSV export) anyone's
email. people.yaml fills that in. Each entry is either

* a person the CRM already imported: matched by email, else by exact name (case ignored), and updated
  *in place* with the keys the entry sets, so a person is never duplicated; or
* a person only the file knows (an admin, a manager outside the CRM): stored with ``crm = "config"``.

Teams work the same way, matched by name. Records with ``crm = "config"`` that disappear from the file are
marked deleted, like records missing from a full CRM export.

The sync runner applies the file after every sync. So that re-running a sync changes nothing, it first
asks :func:`pinned_columns` which columns of which CRM rows the file owns, and leaves those alone.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from sqlalchemy import Connection, Engine, Table, insert, select, update
from sqlalchemy.orm import Session

from kpi import generation
from kpi.config import ConfigError, PeopleConfig, PersonConfig, TeamConfig
from kpi.periods import utc_now
from kpi.schema import CONFIG_CRM, Rep, Team

#: people.yaml key -> reps column, for the keys copied as they are.
PERSON_COLUMNS = {"email": "email", "role": "role", "slack_user_id": "slack_user_id"}
#: people.yaml keys holding dates (written 2024-03-31), stored in the reps columns of the same name.
DATES = ("hired_at", "left_at")


def _table(model: type[Team | Rep]) -> Table:
    """A model's Table, for Core statements. DeclarativeBase types ``__table__`` as any FromClause (a mapping
    may be onto a join or a select); these models are each mapped onto one table."""
    table = model.__table__
    assert isinstance(table, Table)
    return table


TEAMS = _table(Team)
REPS = _table(Rep)


@dataclass
class PeopleReport:
    teams_created: int = 0
    teams_updated: int = 0
    people_created: int = 0
    people_updated: int = 0
    deleted: int = 0

    def __str__(self) -> str:
        teams, people = (self.teams_created, self.teams_updated), (self.people_created, self.people_updated)
        return "teams {} created, {} updated; people {} created, {} updated; {} deleted".format(
            *teams, *people, self.deleted
        )


def apply_people(
    bind: Engine | Connection | Session,
    people: PeopleConfig,
    *,
    now: dt.datetime | None = None,
    today: dt.date | None = None,
    path: Path | str = "people.yaml",
) -> PeopleReport:
    """Upsert the teams and people of people.yaml; raise ConfigError for a dangling name.

    ``now`` (naive UTC) stamps the config records removed from the file; ``today`` decides whether a
    person with a ``left_at`` date is still active. ``path`` only names the file in error messages.
    """
    now = now or utc_now()
    with _connection(bind) as connection:
        report = _Applier(connection, people, now, today or now.date(), str(path)).run()
        if any(vars(report).values()):  # someone changed: answers of before are of another directory
            generation.advance(connection, directory=True)
        return report


def pinned_columns(bind: Connection, people: PeopleConfig) -> dict[str, dict[int, frozenset[str]]]:
    """``{"reps"|"teams": {row id: columns}}``: what people.yaml sets on records a CRM imported."""
    directory = _Directory.load(bind)
    pinned: dict[str, dict[int, set[str]]] = {"reps": defaultdict(set), "teams": defaultdict(set)}
    for person in people.people:
        for rep_id in directory.people(person):
            pinned["reps"][rep_id].update(_person_columns(person))
        for team_name in person.manages:
            for team_id in directory.teams.get(_fold(team_name), []):
                pinned["teams"][team_id].add("manager_id")
    for team in people.teams:
        for team_id in directory.teams.get(_fold(team.name), []):
            pinned["teams"][team_id].update(_team_columns(team))
    return {name: {row: frozenset(columns) for row, columns in rows.items()} for name, rows in pinned.items()}


def _person_columns(person: PersonConfig) -> set[str]:
    """The reps columns an entry sets explicitly (a key left out keeps the CRM's value)."""
    given = person.model_fields_set
    columns = {column for key, column in PERSON_COLUMNS.items() if key in given}
    columns |= {key for key in DATES if key in given}
    if "team" in given:
        columns.add("team_id")
    if "left_at" in given:
        columns.add("active")
    return columns


def _team_columns(team: TeamConfig) -> set[str]:
    given = team.model_fields_set
    return {column for key, column in (("parent", "parent_id"), ("manager", "manager_id")) if key in given}


def _fold(text: str) -> str:
    return text.strip().casefold()


@contextmanager
def _connection(bind: Engine | Connection | Session) -> Iterator[Connection]:
    if isinstance(bind, Engine):
        with bind.begin() as connection:
            yield connection
    elif isinstance(bind, Session):
        yield bind.connection()
    else:
        yield bind


@dataclass
class _Directory:
    """The live teams and people imported from CRMs, by folded name and email."""

    teams: dict[str, list[int]]
    emails: dict[str, list[int]]
    names: dict[str, list[int]]

    @classmethod
    def load(cls, connection: Connection) -> _Directory:
        teams, emails, names = defaultdict(list), defaultdict(list), defaultdict(list)
        crm_rows = (Team.crm != CONFIG_CRM, Team.deleted_at.is_(None))
        for team_id, name in connection.execute(select(Team.id, Team.name).where(*crm_rows).order_by(Team.id)):
            teams[_fold(name)].append(team_id)
        crm_rows = (Rep.crm != CONFIG_CRM, Rep.deleted_at.is_(None))
        query = select(Rep.id, Rep.name, Rep.email).where(*crm_rows).order_by(Rep.id)
        for rep_id, name, email in connection.execute(query):
            names[_fold(name)].append(rep_id)
            if email:
                emails[_fold(email)].append(rep_id)
        return cls(dict(teams), dict(emails), dict(names))

    def people(self, person: PersonConfig) -> list[int]:
        """The CRM people an entry describes: by email, else by exact name."""
        if person.email and _fold(person.email) in self.emails:
            return self.emails[_fold(person.email)]
        return self.names.get(_fold(person.name), [])


class _Applier:
    """One application of people.yaml, inside the caller's transaction."""

    def __init__(
        self, connection: Connection, people: PeopleConfig, now: dt.datetime, today: dt.date, path: str
    ) -> None:
        self.connection = connection
        self.config = people
        self.now = now
        self.today = today
        self.path = path
        self.directory = _Directory.load(connection)
        self.report = PeopleReport()
        self.team_ids: dict[str, list[int]] = {}  # folded name -> ids, for the teams of the file
        self.person_ids: list[list[int]] = []  # per entry of people:, the rows it describes

    def run(self) -> PeopleReport:
        self._check_unique()
        kept_teams = [self._upsert_team(team) for team in self.config.teams]
        kept_people = [self._upsert_person(index, person) for index, person in enumerate(self.config.people)]
        for index, team in enumerate(self.config.teams):
            self._link_team(index, team)
        for index, person in enumerate(self.config.people):
            for position, name in enumerate(person.manages):
                for team_id in self._team(name, f"people.{index}.manages.{position}"):
                    self._update(TEAMS, team_id, {"manager_id": self.person_ids[index][0]}, "teams")
        self._delete_others(TEAMS, {crm_id for crm_id in kept_teams if crm_id})
        self._delete_others(REPS, {crm_id for crm_id in kept_people if crm_id})
        return self.report

    # -- teams and people ----------------------------------------------------------------------------

    def _upsert_team(self, team: TeamConfig) -> str | None:
        """Create a config team unless a CRM team has this name; return the config crm_id, if any."""
        matched = self.directory.teams.get(_fold(team.name))
        if matched:
            self.team_ids[_fold(team.name)] = matched
            return None
        crm_id = _fold(team.name)
        self.team_ids[crm_id] = [self._upsert_config(TEAMS, crm_id, {"name": team.name}, "teams")]
        return crm_id

    def _upsert_person(self, index: int, person: PersonConfig) -> str | None:
        """Update the CRM people this entry describes, or create a config person; see the module doc."""
        matched = self.directory.people(person)
        values = self._person_values(index, person, explicit_only=bool(matched))
        if matched:
            for rep_id in matched:
                self._update(REPS, rep_id, values, "people")
            self.person_ids.append(matched)
            return None
        crm_id = _fold(person.email or person.name)
        row_id = self._upsert_config(REPS, crm_id, {"name": person.name, **values}, "people")
        self.person_ids.append([row_id])
        return crm_id

    def _person_values(self, index: int, person: PersonConfig, *, explicit_only: bool) -> dict[str, Any]:
        columns = _person_columns(person) if explicit_only else {*PERSON_COLUMNS.values(), *DATES, "team_id"}
        values: dict[str, Any] = {}
        for key, column in PERSON_COLUMNS.items():
            if column in columns:
                values[column] = getattr(person, key)
        for key in DATES:
            if key in columns:
                values[key] = self._date(getattr(person, key), f"people.{index}.{key}")
        if "team_id" in columns:
            values["team_id"] = self._team(person.team, f"people.{index}.team")[0] if person.team else None
        if not explicit_only or "left_at" in columns:
            values["active"] = values.get("left_at") is None or values["left_at"] > self.today
        return values

    def _link_team(self, index: int, team: TeamConfig) -> None:
        """Set a file team's parent and manager, now that every team and person exists.

        A CRM team gets only the keys the entry writes; a team only the file knows gets all of them, so
        that removing its parent from the file removes it from the team.
        """
        columns = _team_columns(team) if _fold(team.name) in self.directory.teams else {"parent_id", "manager_id"}
        values: dict[str, Any] = {}
        if "parent_id" in columns:
            parents = self._team(team.parent, f"teams.{index}.parent") if team.parent else [None]
            values["parent_id"] = parents[0]
        if "manager_id" in columns:
            values["manager_id"] = self._person(team.manager, f"teams.{index}.manager") if team.manager else None
        for team_id in self.team_ids[_fold(team.name)]:
            if values.get("parent_id") == team_id:
                self._fail(f"teams.{index}.parent", team.parent, "a team cannot be its own parent")
            self._update(TEAMS, team_id, values, "teams")

    # -- names -> ids ----------------------------------------------------------------------------------

    def _team(self, name: str, key: str) -> list[int]:
        ids = self.team_ids.get(_fold(name)) or self.directory.teams.get(_fold(name))
        if not ids:
            self._fail(key, name, "no team has this name, in people.yaml's teams: or in the CRM; add it or fix it")
        return ids

    def _person(self, who: str, key: str) -> int:
        """A person given by email or name: an entry of the file first, else a CRM person."""
        for index, person in enumerate(self.config.people):
            if _fold(who) in {_fold(person.name), _fold(person.email or "")}:
                return self.person_ids[index][0]
        ids = self.directory.emails.get(_fold(who)) or self.directory.names.get(_fold(who))
        if not ids:
            self._fail(key, who, "no person has this email or name, in people.yaml's people: or in the CRM")
        return ids[0]

    def _date(self, value: str | None, key: str) -> dt.date | None:
        if value is None:
            return None
        try:
            return dt.date.fromisoformat(str(value))
        except ValueError:
            self._fail(key, value, "expected a date written like 2024-03-31")

    def _check_unique(self) -> None:
        seen: dict[str, str] = {}
        for index, team in enumerate(self.config.teams):
            if seen.setdefault(_fold(team.name), f"teams.{index}") != f"teams.{index}":
                self._fail(f"teams.{index}.name", team.name, f"{seen[_fold(team.name)]} has the same name")
        seen = {}
        for index, person in enumerate(self.config.people):
            identity = _fold(person.email or person.name)
            if seen.setdefault(identity, f"people.{index}") != f"people.{index}":
                key = f"people.{index}.{'email' if person.email else 'name'}"
                self._fail(key, person.email or person.name, f"{seen[identity]} is the same person")

    def _fail(self, key: str, value: Any, message: str) -> NoReturn:
        raise ConfigError(f"{self.path}: key '{key}' has value {value!r}: {message}.")

    # -- SQL -------------------------------------------------------------------------------------------

    def _upsert_config(self, table: Table, crm_id: str, values: dict[str, Any], kind: str) -> int:
        """Insert or update the config record ``crm_id`` (un-deleting it) and return its id."""
        query = select(table.c.id).where(table.c.crm == CONFIG_CRM, table.c.crm_id == crm_id)
        row_id = self.connection.execute(query).scalar()
        if row_id is None:
            statement = insert(table).values(crm=CONFIG_CRM, crm_id=crm_id, **values)
            setattr(self.report, f"{kind}_created", getattr(self.report, f"{kind}_created") + 1)
            key = self.connection.execute(statement).inserted_primary_key
            assert key is not None  # None only for a statement other than a single-row insert
            return key[0]
        self._update(table, row_id, {**values, "deleted_at": None}, kind)
        return row_id

    def _update(self, table: Table, row_id: int, values: dict[str, Any], kind: str) -> None:
        """Update the columns that differ; count the row as updated when any did."""
        if not values:
            return
        current = self.connection.execute(select(*(table.c[name] for name in values)).where(table.c.id == row_id))
        row = current.mappings().one()
        changes = {name: value for name, value in values.items() if row[name] != value}
        if changes:
            self.connection.execute(update(table).where(table.c.id == row_id).values(**changes))
            setattr(self.report, f"{kind}_updated", getattr(self.report, f"{kind}_updated") + 1)

    def _delete_others(self, table: Table, kept: set[str]) -> None:
        """Mark deleted the config records that the file no longer lists."""
        live = (table.c.crm == CONFIG_CRM, table.c.deleted_at.is_(None))
        rows = self.connection.execute(select(table.c.id, table.c.crm_id).where(*live))
        gone = [row_id for row_id, crm_id in rows if crm_id not in kept]
        if gone:
            self.connection.execute(update(table).where(table.c.id.in_(gone)).values(deleted_at=self.now))
            self.report.deleted += len(gone)
