"""Numbers that must not look wrong (KPIS.md): a KPI measured on whole periods only, a finished period measured at
its start, "no value" always with its reason (the previous period's included), records the CRM never supplied,
and JSON values at full precision."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from kpi.service import Kpibot

MAY_15 = dt.date(2017, 5, 15)  # 2017-Q2 is running; 2017-Q1 is over


@pytest.fixture
def alice(world):
    alice = world.rep("Alice Adams", email="alice@example.com")
    world.rep("Ada Admin", role="admin", email="admin@example.com")
    world.commit()
    return alice


def ask(engine, config, question: str, who: str = "alice@example.com", as_of: dt.date = MAY_15) -> dict:
    bot = Kpibot(engine, config)
    return bot.ask(question, bot.person(who), as_of).to_json()


def test_forecast_accuracy_of_a_running_quarter_has_no_value_and_compares_with_the_last_whole_one(
    engine, world, config, alice
):
    world.deal(alice, 3000, "won", closed="2017-02-10")
    world.deal(alice, 500, "won", closed="2017-04-20")  # Q2 so far
    world.forecast(alice, 2800, "2017-01-01", "2017-04-01", submitted="2016-12-20")
    world.forecast(alice, 4000, "2017-04-01", "2017-07-01", submitted="2017-03-20")
    world.commit()

    answer = ask(engine, config, "my forecast accuracy this quarter")

    assert (answer["value"], answer["reason"]) == (
        None,
        "this quarter is still running: forecast accuracy is measured on whole periods",
    )
    assert answer["previous"]["period"] == {
        "label": "2017-Q1",
        "start": "2017-01-01",
        "end": "2017-03-31",
        "to_date": False,
    }
    assert answer["previous"]["value"] == pytest.approx(1 - 200 / 3000, rel=1e-12)  # the whole of Q1


def test_forecast_accuracy_is_floored_at_zero(engine, world, config, alice):
    world.deal(alice, 3000, "won", closed="2017-02-10")
    world.forecast(alice, 9000, "2017-01-01", "2017-04-01", submitted="2016-12-20")  # off by twice the revenue
    world.commit()

    answer = ask(engine, config, "my forecast accuracy 2017-Q1")

    assert (answer["value"], answer["formatted"]) == (0.0, "0.0%")


def test_pipeline_coverage_of_a_finished_quarter_is_the_coverage_it_had_going_in(engine, world, config, alice):
    world.target("revenue", 10000, "2017-01-01", "2017-04-01", rep=alice)
    world.deal(alice, 4000, "won", created="2016-12-01", closed="2017-02-10")  # open on Jan 1, closing in Q1
    world.deal(alice, 1000, "lost", created="2016-12-15", closed="2017-03-01")  # open on Jan 1, closing in Q1
    world.deal(alice, 2000, "won", created="2017-01-20", closed="2017-03-10")  # created during Q1: not going in
    world.deal(alice, 8000, "open", created="2016-11-01", closed="2017-05-01")  # closing after Q1
    world.commit()

    answer = ask(engine, config, "my pipeline coverage 2017-Q1")

    # (4,000 + 1,000) open pipeline closing in Q1 on its first day / (10,000 target - 0 revenue by then)
    assert (answer["value"], answer["numerator"], answer["denominator"]) == (0.5, 5000.0, 10000.0)
    assert answer["formatted"] == "0.50x"


def test_a_previous_period_without_a_value_gives_its_reason(engine, world, config, alice):
    world.target("revenue", 10000, "2017-04-01", "2017-07-01", rep=alice)  # Q2 only: Q1 has no target
    world.deal(alice, 5000, "open", created="2017-04-02", closed="2017-06-20")
    world.commit()

    answer = ask(engine, config, "my pipeline coverage this quarter")

    assert answer["value"] == 0.5
    assert answer["previous"]["reason"] == "no revenue target is set for Alice Adams in 2017-Q1 through 2017-02-15"
    assert answer["previous"]["change_formatted"] == answer["previous"]["reason"]
    assert answer["text"].splitlines()[1] == (
        "Previous period, 2017-Q1 through 2017-02-15: n/a "
        "(no revenue target is set for Alice Adams in 2017-Q1 through 2017-02-15)."
    )


def test_a_kpi_over_records_never_synced_has_no_value_until_one_is(engine, world, config, alice):
    world.deal(alice, 3000, "won", closed="2017-02-10")
    world.commit()

    never = ask(engine, config, "my calls 2017-Q1")
    board = Kpibot(engine, config).ask(
        "leaderboard calls 2017-Q1", Kpibot(engine, config).person("admin@example.com"), MAY_15
    )
    world.activity(alice, "email", "2017-02-01 10:00")  # an activity, though not a call: calls are now 0
    world.commit()
    synced = ask(engine, config, "my calls 2017-Q1")

    assert (never["value"], never["reason"]) == (None, "no activities have been synced from this CRM")
    assert {row.result.reason for row in board.rows} == {"no activities have been synced from this CRM"}
    assert (synced["value"], synced["reason"]) == (0, None)


def test_whether_a_kpis_records_were_ever_synced_is_read_once_until_the_data_changes(engine, world, config, alice):
    world.deal(alice, 3000, "won", closed="2017-02-10")
    world.commit()
    bot = Kpibot(engine, config)
    admin = bot.person("admin@example.com")
    checks: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: checks.append(args[2]) if "EXISTS" in args[2] else None)

    before = [bot.ask(f"leaderboard calls {period}", admin, MAY_15) for period in ("2017-Q1", "2017-Q2")]
    read_before = len(checks)
    world.activity(alice, "email", "2017-02-01 10:00")  # an activity, though not a call: calls are now 0
    world.commit()
    after = bot.ask("leaderboard calls 2017-Q1", admin, MAY_15)

    assert [{row.result.reason for row in board.rows} for board in before] == [
        {"no activities have been synced from this CRM"}
    ] * 2
    assert read_before == 1
    assert [(row.result.value, row.result.reason) for row in after.rows] == [(0, None)]
    assert len(checks) == 2


def test_json_values_keep_full_precision(engine, world, config, alice):
    world.deal(alice, 1000, "won", closed="2017-02-10")
    world.deal(alice, 1000, "won", closed="2017-02-11")
    world.deal(alice, 1000, "lost", closed="2017-02-12")
    world.commit()

    answer = ask(engine, config, "my win rate 2017-Q1")

    assert answer["value"] == 2 / 3 and answer["formatted"] == "66.7%"  # 0.6666666666666666, not 0.666667
