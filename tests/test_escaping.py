"""Hostile names from the CRM and the config never become mentions, pings, links or formatting in Slack.

A team called ``<!channel>``, people called ``<@U0ADMIN>``, ``*bold*``, ``~strike~`` and a disguised link, and a KPI
label with ``<!here>`` from kpis.yaml are rendered through every kind of message kpibot posts; no ``<!``, ``<#``,
link markup or foreign mention survives in any mrkdwn text, and the formatting characters cannot pair.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Any

import pytest

from bot import blocks
from bot.app import create_app, web_client
from bot.home import home_view
from bot.identity import Identities
from crm.interface import Reject, SyncReport
from digests.build import build_digest
from digests.celebrations import Crossing, message
from digests.config import DigestSpec
from digests.planning import audiences
from digests.render import render_digest
from digests.scheduler import sync_notice
from kpi.schema import Team
from kpi.service import Kpibot
from slackui.text import FENCE, escape
from tests.fakes import FakeSlack
from tests.test_slack_app import SECRET, press
from tests.waiting import wait_for

AS_OF = dt.date(2017, 6, 5)
HOSTILE = ["<@U0ADMIN>", "*bold*", "~strike~", "<https://evil.example|click me>"]
OUR_MENTIONS = {"U0MIA"}  # the only Slack ids the world gives: mentions kpibot means


@pytest.fixture
def config(tmp_path):
    (tmp_path / "org.yaml").write_text("timezone: UTC\n")
    (tmp_path / "kpis.yaml").write_text('revenue:\n  label: "Revenue <!here> _now_"\n')
    return tmp_path


@pytest.fixture
def kpibot(engine, world, config) -> Kpibot:
    team = world.team("<!channel>")
    manager = world.rep("Mia Manager", team=team, role="manager", email="mia@example.com")
    manager.slack_user_id = "U0MIA"
    world.manage(team, manager)
    for n, name in enumerate(HOSTILE):
        rep = world.rep(name, team=team, email=f"rep{n}@example.com")
        world.deal(rep, 1000 * (n + 1), "won", closed="2017-05-10")
    world.target("revenue", 2000, "2017-04-01", "2017-07-01", team=team)
    world.commit()
    return Kpibot(engine, config)


def mrkdwn_texts(payload: Any) -> list[str]:
    """Every string Slack reads as mrkdwn in a message, view or block list: the ``text`` fallback and mrkdwn objects."""
    found = []
    if isinstance(payload, dict):
        if payload.get("type") == "mrkdwn" or (
            "text" in payload and isinstance(payload["text"], str) and "type" not in payload
        ):
            found.append(payload["text"])
        for value in payload.values():
            if not isinstance(value, str):
                found += mrkdwn_texts(value)
    elif isinstance(payload, list):
        for item in payload:
            found += mrkdwn_texts(item)
    return found


def assert_inert(payload: Any) -> None:
    texts = mrkdwn_texts(payload)
    assert texts
    for text in texts:
        assert "<!" not in text and "<#" not in text and "<http" not in text, text
        assert set(re.findall(r"<@(\w+)>", text)) <= OUR_MENTIONS, text
        assert "*bold*" not in text and "~strike~" not in text and "_now_" not in text, text


def test_escape_makes_control_characters_entities_and_fences_formatting():
    assert escape("<!channel> & *bold*") == f"&lt;!channel&gt; &amp; {FENCE}*{FENCE}bold{FENCE}*{FENCE}"
    assert escape("`code` <@U1>", formatting=False) == "`code` &lt;@U1&gt;"


def test_an_answer_and_a_leaderboard_about_hostile_names_are_inert(kpibot):
    mia = kpibot.person("mia@example.com")
    answer = kpibot.ask("team revenue 2017-Q2", mia, AS_OF)
    board = kpibot.ask("leaderboard revenue 2017-Q2", mia, AS_OF)

    asked, ranked = kpibot.parse("team revenue 2017-Q2", AS_OF), kpibot.parse("leaderboard revenue 2017-Q2", AS_OF)
    assert_inert(blocks.answer_message(answer, asked, "team revenue 2017-Q2", "CRM synced just now"))
    assert_inert(blocks.leaderboard_message(board, ranked, "leaderboard revenue 2017-Q2", "CRM synced just now"))
    assert_inert(blocks.help_message(kpibot.kpi_list()))


def test_a_team_ranking_a_scorecard_and_a_gap_of_hostile_team_names_are_inert(kpibot, world):
    """Mia's team ``<!channel>`` gets a sub-team named like a ping and a link, so that her teams are ranked."""
    (parent,) = [team for team in world.session.query(Team) if team.name == "<!channel>"]
    below = world.team("<!here> <https://evil.example|click me>", parent=parent)
    world.deal(world.rep("*bold* too", team=below, email="below@example.com"), 500, "won", closed="2017-05-11")
    world.commit()
    kpibot.reload_directory()
    mia = kpibot.person("mia@example.com")
    fresh = "CRM synced just now"

    for question, view in [
        ("revenue by team 2017-Q2", blocks.leaderboard_message),
        ("how is my team doing 2017-Q2", blocks.scorecard_message),
        ("what does my team need to hit quota", blocks.gap_message),
    ]:
        query = kpibot.parse(question, AS_OF)
        assert_inert(view(kpibot.run(query, mia, AS_OF), query, question, fresh))


def test_the_app_home_of_a_manager_of_a_hostile_team_is_inert(kpibot):
    with FakeSlack() as slack:
        slack.add_user("U0MIA", email="mia@example.com", real_name="Mia Manager")
        view = home_view(kpibot, Identities(kpibot.engine, slack.client()), "U0MIA")

    assert_inert(view)


def test_share_in_channel_posts_a_hostile_leaderboard_without_pinging_anyone(kpibot):
    with FakeSlack() as slack:
        slack.add_user("U0MIA", email="mia@example.com", real_name="Mia Manager")
        slack.add_channel("C0X", "sales")
        app = create_app(kpibot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))
        question = json.dumps({"k": "leaderboard", "kpi": "revenue", "s": "me", "p": "2017-Q2", "q": "leaderboard"})

        press(app, slack, "U0MIA", {"action_id": "kpi_share", "value": question})
        posted = wait_for(lambda: slack.messages)

    assert posted[0]["channel"] == "C0X"
    assert_inert(posted[0])


def test_a_digest_of_a_hostile_team_is_inert(kpibot):
    spec = DigestSpec(name="weekly", cadence="weekly", kpis=["revenue", "deals-won"])
    audience = next(a for a in audiences(spec, kpibot) if a.name == "<!channel>")

    digest = build_digest(kpibot, spec, audience, None, AS_OF, now=dt.datetime(2017, 6, 5, 8))
    rendered = render_digest(digest, kpibot.config_dir, charts=False)

    for part in [rendered.parent, *rendered.replies]:
        assert_inert({"text": part.text, "blocks": part.blocks})


def test_a_celebration_of_a_hostile_team_is_inert(kpibot):
    mia = kpibot.person("mia@example.com")
    answer = kpibot.ask("team revenue 2017-Q2", mia, AS_OF)
    crossing = Crossing("k", answer.scope, answer.result, Decimal(2000), Decimal(5), 1.0, None)

    assert_inert(message(crossing, "USD"))


def test_a_sync_notice_quoting_hostile_rows_is_inert():
    report = SyncReport("csv", full=True, run_id=7, status="ok")
    reject = Reject("reps", "reps.csv line 3", "role: '<!channel> *bold*' is not one of rep, manager, admin")
    report.read["reps.csv"] = 10
    report.count_reject(reject)

    assert_inert({"text": sync_notice(report)})


def test_a_refusal_quoting_a_hostile_question_is_inert():
    assert_inert(
        blocks.problem_message("I can't find anyone called '<!channel> <https://evil.example|x>'", ["my revenue"])
    )
