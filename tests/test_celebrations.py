"""Celebrations and deliveries: every crossing posted exactly once, whatever happens around it."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from digests.celebrations import celebrate
from digests.deliveries import deliver, resolve_pending
from kpi.db import engine_for
from kpi.locks import DatabaseLock
from kpi.schema import Delivery, Target
from kpi.service import Kpibot
from tests.conftest import run_kpibot
from tests.fakes import FakeSlack

ROOT = Path(__file__).parents[1]
AS_OF = dt.date(2017, 5, 15)


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        fake.add_channel("C0WINS", "wins")
        yield fake


@pytest.fixture
def people(world):
    west = world.team("West 1")
    alice = world.rep("Alice Adams", team=west, email="alice@example.com")
    alice.slack_user_id = "U0ALICE"
    bob = world.rep("Bob Brown", team=west, email="bob@example.com")
    world.target("revenue", 1000, "2017-05-01", "2017-06-01", rep=alice)
    world.target("revenue", 5000, "2017-04-01", "2017-07-01", team=west)
    world.commit()
    return alice, bob, west


def texts(slack: FakeSlack) -> list[str]:
    return [m["text"] for m in slack.messages]


def test_a_rep_crossing_her_target_is_celebrated_once(engine, world, people, slack):
    alice, _, _ = people
    world.deal(alice, 1200, "won", closed="2017-05-10")
    world.commit()
    bot = Kpibot(engine, ROOT / "config")

    celebrate(bot, slack.client(), "C0WINS", AS_OF, [1.0])
    celebrate(bot, slack.client(), "C0WINS", AS_OF, [1.0])

    assert texts(slack) == [
        ":tada: <@U0ALICE> hit 100% of the revenue target for May 2017: $1,200.00 of $1,000.00 (120%)!"
    ]


def test_each_extra_threshold_is_celebrated_once_and_a_team_too(engine, world, people, slack):
    alice, bob, _ = people
    world.deal(alice, 1600, "won", closed="2017-05-10")
    world.deal(bob, 3500, "won", closed="2017-04-20")
    world.commit()
    bot = Kpibot(engine, ROOT / "config")

    celebrate(bot, slack.client(), "C0WINS", AS_OF, [1.0, 1.5, 2.0])

    assert sorted(texts(slack)) == sorted(
        [
            ":tada: <@U0ALICE> hit 100% of the revenue target for May 2017: $1,600.00 of $1,000.00 (160%)!",
            ":tada: <@U0ALICE> hit 150% of the revenue target for May 2017: $1,600.00 of $1,000.00 (160%)!",
            ":tada: West 1 hit 100% of the revenue target for 2017-Q2: $5,100.00 of $5,000.00 (102%)!",
        ]
    )


def test_an_edited_target_or_a_dip_below_and_back_never_celebrates_again(engine, world, people, slack, session):
    alice, _, _ = people
    deal = world.deal(alice, 1200, "won", closed="2017-05-10")
    world.commit()
    bot = Kpibot(engine, ROOT / "config")
    celebrate(bot, slack.client(), "C0WINS", AS_OF, [1.0])

    session.query(Target).filter_by(scope_type="rep").update({"value": Decimal("1100")})
    deal.status = "open"  # re-opened: below target
    session.commit()
    celebrate(bot, slack.client(), "C0WINS", AS_OF, [1.0])
    deal.status = "won"  # crossed again in the same period
    session.commit()
    celebrate(bot, slack.client(), "C0WINS", AS_OF, [1.0])

    assert len(slack.messages) == 1


def test_a_big_deal_is_announced_once(engine, world, people, slack):
    alice, _, _ = people
    deal = world.deal(alice, 80000, "won", closed="2017-05-14")
    deal.name = "Acme renewal"
    world.commit()
    bot = Kpibot(engine, ROOT / "config")

    for _ in range(2):
        celebrate(bot, slack.client(), "C0WINS", AS_OF, [], big_deal_amount=Decimal(50000))

    assert texts(slack) == [":moneybag: <@U0ALICE> just won a big one: Acme renewal for $80,000.00!"]


def test_a_post_interrupted_before_completion_is_found_in_history_not_posted_twice(engine, slack, session):
    message = {"text": "Weekly digest for West 1"}

    def crash_after_posting(client, channel, msg):
        client.chat_postMessage(channel=channel, **msg)
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), "digest:weekly:west:2017-W20", "C0WINS", message, post=crash_after_posting)
    session.query(Delivery).update({"updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)})
    session.commit()

    outcomes = resolve_pending(engine, slack.client(), rebuild=lambda key: (message, None))

    assert [o.status for o in outcomes] == ["sent"]
    assert texts(slack) == ["Weekly digest for West 1"]
    assert deliver(engine, slack.client(), "digest:weekly:west:2017-W20", "C0WINS", message).status == "duplicate"


def test_a_post_that_never_reached_slack_is_posted_once_on_recovery(engine, slack, session):
    message = {"text": "Monthly digest"}

    def crash_before_posting(client, channel, msg):
        raise SystemExit("killed")

    with pytest.raises(SystemExit):
        deliver(engine, slack.client(), "digest:monthly:org:2017-05", "C0WINS", message, post=crash_before_posting)
    session.query(Delivery).update({"updated_at": dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(hours=1)})
    session.commit()

    resolve_pending(engine, slack.client(), rebuild=lambda key: (message, None))
    resolve_pending(engine, slack.client(), rebuild=lambda key: (message, None))

    assert texts(slack) == ["Monthly digest"]


def test_a_failed_post_is_recorded_with_its_reason(engine, slack):
    outcome = deliver(engine, slack.client(), "celebration:x", "C0NOWHERE", {"text": "hi"})

    assert (outcome.status, outcome.error) == ("failed", "channel_not_found")


def test_only_one_worker_leads_and_another_takes_over_when_it_resigns(engine):
    first, second = DatabaseLock(engine, "scheduler", "first"), DatabaseLock(engine, "scheduler", "second")

    assert (first.try_acquire(), second.try_acquire()) == (True, False)
    assert first.try_acquire() is True
    first.release()
    assert second.try_acquire() is True
    second.release()


def test_a_csv_sync_from_the_command_line_celebrates_what_the_new_data_crossed(tmp_path):
    today = dt.date.today()
    (tmp_path / "csv.yaml").write_text(
        "source: csv\nimports:\n"
        "  - {file: reps.csv, object: reps, id: email, fields: {name: name, email: email}}\n"
        "  - {file: deals.csv, object: deals, id: id, fields: {owner: {column: owner, by: email}, amount: amount,"
        " status: status, close_date: closed}}\n"
    )
    (tmp_path / "schedule.yaml").write_text("celebrations:\n  channel: C0WINS\n")
    data = tmp_path / "export"
    data.mkdir()
    (data / "reps.csv").write_text("name,email\nAlice Adams,alice@example.com\n")
    (data / "deals.csv").write_text(f"id,owner,amount,status,closed\nD1,alice@example.com,1500,won,{today}\n")
    url = f"sqlite:///{tmp_path / 'kpibot.db'}"
    with FakeSlack() as slack:
        slack.add_channel("C0WINS", "wins")
        env = {
            "DATABASE_URL": url,
            "KPIBOT_CONFIG_DIR": str(tmp_path),
            "SLACK_BOT_TOKEN": slack.token,
            "SLACK_API_URL": slack.url,
        }
        first = run_kpibot("sync", "--path", str(data), env=env)
        assert first.returncode == 0, first.stderr
        bot = Kpibot(engine_for(url), tmp_path)
        month = today.replace(day=1)
        with engine_for(url).begin() as connection:
            connection.execute(
                Target.__table__.insert().values(
                    kpi="revenue",
                    scope_type="rep",
                    scope_id=bot.person("alice@example.com").id,
                    period_start=month,
                    period_end=(month + dt.timedelta(days=32)).replace(day=1),
                    value=Decimal(1000),
                )
            )
        for _ in range(2):
            again = run_kpibot("sync", "--path", str(data), env=env)
            assert again.returncode == 0, again.stderr

        assert [m["text"].split(" hit")[0] for m in slack.messages] == [":tada: Alice Adams"]
