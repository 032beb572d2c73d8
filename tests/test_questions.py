"""The question grammar: scope words, KPI names (typos tolerated) and periods, split apart."""

import datetime as dt
import zoneinfo
from pathlib import Path

import pytest

from kpi.catalog import UnknownKpi, load_catalog
from kpi.grammar.parser import parse_question
from kpi.periods import Calendar, PeriodError

CATALOG = load_catalog(Path("config"))
CALENDAR = Calendar(zoneinfo.ZoneInfo("UTC"))
AS_OF = dt.date(2018, 1, 15)


def ask(text: str):
    return parse_question(text, CATALOG, CALENDAR, AS_OF, "this quarter")


@pytest.mark.parametrize(
    ("text", "kind", "scope", "kpi", "start", "end"),
    [
        ("my win-rate", "value", "my", "win-rate", "2018-01-01", "2018-01-16"),
        ("win rate", "value", "", "win-rate", "2018-01-01", "2018-01-16"),
        ("team revenue last month", "value", "team", "revenue", "2017-12-01", "2018-01-01"),
        ("org pipeline 2017-Q2", "value", "org", "pipeline", "2017-04-01", "2017-07-01"),
        ("leaderboard calls this week", "leaderboard", "", "calls", "2018-01-15", "2018-01-16"),
        ("leaderboard revenue org last quarter", "leaderboard", "org", "revenue", "2017-10-01", "2018-01-01"),
        ("Darcel Schlecht revenue 2017-Q4", "value", "Darcel Schlecht", "revenue", "2017-10-01", "2018-01-01"),
        ("@alice winrate", "value", "@alice", "win-rate", "2018-01-01", "2018-01-16"),
        ("avg deal size for alice 2017", "value", "alice", "avg-deal-size", "2017-01-01", "2018-01-01"),
        ("close rate from 2017-03-01 to 2017-03-15", "value", "", "win-rate", "2017-03-01", "2017-03-16"),
        ("my revnue last month", "value", "my", "revenue", "2017-12-01", "2018-01-01"),
    ],
)
def test_a_question_splits_into_scope_kpi_and_period(text, kind, scope, kpi, start, end):
    question = ask(text)
    assert (question.kind, question.scope, question.kpi.key) == (kind, scope, kpi)
    assert (question.period.start.isoformat(), question.period.end.isoformat()) == (start, end)


@pytest.mark.parametrize(("text", "kind"), [("", "help"), ("help", "help"), ("list", "list"), ("KPIs", "list")])
def test_help_and_list_are_recognised(text, kind):
    assert ask(text).kind == kind


def test_a_misspelt_kpi_is_understood():
    assert ask("my wins rates").kpi.key == "win-rate"


def test_an_unknown_kpi_suggests_the_three_closest_ones():
    with pytest.raises(UnknownKpi) as caught:
        ask("my winn")
    assert caught.value.suggestions == ["deals-won", "win-rate", "big-deals"]
    assert str(caught.value).startswith("I don't know the KPI 'winn'. Did you mean deals-won, win-rate, big-deals?")


def test_an_unknown_period_lists_what_is_understood():
    with pytest.raises(PeriodError) as caught:
        ask("my revenue last fortnight")
    assert "I don't understand the period 'last fortnight'" in str(caught.value)
    assert "last quarter" in str(caught.value)
