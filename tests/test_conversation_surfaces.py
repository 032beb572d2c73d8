"""The conversation table (tests/data/questions.yaml) through the two doors people use: `kpibot ask --json` and `/kpi`
in Slack. Every question the table says is understood is answered, as the kind of answer it asks for; every
question the table refuses gets its message in Slack too; every example the help shows works for every asker."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.app import create_app, web_client
from bot.cli import app as cli
from kpi.grammar.lexicon import lexicon
from kpi.periods import Calendar
from kpi.service import Kpibot
from tests.fakes import FakeSlack
from tests.test_conversation import AS_OF, ASKERS, MESSAGE_ROWS, QUERY_ROWS, row_id, table_bot
from tests.test_slack_app import SECRET, dispatch

__all__ = ["table_bot"]  # the table's world, shared with tests/test_conversation.py
SLACK_IDS = {"alice": "U0ALICE1", "manager": "U0MANAGE1", "admin": "U0ADMIN01", "tom": "U0TOMSOLO"}
NAMES = {"alice": "Alice Adams", "manager": "Morgan Manager", "admin": "Ada Admin", "tom": "Tom Solo"}
#: Questions the table reads one way and the asker may not have answered (their refusal is a message row).
REFUSED = {(row["as"], row["ask"]) for row in MESSAGE_ROWS}
ANSWERED = [row for row in QUERY_ROWS if (row["as"], row["ask"]) not in REFUSED]


@pytest.fixture(scope="module")
def table_env(table_bot: Kpibot) -> dict[str, str]:
    """What `kpibot ask` needs to read the table's world."""
    url = table_bot.engine.url.render_as_string(hide_password=False)
    return {"DATABASE_URL": url, "KPIBOT_CONFIG_DIR": str(table_bot.config_dir)}


def ask_json(env: dict[str, str], asker: str, text: str) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["ask", text, "--as", ASKERS[asker], "--as-of", AS_OF.isoformat(), "--json"], env=env
    )
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def scope_of(row: dict[str, Any]) -> tuple[str, str | None]:
    """The scope an answer to the row names: its type, and its name where the row says it."""
    kind, _, name = str(row["scope"]).partition(":")
    return {"me": ("rep", None), "my-team": ("team", None), "org": ("org", None)}.get(
        kind, ("rep" if kind == "person" else "team", name)
    )


@pytest.mark.parametrize("row", ANSWERED, ids=row_id)
def test_kpibot_ask_json_answers_each_question_as_the_table_reads_it(table_bot, table_env, row):
    answer = ask_json(table_env, row["as"], row["ask"])

    assert answer["kind"] == row["kind"]
    if row["kind"] in ("value", "gap", "leaderboard"):
        assert answer["kpi"] == row["kpi"]
    if row["kind"] == "leaderboard":
        assert answer["ranks"] == row.get("ranks", "reps")
    if row["kind"] == "value":
        kind, name = scope_of(row)
        period = table_bot.period(row.get("period"), AS_OF)
        assert (answer["scope"]["type"], answer["period"]["label"]) == (kind, period.label)
        assert name is None or answer["scope"]["name"] == name


@pytest.fixture(scope="module")
def slack_app(table_bot: Kpibot) -> Iterator[tuple[Any, FakeSlack]]:
    """The Bolt app over the table's world on the table's day, and the fake Slack it talks to."""
    with FakeSlack() as slack, pytest.MonkeyPatch.context() as patch:
        for asker, slack_id in SLACK_IDS.items():
            slack.add_user(slack_id, email=ASKERS[asker], real_name=NAMES[asker])
        patch.setattr(Calendar, "today", lambda self: AS_OF)
        yield (
            create_app(table_bot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url)),
            slack,
        )


def slash(slack_app: tuple[Any, FakeSlack], asker: str, text: str) -> dict[str, Any]:
    """``/kpi text`` as ``asker``, signed as Slack signs it: the reply in the acknowledgement."""
    app, slack = slack_app
    response = dispatch(app, slack, SLACK_IDS[asker], text)
    assert response.status == 200
    return json.loads(response.body)


def said(reply: dict[str, Any]) -> str:
    """Everything a reply shows, as one text."""
    return json.dumps(reply.get("blocks", []), ensure_ascii=False) + reply.get("text", "")


@pytest.mark.parametrize("row", ANSWERED, ids=row_id)
def test_slash_kpi_answers_each_question_the_table_understands(table_bot, slack_app, row):
    reply = said(slash(slack_app, row["as"], row["ask"]))

    assert "I understood" not in reply and "Sorry" not in reply
    if "kpi" in row:
        kpi = table_bot.catalog[row["kpi"]]
        assert any(label in reply for label in (kpi.label, kpi.ahead.label if kpi.ahead else kpi.label))


@pytest.mark.parametrize("row", MESSAGE_ROWS, ids=row_id)
def test_slash_kpi_refuses_each_question_with_the_tables_message(slack_app, row):
    reply = slash(slack_app, row["as"], row["ask"])

    assert reply["text"] == row["message"]


def shown(help_text: str) -> list[str]:
    """The example questions a help text quotes."""
    return re.findall(r'"([^"]+)"', help_text)


@pytest.mark.parametrize("asker", sorted(ASKERS))
def test_every_example_a_persons_help_shows_is_answered_for_them(table_bot, asker):
    person = table_bot.person(ASKERS[asker])
    examples = shown(table_bot.ask("help", person, AS_OF).text) + list(lexicon().examples)

    answered = {example: bool(table_bot.ask(example, person, AS_OF).text) for example in examples}

    assert len(answered) >= 12 and all(answered.values())


def test_help_shows_a_rep_in_one_team_no_ranking_of_teams_and_an_admin_one(table_bot):
    alice, admin = (table_bot.ask("help", table_bot.person(ASKERS[who]), AS_OF).text for who in ("alice", "admin"))

    assert "A ranking of teams" not in alice
    assert (
        'A ranking of teams:  KPI by team, which team ...: "revenue by team", "which team has the best win rate"'
        in admin
    )
