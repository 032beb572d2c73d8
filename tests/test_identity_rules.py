"""Who is asking: one email shared by two people is ambiguous, never silently one of them; someone who has left
loses access the day after their leaving date (org.yaml's access_after_leaving_days)."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import event

from bot.home import home_view
from bot.identity import Identities, Unmatched
from digests import ims
from digests.deliveries import deliver
from kpi.access import AccessDenied
from kpi.service import Kpibot
from tests.conftest import cli_env, run_kpibot
from tests.fakes import FakeSlack

TODAY = dt.datetime.now(dt.UTC).date()  # the org is in UTC


def test_a_slack_user_whose_email_two_people_share_is_told_it_is_ambiguous(engine, world, config):
    world.rep("Sam Smith", email="sam@example.com")
    world.rep("Sam Smythe", email="SAM@example.com")
    world.commit()
    kpibot = Kpibot(engine, config)

    with FakeSlack() as slack, pytest.raises(Unmatched) as refused:
        slack.add_user("U0SAM", email="sam@example.com", real_name="Sam")
        Identities(engine, slack.client()).person(kpibot.directory, "U0SAM")

    assert str(refused.value).startswith(
        "Slack gives your email as sam@example.com, and 2 people in the CRM have it (Sam Smith and Sam Smythe), "
        "so I can't tell which one you are."
    )
    assert "  slack_user_id: U0SAM" in str(refused.value)


def test_a_match_by_email_is_remembered_across_restarts_so_slack_is_asked_once(engine, world, config):
    sam = world.rep("Sam Smith", email="sam@example.com")
    world.commit()
    kpibot = Kpibot(engine, config)

    with FakeSlack() as slack:
        slack.add_user("U0SAM", email="Sam@Example.com", real_name="Sam")
        first = Identities(engine, slack.client()).person(kpibot.directory, "U0SAM")
        after_a_restart = Identities(engine, slack.client()).person(kpibot.directory, "U0SAM")
        asked = len(slack.calls_to("users.info"))

    assert (first.id, after_a_restart.id, asked) == (sam.id, sam.id, 1)


def test_a_match_by_email_holds_without_a_query_when_the_directory_is_read_again_after_a_sync(engine, world, config):
    sam = world.rep("Sam Smith", email="sam@example.com")
    world.commit()
    kpibot = Kpibot(engine, config)
    statements: list[str] = []

    with FakeSlack() as slack:
        slack.add_user("U0SAM", email="sam@example.com", real_name="Sam")
        identities = Identities(engine, slack.client())
        identities.person(kpibot.directory, "U0SAM")
        kpibot.reload_directory()  # what a server does when a sync has committed
        event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
        again = identities.person(kpibot.directory, "U0SAM")

    assert (again.id, statements) == (sam.id, [])


def test_a_member_kpibot_has_only_sent_dms_to_is_matched_by_email_when_they_first_ask(engine, world, config):
    sam = world.rep("Sam Smith", email="sam@example.com")
    world.commit()
    kpibot = Kpibot(engine, config)

    with FakeSlack() as slack:
        slack.add_user("U0SAM", email="sam@example.com", real_name="Sam")
        deliver(engine, slack.client(), "alert:1:2026-10-01..2026-12-31", "U0SAM", {"text": "Your alert"})
        asking = Identities(engine, slack.client()).person(kpibot.directory, "U0SAM")
        im = slack.im_for("U0SAM")

    assert (asking.id, ims.known_im(engine, "U0SAM")) == (sam.id, im)  # the IM kept, and the match added to it


def test_a_miss_is_remembered_for_ten_minutes_with_the_email_slack_gave(engine, world, config):
    world.rep("Sam Smith", email="sam@example.com")
    world.commit()
    kpibot = Kpibot(engine, config)

    with FakeSlack() as slack:
        slack.add_user("U0NEW", email="new@example.com", real_name="New")
        with pytest.raises(Unmatched):
            Identities(engine, slack.client()).person(kpibot.directory, "U0NEW")
        with pytest.raises(Unmatched) as again:
            Identities(engine, slack.client()).person(kpibot.directory, "U0NEW")
        asked = len(slack.calls_to("users.info"))

    assert asked == 1
    assert str(again.value).startswith(
        "I don't know who you are in the CRM yet. Slack gives your email as new@example.com, and nobody in the CRM "
        "has it."
    )


@pytest.mark.parametrize(
    ("left", "grace", "allowed"),
    [
        (TODAY, 1, True),
        (TODAY - dt.timedelta(days=1), 1, False),
        (TODAY - dt.timedelta(days=1), 3, True),
        (TODAY, 0, False),
    ],
    ids=["left-today", "left-yesterday", "within-a-3-day-grace", "no-grace"],
)
def test_someone_who_has_left_loses_access_after_the_grace(engine, world, config, left, grace, allowed):
    (config / "org.yaml").write_text(f"timezone: UTC\naccess_after_leaving_days: {grace}\n")
    world.rep("Lee Leaver", email="lee@example.com", left=left.isoformat())
    world.commit()
    kpibot = Kpibot(engine, config)

    if allowed:
        assert kpibot.ask("my revenue", kpibot.person("lee@example.com")).to_json()["scope"]["name"] == "Lee Leaver"
    else:
        with pytest.raises(AccessDenied, match=f"the CRM says you left on {left.isoformat()}"):
            kpibot.ask("leaderboard revenue", kpibot.person("lee@example.com"))


def test_a_leaver_sees_why_on_the_app_home_and_on_the_command_line(engine, world, config):
    leaver = world.rep("Lee Leaver", email="lee@example.com", left=(TODAY - dt.timedelta(days=10)).isoformat())
    leaver.slack_user_id = "U0LEE"
    world.commit()

    with FakeSlack() as slack:
        view = home_view(Kpibot(engine, config), Identities(engine, slack.client()), "U0LEE")
    cli = run_kpibot("ask", "team revenue", "--as", "lee@example.com", env=cli_env(engine, config))

    assert view["blocks"][1]["text"]["text"].startswith("Your access to kpibot ended on ")
    assert cli.returncode == 2 and "Your access to kpibot ended on " in cli.stderr
