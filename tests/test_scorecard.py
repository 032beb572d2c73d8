"""The scorecard, "how am I doing" (issue 14): the KPIs of org.yaml's `scorecard:` for a scope, each with its
target, pace and change on the comparable period, measured in few statements.

Asked on Thursday 2017-06-15 in a US org: this quarter to date is 2017-04-01..2017-06-15, compared with
2017-Q1 through 2017-03-15. Q2 has 64 working days (Memorial Day and Independence Day are holidays), 53 of
them up to 2017-06-15 included.
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from kpi.config import ConfigError
from kpi.schema import Rep
from kpi.scorecard import Scorecard
from kpi.service import Kpibot

AS_OF = dt.date(2017, 6, 15)


@pytest.fixture
def config(us_config):
    (us_config / "org.yaml").write_text("timezone: UTC\ncountry: US\nscorecard: [revenue, win-rate, calls]\n")
    return us_config


@pytest.fixture
def bot(engine, world, config) -> Kpibot:
    """Alice: 3,000 won in Q2 (and 1,000 in Q1 to 03-15), 1 deal lost in Q2; 4 calls in Q2, 2 in Q1; a Q2 revenue
    target of 6,400."""
    world.two_teams()
    alice = world.session.query(Rep).filter_by(email="alice@example.com").one()
    world.deal(alice, 1000, "won", closed="2017-02-10")
    world.deal(alice, 2000, "won", closed="2017-04-10")
    world.deal(alice, 1000, "won", closed="2017-06-01")
    world.deal(alice, 500, "lost", closed="2017-05-01")
    for day in ("2017-02-01", "2017-03-01", "2017-04-03", "2017-04-04", "2017-05-02", "2017-06-14"):
        world.activity(alice, "call", day)
    world.target("revenue", 6400, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()
    return Kpibot(engine, config)


def test_how_am_i_doing_shows_each_scorecard_kpi_with_target_pace_and_change(bot):
    card = bot.ask("how am I doing", bot.person("alice@example.com"), AS_OF)

    # Revenue: 3,000 of 6,400 is 47% attained; 6,400 x 53/64 = 5,300 expected by now, and 3,000 / 5,300 = 57%
    # of it is below the 75% of "behind": at risk.
    # Win rate: 2 won of 3 closed; Q1 to 03-15: 1 of 1, so -33.3 points. Calls: 4 against 2, +100%.
    assert isinstance(card, Scorecard)
    assert card.text == (
        "Scorecard for Alice Adams, this quarter (2017-04-01 to 2017-06-15):\n"
        "• Revenue: $3k, 47% of $6.4k, at risk; +200.0% on 2017-Q1 through 2017-03-15\n"
        "• Win rate: 66.7%; -33.3 pts on 2017-Q1 through 2017-03-15\n"
        "• Calls: 4; +100.0% on 2017-Q1 through 2017-03-15"
    )
    data = card.to_json()
    assert (data["kind"], data["scope"], data["period"]["start"], data["period"]["end"]) == (
        "scorecard",
        {"type": "rep", "name": "Alice Adams"},
        "2017-04-01",
        "2017-06-15",
    )
    assert [(item["kpi"], item["value"]) for item in data["items"]] == [
        ("revenue", 3000),
        ("win-rate", 2 / 3),
        ("calls", 4),
    ]
    assert data["items"][0]["target"]["status"] == "at risk"


def test_a_scorecard_measures_its_kpis_in_one_statement_and_their_targets_in_another(bot, engine):
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    bot.ask("how am I doing last quarter", bot.person("alice@example.com"), AS_OF)

    assert len(statements) == 3 and "data_generation" in statements[0]  # first the key of the answer cache


def test_a_scorecard_of_a_team_the_asker_may_not_see_is_refused(bot):
    with pytest.raises(PermissionError, match="East is neither"):
        bot.ask("how is East doing", bot.person("alice@example.com"), AS_OF)


def test_a_scorecard_naming_a_kpi_not_in_the_catalog_stops_the_start_with_the_closest_key(engine, config):
    (config / "org.yaml").write_text("scorecard: [revenue, win-rat]\n")

    with pytest.raises(ConfigError) as error:
        Kpibot(engine, config)

    assert str(error.value) == (
        f"{config / 'org.yaml'}: key 'scorecard' names 'win-rat', which is not a KPI: did you mean 'win-rate'? "
        "`kpibot ask list --as ...` lists the catalog's keys."
    )
