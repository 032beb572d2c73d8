"""Periods ahead ("next quarter", "next week", "next 30 days"): what can lie in the future is measured over them
(the pipeline closing in the period, the meetings scheduled in it, from the catalog's ``ahead:``); what is only
counted as it happens says it has no value yet and what can be asked instead."""

from __future__ import annotations

import datetime as dt
import zoneinfo

import pytest

from kpi.grammar.periods import parse_period
from kpi.periods import Calendar, PeriodError
from kpi.service import Kpibot

MAY_15 = dt.date(2017, 5, 15)  # a Monday, in 2017-Q2
UTC = Calendar(zoneinfo.ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("phrase", "start", "end", "label"),
    [
        ("next quarter", "2017-07-01", "2017-09-30", "next quarter"),
        ("next week", "2017-05-22", "2017-05-28", "next week"),
        ("the coming month", "2017-06-01", "2017-06-30", "next month"),
        ("next 30 days", "2017-05-16", "2017-06-14", "next 30 days"),
        ("next fiscal year", "2018-01-01", "2018-12-31", "next year"),
    ],
)
def test_a_period_ahead_is_measured_whole_from_its_first_day(phrase, start, end, label):
    period = parse_period(phrase, UTC, MAY_15)

    assert (period.ahead, period.label, period.dates()) == (True, label, f"{start} to {end}")


@pytest.fixture
def alice(world):
    alice = world.rep("Alice Adams", email="alice@example.com")
    world.commit()
    return alice


def ask(engine, config, question: str) -> dict:
    bot = Kpibot(engine, config)
    return bot.ask(question, bot.person("alice@example.com"), MAY_15).to_json()


def test_pipeline_next_quarter_is_the_open_deals_closing_in_it(engine, world, config, alice):
    world.deal(alice, 1000, closed="2017-07-10")  # open, closing in Q3: counted
    world.deal(alice, 250.50, closed="2017-09-30")  # open, on Q3's last day: counted
    world.deal(alice, 4000, closed="2017-06-20")  # open, closing this quarter: not next quarter's
    world.deal(alice, 7000, closed="2017-10-01")  # open, closing in Q4
    world.deal(alice, 9000, "won", closed="2017-05-01")  # won: not pipeline
    world.commit()

    answer = ask(engine, config, "my pipeline closing next quarter")

    assert (answer["label"], answer["value"], answer["period"]["label"]) == ("Pipeline closing", 1250.5, "next quarter")
    assert (answer["previous"]["period"]["label"], answer["previous"]["value"]) == ("2017-Q2", 4000.0)
    assert answer["target"] is None


def test_meetings_next_week_are_those_scheduled_in_it_whenever_they_were_booked(engine, world, config, alice):
    world.activity(alice, "meeting", occurred="2017-05-23", created="2017-05-02")  # booked earlier, held next week
    world.activity(alice, "meeting", occurred="2017-05-28 23:00", created="2017-05-15")  # Sunday night: next week
    world.activity(alice, "meeting", occurred="2017-05-29", created="2017-05-15")  # the week after
    world.activity(alice, "call", occurred="2017-05-24")  # not a meeting
    world.commit()

    answer = ask(engine, config, "meetings scheduled next week")

    assert (answer["label"], answer["value"], answer["period"]["label"]) == ("Meetings scheduled", 2, "next week")


def test_revenue_next_month_has_no_value_yet_and_says_what_can_be_asked_ahead(engine, world, config, alice):
    with pytest.raises(PeriodError) as refused:
        ask(engine, config, "my revenue next month")

    assert str(refused.value) == (
        "Revenue is counted as it happens, so next month has none yet. Ahead, I can tell meetings scheduled, "
        "demos scheduled, pipeline closing and weighted pipeline closing: try `my pipeline next month`."
    )
