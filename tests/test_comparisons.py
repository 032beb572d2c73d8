"""Comparisons and how numbers read (issue 14): a value beside the same days a year earlier, another period or
the team, named in text and JSON; compact money where a person scans; changes of scores and rates in points;
a ratio's parts named; no "Target 0" for a day without a working day.

Asked on 2017-06-15 (UTC, US holidays) unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from sqlalchemy import event

from kpi.answers import Answer
from kpi.formats import compact_money
from kpi.schema import Rep
from kpi.service import Kpibot

AS_OF = dt.date(2017, 6, 15)


@pytest.fixture
def bot(engine, world, us_config) -> Kpibot:
    """Q2 to date: Alice won 2,000 (1 won of 2 closed); Bob 2 won of 2; Wendy (West Enterprise) 1 won of 4.
    A year earlier (2016-04-01..2016-06-15) Alice won 800, and 500 on 2016-06-20 (after those days)."""
    world.two_teams()
    people = {rep.name: rep for rep in world.session.query(Rep)}
    alice, bob, wendy = people["Alice Adams"], people["Bob Brown"], people["Wendy Wu"]
    world.deal(alice, 2000, "won", closed="2017-05-02")
    world.deal(alice, 100, "lost", closed="2017-05-03")
    world.deal(alice, 800, "won", closed="2016-05-01")
    world.deal(alice, 500, "won", closed="2016-06-20")
    world.deal(alice, 300, "won", closed="2017-02-01")
    world.deal(alice, 300, "lost", closed="2017-02-02")
    world.deal(alice, 300, "lost", closed="2017-02-03")
    world.deal(alice, 300, "lost", closed="2017-02-04")
    for _ in range(2):
        world.deal(bob, 100, "won", closed="2017-06-01")
    world.deal(wendy, 100, "won", closed="2017-06-01")
    for _ in range(3):
        world.deal(wendy, 100, "lost", closed="2017-06-01")
    world.commit()
    return Kpibot(engine, us_config)


def ask(bot: Kpibot, text: str) -> Answer:
    answer = bot.ask(text, bot.person("alice@example.com"), AS_OF)
    assert isinstance(answer, Answer)
    return answer


def test_my_revenue_vs_last_year_is_set_beside_the_same_days_a_year_earlier(bot):
    answer = ask(bot, "my revenue vs last year")

    assert (
        answer.text.splitlines()[2]
        == "Against the same days a year earlier (2016-04-01 to 2016-06-15): $800.00 (+150.0%)."
    )
    against = answer.to_json()["against"]
    assert (against["kind"], against["value"], against["change"], against["period"]["start"]) == (
        "year-ago",
        800,
        1.5,
        "2016-04-01",
    )


def test_a_comparison_with_another_period_is_measured_in_the_answers_one_statement(bot, engine):
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    ask(bot, "my revenue vs last year")

    assert len(statements) == 2 and "data_generation" in statements[0]  # first the key of the answer cache


def test_a_rate_compared_to_another_whole_period_changes_in_points(bot):
    answer = ask(bot, "compare my win rate to last quarter")

    # This quarter 1 won of 2 closed (50%); 2017-Q1 1 won of 4 (25%): +25.0 points.
    assert answer.text.splitlines()[0].endswith("50.0% (1 won of 2 closed).")
    assert answer.text.splitlines()[2] == "Against last quarter (2017-01-01 to 2017-03-31): 25.0% (+25.0 pts)."
    assert answer.to_json()["against"]["change_formatted"] == "+25.0 pts"


def test_my_win_rate_vs_the_team_shows_the_teams_value_and_the_median_of_its_reps(bot):
    answer = ask(bot, "my win rate vs the team")

    # West (with West Enterprise): 1 + 2 + 1 won of 2 + 2 + 4 closed = 50%; reps 50%, 100%, 25%: median 50%.
    assert answer.text.splitlines()[2] == "Against West: 50.0% for the team (+0.0 pts), median of its 3 reps 50.0%."
    against = answer.to_json()["against"]
    assert (against["kind"], against["name"], against["median"], against["reps"]) == ("team", "West", 0.5, 3)


def test_a_comparison_with_the_team_of_a_team_says_it_compares_one_person(bot):
    with pytest.raises(LookupError, match="is not one person in a team. Try `my win-rate`"):
        ask(bot, "team win rate vs the team")


@pytest.mark.parametrize(
    ("value", "shown"),
    [("4437912.18", "$4.44M"), ("83912", "$83.9k"), ("950", "$950"), ("999999", "$1M"), ("-1250", "-$1.25k")],
)
def test_money_is_compact_where_a_person_scans(value, shown):
    assert compact_money(Decimal(value)) == shown


def test_a_target_prorated_to_a_day_without_a_working_day_is_not_shown_as_zero(engine, world, us_config):
    world.two_teams()
    alice = world.session.query(Rep).filter_by(email="alice@example.com").one()
    world.target("revenue", 6400, "2017-04-01", "2017-07-01", rep=alice)
    world.commit()
    bot = Kpibot(engine, us_config)

    answer = bot.ask("my revenue 2017-06-10", bot.person("alice@example.com"), AS_OF)  # a Saturday

    assert answer.text.splitlines()[-1] == "No target: 2017-06-10 has no working day."
    assert answer.to_json()["target"]["status"] == "no working day"
