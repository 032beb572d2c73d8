"""Progress and pace against targets (kpi/pacing.py), with every expected value worked out by hand.

The calendar used throughout is November 2026 in the United States, seen on Wednesday 2026-11-25:

    Nov 2026     Mon Tue Wed Thu Fri | Sat Sun      Monday-Friday: 2-6, 9-13, 16-20, 23-27, 30 = 21 days
                   2   3   4   5   6 |  7   8       US holidays on weekdays: Veterans Day (Wed 11th) and
                   9  10  11  12  13 | 14  15       Thanksgiving (Thu 26th), so 19 working days.
                  16  17  18  19  20 | 21  22       To the end of the 25th: 18 weekdays, less the 11th = 17.
                  23  24  25  26  27 | 28  29       Through Thanksgiving: still 17; through Friday 27th: 18,
                  30                               and through the weekend that follows: still 18.

2026-Q4 in the US: October 22 weekdays less Columbus Day (12th) = 21, November 19, December 23 weekdays less
Christmas (Fri 25th) = 22; 62 working days. FY2026: 261 weekdays (52 weeks and Thursday 31 December) less
11 weekday holidays (Jan 1, MLK, Presidents, Memorial, Juneteenth, Jul 3 observed, Labor, Columbus, Veterans,
Thanksgiving, Christmas) = 250 working days.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal

import pytest
from sqlalchemy import event

from kpi import access
from kpi.answers import Answer
from kpi.config import ConfigError, load_org
from kpi.grammar.periods import parse_period
from kpi.metrics import Metrics
from kpi.pacing import Pace, Pacing, Thresholds, WorkingDays, is_flow
from kpi.periods import Calendar
from kpi.results import Result
from kpi.service import Kpibot
from kpi.types import Scope

UTC = zoneinfo.ZoneInfo("UTC")
CALENDAR = Calendar(UTC)
AS_OF = dt.date(2026, 11, 25)
US = WorkingDays("US")
D = dt.date


def november(as_of: dt.date = AS_OF):
    """ "this month" on ``as_of``, measured to date (or November as a whole once it is over)."""
    return parse_period("november 2026", CALENDAR, as_of)


@pytest.fixture
def bot(engine, us_config) -> Kpibot:
    return Kpibot(engine, us_config)


# --- working days ------------------------------------------------------------------------------------------


def test_weekends_and_us_holidays_are_not_working_days():
    assert WorkingDays().count(D(2026, 11, 1), D(2026, 12, 1)) == 21
    assert US.count(D(2026, 11, 1), D(2026, 12, 1)) == 19
    assert US.count(D(2026, 11, 1), D(2026, 11, 26)) == 17  # to the end of the 25th
    assert US.count(D(2026, 10, 1), D(2027, 1, 1)) == 21 + 19 + 22
    assert US.count(D(2026, 1, 1), D(2027, 1, 1)) == 250
    assert not US.is_working(D(2026, 11, 26))  # Thanksgiving
    assert WorkingDays().is_working(D(2026, 11, 26))  # without a country, only weekends are off


def test_thanksgiving_and_the_weekend_add_nothing_to_the_elapsed_share():
    start, end = D(2026, 11, 1), D(2026, 12, 1)

    assert US.shares(start, D(2026, 11, 26), end) == (17, 19)  # through Wednesday 25th
    assert US.shares(start, D(2026, 11, 27), end) == (17, 19)  # through Thanksgiving
    assert US.shares(start, D(2026, 11, 28), end) == (18, 19)  # through Friday 27th
    assert US.shares(start, D(2026, 11, 30), end) == (18, 19)  # through Sunday 29th


def test_a_span_without_working_days_is_spread_over_calendar_days():
    # Saturday 28 and Sunday 29 November, seen on the Saturday.
    assert US.shares(D(2026, 11, 28), D(2026, 11, 29), D(2026, 11, 30)) == (1, 2)


# --- pace of a flow in a running period ---------------------------------------------------------------------


def revenue_pace(bot: Kpibot, value: str, target: str = "19000", as_of: dt.date = AS_OF) -> Pace:
    return Pace.of(bot.catalog["revenue"], Decimal(value), Decimal(target), november(as_of), workdays=US)


def test_expected_is_the_target_times_the_elapsed_share_of_working_days(bot):
    pace = revenue_pace(bot, "8500")

    assert pace.expected == 17000  # 19,000 x 17 / 19
    assert pace.attainment == Decimal(8500) / 19000
    assert pace.projection == 9500  # 8,500 x 19 / 17: the run rate carried to the month's end
    assert pace.status == "at risk"  # 8,500 / 17,000 = 0.50 < 0.75


def test_without_a_country_only_weekends_are_off(bot):
    pace = Pace.of(bot.catalog["revenue"], Decimal(9000), Decimal(21000), november())

    assert pace.expected == 18000  # 21,000 x 18 / 21
    assert pace.projection == 10500  # 9,000 x 21 / 18


def test_nothing_more_is_expected_on_thanksgiving_or_over_the_weekend(bot):
    wednesday, thanksgiving = revenue_pace(bot, "1"), revenue_pace(bot, "1", as_of=D(2026, 11, 26))
    friday, sunday = revenue_pace(bot, "1", as_of=D(2026, 11, 27)), revenue_pace(bot, "1", as_of=D(2026, 11, 29))

    assert wednesday.expected == thanksgiving.expected == 17000
    assert friday.expected == sunday.expected == 18000  # 19,000 x 18 / 19


@pytest.mark.parametrize(
    ("value", "status"),
    [
        ("18700", "ahead"),  # 1.10 x 17,000
        ("18699.99", "on track"),
        ("16150", "on track"),  # 0.95 x 17,000
        ("16149.99", "behind"),
        ("12750", "behind"),  # 0.75 x 17,000
        ("12749.99", "at risk"),
        ("0", "at risk"),
    ],
)
def test_each_status_threshold_against_what_was_expected_by_now(bot, value, status):
    assert revenue_pace(bot, value).status == status


def test_thresholds_come_from_org_yaml(engine, us_config):
    (us_config / "org.yaml").write_text("country: US\npace: {ahead: 1.5, on_track: 1.0, behind: 0.5}\n")
    bot = Kpibot(engine, us_config)
    pacing = Pacing(bot.org, bot.catalog)
    revenue, period = bot.catalog["revenue"], november()

    # Expected by now: 17,000.
    assert pacing.of(revenue, Decimal(18700), Decimal(19000), period).status == "on track"  # 1.10 < 1.5
    assert pacing.of(revenue, Decimal(16150), Decimal(19000), period).status == "behind"  # 0.95 < 1.0
    assert pacing.of(revenue, Decimal(8500), Decimal(19000), period).status == "behind"  # 0.50
    assert pacing.of(revenue, Decimal(25500), Decimal(19000), period).status == "ahead"  # 1.50


def test_wrong_pace_thresholds_or_country_are_refused_with_the_file_and_key(us_config):
    (us_config / "org.yaml").write_text("pace: {ahead: 0.9, on_track: 0.95, behind: 0.75}\ncountry: Atlantis\n")

    with pytest.raises(ConfigError) as error:
        load_org(us_config)

    message = str(error.value)
    assert f"{us_config}/org.yaml: key 'pace'" in message
    assert "expected ahead > on_track > behind" in message
    assert f"{us_config}/org.yaml: key 'country' has value 'Atlantis': expected an ISO 3166 country code" in message


def test_country_codes_are_upper_cased_and_may_name_a_subdivision(us_config):
    (us_config / "org.yaml").write_text("country: us-ca\n")

    assert load_org(us_config).country == "US-CA"
    # Cesar Chavez Day (Tuesday 31 March 2026) is a California holiday, not a federal one.
    assert not WorkingDays("US-CA").is_working(D(2026, 3, 31))
    assert US.is_working(D(2026, 3, 31))


# --- lower is better, ratios, finished periods ---------------------------------------------------------------


def test_a_sales_cycle_target_is_a_ceiling_attainment_is_target_over_actual(bot):
    cycle, period = bot.catalog["sales-cycle"], november()

    slow = Pace.of(cycle, Decimal(40), Decimal(30), period, workdays=US)
    fast = Pace.of(cycle, Decimal(25), Decimal(30), period, workdays=US)

    assert (slow.attainment, slow.status) == (Decimal("0.75"), "behind")  # 30 / 40
    assert (fast.attainment, fast.status) == (Decimal("1.2"), "ahead")  # 30 / 25
    assert (slow.expected, slow.projection) == (None, None)  # an average is not earned day by day


def test_deals_lost_is_a_flow_where_fewer_than_expected_is_good(bot):
    lost = bot.catalog["deals-lost"]

    many = Pace.of(lost, Decimal(20), Decimal(19), november(), workdays=US)
    none = Pace.of(lost, Decimal(0), Decimal(19), november(), workdays=US)

    assert many.expected == 17  # 19 x 17 / 19
    assert many.attainment == Decimal(19) / 20
    assert many.projection == Decimal(20) * 19 / 17
    assert many.status == "behind"  # expected / actual = 17 / 20 = 0.85
    assert (none.attainment, none.status) == (None, "ahead")  # nothing lost: no finite attainment


def test_a_ratio_is_compared_with_its_target_without_proration(bot):
    win_rate = bot.catalog["win-rate"]

    good = Pace.of(win_rate, Decimal("0.33"), Decimal("0.30"), november(), workdays=US)
    weak = Pace.of(win_rate, Decimal("0.27"), Decimal("0.30"), november(), workdays=US)

    assert (good.attainment, good.expected, good.projection, good.status) == (Decimal("1.1"), None, None, "ahead")
    assert (weak.attainment, weak.status) == (Decimal("0.9"), "behind")


def test_a_finished_period_is_reached_or_missed(bot):
    done = november(D(2026, 12, 10))  # all of November
    revenue, cycle = bot.catalog["revenue"], bot.catalog["sales-cycle"]

    assert Pace.of(revenue, Decimal(19000), Decimal(19000), done).status == "reached"
    missed = Pace.of(revenue, Decimal("18999.99"), Decimal(19000), done)
    assert (missed.status, missed.expected, missed.projection) == ("missed", None, None)
    assert Pace.of(cycle, Decimal(30), Decimal(30), done).status == "reached"
    assert Pace.of(cycle, Decimal(31), Decimal(30), done).status == "missed"


def test_no_value_or_a_zero_target_gives_no_pace(bot):
    revenue = bot.catalog["revenue"]

    assert Pace.of(revenue, None, Decimal(100), november()).status == "no value"
    assert Pace.of(revenue, Decimal(5), Decimal(0), november()).status == "no value"


def test_flows_are_sums_and_counts_over_time_not_stocks_or_ratios(bot):
    flows = {key for key in ("revenue", "calls", "deals-won", "deals-lost") if is_flow(bot.catalog[key])}

    assert flows == {"revenue", "calls", "deals-won", "deals-lost"}
    assert not any(is_flow(bot.catalog[key]) for key in ("pipeline", "win-rate", "sales-cycle", "sales-growth"))


def test_the_json_shape_of_an_answers_target_is_kept(bot):
    pace = revenue_pace(bot, "8500")
    revenue = bot.catalog["revenue"]
    result = Result(revenue, november(), Decimal(8500), Decimal(8500), None)
    answer = Answer(result, access.org_scope(), result, "USD", pace)

    assert answer.to_json()["target"] == {
        "value": 19000.0,
        "formatted": "$19,000.00",
        "attainment": 0.4474,
        "expected": 17000.0,
        "projection": 9500.0,
        "status": "at risk",
    }


# --- which target: exact, containing, rolled up ---------------------------------------------------------------


@pytest.fixture
def west(world):
    team = world.team("West")
    alice = world.rep("Alice Adams", team=team)
    bob = world.rep("Bob Brown", team=team)
    world.rep("Carl Cole", team=world.team("East"))
    return team, alice, bob


def target(bot: Kpibot, key: str, scope: Scope, period=None):
    """The target an answer of ``key`` for ``scope`` shows (November to date by default)."""
    return bot.metrics.result(bot.catalog[key], period or november(), scope, AS_OF, target=True).target


def scopes(bot: Kpibot, team, *people):
    """The team's scope and each person's, from the directory as the world now stands."""
    bot.reload_directory()
    directory = bot.directory
    return (
        access.team_scope(directory, [directory.teams[team.id]], team.name),
        *(access.rep_scope(directory.people[p.id]) for p in people),
    )


def test_a_quarterly_target_counts_for_a_month_prorated_by_working_days(bot, world, west):
    team, alice, _ = west
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=alice)
    world.target("win-rate", 0.3, "2026-10-01", "2027-01-01", rep=alice)
    world.deal(alice, 8500, "won", closed="2026-11-10")
    world.commit()
    _, mine = scopes(bot, team, alice)

    result = bot.metrics.result(bot.catalog["revenue"], november(), mine, AS_OF, target=True)
    pace = bot.pacing.pace(result)

    assert (result.value, result.target) == (8500, 19000)  # 62,000 x 19 / 62
    assert (pace.expected, pace.projection, pace.status) == (17000, 9500, "at risk")
    assert target(bot, "win-rate", mine) == Decimal("0.3")  # a rate, as it is


def test_an_exact_target_beats_a_containing_one_and_the_shortest_containing_wins(bot, world, west):
    team, alice, bob = west
    world.target("revenue", 20000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=alice)
    world.target("revenue", 124000, "2026-10-01", "2027-01-01", rep=bob)
    world.target("revenue", 500000, "2026-01-01", "2027-01-01", rep=bob)
    world.commit()
    _, a, b = scopes(bot, team, alice, bob)

    assert target(bot, "revenue", a) == 20000
    assert target(bot, "revenue", b) == 38000  # 124,000 x 19 / 62


def test_a_team_without_a_target_sums_its_reps_exact_or_prorated_targets(bot, world, west):
    team, alice, bob = west
    world.target("revenue", 10000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=bob)
    world.target("revenue", 99999, "2026-11-01", "2026-12-01", rep=world.rep("Dan Other"))  # not in West
    world.commit()
    team_scope, _, _ = scopes(bot, team, alice, bob)

    assert target(bot, "revenue", team_scope) == 10000 + 19000


def test_rates_do_not_add_up_a_team_needs_its_own_win_rate_target(bot, world, west):
    team, alice, bob = west
    for rep in (alice, bob):
        world.target("win-rate", 0.3, "2026-11-01", "2026-12-01", rep=rep)
        world.target("pipeline", 50000, "2026-11-01", "2026-12-01", rep=rep)
    world.commit()
    team_scope, _, _ = scopes(bot, team, alice, bob)

    assert target(bot, "win-rate", team_scope) is None  # not 0.3 + 0.3
    assert target(bot, "pipeline", team_scope) == 100000  # a stock adds up
    world.target("win-rate", 0.25, "2026-10-01", "2027-01-01", team=team)
    world.commit()
    assert target(bot, "win-rate", team_scope) == Decimal("0.25")


def test_a_teams_own_target_comes_before_its_reps_and_the_org_prorates_a_year(bot, world, west):
    team, alice, _ = west
    world.target("revenue", 93000, "2026-10-01", "2027-01-01", team=team)
    world.target("revenue", 10000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 250000, "2026-01-01", "2027-01-01")  # the organisation's, for FY2026
    world.commit()
    team_scope, _ = scopes(bot, team, alice)

    assert target(bot, "revenue", team_scope) == 28500  # 93,000 x 19 / 62
    assert target(bot, "revenue", access.org_scope()) == 19000  # 250,000 x 19 / 250
    quarter = parse_period("2026-Q4", CALENDAR, AS_OF)
    assert target(bot, "revenue", access.org_scope(), quarter) == 62000  # 250,000 x 62 / 250


def test_an_organisation_without_a_target_of_its_own_sums_every_reps(bot, world, west):
    team, alice, bob = west
    world.target("revenue", 10000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=bob)
    world.target("revenue", 93000, "2026-10-01", "2027-01-01", team=team)  # a team's own does not add in
    world.commit()

    assert target(bot, "revenue", access.org_scope()) == 10000 + 19000  # Bob's: 62,000 x 19 / 62


def test_the_organisation_sums_each_reps_exact_target_else_their_shortest_containing_one(bot, world, west):
    team, alice, bob = west
    carol = world.rep("Carol Clark", team=team)
    world.target("revenue", 10000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=alice)  # Alice's month comes first
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=bob)
    world.target("revenue", 31000, "2026-10-01", "2027-01-01", rep=carol)  # Carol's quarter before her year
    world.target("revenue", 250000, "2026-01-01", "2027-01-01", rep=carol)
    world.commit()
    bot.reload_directory()

    assert target(bot, "revenue", access.org_scope()) == 10000 + 19000 + 9500  # the quarters: x 19 / 62


def test_two_teams_where_one_lacks_a_target_sum_their_reps_targets(bot, world, west):
    team, alice, _ = west
    east = world.team("East 2")
    erin = world.rep("Erin Evans", team=east)
    world.target("revenue", 50000, "2026-11-01", "2026-12-01", team=team)
    world.target("revenue", 10000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 7000, "2026-11-01", "2026-12-01", rep=erin)
    world.commit()
    bot.reload_directory()
    teams = [bot.directory.teams[t.id] for t in (team, east)]
    both = access.team_scope(bot.directory, teams)

    assert target(bot, "revenue", both) == 10000 + 7000
    world.target("revenue", 20000, "2026-11-01", "2026-12-01", team=east)
    world.commit()
    assert target(bot, "revenue", both) == 50000 + 20000


def test_an_answer_reads_its_number_and_its_target_in_one_statement(bot, world, west):
    team, alice, bob = west
    world.target("revenue", 10000, "2026-11-01", "2026-12-01", rep=alice)
    world.target("revenue", 20000, "2026-11-01", "2026-12-01", rep=bob)
    world.deal(alice, 4000, "won", closed="2026-11-10")
    world.commit()
    team_scope, _, _ = scopes(bot, team, alice, bob)
    statements = []

    def count(*args) -> None:
        statements.append(args[2])

    event.listen(bot.engine, "before_cursor_execute", count)
    result = bot.metrics.result(bot.catalog["revenue"], november(), team_scope, AS_OF, target=True)
    event.remove(bot.engine, "before_cursor_execute", count)

    assert (result.value, result.target, len(statements)) == (4000, 30000, 1)


def test_without_proration_targets_are_those_of_exactly_the_period(bot, world, west):
    team, alice, _ = west
    world.target("revenue", 62000, "2026-10-01", "2027-01-01", rep=alice)
    world.commit()
    _, mine = scopes(bot, team, alice)
    exact = Metrics(bot.engine)

    assert exact.targets(["revenue"], november(), mine).for_scope("revenue", mine) is None
    quarter = parse_period("2026-Q4", CALENDAR, AS_OF)
    assert exact.targets(["revenue"], quarter, mine).for_scope("revenue", mine) == Decimal(62000)


def test_pace_through_an_answer_of_the_metrics_core(bot, world, west):
    team, alice, _ = west
    world.target("revenue", 19000, "2026-11-01", "2026-12-01", rep=alice)
    world.deal(alice, 16150, "won", closed="2026-11-20 15:00")
    world.deal(alice, 5000, "won", closed="2026-11-26 10:00")  # after the as-of day
    world.commit()
    _, mine = scopes(bot, team, alice)
    revenue, period = bot.catalog["revenue"], parse_period("this month", bot.calendar, AS_OF)

    result = bot.metrics.result(revenue, period, mine, AS_OF, target=True)
    pace = bot.pacing.pace(result)

    assert result.value == 16150
    assert (pace.target, pace.expected, pace.status) == (19000, 17000, "on track")  # 16,150 / 17,000 = 0.95


def test_thresholds_default_to_the_documented_values():
    assert Thresholds() == Thresholds(Decimal("1.10"), Decimal("0.95"), Decimal("0.75"))
