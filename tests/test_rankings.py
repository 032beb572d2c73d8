"""Leaderboards of people and rankings of teams (issue 14): ties share a rank, the asker learns their place,
bottom and top N, % of target, rates ranked fairly on their sample, and team rankings within what the asker may
see.

The world: West (Morgan) with the sub-team West Enterprise, East (Evan), Ada the admin; Alice and Bob in West,
Wendy in West Enterprise, Erin in East. Period 2017-Q2, asked on 2017-07-10 (the quarter is over).
"""

from __future__ import annotations

import datetime as dt
import pickle
import random
from decimal import Decimal

import pytest
from sqlalchemy import event

from kpi import access
from kpi.access import AccessDenied
from kpi.grammar.periods import parse_period
from kpi.kept_rankings import tables_read
from kpi.rankings import CHUNK, Leaderboard
from kpi.results import Measured, Result
from kpi.schema import Rep, Team
from kpi.service import Kpibot
from kpi.types import Role

AS_OF = dt.date(2017, 7, 10)


def rep(world, name: str) -> Rep:
    return world.session.query(Rep).filter_by(name=name).one()


@pytest.fixture
def bot(engine, world, us_config) -> Kpibot:
    """Q2 revenue: Alice 1,000, Bob 3,000, Wendy 1,000, Erin 500."""
    world.two_teams()
    for name, amount in (("Alice Adams", 1000), ("Bob Brown", 3000), ("Wendy Wu", 1000), ("Erin Evans", 500)):
        world.deal(rep(world, name), amount, "won", closed="2017-05-10")
    world.commit()
    return Kpibot(engine, us_config)


def ask(bot: Kpibot, who: str, text: str) -> Leaderboard:
    board = bot.ask(text, bot.person(who), AS_OF)
    assert isinstance(board, Leaderboard)
    return board


def ranked(board: Leaderboard) -> list[tuple[int, str]]:
    return [(row.rank, row.name) for row in board.rows]


def test_reps_with_equal_values_share_a_rank_and_the_asker_is_told_their_place(bot):
    board = ask(bot, "alice@example.com", "leaderboard revenue 2017-Q2")

    assert board.text == (
        "Revenue leaderboard, West, 2017-Q2 (2017-04-01 to 2017-06-30):\n"
        "  1. Bob Brown: $3k\n"
        "  2. Alice Adams: $1k\n"
        "  2. Wendy Wu: $1k\n"
        "You're #2 of 3."
    )
    assert (board.to_json()["kind"], board.to_json()["ranks"], board.to_json()["you"]) == (
        "leaderboard",
        "reps",
        {"rank": 2, "of": 3},
    )


def test_bottom_ranks_from_the_lowest_and_a_limit_keeps_the_first_rows_but_not_the_askers_place(bot):
    board = ask(bot, "Bob Brown", "bottom 2 by revenue 2017-Q2")

    assert ranked(board) == [(1, "Alice Adams"), (1, "Wendy Wu")]
    assert board.text.splitlines()[-2:] == ["Top 2 of 3 shown.", "You're #3 of 3."]


def test_an_admin_ranks_the_top_level_teams_each_on_its_own_total(bot):
    board = ask(bot, "admin@example.com", "revenue by team 2017-Q2")

    # West: Alice 1,000 + Bob 3,000 + Wendy 1,000 (West Enterprise is below West); East: Erin 500.
    assert [(row.rank, row.name, row.result.value) for row in board.rows] == [(1, "West", 5000), (2, "East", 500)]
    assert board.to_json()["ranks"] == "teams"
    assert board.you is None  # Ada is in no team


def test_a_ranking_of_teams_reads_its_measures_in_one_statement_grouped_by_owner(bot, engine):
    statements: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    ask(bot, "admin@example.com", "revenue by team 2017-Q2")

    # The data generation (which keys the answer cache), the measures of every team, then whether the CRM supplied
    # any deal at all (as every leaderboard asks).
    assert len(statements) == 3 and "data_generation" in statements[0]
    assert "GROUP BY deals.owner_id" in statements[1] and "supplied_deals" in statements[2]


def test_a_manager_of_several_teams_ranks_them_and_is_told_their_own_teams_place(bot, world):
    world.manage(world.session.query(Team).filter_by(name="East").one(), rep(world, "Morgan Manager"))
    world.commit()
    bot.reload_directory()

    board = ask(bot, "manager@example.com", "revenue by team 2017-Q2")

    assert board.text == (
        "Revenue team ranking, East + West, 2017-Q2 (2017-04-01 to 2017-06-30):\n"
        "  1. West: $5k\n"
        "  2. East: $500\n"
        "Your team, West, is #1 of 2."
    )
    assert board.to_json()["you"] == {"rank": 1, "of": 2}


def test_a_manager_of_one_team_ranks_the_teams_below_it(bot):
    board = ask(bot, "manager@example.com", "which team has the most revenue 2017-Q2")

    assert [(row.rank, row.name, row.result.value) for row in board.rows] == [(1, "West Enterprise", 1000)]


def test_a_team_with_no_team_below_it_has_nothing_to_rank_and_says_what_works(bot):
    with pytest.raises(LookupError) as refused:
        bot.ask("revenue by team 2017-Q2", bot.person("Evan East"), AS_OF)

    assert str(refused.value) == "East has no teams below it to rank. Try `leaderboard revenue` to rank its people."
    assert bot.ask("leaderboard revenue", bot.person("Evan East"), AS_OF).rows


def test_a_rep_may_not_rank_teams_whose_totals_they_may_not_see(bot):
    alice = bot.person("alice@example.com")

    with pytest.raises(AccessDenied) as refused:
        bot.ask("revenue by team org 2017-Q2", alice, AS_OF)

    assert str(refused.value) == (
        "A ranking of teams shows each team's totals, and you can see those of your own team and of teams you "
        "manage, not of East. Try `leaderboard revenue` to rank people, or `team revenue` for your team's total."
    )
    assert bot.ask("leaderboard revenue", alice, AS_OF).rows and bot.ask("team revenue", alice, AS_OF).result


def test_percent_of_target_ranks_by_attainment_of_each_ones_own_target(bot, world):
    # Alice 1,000 of 2,000 (50%), Bob 3,000 of 10,000 (30%), Wendy 1,000 of 500 (200%).
    for name, target in (("Alice Adams", 2000), ("Bob Brown", 10000), ("Wendy Wu", 500)):
        world.target("revenue", target, "2017-04-01", "2017-07-01", rep=rep(world, name))
    world.commit()

    board = ask(bot, "alice@example.com", "leaderboard revenue % of target 2017-Q2")

    assert board.text == (
        "Revenue leaderboard, by % of target, West, 2017-Q2 (2017-04-01 to 2017-06-30):\n"
        "  1. Wendy Wu: 200% of $500 ($1k)\n"
        "  2. Alice Adams: 50% of $2k ($1k)\n"
        "  3. Bob Brown: 30% of $10k ($3k)\n"
        "You're #2 of 3."
    )
    assert [row["attainment"] for row in board.to_json()["rows"]] == [2.0, 0.5, 0.3]


def test_percent_of_target_where_no_one_has_a_target_says_there_is_nothing_to_rank_by(bot):
    board = ask(bot, "alice@example.com", "leaderboard revenue % of target 2017-Q2")

    assert board.text.splitlines()[-2:] == [
        "No one here has a revenue target for 2017-Q2: nothing to rank by.",
        "You have no revenue target for 2017-Q2, so no place on this board.",
    ]
    assert board.to_json()["you"] is None


def test_a_rate_shows_its_sample_and_too_few_cases_rank_after_the_fair_rows(bot, world):
    alice, bob, wendy = (rep(world, name) for name in ("Alice Adams", "Bob Brown", "Wendy Wu"))
    # Closed in Q2 besides the won deals above: Alice 3 won of 5, Bob 1 of 1, Wendy 2 of 6.
    for owner, won, lost in ((alice, 2, 2), (bob, 0, 0), (wendy, 1, 4)):
        for _ in range(won):
            world.deal(owner, 10, "won", closed="2017-06-01")
        for _ in range(lost):
            world.deal(owner, 10, "lost", closed="2017-06-01")
    world.commit()

    board = ask(bot, "alice@example.com", "leaderboard win rate 2017-Q2")

    assert board.text.splitlines()[1:] == [
        "  1. Alice Adams: 60.0% (5 closed)",
        "  2. Wendy Wu: 33.3% (6 closed)",
        "  3. Bob Brown: 100.0% (1 closed), fewer than 5 cases: not ranked among the others",
        "You're #1 of 3.",
    ]
    assert [(row["sample"], row["fair"]) for row in board.to_json()["rows"]] == [(5, True), (6, True), (1, False)]


def test_a_text_cut_to_the_rows_shown_keeps_the_title_the_first_rows_and_the_askers_place(bot):
    board = ask(bot, "alice@example.com", "leaderboard revenue 2017-Q2")  # Bob 3k, Alice 1k, Wendy 1k

    assert board.lines(shown=1) == [
        "Revenue leaderboard, West, 2017-Q2 (2017-04-01 to 2017-06-30):",
        "  1. Bob Brown: $3k",
        "You're #2 of 3.",
    ]
    assert board.lines(shown=3) == board.text.splitlines()  # every row fits: nothing is cut


def test_results_ranked_together_are_of_one_kpi_and_period(bot):
    board = ask(bot, "alice@example.com", "leaderboard revenue 2017-Q2")
    q1 = bot.period(bot.parse("revenue 2017-Q1", AS_OF).period, AS_OF)
    results = {row.id or 0: row.result for row in board.rows}

    with pytest.raises(ValueError, match="results measured together are of one KPI and period: Revenue over 2017-Q1"):
        Measured.of(board.kpi, q1, results)


def test_a_ranking_read_back_from_the_cache_loads_only_the_chunks_of_the_rows_read(bot):
    board = ask(bot, "alice@example.com", "leaderboard revenue 2017-Q2")
    results = {i: Result(board.kpi, board.rows.period, Decimal(i), Decimal(i), None) for i in range(1, 201)}
    names = [f"Rep {i:03d}" for i in results]
    measured = Measured.of(board.kpi, board.rows.period, results)
    ranked = Leaderboard.rank(measured, names, board.scope, "USD").rows  # Rep 200 first

    read = pickle.loads(pickle.dumps(ranked))
    shown, mine = read[:25], read.find(50)  # the top 25 (chunk 0) and the row of Rep 050, #151 (chunk 2)

    assert [row.name for row in shown] == [f"Rep {i:03d}" for i in range(200, 175, -1)]
    assert mine is not None and (mine.rank, mine.result.value) == (151, Decimal(50))
    assert sorted(read._loaded) == [0, 2] and CHUNK == 64
    assert read.columns == ranked.columns  # every chunk loaded: the ranking as it was measured


@pytest.mark.parametrize("key", ["revenue", "deals-won", "win-rate", "quota-attainment"])
def test_each_reps_result_in_a_ranking_is_the_one_their_own_answer_gives_whether_a_total_or_a_formula(bot, key):
    kpi, period = bot.catalog[key], parse_period("2017-Q2", bot.calendar, AS_OF)
    people = sorted((p for p in bot.directory.people.values() if p.role == Role.REP), key=lambda p: p.name)
    reps = {person.id: access.rep_scope(person) for person in people}

    ranked = bot.metrics.results_by_owner(kpi, period, reps, access.org_scope(), AS_OF)

    alone = [bot.metrics.result(kpi, period, scope, AS_OF) for scope in reps.values()]
    columns = (ranked.value, ranked.numerator, ranked.denominator, ranked.reason)
    assert list(zip(*columns, strict=True)) == [(r.value, r.numerator, r.denominator, r.reason) for r in alone]


def test_a_ranking_by_a_kpi_that_is_one_total_gives_each_member_theirs_and_zero_to_those_with_none(bot):
    period = parse_period("2017-Q2", bot.calendar, AS_OF)
    people = sorted(bot.directory.people.values(), key=lambda p: p.name)  # the managers and the admin sold nothing
    members = {person.id: access.rep_scope(person) for person in people}

    ranked = bot.metrics.results_by_owner(bot.catalog["revenue"], period, members, access.org_scope(), AS_OF)

    assert {person.name: value for person, value in zip(people, ranked.value, strict=True)} == {
        "Ada Admin": Decimal(0),
        "Alice Adams": Decimal("1000.00"),
        "Bob Brown": Decimal("3000.00"),
        "Erin Evans": Decimal("500.00"),
        "Evan East": Decimal(0),
        "Morgan Manager": Decimal(0),
        "Wendy Wu": Decimal("1000.00"),
    }
    assert list(ranked.reason) == [None] * 7


#: What a member's value is drawn from: ties, equal values written two ways, values that differ beyond a float's
#: precision (a ranking compares Decimals) and beyond 28 digits (a Decimal's arithmetic rounds there), none at all.
VALUES = (
    None,
    Decimal(0),
    Decimal(1),
    Decimal(3),
    Decimal("2.50"),
    Decimal("2.5"),
    Decimal("2.50000000000000000001"),
    Decimal("2.49999999999999999999"),
    Decimal("2.500000000000000000000000000001"),
    Decimal("7.125"),
)
#: And the cases a share is measured on: too few (win rate ranks fewer than its min_sample after the others).
SAMPLES = (None, Decimal(1), Decimal(5), Decimal(40))


@pytest.mark.parametrize("key, bottom", [("revenue", False), ("revenue", True), ("win-rate", False)])
def test_a_ranking_brought_up_to_date_is_the_ranking_measured_afresh(bot, key, bottom):
    kpi, period = bot.catalog[key], parse_period("2017-Q2", bot.calendar, AS_OF)
    draw = random.Random(17)
    names = {i: f"Rep {draw.choice('ABC')}{i % 7}" for i in range(1, 301)}  # names repeat: ties go by id
    values = {i: (draw.choice(VALUES), draw.choice(SAMPLES)) for i in names}

    def measured(ids: list[int]) -> Measured:
        value, sample = [values[i][0] for i in ids], [values[i][1] for i in ids]
        return Measured(kpi, period, ids, value, value, sample, [None] * len(ids), [None] * len(ids))

    def afresh() -> Leaderboard:
        return Leaderboard.rank(measured(list(names)), list(names.values()), access.org_scope(), "USD", bottom=bottom)

    board, kept = afresh(), 0
    for _ in range(12):
        changed = draw.sample(sorted(names), draw.randint(1, 40))
        values.update({i: (draw.choice(VALUES), draw.choice(SAMPLES)) for i in changed})
        brought = board.respliced(measured(changed), names.__getitem__, None)
        if brought is not None:
            kept += 1
            assert brought.rows.columns == afresh().rows.columns
        board = brought or afresh()  # once the slots left behind outnumber the rows, it is ranked afresh

    assert 5 <= kept < 12


#: Which KPIs' rankings are kept across a change of the data, by the tables whose changed owners decide them
#: (kpi/kept_rankings.py): a row of these counts for its owner alone; a lead reads the deal it converted into,
#: a customer's owner may be a won deal's, and a rep's ramp reads the reps.
TABLES_READ = [
    ("revenue", False, {"deals"}),
    ("win-rate", False, {"deals"}),
    ("pipeline", False, {"deals"}),
    ("calls", False, {"activities"}),
    ("calls", True, {"activities", "targets"}),  # a ranking with paces reads each one's target
    ("quota-attainment", False, {"deals", "targets"}),
    ("lead-conversion", False, None),
    ("new-customers", False, None),
    ("ramp-time", False, None),
]


@pytest.mark.parametrize("key, paces, tables", TABLES_READ)
def test_a_ranking_is_kept_across_a_change_only_when_each_row_counts_for_its_owner_alone(bot, key, paces, tables):
    assert tables_read(bot.catalog[key], paces) == (None if tables is None else frozenset(tables))


def test_equal_scores_are_kept_as_one_text_which_a_pickle_writes_once(bot):
    kpi, period = bot.catalog["win-rate"], parse_period("2017-Q2", bot.calendar, AS_OF)
    ids = list(range(1, 1001))
    rates = [Decimal(2) / Decimal(3) for _ in ids]  # each a Decimal of its own, as measured
    measured = Measured(kpi, period, ids, rates, rates, [Decimal(60)] * 1000, [None] * 1000, [None] * 1000)

    board = Leaderboard.rank(measured, [f"Rep {i}" for i in ids], access.org_scope(), "USD")

    scores = board.rows._scores
    assert set(scores) == {"0.6666666666666666666666666667"}
    assert len({id(score) for score in scores}) == 1
    assert len(pickle.dumps(scores, pickle.HIGHEST_PROTOCOL)) < 3_000  # 1,000 separate texts: 33,015 bytes
