"""The conversation, specified by a table (tests/data/questions.yaml): what kpibot makes of questions as people
type them, and the exact message when it cannot. The table is read here as typed queries; the Slack and the
command-line tests ask the same rows through `/kpi` and `kpibot ask --json`."""

from __future__ import annotations

import datetime as dt
import re
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from kpi.db import engine_for
from kpi.grammar.queries import (
    GapQuery,
    HelpQuery,
    LeaderboardQuery,
    ListQuery,
    RecordsQuery,
    ScorecardQuery,
    ValueQuery,
)
from kpi.periods import PeriodError
from kpi.service import Kpibot
from tests.world import World

TABLE = Path(__file__).parent / "data" / "questions.yaml"
ROWS: list[dict[str, Any]] = yaml.safe_load(TABLE.read_text(encoding="utf-8"))
AS_OF = dt.date(2017, 6, 15)
ASKERS = {
    "alice": "alice@example.com",
    "manager": "manager@example.com",
    "admin": "admin@example.com",
    "tom": "tom@example.com",
}
KINDS = {
    ValueQuery: "value",
    LeaderboardQuery: "leaderboard",
    ScorecardQuery: "scorecard",
    GapQuery: "gap",
    RecordsQuery: "records",
    HelpQuery: "help",
    ListQuery: "list",
}


def build_world(session: Session) -> None:
    """The table's world: West (Morgan; Alice, Bob, Mary Ann Lee) with West Enterprise (Wendy), East (Evan;
    Erin, José Núñez), Ada the admin, and Tom, a rep in no team."""
    world = World(session)
    teams = world.two_teams()
    world.rep("José Núñez", team=teams["East"])
    world.rep("Mary Ann Lee", team=teams["West"])
    world.rep("Tom Solo", email="tom@example.com")
    world.commit()


@pytest.fixture(scope="module")
def table_bot(_migrated_sqlite, tmp_path_factory) -> Kpibot:
    """One bot over the table's world for the whole module: the rows only read it."""
    folder = tmp_path_factory.mktemp("conversation")
    shutil.copy(_migrated_sqlite, folder / "kpibot.db")
    engine: Engine = engine_for(f"sqlite:///{folder / 'kpibot.db'}")
    with Session(engine, expire_on_commit=False) as session:
        build_world(session)
    config = folder / "config"
    config.mkdir()
    (config / "org.yaml").write_text("timezone: UTC\ncountry: US\n")
    return Kpibot(engine, config)


def row_id(row: dict[str, Any]) -> str:
    return f"{row['as']}: {row['ask']}"


def expected_scope(text: str) -> str:
    return text if ":" in text else {"me": "me", "my-team": "my-team", "org": "org"}[text]


def read_query(query: Any) -> dict[str, Any]:
    """A query in the table's terms."""
    read: dict[str, Any] = {"kind": KINDS[type(query)]}
    if isinstance(query, HelpQuery | ListQuery):
        return read
    if hasattr(query, "kpi"):
        read["kpi"] = query.kpi.key
    scope = query.scope
    read["scope"] = scope.key if scope.kind in ("me", "my-team", "org") else f"{scope.kind}:{scope.name}"
    if query.period is not None:
        read["period"] = query.period
    if isinstance(query, LeaderboardQuery):
        if query.ranks != "reps":
            read["ranks"] = query.ranks
        if query.bottom:
            read["bottom"] = True
        if query.limit is not None:
            read["limit"] = query.limit
        if query.of_target:
            read["of_target"] = True
    if isinstance(query, RecordsQuery):
        read.update({"model": query.model, "where": query.where} if query.where else {"model": query.model})
        read.update({key: getattr(query, key) for key in ("time", "stuck_days", "account") if getattr(query, key)})
    if isinstance(query, ValueQuery) and query.against is not None:
        against = query.against
        read["against"] = against.kind if against.period is None else f"{against.kind}: {against.period}"
    return read


QUERY_ROWS = [row for row in ROWS if "kind" in row]
MESSAGE_ROWS = [row for row in ROWS if "message" in row]


@pytest.mark.parametrize("row", QUERY_ROWS, ids=row_id)
def test_a_question_asks_what_the_table_says(table_bot, row):
    asked = table_bot.parse(row["ask"], AS_OF)

    expected = {key: value for key, value in row.items() if key not in ("as", "ask")}
    assert read_query(asked) == expected


@pytest.mark.parametrize("row", MESSAGE_ROWS, ids=row_id)
def test_a_question_refused_or_not_understood_gets_the_tables_message(table_bot, row):
    asker = table_bot.person(ASKERS[row["as"]])

    with pytest.raises((LookupError, PermissionError, PeriodError)) as refused:
        table_bot.ask(row["ask"], asker, AS_OF)

    assert str(refused.value) == row["message"]


def test_the_table_names_every_kpi_by_its_key_label_and_every_alias(table_bot):
    catalog = table_bot.catalog  # the standard catalog: the table's config adds no KPI
    asked = " | ".join(row["ask"].lower() for row in ROWS)

    missing = [name for kpi in catalog for name in (kpi.key, kpi.label, *kpi.aliases) if name.lower() not in asked]

    assert missing == []


def test_the_table_holds_at_least_200_questions():
    assert len(ROWS) >= 200


def suggestions(message: str) -> list[str]:
    """The commands a message suggests: its `code` spans."""
    return re.findall(r"`([^`]+)`", message)


@pytest.mark.parametrize("row", [row for row in MESSAGE_ROWS if suggestions(row["message"])], ids=row_id)
def test_every_command_a_message_suggests_works_for_the_asker(table_bot, row):
    asker = table_bot.person(ASKERS[row["as"]])

    answered = [table_bot.ask(command, asker, AS_OF).text for command in suggestions(row["message"])]

    assert all(answered)
