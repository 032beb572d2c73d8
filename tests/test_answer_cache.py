"""Answers cached until the data changes (kpi/cache.py, kpi/generation.py), in this process's store and, when a
Redis server answers at ``KPIBOT_TEST_REDIS_URL`` (default redis://127.0.0.1:6379/15), in Redis.

The world: West (Morgan manages it; Alice and Bob) and East (Evan; Erin), Ada the admin, all written by a sync of
the source "fake" so that a later sync can change a deal. 2017-Q2 revenue: Alice 1,000, Bob 3,000, Erin 500.
Asked on 2017-07-10 (the quarter is over).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
import redis
from sqlalchemy import Engine, delete, event, select, update

from crm.people import apply_people
from kpi import generation
from kpi.access import AccessDenied
from kpi.answers import Answer
from kpi.cache import LocalStore, RedisStore, Store
from kpi.config import PeopleConfig
from kpi.rankings import Leaderboard
from kpi.schema import DataGeneration, Rep
from kpi.service import Kpibot
from kpi.targets.parsing import TargetSpec
from kpi.targets.storage import set_target
from kpi.types import Who
from tests.test_sync_runner import sync_records, won_deal

AS_OF = dt.date(2017, 7, 10)
NOW = dt.datetime(2017, 7, 10, 9, 0)
REDIS_URL = os.environ.get("KPIBOT_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _redis_answers() -> bool:
    try:
        return bool(redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping())
    except redis.RedisError:
        return False


STORES = ["process"] + (["redis"] if _redis_answers() else [])


@pytest.fixture(params=STORES)
def store(request) -> Store:
    """A store of each kind: this process's (1 MB), or Redis (entries kept a minute: tests leave nothing)."""
    if request.param == "redis":
        return RedisStore(REDIS_URL, ttl=dt.timedelta(minutes=1))
    return LocalStore(1024 * 1024)


def deal(crm_id: str, owner: str, amount: int, closed: str = "2017-05-10") -> dict:
    return won_deal(crm_id, owner, amount, closed)


def sync(engine: Engine, **pages: list[dict]) -> None:
    sync_records(engine, NOW, **pages)


@pytest.fixture
def world(engine: Engine) -> Engine:
    with engine.begin() as connection:  # a new epoch: a Redis store outlives the databases of earlier tests
        connection.execute(delete(DataGeneration))
    teams = [{"crm_id": "west", "name": "West", "manager_crm_id": "morgan"}, {"crm_id": "east", "name": "East"}]
    people = [
        ("morgan", "Morgan Manager", "manager", "west", "manager@example.com"),
        ("ada", "Ada Admin", "admin", None, "admin@example.com"),
        ("alice", "Alice Adams", "rep", "west", "alice@example.com"),
        ("bob", "Bob Brown", "rep", "west", "bob@example.com"),
        ("erin", "Erin Evans", "rep", "east", "erin@example.com"),
    ]
    reps = [
        {"crm_id": crm_id, "name": name, "role": role, "team_crm_id": team, "email": email}
        for crm_id, name, role, team, email in people
    ]
    deals = [deal("d1", "alice", 1000), deal("d2", "bob", 3000), deal("d3", "erin", 500)]
    sync(engine, teams=teams, reps=reps, deals=deals)
    return engine


@pytest.fixture
def bot(world: Engine, us_config, store: Store) -> Kpibot:
    return Kpibot(world, us_config, store)


def asked(bot: Kpibot, who: str, text: str, as_of: dt.date = AS_OF) -> tuple[Answer | Leaderboard, list[str]]:
    """The reply to ``text`` asked by ``who``, and the statements it ran."""
    statements: list[str] = []

    def count(*args) -> None:
        statements.append(args[2])

    event.listen(bot.engine, "before_cursor_execute", count)
    try:
        reply = bot.ask(text, bot.person(who), as_of)
    finally:
        event.remove(bot.engine, "before_cursor_execute", count)
    assert isinstance(reply, Answer | Leaderboard)
    return reply, statements


def test_a_second_identical_question_is_answered_from_the_cache_after_one_read_of_the_generation(bot):
    first, measured = asked(bot, "alice@example.com", "my revenue 2017-Q2")
    again, statements = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    assert len(measured) == 2 and "data_generation" in measured[0]  # then the answer's one statement
    assert len(statements) == 1 and "data_generation" in statements[0]
    assert again.text == first.text
    assert again.text.splitlines()[0] == "Revenue for Alice Adams, 2017-Q2 (2017-04-01 to 2017-06-30): $1,000.00."
    assert (bot.cache.hits, bot.cache.misses) == (1, 1)


def test_a_sync_that_changes_a_deal_changes_the_next_answer(bot):
    before, _ = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    sync(bot.engine, deals=[deal("d1", "alice", 2500)])
    after, _ = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    assert before.text.splitlines()[0].endswith(": $1,000.00.")
    assert after.text.splitlines()[0].endswith(": $2,500.00.")
    assert (bot.cache.hits, bot.cache.misses) == (0, 2)


def test_a_sync_that_changes_nothing_keeps_the_generation_and_the_cached_answers(bot):
    asked(bot, "alice@example.com", "my revenue 2017-Q2")
    was = generation.current(bot.engine)

    sync(bot.engine, deals=[deal("d1", "alice", 1000)])
    asked(bot, "alice@example.com", "my revenue 2017-Q2")

    assert generation.current(bot.engine) == was
    assert (bot.cache.hits, bot.cache.misses) == (1, 1)


def target(bot: Kpibot, value: int) -> TargetSpec:
    """Alice's revenue target for 2017-Q2."""
    alice = Who("rep", bot.person("alice@example.com").id, "Alice Adams")
    return TargetSpec(bot.catalog["revenue"], alice, dt.date(2017, 4, 1), dt.date(2017, 7, 1), Decimal(value))


def test_a_target_change_changes_the_next_answer(bot):
    set_target(bot.engine, target(bot, 2000), "admin@example.com")
    before, _ = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    set_target(bot.engine, target(bot, 4000), "admin@example.com")
    after, _ = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    assert before.text.splitlines()[-1] == "Target $2,000.00: 50% attained, missed."
    assert after.text.splitlines()[-1] == "Target $4,000.00: 25% attained, missed."


def test_people_changed_by_people_yaml_advance_the_generation_and_the_same_file_again_does_not(bot):
    alice = {"name": "Alice Adams", "email": "alice@example.com", "hired_at": "2016-01-04"}
    people = PeopleConfig.model_validate({"people": [alice]})
    was = generation.current(bot.engine).number

    apply_people(bot.engine, people, now=NOW)
    once = generation.current(bot.engine).number
    apply_people(bot.engine, people, now=NOW)

    assert (once, generation.current(bot.engine).number) == (was + 1, was + 1)


def test_a_sync_page_of_deals_keeps_each_process_directory_and_a_page_of_people_reloads_it(bot):
    loaded = bot.directory

    sync(bot.engine, deals=[deal("d1", "alice", 2500)])
    bot.refresh_directory()
    kept = bot.directory
    sync(bot.engine, reps=[{"crm_id": "alice", "name": "Alice Archer", "role": "rep", "team_crm_id": "west"}])
    bot.refresh_directory()

    assert kept is loaded
    assert bot.person("alice@example.com").name == "Alice Archer"


def test_people_yaml_applied_moves_the_generation_of_the_directory_with_the_data_generation(bot):
    alice = {"name": "Alice Adams", "email": "alice@example.com", "hired_at": "2016-01-04"}
    was = generation.current(bot.engine)

    apply_people(bot.engine, PeopleConfig.model_validate({"people": [alice]}), now=NOW)

    after = was.number + 1
    assert generation.current(bot.engine) == generation.Generation(was.epoch, after, after, after, after)


def test_two_reps_of_one_team_share_the_team_answer(bot):
    alices, _ = asked(bot, "alice@example.com", "team revenue 2017-Q2")
    bobs, statements = asked(bot, "bob@example.com", "team revenue 2017-Q2")

    assert len(statements) == 1
    assert bobs.text.splitlines()[0] == "Revenue for West, 2017-Q2 (2017-04-01 to 2017-06-30): $4,000.00."
    assert bobs.text == alices.text


def test_two_reps_of_one_team_share_its_leaderboard_and_each_is_told_their_own_place(bot):
    alices, _ = asked(bot, "alice@example.com", "leaderboard revenue 2017-Q2")
    bobs, statements = asked(bot, "bob@example.com", "leaderboard revenue 2017-Q2")

    assert len(statements) == 1
    assert isinstance(alices, Leaderboard) and isinstance(bobs, Leaderboard)
    assert [(row.rank, row.name) for row in bobs.rows] == [(1, "Bob Brown"), (2, "Alice Adams")]
    assert (alices.place, bobs.place) == ("You're #2 of 2.", "You're #1 of 2.")


def test_answers_of_different_as_of_days_are_not_shared(bot):
    sync(bot.engine, deals=[deal("d4", "alice", 700, closed="2017-07-11")])

    on_the_10th, _ = asked(bot, "alice@example.com", "my revenue this month", dt.date(2017, 7, 10))
    on_the_11th, _ = asked(bot, "alice@example.com", "my revenue this month", dt.date(2017, 7, 11))

    assert on_the_10th.text.splitlines()[0].endswith("(2017-07-01 to 2017-07-10): $0.00.")
    assert on_the_11th.text.splitlines()[0].endswith("(2017-07-01 to 2017-07-11): $700.00.")
    assert (bot.cache.hits, bot.cache.misses) == (0, 2)


def test_what_the_asker_may_not_see_is_refused_though_its_answer_is_cached(bot):
    asked(bot, "admin@example.com", "org revenue 2017-Q2")
    asked(bot, "manager@example.com", "team revenue 2017-Q2")

    with pytest.raises(AccessDenied, match="Organisation-wide numbers are for admins"):
        bot.ask("org revenue 2017-Q2", bot.person("alice@example.com"), AS_OF)
    with pytest.raises(AccessDenied, match="East is neither"):
        bot.ask("team East revenue 2017-Q2", bot.person("bob@example.com"), AS_OF)
    with pytest.raises(AccessDenied, match="not another rep's numbers"):
        bot.ask("Bob Brown revenue 2017-Q2", bot.person("alice@example.com"), AS_OF)
    assert bot.cache.hits == 0


def test_two_servers_of_one_database_share_a_redis_store(world, us_config):
    if "redis" not in STORES:
        pytest.skip("no Redis server answers at " + REDIS_URL)
    web = Kpibot(world, us_config, RedisStore(REDIS_URL, ttl=dt.timedelta(minutes=1)))
    digests = Kpibot(world, us_config, RedisStore(REDIS_URL, ttl=dt.timedelta(minutes=1)))

    first, _ = asked(web, "admin@example.com", "org revenue 2017-Q2")
    shared, statements = asked(digests, "admin@example.com", "org revenue 2017-Q2")

    assert len(statements) == 1 and shared.text == first.text
    assert shared.text.splitlines()[0].endswith(": $4,500.00.")


def test_without_a_store_every_question_is_measured(world, us_config):
    bot = Kpibot(world, us_config, None)

    asked(bot, "alice@example.com", "my revenue 2017-Q2")
    _, statements = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    assert len(statements) == 1 and "data_generation" not in statements[0]


def test_the_process_store_forgets_the_least_recently_used_answers_beyond_its_size_in_memory():
    store = LocalStore(budget=60)
    store.put("a", "A", b"1234")  # sized at 6 times its pickle: 24 bytes
    store.put("b", "B", b"1234")
    assert store.get("a") == "A"  # now b is the least recently used

    store.put("c", "C", b"1234")  # 72 bytes: b goes
    store.put("huge", "H", b"12345678901")  # 66 bytes, more than the whole store: not kept

    assert (store.get("a"), store.get("b"), store.get("c"), store.get("huge")) == ("A", None, "C", None)
    assert (len(store), store.size) == (2, 48)


def digits(board: Leaderboard) -> list[tuple[str, ...]]:
    """Each row's numbers as written: equal Decimals of other exponents (1E+3, 1000.00) write differently."""
    paces = [row.pace for row in board.rows]
    return [
        (str(row.result.value), *((str(pace.target), str(pace.attainment)) if pace else ()))
        for row, pace in zip(board.rows, paces, strict=True)
    ]


def test_a_leaderboard_read_from_the_store_is_the_one_measured_to_the_last_digit(bot):
    set_target(bot.engine, target(bot, 2000), "admin@example.com")  # Alice: 1,000 of 2,000; Bob has none

    alices, _ = asked(bot, "alice@example.com", "leaderboard revenue % of target 2017-Q2")
    bobs, statements = asked(bot, "bob@example.com", "leaderboard revenue % of target 2017-Q2")

    assert len(statements) == 1 and isinstance(alices, Leaderboard) and isinstance(bobs, Leaderboard)
    assert bobs.rows == alices.rows and digits(bobs) == digits(alices)
    assert [(row.rank, row.name, row.result.value, row.pace and row.pace.attainment) for row in bobs.rows] == [
        (1, "Alice Adams", 1000, Decimal("0.5")),
        (2, "Bob Brown", 3000, None),
    ]
    assert (alices.place, bobs.place) == (
        "You're #1 of 2.",
        "You have no revenue target for 2017-Q2, so no place on this board.",
    )


def computing(bot: Kpibot, monkeypatch) -> dict[str, int]:
    """Count the rankings ``bot`` computes, each taking 50 ms, and the most computed at once."""
    seen = {"calls": 0, "now": 0, "most": 0}
    lock = threading.Lock()
    rank = bot.metrics.results_by_owner

    def slow(*args, **kwargs):
        with lock:
            seen["calls"] += 1
            seen["now"] += 1
            seen["most"] = max(seen["most"], seen["now"])
        time.sleep(0.05)
        try:
            return rank(*args, **kwargs)
        finally:
            with lock:
                seen["now"] -= 1

    monkeypatch.setattr(bot.metrics, "results_by_owner", slow)
    return seen


def at_once(bot: Kpibot, questions: list[tuple[str, str]]) -> list[Leaderboard]:
    with ThreadPoolExecutor(len(questions)) as pool:
        return list(pool.map(lambda q: bot.ask(q[1], bot.person(q[0]), AS_OF), questions))


def test_organisation_wide_rankings_are_computed_one_at_a_time_and_a_teams_beside_them(bot, monkeypatch):
    seen = computing(bot, monkeypatch)
    org = [("alice@example.com", f"leaderboard org revenue {quarter}") for quarter in ("2017-Q1", "2017-Q2", "2016-Q4")]

    boards = at_once(bot, org)
    one_at_a_time = (seen["calls"], seen["most"])
    at_once(bot, [("alice@example.com", f"leaderboard revenue {q}") for q in ("2017-Q1", "2017-Q2", "2016-Q4")])

    assert one_at_a_time == (3, 1)
    assert seen["most"] > 1  # the team's rankings (West's) computed side by side
    assert [row.name for row in boards[1].rows] == ["Bob Brown", "Alice Adams", "Erin Evans"]


def test_an_organisation_ranking_asked_while_it_is_computed_is_computed_once(bot, monkeypatch):
    seen = computing(bot, monkeypatch)

    boards = at_once(
        bot, [(who, "leaderboard org revenue 2017-Q2") for who in ("alice@example.com", "bob@example.com")]
    )

    assert seen["calls"] == 1  # the second waited for the slot, then found the first's answer in the store
    assert [board.place for board in boards] == ["You're #2 of 3.", "You're #1 of 3."]


def test_a_ranking_two_processes_ask_for_at_once_is_computed_by_one_and_read_by_the_other(
    world, us_config, monkeypatch
):
    if "redis" not in STORES:
        pytest.skip("no Redis server answers at " + REDIS_URL)
    web, digests = (Kpibot(world, us_config, RedisStore(REDIS_URL, ttl=dt.timedelta(minutes=1))) for _ in range(2))
    seen = [computing(web, monkeypatch), computing(digests, monkeypatch)]

    with ThreadPoolExecutor(2) as pool:
        asks = [(web, "alice@example.com"), (digests, "bob@example.com")]
        boards = list(pool.map(lambda a: a[0].ask("leaderboard revenue 2017-Q2", a[0].person(a[1]), AS_OF), asks))

    assert sum(one["calls"] for one in seen) == 1  # the other waited for the first's hold on the key in Redis
    assert [board.place for board in boards] == ["You're #2 of 2.", "You're #1 of 2."]


def test_with_redis_out_of_reach_every_question_is_still_answered_by_measuring_it(world, us_config, caplog):
    bot = Kpibot(world, us_config, RedisStore("redis://127.0.0.1:9/0"))  # nothing listens on port 9

    first, _ = asked(bot, "alice@example.com", "my revenue 2017-Q2")
    again, statements = asked(bot, "alice@example.com", "my revenue 2017-Q2")

    assert again.text == first.text and any("FROM deals" in statement for statement in statements)
    assert "Redis did not answer" in caplog.text and "Redis did not lock" in caplog.text


def test_a_request_reads_the_data_generation_once_for_its_directory_and_its_cached_answer(bot):
    first, _ = asked(bot, "alice@example.com", "my revenue 2017-Q2")
    statements: list[str] = []
    event.listen(bot.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))

    with bot.request() as directory:  # what the Slack app does around each question
        again = bot.ask("my revenue 2017-Q2", directory.find_person("alice@example.com"), AS_OF)

    assert isinstance(again, Answer) and again.text == first.text
    assert len(statements) == 1 and "data_generation" in statements[0]


def test_the_data_generation_is_read_as_one_statement_outside_any_transaction(bot):
    with bot.engine.begin() as connection:
        numbers = {"number": 41, "directory_number": 7, "unknown_number": 5, "targets_number": 3}
        connection.execute(update(DataGeneration).values(epoch="e1", **numbers))
    read: list[tuple[str, object]] = []
    listener = lambda conn, cursor, sql, *rest: read.append((sql, conn.get_execution_options().get("isolation_level")))  # noqa: E731
    event.listen(bot.engine, "before_cursor_execute", listener)

    found = generation.current(bot.engine)

    event.remove(bot.engine, "before_cursor_execute", listener)
    assert found == generation.Generation("e1", 41, directory=7, unknown=5, targets=3)
    # no transaction begun, so none to roll back when the connection goes back to the pool: a request's first read
    assert [(sql.split()[-4:], level) for sql, level in read] == [
        (["WHERE", "data_generation.id", "=", "1"], "AUTOCOMMIT")
    ]


# -- organisation rankings kept across a change of the data (kpi/kept_rankings.py): each committed change notes the
# owners of the rows it wrote (kpi/generation.py), and the next organisation leaderboard measures only those again

BOARD = "leaderboard org revenue 2017-Q2"


def board(bot: Kpibot) -> list[tuple[int, str, Decimal | None]]:
    reply = bot.ask(BOARD, bot.person("admin@example.com"), AS_OF)
    assert isinstance(reply, Leaderboard)
    return [(row.rank, row.name, row.result.value) for row in reply.rows]


def owner_ids(bot: Kpibot, *crm_ids: str) -> set[int]:
    with bot.engine.connect() as connection:
        return set(connection.execute(select(Rep.id).where(Rep.crm_id.in_(crm_ids))).scalars())


def changed_since(bot: Kpibot, before: generation.Generation) -> dict[str, set[int]] | None:
    with bot.engine.connect() as connection:
        return generation.changed_owners(connection, before, generation.current(bot.engine))


def test_a_sync_page_notes_the_owners_of_the_deals_it_wrote_before_and_after(bot):
    before = generation.current(bot.engine)

    sync(bot.engine, deals=[deal("d1", "bob", 1000), deal("d3", "erin", 700)])  # d1 moves from Alice to Bob

    assert changed_since(bot, before) == {"deals": owner_ids(bot, "alice", "bob", "erin")}


def test_the_next_org_leaderboard_after_a_sync_measures_only_the_owners_it_changed(bot):
    assert board(bot) == [(1, "Bob Brown", 3000), (2, "Alice Adams", 1000), (3, "Erin Evans", 500)]

    sync(bot.engine, deals=[deal("d3", "erin", 5000)])

    assert board(bot) == [(1, "Erin Evans", 5000), (2, "Bob Brown", 3000), (3, "Alice Adams", 1000)]
    assert (bot.cache.kept, bot.cache.misses) == (1, 2)


def test_an_org_leaderboard_brought_up_to_date_in_redis_takes_six_round_trips(world, us_config):
    if "redis" not in STORES:
        pytest.skip("no Redis server answers at " + REDIS_URL)
    store = RedisStore(REDIS_URL, ttl=dt.timedelta(minutes=1))
    bot = Kpibot(world, us_config, store)
    board(bot)
    sync(bot.engine, deals=[deal("d3", "erin", 5000)])
    pool, trips = store.client.connection_pool, []
    checkout = pool.get_connection

    def counted(*args, **kwargs):  # each command, or pipeline of them, takes a connection from the pool
        trips.append(args)
        return checkout(*args, **kwargs)

    pool.get_connection = counted

    assert board(bot) == [(1, "Erin Evans", 5000), (2, "Bob Brown", 3000), (3, "Alice Adams", 1000)]

    # the answer looked for; held; looked for again with the generation last stored; that generation's ranking
    # read; the new one and its generation stored at once; released
    assert (len(trips), bot.cache.kept) == (6, 1)


def test_the_owners_a_sync_changed_are_read_once_for_every_org_leaderboard_brought_up_to_date(bot):
    boards = ("leaderboard org revenue 2017-Q2", "leaderboard org deals-won 2017-Q2")
    for text in boards:
        bot.ask(text, bot.person("admin@example.com"), AS_OF)
    read: list[str] = []
    listener = lambda *args: read.append(args[2]) if "changed_owners" in args[2] else None  # noqa: E731
    event.listen(bot.engine, "before_cursor_execute", listener)

    sync(bot.engine, deals=[deal("d3", "erin", 5000)])
    replies = [bot.ask(text, bot.person("admin@example.com"), AS_OF) for text in boards]

    event.remove(bot.engine, "before_cursor_execute", listener)
    assert [[(row.rank, row.name) for row in reply.rows] for reply in replies] == [
        [(1, "Erin Evans"), (2, "Bob Brown"), (3, "Alice Adams")],
        [(1, "Alice Adams"), (1, "Bob Brown"), (1, "Erin Evans")],
    ]
    assert bot.cache.kept == 2
    assert len([sql for sql in read if sql.lstrip().startswith("SELECT")]) == 1


def test_a_deal_moved_to_another_owner_ranks_both_again_and_the_one_left_with_none_last(bot):
    board(bot)

    sync(bot.engine, deals=[deal("d1", "bob", 1000)])

    assert board(bot) == [(1, "Bob Brown", 4000), (2, "Erin Evans", 500), (3, "Alice Adams", 0)]
    assert bot.cache.kept == 1


def test_equal_values_after_a_change_share_a_place(bot):
    board(bot)

    sync(bot.engine, deals=[deal("d3", "erin", 1000)])

    assert board(bot) == [(1, "Bob Brown", 3000), (2, "Alice Adams", 1000), (2, "Erin Evans", 1000)]
    assert bot.cache.kept == 1


def test_a_reps_target_changes_their_row_alone_in_a_ranking_by_target(bot):
    bot.ask("leaderboard org revenue % of target 2017-Q2", bot.person("admin@example.com"), AS_OF)
    before = generation.current(bot.engine)

    set_target(bot.engine, target(bot, 2000), "admin@example.com")  # Alice's own target: hers alone
    mine = changed_since(bot, before)
    reply = bot.ask("leaderboard org revenue % of target 2017-Q2", bot.person("admin@example.com"), AS_OF)

    assert mine == {"targets": owner_ids(bot, "alice")}
    assert isinstance(reply, Leaderboard) and bot.cache.kept == 1
    assert [(row.rank, row.name, row.pace and row.pace.attainment) for row in reply.rows] == [
        (1, "Alice Adams", Decimal("0.5")),
        (2, "Bob Brown", None),
        (2, "Erin Evans", None),
    ]


def test_a_change_of_the_people_ranks_everyone_afresh(bot):
    board(bot)
    before = generation.current(bot.engine)

    sync(bot.engine, reps=[{"crm_id": "erin", "name": "Erin Ernst", "role": "rep", "team_crm_id": "east"}])
    bot.refresh_directory()  # as each request of the server does

    assert changed_since(bot, before) is None
    assert board(bot) == [(1, "Bob Brown", 3000), (2, "Alice Adams", 1000), (3, "Erin Ernst", 500)]
    assert bot.cache.kept == 0


def test_the_organisations_summed_targets_are_read_again_only_when_the_targets_change(bot):
    set_target(bot.engine, target(bot, 2000), "admin@example.com")  # Alice's: the organisation has none of its own
    first, _ = asked(bot, "admin@example.com", "org revenue 2017-Q2")

    sync(bot.engine, deals=[deal("d2", "bob", 3500)])
    after_sync, statements = asked(bot, "admin@example.com", "org revenue 2017-Q2")
    set_target(bot.engine, target(bot, 4000), "admin@example.com")
    after_target, _ = asked(bot, "admin@example.com", "org revenue 2017-Q2")

    assert first.text.splitlines()[-1] == "Target $2,000.00: 225% attained, reached."  # 4,500 of 2,000
    assert len(statements) == 2 and "FROM targets" not in statements[1]  # the generation, then the totals alone
    assert after_sync.text.splitlines()[-1] == "Target $2,000.00: 250% attained, reached."  # 5,000
    assert after_target.text.splitlines()[-1] == "Target $4,000.00: 125% attained, reached."


def test_an_organisation_ranking_brought_up_to_date_does_not_wait_for_the_rankings_turn(bot):
    board(bot)
    sync(bot.engine, deals=[deal("d3", "erin", 5000)])

    with ThreadPoolExecutor(1) as pool:
        bot._org_rankings.acquire()  # a ranking measured afresh holds the turn meanwhile
        try:
            reply = pool.submit(board, bot).result(timeout=10)
        finally:
            bot._org_rankings.release()

    assert reply == [(1, "Erin Evans", 5000), (2, "Bob Brown", 3000), (3, "Alice Adams", 1000)]
