"""Typed queries: what the parser makes of words, what buttons carry, and that the core answers a query built
directly exactly as it answers the words."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from kpi.grammar.queries import LeaderboardQuery, ValueQuery, from_json, to_json, words
from kpi.periods import calendar_period
from kpi.schema import Rep
from kpi.service import Kpibot
from kpi.types import ME, WHOLE_ORG, ScopeRef

AS_OF = dt.date(2017, 6, 15)


@pytest.fixture
def bot(engine, world, us_config) -> Kpibot:
    world.two_teams()
    alice = world.session.query(Rep).filter_by(email="alice@example.com").one()
    world.deal(alice, 1000, "won", closed="2017-05-02")
    world.deal(alice, 500, "won", closed="2017-06-01")
    world.commit()
    return Kpibot(engine, us_config)


def test_the_parser_names_scopes_by_id_and_keeps_the_period_phrase(bot):
    west = bot.directory.find_team("West")

    assert bot.parse("team West revenue last month", AS_OF) == ValueQuery(
        bot.catalog["revenue"], "last month", ScopeRef("team", west.id, "West")
    )
    assert bot.parse("leaderboard calls org", AS_OF) == LeaderboardQuery(bot.catalog["calls"], None, WHOLE_ORG)


def test_a_query_survives_a_button_and_reads_as_words(bot):
    alice = bot.person("alice@example.com")
    query = ValueQuery(bot.catalog["win-rate"], "this quarter", ScopeRef("person", alice.id, alice.name))

    carried = to_json(query)

    assert carried == {"k": "value", "kpi": "win-rate", "s": f"person:{alice.id}", "p": "this quarter"}
    assert from_json(carried, bot.catalog, bot.directory) == query
    assert words(query) == "Alice Adams win-rate this quarter"


@pytest.mark.parametrize(
    "text",
    [
        "how am I doing this month",
        "how is West doing",
        "how is the company doing last quarter",
        "what do I need to hit my calls target",
        "how far is West Enterprise from the revenue target",
        "revenue by team",
        "bottom 3 by win rate on team West last month",
        "top 5 reps by revenue % of target",
        "my revenue vs last year",
        "compare my win rate to last quarter",
        "my win rate vs the team",
    ],
)
def test_every_kind_of_query_survives_a_button_and_reads_back_as_itself(bot, text):
    query = bot.parse(text, AS_OF)

    carried = json.loads(json.dumps(to_json(query)))

    assert from_json(carried, bot.catalog, bot.directory) == query
    assert bot.parse(words(query), AS_OF) == query


def test_a_button_keeps_only_what_differs_from_a_plain_query(bot):
    west = bot.directory.find_team("West")
    query = LeaderboardQuery(bot.catalog["revenue"], "last month", ScopeRef("team", west.id, "West"), "teams", True, 3)

    assert to_json(query) == {
        "k": "leaderboard",
        "kpi": "revenue",
        "s": f"team:{west.id}",
        "p": "last month",
        "r": "teams",
        "b": True,
        "n": 3,
    }
    assert words(query) == "bottom 3 team West teams revenue last month"


def test_a_button_naming_someone_gone_is_refused_in_words(bot):
    with pytest.raises(LookupError, match="no longer in the directory"):
        from_json({"kpi": "revenue", "s": "person:999999"}, bot.catalog, bot.directory)


def test_a_query_with_an_exact_period_is_answered_as_its_words_are(bot):
    alice = bot.person("alice@example.com")
    may = calendar_period("month", dt.date(2017, 5, 1), bot.calendar, AS_OF)

    built = bot.run(ValueQuery(bot.catalog["revenue"], may, ME), alice, AS_OF)
    typed = bot.ask("my revenue 2017-05", alice, AS_OF)

    assert (built.text, built.result.value) == (typed.text, 1000)
