"""The Slack views of issue 14 end to end: signed requests through the real Bolt app, against the fake Slack.

The world, asked on Thursday 2017-06-15 in a US org whose scorecard is revenue, win rate and calls: this quarter to
date is 2017-04-01..2017-06-15, compared with 2017-Q1 through 2017-03-15; 11 working days of Q2 are left (06-16,
06-19..23, 06-26..30); Q2 has 64 working days, 53 of them gone (Memorial Day and Independence Day are holidays).

* West, managed by Morgan, with Ada (an admin) and the reps Alice and Bob; East, with Erin.
* Alice won 1,000 on 02-10, 2,000 on 04-10 and 1,000 on 06-01, lost 500 on 05-01, has 5,000 open closing 06-30;
  4 calls in Q2 (2 in Q1). Her Q2 revenue target is 6,400.
* Bob won 4,200 on 05-20 and lost four deals of 100 (05-22..25); his Q2 revenue target is 3,000.
* Erin won 999 on 05-21. West's own Q2 revenue target is 10,000; East's 2,000.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest

from bot.alerts import NONE_YET as NO_ALERTS
from bot.app import create_app, web_client
from bot.subscriptions import NONE_YET
from kpi.periods import Calendar
from kpi.service import Kpibot
from tests.fakes import FakeSlack
from tests.fakes.slack import validate_blocks
from tests.test_slack_app import SECRET, check_limits, dispatch, press, signed_dispatch
from tests.waiting import wait_for

AS_OF = dt.date(2017, 6, 15)
FRESHNESS = "CRM never synced (demo or local data)"
USERS = {"U0ALICE": "alice", "U0BOB": "bob", "U0MORGAN": "manager", "U0ADA": "admin"}


@pytest.fixture
def kpibot(engine, world, us_config, monkeypatch) -> Kpibot:
    (us_config / "org.yaml").write_text("timezone: UTC\ncountry: US\nscorecard: [revenue, win-rate, calls]\n")
    monkeypatch.setattr(Calendar, "today", lambda self: AS_OF)
    west, east = world.team("West"), world.team("East")
    world.manage(west, world.rep("Morgan Manager", team=west, role="manager", email="manager@example.com"))
    world.rep("Ada Admin", team=west, role="admin", email="admin@example.com")
    alice = world.rep("Alice Adams", team=west, email="alice@example.com")
    bob = world.rep("Bob Brown", team=west, email="bob@example.com")
    erin = world.rep("Erin Evans", team=east, email="erin@example.com")
    world.deal(alice, 1000, "won", closed="2017-02-10")
    world.deal(alice, 2000, "won", closed="2017-04-10")
    world.deal(alice, 1000, "won", closed="2017-06-01")
    world.deal(alice, 500, "lost", closed="2017-05-01")
    world.deal(alice, 5000, "open", closed="2017-06-30")
    world.deal(bob, 4200, "won", closed="2017-05-20")
    for day in ("2017-05-22", "2017-05-23", "2017-05-24", "2017-05-25"):
        world.deal(bob, 100, "lost", closed=day)
    world.deal(erin, 999, "won", closed="2017-05-21")
    for day in ("2017-02-01", "2017-03-01", "2017-04-03", "2017-04-04", "2017-05-02", "2017-06-14"):
        world.activity(alice, "call", day)
    world.target("revenue", 6400, "2017-04-01", "2017-07-01", rep=alice)
    world.target("revenue", 3000, "2017-04-01", "2017-07-01", rep=bob)
    world.target("revenue", 10000, "2017-04-01", "2017-07-01", team=west)
    world.target("revenue", 2000, "2017-04-01", "2017-07-01", team=east)
    world.commit()
    return Kpibot(engine, us_config)


@pytest.fixture
def slack():
    with FakeSlack() as fake:
        for user, name in USERS.items():
            fake.add_user(user, email=f"{name}@example.com", real_name=name)
        fake.add_channel("C0X", "sales")
        yield fake


@pytest.fixture
def app(kpibot, slack):
    return create_app(kpibot, token=slack.token, signing_secret=SECRET, client=web_client(slack.token, slack.url))


def ask(app, slack: FakeSlack, user: str, question: str) -> dict:
    """`/kpi question` as ``user``: the answer, checked against Slack's limits as Slack checks a message."""
    message = json.loads(dispatch(app, slack, user, question).body)
    check_limits(message)
    assert validate_blocks(message["blocks"], "/blocks", 50) == []
    return message


def shown(blocks: list[dict]) -> list[str]:
    """What a person reads, block by block: a header's or section's text (with its fields), a context's
    elements; a divider as "---" and actions as "[actions]"."""
    lines = []
    for block in blocks:
        if block["type"] in ("header", "section"):
            fields = [field["text"] for field in block.get("fields", [])]
            lines.append(" | ".join([block["text"]["text"], *fields]))
        elif block["type"] == "context":
            lines.append(" | ".join(element["text"] for element in block["elements"]))
        else:
            lines.append({"divider": "---", "actions": "[actions]"}[block["type"]])
    return lines


def test_how_am_i_doing_is_a_scorecard_of_one_row_per_kpi_with_target_pace_and_change(app, slack):
    message = ask(app, slack, "U0ALICE", "how am I doing")

    # Revenue 3,000 of 6,400: 47% attained (5 of 10 bar cells); 6,400 x 53/64 = 5,300 expected by now, and
    # 3,000 / 5,300 = 57% of it is below 75%: at risk; 1,000 in Q1 to 03-15: +200%. Win rate 2 won of 3
    # closed against 1 of 1: -33.3 points. Calls 4 against 2: +100%.
    assert shown(message["blocks"]) == [
        "Scorecard · Alice Adams · this quarter",
        "2017-04-01 to 2017-06-15",
        "*Revenue*  $3k · `▓▓▓▓▓░░░░░` 47% of $6.4k, *at risk* · :arrow_up_small: +200.0% on 2017-Q1 through "
        "2017-03-15\n"
        "*Win rate*  66.7% · :arrow_down_small: -33.3 pts on 2017-Q1 through 2017-03-15\n"
        "*Calls*  4 · :arrow_up_small: +100.0% on 2017-Q1 through 2017-03-15",
        FRESHNESS,
        "[actions]",
    ]
    share, menu = message["blocks"][-1]["elements"]
    assert json.loads(share["value"]) == {"k": "scorecard", "s": "me", "p": None, "q": "how am I doing"}
    assert json.loads(menu["options"][1]["value"]) == {"k": "scorecard", "s": "me", "p": "this month"}


def test_the_period_menu_of_a_scorecard_asks_the_same_scorecard_for_that_period(app, slack):
    menu = ask(app, slack, "U0ALICE", "how am I doing")["blocks"][-1]["elements"][1]
    last_month = next(option for option in menu["options"] if option["text"]["text"] == "Last month")

    press(app, slack, "U0ALICE", {**menu, "type": "static_select", "selected_option": last_month})
    (update,) = wait_for(lambda: slack.responses)

    # May: nothing won, 1 lost (0 of 1 closed), 1 call; 2,200 of the quarter's target (22 of its 64 working days):
    # missed. April: 2,000 won, 1 of 1 closed, 2 calls.
    assert update.params["replace_original"] is True
    assert shown(update.params["blocks"])[:3] == [
        "Scorecard · Alice Adams · last month",
        "2017-05-01 to 2017-05-31",
        "*Revenue*  $0 · `░░░░░░░░░░` 0% of $2.2k, *missed* · :arrow_down_small: -100.0% on April 2017\n"
        "*Win rate*  0.0% · :arrow_down_small: -100.0 pts on April 2017\n"
        "*Calls*  1 · :arrow_down_small: -50.0% on April 2017",
    ]


def test_what_do_i_need_to_hit_quota_shows_what_remains_per_working_day_in_deals_and_in_pipeline(app, slack):
    message = ask(app, slack, "U0ALICE", "what do I need to hit quota")

    # 6,400 - 3,000 = 3,400 to go over 11 working days: 309.09 a day. Over the trailing 12 months 4,000 was won in
    # 3 deals (1,333.33 each): 3,400 / 1,333.33 = 2.55, so 3 deals; 3 won of 4 closed (75%): 3,400 / 0.75 =
    # 4,533.33 of pipeline, against the 5,000 open.
    assert shown(message["blocks"]) == [
        "Revenue: $3,400.00 to go",
        "*Alice Adams* · this quarter (2017-04-01 to 2017-06-30)",
        "  | *Target*\n$6,400.00 | *So far*\n$3,000.00 | *To go*\n$3,400.00 | *Working days left*\n11"
        " | *Per working day*\n$309.09",
        "  | *Deals needed*\n3 at an average deal size of $1,333.33 (last 12 months)"
        " | *Pipeline needed*\n$4,533.33 at a win rate of 75.0% (last 12 months)\n*Open now* $5,000.00",
        f"_Sum of the amount of deals won with a close date in the period._ | {FRESHNESS}",
        "[actions]",
    ]


@pytest.mark.parametrize(
    ("user", "question", "expected"),
    [
        ("U0BOB", "what do I need to hit quota", ["Revenue: target reached :tada:", "$4,200.00 of $3,000.00."]),
        (
            "U0ALICE",
            "what do I need to hit quota last month",  # May's share of the quarter's target: 6,400 x 22/64
            ["Revenue: last month has ended", "$0.00 against a target of $2,200.00."],
        ),
        (
            "U0ALICE",
            "how far am I from my calls target",
            [
                "Calls: no target",
                "No calls target is set, so there is no gap to show; managers set the targets of the people and "
                "teams they manage and admins anyone's, with `/kpi targets` in Slack or `kpibot targets import`.",
            ],
        ),
    ],
    ids=["reached", "ended", "no-target"],
)
def test_a_gap_says_when_the_target_is_reached_the_period_has_ended_or_no_target_is_set(
    app, slack, user, question, expected
):
    lines = shown(ask(app, slack, user, question)["blocks"])

    assert [lines[0], lines[2]] == expected


def test_sharing_a_gap_posts_it_in_the_channel_attributed_to_the_asker(app, slack):
    share = ask(app, slack, "U0ALICE", "what do I need to hit quota")["blocks"][-1]["elements"][0]

    press(app, slack, "U0ALICE", {**share, "type": "button"})
    (posted,) = wait_for(lambda: slack.messages)

    assert posted["channel"] == "C0X"
    assert shown(posted["blocks"])[0] == "Revenue: $3,400.00 to go"
    assert shown(posted["blocks"])[-1] == (
        f"_Sum of the amount of deals won with a close date in the period._ | {FRESHNESS} | "
        "Asked by <@U0ALICE>: `/kpi what do I need to hit quota`"
    )


def test_revenue_by_team_as_an_admin_ranks_the_teams_by_name_and_tells_the_admin_their_teams_place(app, slack):
    message = ask(app, slack, "U0ADA", "revenue by team")

    # West: Alice's 3,000 and Bob's 4,200; East: Erin's 999.
    assert shown(message["blocks"])[:4] == [
        "Revenue team ranking",
        "*the whole organisation* · this quarter (2017-04-01 to 2017-06-15)",
        ":first_place_medal: West — *$7.2k*\n:second_place_medal: East — *$999*",
        "Your team, West, is #1 of 2.",
    ]


def test_a_leaderboard_by_percent_of_target_ranks_each_rep_on_their_own_target(app, slack):
    message = ask(app, slack, "U0ALICE", "leaderboard revenue % of target")

    # Bob: 4,200 of 3,000 (140%); Alice: 3,000 of 6,400 (47%).
    assert shown(message["blocks"])[:4] == [
        "Revenue leaderboard, by % of target",
        "*West* · this quarter (2017-04-01 to 2017-06-15)",
        ":first_place_medal: Bob Brown — *140% of $3k ($4.2k)*\n"
        ":second_place_medal: Alice Adams — *47% of $6.4k ($3k)*",
        "You're #2 of 2.",
    ]


def test_a_rate_leaderboard_shows_each_sample_and_marks_a_row_with_too_few_cases(app, slack):
    message = ask(app, slack, "U0BOB", "leaderboard win rate")

    # Bob: 1 won of 5 closed; Alice: 2 of 3, fewer than win rate's 5 cases, so after Bob however high.
    assert shown(message["blocks"])[2:4] == [
        ":first_place_medal: Bob Brown — *20.0% (5 closed)*\n"
        ":second_place_medal: Alice Adams — *66.7% (3 closed), fewer than 5 cases: not ranked among the others*",
        "You're #1 of 2.",
    ]


def test_a_bottom_board_cut_by_its_limit_shows_no_medal_and_the_askers_row_below_it(app, slack):
    message = ask(app, slack, "U0BOB", "bottom 1 by revenue")

    assert shown(message["blocks"])[:4] == [
        "Revenue leaderboard, from the bottom",
        "*West* · this quarter (2017-04-01 to 2017-06-15)",
        "1. Alice Adams — *$3k*\n…\n2. Bob Brown — *$4.2k*",
        "Bottom 1 of 2 ranked. | You're #2 of 2.",
    ]


def test_an_answer_names_the_comparison_asked_for_with_the_teams_value_and_median(app, slack):
    message = ask(app, slack, "U0ALICE", "my win rate vs the team")

    # West: 3 won of 8 closed (37.5%); its reps 66.7% and 20%: median 43.3%.
    assert shown(message["blocks"])[2] == (
        "  | *Detail*\n2 won of 3 closed"
        " | *vs 2017-Q1 through 2017-03-15*\n:arrow_down_small: -33.3 pts (worse), was 100.0%"
        " | *vs West*\n:arrow_up_small: +29.2 pts (better), team 37.5%\nmedian of its 2 reps 43.3%"
    )


def test_an_answer_against_a_year_ago_names_those_days(app, slack):
    message = ask(app, slack, "U0ALICE", "my revenue vs last year")

    assert shown(message["blocks"])[2] == (
        "  | *vs 2017-Q1 through 2017-03-15*\n:arrow_up_small: +200.0% (better), was $1,000.00"
        " | *vs the same days a year earlier (2016-04-01 to 2016-06-15)*\n$0.00 (new)"
    )


def open_home(app, slack: FakeSlack, user: str) -> list[str]:
    """The App Home as ``user`` opens it: what it shows."""
    event = {"type": "event_callback", "team_id": "T0", "event": {"type": "app_home_opened", "user": user}}
    signed_dispatch(app, json.dumps(event), content_type="application/json")
    (published,) = wait_for(lambda: slack.calls_to("views.publish"))
    return shown(published.params["view"]["blocks"])


#: The App Home's "Digests" and "Alerts" sections of someone with none (tests/test_subscriptions_slack.py has more).
NO_DIGESTS = ["---", "Digests", NONE_YET, "---", "Alerts", NO_ALERTS]


def test_a_reps_app_home_shows_her_numbers_this_month_and_quarter(app, slack):
    # June: 1,000 of the quarter's 6,400 x 22/64 = 2,200 (45%); 11 of June's 22 working days gone (the as-of day
    # counts), so 1,100 expected by now, of which 1,000 is 91%: behind. 1 won of 1 closed; 1 call.
    assert open_home(app, slack, "U0ALICE") == [
        "My numbers · Alice Adams",
        "*This month*\nRevenue: *$1,000.00*  `▓▓▓▓▓░░░░░` 45% of $2,200.00 · behind\nDeals won: *1*\n"
        "Win rate: *100.0%*\nCalls: *1*",
        "*This quarter*\nRevenue: *$3,000.00*  `▓▓▓▓▓░░░░░` 47% of $6,400.00 · at risk\nDeals won: *2*\n"
        "Win rate: *66.7%*\nCalls: *4*",
        f"Ask anything with `/kpi`, e.g. `/kpi my win-rate last quarter`. | {FRESHNESS}",
        *NO_DIGESTS,
    ]


def test_a_managers_app_home_shows_the_teams_numbers_against_its_target_and_its_reps_with_their_pace(app, slack):
    # West: 7,200 of its own 10,000 (72%), 8,281.25 expected by now (53/64): 87%, behind; Q1 to 03-15 was
    # Alice's 1,000: +620%. Win rate 3 won of 8 closed, against 1 of 1. Bob: 140% of 3,000, ahead.
    assert open_home(app, slack, "U0MORGAN") == [
        "My teams · Morgan Manager",
        "*West* · this quarter (2017-04-01 to 2017-06-15)",
        "*Revenue*  $7.2k · `▓▓▓▓▓▓▓░░░` 72% of $10k, *behind* · :arrow_up_small: +620.0% on 2017-Q1 through "
        "2017-03-15\n"
        "*Win rate*  37.5% · :arrow_down_small: -62.5 pts on 2017-Q1 through 2017-03-15\n"
        "*Calls*  4 · :arrow_up_small: +100.0% on 2017-Q1 through 2017-03-15",
        "---",
        "*Revenue leaderboard* · West · this quarter (2017-04-01 to 2017-06-15)",
        "1. Bob Brown — *$4.2k* · `▓▓▓▓▓▓▓▓▓▓` 140% of $3k, *ahead*\n"
        "2. Alice Adams — *$3k* · `▓▓▓▓▓░░░░░` 47% of $6.4k, *at risk*",
        f"Ask anything with `/kpi`, e.g. `/kpi how is my team doing`. | {FRESHNESS}",
        *NO_DIGESTS,
    ]


def test_an_admins_app_home_shows_the_organisation_and_its_teams_ranked_with_their_pace(app, slack):
    # The organisation has no target of its own: its reps' 6,400 + 3,000 = 9,400; 8,199 of it is 87%, and
    # 9,400 x 53/64 = 7,784.38 expected by now: 105%, on track. East: 999 of 2,000 expected 1,656.25 by now: at risk.
    assert open_home(app, slack, "U0ADA") == [
        "The organisation · Ada Admin",
        "*the whole organisation* · this quarter (2017-04-01 to 2017-06-15)",
        "*Revenue*  $8.2k · `▓▓▓▓▓▓▓▓▓░` 87% of $9.4k, *on track* · :arrow_up_small: +719.9% on 2017-Q1 through "
        "2017-03-15\n"
        "*Win rate*  44.4% · :arrow_down_small: -55.6 pts on 2017-Q1 through 2017-03-15\n"
        "*Calls*  4 · :arrow_up_small: +100.0% on 2017-Q1 through 2017-03-15",
        "---",
        "*Revenue team ranking* · the whole organisation · this quarter (2017-04-01 to 2017-06-15)",
        "1. West — *$7.2k* · `▓▓▓▓▓▓▓░░░` 72% of $10k, *behind*\n2. East — *$999* · `▓▓▓▓▓░░░░░` 50% of $2k, *at risk*",
        f"Ask anything with `/kpi`, e.g. `/kpi revenue by team`. | {FRESHNESS}",
        *NO_DIGESTS,
    ]


def test_a_period_menu_of_the_app_home_republishes_it_with_that_section_for_that_period(app, slack):
    open_home(app, slack, "U0MORGAN")
    (opened,) = slack.calls_to("views.publish")
    board = next(b for b in opened.params["view"]["blocks"] if b.get("block_id") == "home_board")["accessory"]
    last_month = next(option for option in board["options"] if option["text"]["text"] == "Last month")
    action = {"block_id": "home_board", **board, "selected_option": last_month}
    payload = {"type": "block_actions", "user": {"id": "U0MORGAN"}, "container": {"type": "view"}, "actions": [action]}

    signed_dispatch(app, "payload=" + json.dumps(payload))
    published = wait_for(lambda: slack.calls_to("views.publish")[1:])[0].params["view"]

    # May: Bob's 4,200 against May's 3,000 x 22/64 = 1,031.25; Alice's nothing against 2,200. The numbers stay
    # on this quarter, their menu showing it.
    lines = shown(published["blocks"])
    assert lines[1] == "*West* · this quarter (2017-04-01 to 2017-06-15)"
    assert lines[4:6] == [
        "*Revenue leaderboard* · West · last month (2017-05-01 to 2017-05-31)",
        "1. Bob Brown — *$4.2k* · `▓▓▓▓▓▓▓▓▓▓` 407% of $1.03k, *reached*\n"
        "2. Alice Adams — *$0* · `░░░░░░░░░░` 0% of $2.2k, *missed*",
    ]
    numbers_menu = published["blocks"][1]["accessory"]
    assert numbers_menu["initial_option"]["text"]["text"] == "This quarter"
    assert json.loads(last_month["value"]) == {"numbers": "this quarter", "board": "last month"}
