"""Digests: configuration, who gets what, exact content on small worlds, thread splitting, sending, the CLI.

The main world (:func:`west`) is dated around Monday 2017-06-05: "last week" is 2017-05-29..06-04, the week
before 2017-05-22..05-28, and 2017-Q2 to date runs 2017-04-01..06-04: 45 of the quarter's 65 working days
(kpi.pacing). Every rep of West 1 with a target has $9,100 for Q2, so $6,300 is expected by 06-04; the pace
thresholds are org.yaml's defaults (ahead from 110% of expected, on track from 95%, behind from 75%).
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from bot.commands_digests import digest_app
from digests.build import Numbers, build_digest
from digests.config import DigestSpec, load_digests
from digests.planning import Audience, DigestError, Recipient, audiences, delivery_from_key, plan
from digests.render import render_digest
from digests.send import PartialDigest, send_digest
from kpi.config import ConfigError
from kpi.schema import SyncRun
from kpi.service import Kpibot
from tests.conftest import cli_env
from tests.fakes import FakeSlack
from tests.world import World

ROOT = Path(__file__).parents[1]
MONDAY = dt.date(2017, 6, 5)
NOW = dt.datetime(2017, 6, 5, 8, 0)


def west(world: World) -> dict:
    """West 1 (Morgan manages Alice, Bob, Carol, Dan), East 1 (Erin manages Dave), Solo (no manager)."""
    w = world
    west_team, east_team, solo = w.team("West 1"), w.team("East 1"), w.team("Solo")
    morgan = w.rep("Morgan Manager", team=west_team, role="manager")
    erin = w.rep("Erin East", team=east_team, role="manager")
    w.manage(west_team, morgan)
    w.manage(east_team, erin)
    alice = w.rep("Alice Adams", team=west_team)
    bob = w.rep("Bob Brown", team=west_team)
    carol = w.rep("Carol Chen", team=west_team)
    dan = w.rep("Dan Diaz", team=west_team)
    dave = w.rep("Dave Dunn", team=east_team)
    w.rep("Zed Solo", team=solo)
    for person, slack_id in ((morgan, "U0MORGAN"), (erin, "U0ERIN"), (alice, "U0ALICE"), (carol, "U0CAROL")):
        person.slack_user_id = slack_id
    dave.slack_user_id = "U0DAVE"
    # Alice: ahead at every week's end since 04-20; two wins last week (first and last minute) and a loss.
    w.deal(alice, 6250, "won", closed="2017-04-20")
    w.deal(alice, 3000, "won", closed="2017-05-29 09:00")
    w.deal(alice, 1500, "won", closed="2017-06-04 23:59")
    w.deal(alice, 800, "lost", closed="2017-05-31")
    # Bob: on track on 06-04 (103% of expected), ahead on 05-28 (116%), behind on 05-21 (92%).
    w.deal(bob, 4500, "won", closed="2017-05-02")
    w.deal(bob, 2000, "won", closed="2017-05-24")
    # Carol: behind (93%); a big deal on Monday 06-05 00:00 is this week's, not last week's nor to date.
    w.deal(carol, 2350, "won", closed="2017-04-05")
    w.deal(carol, 1000, "won", closed="2017-05-22 00:00")
    w.deal(carol, 2500, "won", closed="2017-06-02")
    w.deal(carol, 10000, "won", closed="2017-06-05 00:00")
    # Dan: no target.
    w.deal(dan, 500, "won", closed="2017-06-01")
    w.deal(dave, 7000, "won", closed="2017-05-30")
    w.activity(alice, "call", "2017-05-30 10:00")
    w.activity(alice, "call", "2017-05-30 11:00")
    w.activity(bob, "call", "2017-06-04 23:30")
    w.activity(bob, "call", "2017-06-05 00:30")
    w.activity(carol, "call", "2017-05-28 12:00")
    for rep in (alice, bob, carol):
        w.target("revenue", 9100, "2017-04-01", "2017-07-01", rep=rep)
    w.target("revenue", 30000, "2017-06-01", "2017-07-01", team=west_team)
    w.commit()
    return {"west": west_team, "east": east_team, "alice": alice, "bob": bob, "carol": carol, "dan": dan}


@pytest.fixture
def config_dir(tmp_path) -> Path:
    """An empty config folder: org defaults (UTC, January fiscal year), the standard catalog, default digests."""
    folder = tmp_path / "config"
    folder.mkdir()
    return folder


@pytest.fixture
def kpibot(engine, world, config_dir) -> Kpibot:
    west(world)
    return Kpibot(engine, config_dir)


def spec(name: str = "weekly", **settings) -> DigestSpec:
    settings.setdefault("cadence", name)
    return DigestSpec(name=name, **settings)


def team(kpibot: Kpibot, name: str = "West 1") -> Audience:
    return next(a for a in audiences(spec(), kpibot) if a.name == name)


def rep_recipient(kpibot: Kpibot, name: str) -> Recipient:
    person = kpibot.person(name)
    return Recipient("rep", person.slack_user_id or "", person)


# ------------------------------------------------------------------------------------------------------
# Configuration


def test_without_digests_yaml_the_daily_weekly_and_monthly_defaults_apply(config_dir):
    config = load_digests(config_dir)

    assert [(s.name, s.kind, s.cron) for s in config.digests] == [
        ("daily", "daily", "30 8 * * *"),
        ("weekly", "weekly", "0 8 * * mon"),
        ("monthly", "monthly", "0 8 1 * *"),
    ]
    daily, weekly, monthly = config.digests
    assert (daily.audience, daily.recipients, daily.template_name) == ("each team", ["manager"], "daily.json.j2")
    assert weekly.kpi_keys == ["revenue", "deals-won", "win-rate", "calls", "meetings", "demos"]
    assert (daily.skip_empty, weekly.skip_empty, monthly.skip_empty) == (True, False, False)
    assert config.stale_after_hours == 26 and {s.stale_after_hours for s in config.digests} == {26}


def test_the_shipped_digests_yaml_documents_exactly_the_defaults(config_dir):
    assert load_digests(ROOT / "config") == load_digests(config_dir)


def test_a_cron_digest_fires_in_its_own_time_zone():
    digest = spec("floor", cadence="0 9 * * mon-fri", content="daily", timezone="America/New_York")

    fire = digest.trigger("UTC").get_next_fire_time(None, dt.datetime(2017, 6, 3, tzinfo=dt.UTC))

    assert (digest.kind, digest.cron) == ("daily", "0 9 * * mon-fri")
    assert fire.isoformat() == "2017-06-05T09:00:00-04:00"


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        ({"cadence": "fortnightly"}, ["key 'digests.0.cadence' has value 'fortnightly'", "daily, weekly, monthly"]),
        ({"cadence": "0 25 * * *", "content": "daily"}, ["key 'digests.0.cadence'", "not a valid cron expression"]),
        ({"cadence": "weekly", "day": "funday"}, ["key 'digests.0.day' has value 'funday'", "monday, tuesday"]),
        ({"cadence": "monthly", "day": 31}, ["key 'digests.0.day' has value 31", "from 1 to 28"]),
        ({"cadence": "daily", "time": "25:00"}, ["key 'digests.0.time' has value '25:00'", "HH:MM"]),
        ({"cadence": "0 8 * * *"}, ["key 'digests.0.content' has value None", "content: weekly"]),
        ({"cadence": "daily", "recipients": ["sales"]}, ["key 'digests.0.recipients'", "'#sales'"]),
        ({"cadence": "daily", "audience": "org"}, ["key 'digests.0.recipients'", "'org' has no manager"]),
        ({"cadence": "daily", "kpis": ["revnue"]}, ["key 'digests.0.kpis.0' has value 'revnue'", "revenue"]),
        ({"cadence": "daily", "template": "fancy"}, ["key 'digests.0.template' has value 'fancy'", "daily, monthly"]),
        ({"cadence": "daily", "colour": "red"}, ["unknown key 'digests.0.colour'"]),
    ],
)
def test_a_wrong_digest_names_the_file_the_key_the_value_and_what_is_allowed(engine, config_dir, entry, expected):
    path = config_dir / "digests.yaml"
    path.write_text(yaml.safe_dump({"digests": [{"name": "mine", **entry}]}))

    with pytest.raises(ConfigError) as error:
        load_digests(config_dir, Kpibot(engine, config_dir).catalog)

    assert str(path) in str(error.value)
    for fragment in expected:
        assert fragment in str(error.value)


def test_kpi_names_are_normalised_to_keys_and_digest_names_must_be_unique(engine, config_dir):
    catalog = Kpibot(engine, config_dir).catalog
    (config_dir / "digests.yaml").write_text("digests:\n  - {name: a, cadence: daily, kpis: [Win Rate, AOV]}\n")
    assert load_digests(config_dir, catalog).digests[0].kpi_keys == ["win-rate", "avg-deal-size"]

    (config_dir / "digests.yaml").write_text(
        "digests:\n  - {name: a, cadence: daily}\n  - {name: a, cadence: weekly}\n"
    )
    with pytest.raises(ConfigError, match="two digests are called 'a'"):
        load_digests(config_dir)


# ------------------------------------------------------------------------------------------------------
# Who gets what


def test_plan_one_delivery_per_team_with_a_manager_and_recipient_with_an_idempotency_key(kpibot, caplog):
    weekly = spec(recipients=["manager", "#sales", "reps"])

    deliveries = plan([weekly], kpibot, MONDAY)

    west_id, east_id = team(kpibot).team_id, team(kpibot, "East 1").team_id
    week = "2017-05-29..2017-06-04"
    assert [d.key for d in deliveries] == [
        f"digest:weekly:team:{east_id}:user:U0ERIN:{week}",
        f"digest:weekly:team:{east_id}:channel:#sales:{week}",
        f"digest:weekly:team:{east_id}:user:U0DAVE:{week}",
        f"digest:weekly:team:{west_id}:user:U0MORGAN:{week}",
        f"digest:weekly:team:{west_id}:channel:#sales:{week}",
        f"digest:weekly:team:{west_id}:user:U0ALICE:{week}",
        f"digest:weekly:team:{west_id}:user:U0CAROL:{week}",
    ]
    assert [d.recipient.personal for d in deliveries] == [False, False, True, False, False, True, True]
    assert "rep Bob Brown has no Slack user id" in caplog.text  # left out, and said so
    # A catch-up run on Tuesday reports the same week: same keys, so nothing is posted twice.
    assert [d.key for d in plan([weekly], kpibot, MONDAY + dt.timedelta(days=1))] == [d.key for d in deliveries]
    cron = spec("floor", cadence="0 9 * * mon-fri", content="daily", audience="org", recipients=["C0SALES"])
    assert [d.key for d in plan([cron], kpibot, MONDAY)] == ["digest:floor:org:channel:C0SALES:2017-06-05"]


def test_a_delivery_key_names_its_digest_so_that_a_post_left_pending_can_be_rebuilt(kpibot):
    weekly = spec(recipients=["manager", "#sales", "reps"])
    cron = spec("floor", cadence="0 9 * * mon-fri", content="daily", audience="org", recipients=["C0SALES", "reps"])
    specs = [weekly, spec("daily"), spec("monthly"), cron]
    runs = ((weekly, MONDAY), (specs[1], MONDAY), (specs[2], dt.date(2017, 7, 1)), (cron, MONDAY))

    for digest_spec, as_of in runs:
        for delivery in plan([digest_spec], kpibot, as_of):
            assert delivery_from_key(delivery.key, specs, kpibot) == (delivery, as_of)
    assert delivery_from_key("digest:gone:org:channel:C1:2017-06-05", specs, kpibot) is None
    assert delivery_from_key("digest:weekly:team:999999:user:U0X:2017-05-29..2017-06-04", specs, kpibot) is None


def test_a_catch_up_run_later_in_the_week_posts_exactly_the_mondays_digest(kpibot):
    monday = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)
    wednesday = build_digest(kpibot, spec(), team(kpibot), None, MONDAY + dt.timedelta(days=2), now=NOW)

    first, late = (render_digest(d, kpibot.config_dir, charts=False) for d in (monday, wednesday))

    assert late.parent == first.parent and late.replies == first.replies
    assert wednesday.progress_period.dates == "2017-04-01 to 2017-06-04"


def test_a_rep_gets_one_dm_from_their_own_teams_digest_not_one_per_team_above(engine, world, config_dir):
    region = world.team("West")
    west_1, west_2 = world.team("West 1", parent=region), world.team("West 2", parent=region)
    for name, squad in (("Rhea Region", region), ("Morgan Manager", west_1)):  # West 2 has no manager
        lead = world.rep(name, team=squad, role="manager")
        world.manage(squad, lead)
    for name, squad in (("Alice Adams", west_1), ("Wes Two", west_2), ("Reggie Region", region)):
        world.rep(name, team=squad).slack_user_id = f"U0{name.split()[0].upper()}"
    world.commit()
    kpibot = Kpibot(engine, config_dir)

    deliveries = plan([spec(recipients=["reps"])], kpibot, MONDAY)

    assert sorted((d.audience.name, d.recipient.channel) for d in deliveries) == [
        ("West", "U0REGGIE"),
        ("West", "U0WES"),  # West 2 has no manager: the region's digest is Wes's
        ("West 1", "U0ALICE"),
    ]
    org = spec("all", cadence="weekly", audience="org", recipients=["reps"])
    assert sorted(d.recipient.channel for d in plan([org], kpibot, MONDAY)) == ["U0ALICE", "U0REGGIE", "U0WES"]


def test_an_unknown_audience_is_a_clear_error(kpibot):
    with pytest.raises(DigestError, match="audience 'Atlantis': no team has that name. Teams: East 1, Solo, West 1"):
        plan([spec(audience="Atlantis")], kpibot, MONDAY)


# ------------------------------------------------------------------------------------------------------
# Content, exactly


def test_weekly_digest_for_a_team_on_monday_2017_06_05(kpibot):
    digest = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)

    assert digest.title == "Weekly digest: West 1"
    assert (digest.period.label, digest.period.dates) == ("week of 2017-05-29", "2017-05-29 to 2017-06-04")
    assert digest.previous.dates == "2017-05-22 to 2017-05-28"
    assert [(f.key, f.value, f.formatted, f.previous_formatted, f.change_text, f.better) for f in digest.figures] == [
        ("revenue", Decimal("7500.00"), "$7,500.00", "$3,000.00", "+150.0%", True),
        ("deals-won", Decimal(4), "4", "2", "+100.0%", True),
        ("win-rate", Decimal("0.8"), "80.0%", "100.0%", "-20.0 pts", False),
        ("calls", Decimal(3), "3", "1", "+200.0%", True),
        ("meetings", Decimal(0), "0", "0", "no change", None),
        ("demos", Decimal(0), "0", "0", "no change", None),
    ]
    assert digest.figures[2].parts == "4 won of 5 closed"
    assert digest.leaderboard_label == "Revenue"
    assert [(r.rank, r.name, r.mention, r.formatted) for r in digest.leaders] == [
        (1, "Alice Adams", "<@U0ALICE>", "$4.5k"),
        (2, "Carol Chen", "<@U0CAROL>", "$2.5k"),
        (3, "Dan Diaz", "Dan Diaz", "$500"),
    ]
    mover = digest.mover
    assert (mover.name, mover.formatted, mover.previous_formatted, mover.change_text) == (
        "Alice Adams",
        "$4.5k",
        "$0",
        "new",
    )
    period = digest.progress_period
    assert (period.label, period.start, period.last, period.to_date) == (
        "2017-Q2",
        dt.date(2017, 4, 1),
        dt.date(2017, 6, 4),
        True,
    )
    whole = digest.team_progress
    assert (whole.name, whole.formatted, whole.target_formatted, whole.attainment_text, whole.status) == (
        "West 1",
        "$23.6k",
        "$27.3k",
        "86%",
        "ahead",
    )
    assert (whole.expected_formatted, whole.projection_formatted) == ("$18.9k", "$34.1k")
    rows = [(p.name, p.mention, p.formatted, p.attainment_text, p.status, p.streak) for p in digest.progress]
    assert rows == [
        ("Alice Adams", "<@U0ALICE>", "$10.8k", "118%", "ahead", 7),
        ("Bob Brown", "Bob Brown", "$6.5k", "71%", "on track", 2),
        ("Carol Chen", "<@U0CAROL>", "$5.85k", "64%", "behind", 0),
    ]
    assert {p.expected_formatted for p in digest.progress} == {"$6.3k"}
    assert [p.projection_formatted for p in digest.progress] == ["$15.5k", "$9.39k", "$8.45k"]
    assert digest.without_target == ["Dan Diaz"]
    assert [(p.name, p.streak) for p in digest.streaks] == [("Alice Adams", 7), ("Bob Brown", 2)]
    assert [(p.name, p.catch_up) for p in digest.behind] == [("Carol Chen", "$450")]
    # What it takes (the gap rule): ($9,100 - $5,850) / 20 working days (06-05..06-30) = $162.50 a day.
    assert [p.takes for p in digest.behind] == ["$163 per working day for the 20 working days left"]
    assert [(t.short, t.value) for t in digest.trend] == [
        ("Apr 10", Decimal(0)),
        ("Apr 17", Decimal("6250.00")),
        ("Apr 24", Decimal(0)),
        ("May 1", Decimal("4500.00")),
        ("May 8", Decimal(0)),
        ("May 15", Decimal(0)),
        ("May 22", Decimal("3000.00")),
        ("May 29", Decimal("7500.00")),
    ]
    assert digest.freshness == "CRM never synced (demo or local data)" and digest.stale_warning is None
    assert not digest.empty and not digest.skip


def test_the_org_weekly_digest_ranks_its_top_level_teams_and_a_team_without_sub_teams_ranks_none(kpibot):
    org = build_digest(kpibot, spec(), Audience("org", "Acme"), None, MONDAY, now=NOW)
    west = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)

    # Revenue 05-29..06-04: West 1 = Alice 4,500 + Carol 2,500 + Dan 500; East 1 = Dave 7,000; Solo none.
    assert [(t.rank, t.name, t.formatted) for t in org.teams] == [
        (1, "West 1", "$7.5k"),
        (2, "East 1", "$7k"),
        (3, "Solo", "$0"),
    ]
    assert west.teams == []


def test_a_reps_weekly_dm_carries_their_own_numbers_rank_and_progress(kpibot):
    digest = build_digest(kpibot, spec(), team(kpibot), rep_recipient(kpibot, "Alice Adams"), MONDAY, now=NOW)

    assert digest.title == "Your weekly digest, Alice" and digest.personal
    assert [(f.key, f.formatted, f.change_text) for f in digest.figures] == [
        ("revenue", "$4,500.00", "new"),
        ("deals-won", "2", "new"),
        ("win-rate", "66.7%", "no deals closed in 2017-05-22 to 2017-05-28"),  # the previous week's reason
        ("calls", "2", "new"),
        ("meetings", "0", "no change"),
        ("demos", "0", "no change"),
    ]
    assert (digest.rank.rank, digest.ranked) == (1, 4)
    me = digest.me
    assert (me.formatted, me.target_formatted, me.attainment_text, me.status, me.streak) == (
        "$10.8k",
        "$9.1k",
        "118%",
        "ahead",
        7,
    )
    assert [r.name for r in digest.leaders] == ["Alice Adams", "Carol Chen", "Dan Diaz"]
    assert digest.progress == [] and digest.mover is None  # other reps' progress stays with the manager
    carol = build_digest(kpibot, spec(), team(kpibot), rep_recipient(kpibot, "Carol Chen"), MONDAY, now=NOW)
    assert (carol.me.status, carol.me.catch_up, carol.rank.rank) == ("behind", "$450", 2)


def test_a_reps_weekly_dm_carries_its_trend_as_a_line_of_text_and_no_chart_and_the_teams_keeps_both_charts(kpibot):
    alices = build_digest(kpibot, spec(), team(kpibot), rep_recipient(kpibot, "Alice Adams"), MONDAY, now=NOW)
    teams = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)

    personal, whole = (render_digest(d, kpibot.config_dir) for d in (alices, teams))

    # Alice's revenue by week: $6,250 in the week of 04-17, $3,000 + $1,500 in the week of 05-29, $0 in the others.
    # The sparkline runs from $0 (the lowest block) to $6,250 (the highest, 7 steps up): $4,500 is 4,500 / 6,250 * 7
    # = 5.04 steps up, the sixth block.
    trend = (
        "*Your Revenue, last 8 weeks*\n`▁█▁▁▁▁▁▆` $0 → $4.5k\n"
        "Apr 10 $0 · Apr 17 $6.25k · Apr 24 $0 · May 1 $0 · May 8 $0 · May 15 $0 · May 22 $0 · May 29 $4.5k"
    )
    assert {"type": "section", "text": {"type": "mrkdwn", "text": trend}} in personal.parent.blocks
    assert personal.charts == []  # no upload at Slack's Tier 4 for a personal digest
    assert [c.filename for c in whole.charts] == [
        "weekly-west-1-progress-2017-05-29.png",
        "weekly-west-1-trend-2017-05-29.png",
    ]
    weeks = "`Apr 10` $0.00\n`Apr 17` $6,250.00\n`Apr 24` $0.00\n`May 1` $4,500.00\n`May 8` $0.00\n`May 15` $0.00"
    listed = f"*Revenue, last 8 weeks*\n{weeks}\n`May 22` $3,000.00\n`May 29` $7,500.00"  # beside the chart
    assert {"type": "section", "text": {"type": "mrkdwn", "text": listed}} in whole.parent.blocks


def test_a_managers_copy_of_a_reps_monthly_digest_names_the_rep_in_the_trend_line_and_has_no_chart(kpibot):
    alice, morgan = kpibot.person("Alice Adams"), kpibot.person("Morgan Manager")
    copy = Recipient("rep", "U0MORGAN", alice, morgan)

    rendered = render_digest(
        build_digest(kpibot, spec("monthly"), team(kpibot), copy, MONDAY, now=NOW), kpibot.config_dir
    )

    # Alice's revenue by month, December to May: $6,250 in April, $3,000 in May (the $1,500 of 06-04 is June's).
    # $3,000 is 3,000 / 6,250 * 7 = 3.36 steps up from $0: the fourth block.
    trend = (
        "*Alice Adams's Revenue, last 6 months*\n`▁▁▁▁█▄` $0 → $3k\n"
        "Dec 2016 $0 · Jan 2017 $0 · Feb 2017 $0 · Mar 2017 $0 · Apr 2017 $6.25k · May 2017 $3k"
    )
    assert {"type": "section", "text": {"type": "mrkdwn", "text": trend}} in rendered.parent.blocks
    assert rendered.charts == []


def test_one_leaderboard_per_kpi_and_period_serves_the_whole_team(kpibot):
    numbers, weekly, west_1 = Numbers(kpibot), spec(), team(kpibot)

    build_digest(kpibot, weekly, west_1, rep_recipient(kpibot, "Alice Adams"), MONDAY, numbers=numbers, now=NOW)
    after_alice = list(numbers.asked)
    build_digest(kpibot, weekly, west_1, rep_recipient(kpibot, "Carol Chen"), MONDAY, numbers=numbers, now=NOW)

    assert len(after_alice) == len(set(after_alice))  # each question once per as-of day
    assert all(q.startswith("leaderboard team West 1 ") and who == "kpibot digests" for q, who, _ in after_alice)
    weeks = {q for q, _, _ in after_alice if "2017-Q2" not in q}
    assert len(weeks) == 6 * 2 + 6  # each KPI last week and the week before; 6 trend weeks
    # Progress and streaks: the quarter's leaderboard with paces as of the week's end, then a week back at a
    # time while anyone is still on pace (Alice's streak of 7 ends on the 8th).
    progress = [day for q, _, day in after_alice if q == "leaderboard team West 1 revenue 2017-Q2"]
    assert progress == [dt.date(2017, 6, 4) - dt.timedelta(weeks=k) for k in range(8)]
    # Carol's DM asked nothing new: her numbers and pace are on the team's leaderboards.
    assert numbers.asked[len(after_alice) :] == []

    team_numbers = Numbers(kpibot)
    build_digest(kpibot, weekly, west_1, None, MONDAY, numbers=team_numbers, now=NOW)
    assert not any(q.startswith("my ") for q, _, _ in team_numbers.asked)  # no question per rep
    assert ("leaderboard team West 1 revenue 2017-Q2", "kpibot digests", dt.date(2017, 6, 4)) in team_numbers.asked


def test_daily_digest_yesterdays_activity_wins_and_month_to_date_pace(kpibot):
    digest = build_digest(kpibot, spec("daily"), team(kpibot), None, MONDAY, now=NOW)

    assert (digest.period.label, digest.previous.label) == ("Sunday 2017-06-04", "Saturday 2017-06-03")
    assert [(f.key, f.formatted, f.change_text) for f in digest.figures] == [
        ("calls", "1", "new"),
        ("meetings", "0", "no change"),
        ("demos", "0", "no change"),
        ("emails", "0", "no change"),
        ("deals-won", "1", "new"),
        ("revenue", "$1,500.00", "new"),
    ]
    assert [(w.name, w.mention, w.deals_formatted, w.revenue_formatted) for w in digest.wins] == [
        ("Alice Adams", "<@U0ALICE>", "1", "$1.5k")
    ]
    pace = digest.team_progress
    assert (digest.progress_period.label, digest.progress_period.dates) == ("June 2017", "2017-06-01 to 2017-06-04")
    assert (pace.formatted, pace.target_formatted, pace.attainment_text, pace.status) == (
        "$4.5k",
        "$30k",
        "15%",
        "ahead",
    )
    assert (pace.expected_formatted, pace.projection_formatted) == ("$2.73k", "$49.5k")  # 2 of 22 days
    assert digest.progress == [] and digest.leaders == [] and digest.trend == []
    alices = build_digest(kpibot, spec("daily"), team(kpibot), rep_recipient(kpibot, "Alice Adams"), MONDAY, now=NOW)
    assert [w.name for w in alices.wins] == ["Alice Adams"]
    bobs = build_digest(kpibot, spec("daily", recipients=["reps"]), team(kpibot), None, MONDAY, now=NOW)
    assert bobs.figures[0].formatted == "1"


def test_a_quiet_day_is_skipped_but_a_quiet_week_is_not(kpibot):
    saturday = build_digest(kpibot, spec("daily"), team(kpibot), None, dt.date(2017, 6, 11), now=NOW)
    assert saturday.empty and saturday.skip

    quiet = build_digest(kpibot, spec(), team(kpibot, "East 1"), None, dt.date(2017, 7, 3), now=NOW)
    assert quiet.empty and not quiet.skip
    assert build_digest(kpibot, spec(skip_when_empty=True), team(kpibot, "East 1"), None, dt.date(2017, 7, 3)).skip


def test_freshness_is_stated_and_a_stale_sync_opens_with_a_warning(kpibot, session):
    session.add(
        SyncRun(
            source="csv", started_at=dt.datetime(2017, 6, 5, 5, 58), finished_at=dt.datetime(2017, 6, 5, 6), status="ok"
        )
    )
    session.add(
        SyncRun(
            source="csv",
            started_at=dt.datetime(2017, 6, 6, 8),
            finished_at=dt.datetime(2017, 6, 6, 8, 1),
            status="failed",
        )
    )
    session.commit()

    fresh = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)
    stale = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=dt.datetime(2017, 6, 6, 9))
    patient = build_digest(
        kpibot, spec(stale_after_hours=48), team(kpibot), None, MONDAY, now=dt.datetime(2017, 6, 6, 9)
    )

    assert (fresh.freshness, fresh.stale_warning) == ("CRM synced 2 h ago (2017-06-05 06:00 UTC)", None)
    assert stale.freshness == (
        "CRM synced 27 h ago (2017-06-05 06:00 UTC) · the last sync failed (see `kpibot sync status`)"
    )
    assert stale.stale_warning == (
        "Numbers may be out of date: the last successful CRM sync was 27 h ago (2017-06-05 06:00 UTC), "
        "longer ago than the 26 hours expected. Recent deals and activities may be missing."
    )
    assert patient.stale_warning is None
    blocks = render_digest(stale, kpibot.config_dir, charts=False).parent.blocks
    assert blocks[0]["type"] == "header" and blocks[1]["text"]["text"].startswith(
        ":warning: Numbers may be out of date"
    )


def test_month_end_in_the_org_time_zone(engine, world, config_dir):
    (config_dir / "org.yaml").write_text("timezone: America/New_York\n")
    east = world.team("East 1")
    erin = world.rep("Erin East", team=east, role="manager")
    world.manage(east, erin)
    ann, ben = world.rep("Ann Avery", team=east), world.rep("Ben Bell", team=east)
    ann.slack_user_id = "U0ANN"
    world.deal(ann, 1000, "won", closed="2017-07-01 03:00")  # 23:00 on June 30 in New York
    world.deal(ann, 2000, "won", closed="2017-07-01 04:30")  # 00:30 on July 1
    world.deal(ben, 500, "won", closed="2017-06-01 03:59")  # 23:59 on May 31
    world.deal(ben, 700, "won", closed="2017-06-01 04:00")  # midnight, June 1
    world.target("revenue", 1000, "2017-06-01", "2017-07-01", rep=ann)
    world.target("revenue", 1400, "2017-06-01", "2017-07-01", rep=ben)
    world.commit()
    kpibot = Kpibot(engine, config_dir)
    audience = team(kpibot, "East 1")

    monthly = build_digest(kpibot, spec("monthly"), audience, None, dt.date(2017, 7, 1), now=NOW)
    daily = build_digest(kpibot, spec("daily"), audience, None, dt.date(2017, 7, 1), now=NOW)

    assert (monthly.period.label, monthly.period.dates, monthly.previous.label) == (
        "June 2017",
        "2017-06-01 to 2017-06-30",
        "May 2017",
    )
    assert [(f.key, f.formatted, f.change_text) for f in monthly.figures[:2]] == [
        ("revenue", "$1,700.00", "+240.0%"),
        ("deals-won", "2", "+100.0%"),
    ]
    assert [(r.name, r.formatted) for r in monthly.leaders] == [("Ann Avery", "$1k"), ("Ben Bell", "$700")]
    assert [(p.name, p.attainment_text, p.status) for p in monthly.progress] == [
        ("Ann Avery", "100%", "reached"),
        ("Ben Bell", "50%", "missed"),
    ]
    assert (monthly.team_progress.attainment_text, monthly.team_progress.status) == ("71%", "missed")
    assert not monthly.progress_period.to_date
    assert [(t.short, t.formatted) for t in monthly.trend] == [
        ("Jan 2017", "$0.00"),
        ("Feb 2017", "$0.00"),
        ("Mar 2017", "$0.00"),
        ("Apr 2017", "$0.00"),
        ("May 2017", "$500.00"),
        ("Jun 2017", "$1,700.00"),
    ]
    assert daily.period.label == "Friday 2017-06-30"
    assert [(w.name, w.revenue_formatted) for w in daily.wins] == [("Ann Avery", "$1k")]
    assert (daily.progress_period.label, daily.progress_period.to_date, daily.team_progress.status) == (
        "June 2017",
        False,
        "missed",
    )


def test_a_fiscal_quarter_boundary_reports_the_quarter_that_just_ended(engine, world, config_dir):
    (config_dir / "org.yaml").write_text("fiscal_year_start_month: 4\n")
    west_team = world.team("West 1")
    morgan = world.rep("Morgan Manager", team=west_team, role="manager")
    world.manage(west_team, morgan)
    alice, bob = world.rep("Alice Adams", team=west_team), world.rep("Bob Brown", team=west_team)
    world.deal(alice, 9000, "won", closed="2017-06-30 23:59")  # last minute of fiscal 2018-Q1
    world.deal(alice, 1000, "won", closed="2017-07-01 00:00")  # first minute of 2018-Q2
    world.deal(bob, 3000, "won", closed="2017-05-15")
    world.target("revenue", 9000, "2017-04-01", "2017-07-01", rep=alice)
    world.target("revenue", 6000, "2017-04-01", "2017-07-01", rep=bob)
    world.commit()
    kpibot = Kpibot(engine, config_dir)

    boundary = build_digest(kpibot, spec(), team(kpibot), None, dt.date(2017, 7, 3), now=NOW)
    after = build_digest(kpibot, spec(), team(kpibot), None, dt.date(2017, 7, 10), now=NOW)

    assert (boundary.period.dates, boundary.figures[0].formatted) == ("2017-06-26 to 2017-07-02", "$10,000.00")
    period = boundary.progress_period
    assert (period.label, period.dates, period.to_date) == ("2018-Q1", "2017-04-01 to 2017-06-30", False)
    assert [(p.name, p.formatted, p.attainment_text, p.status, p.streak) for p in boundary.progress] == [
        ("Alice Adams", "$9k", "100%", "reached", 1),
        ("Bob Brown", "$3k", "50%", "missed", 0),
    ]
    assert (boundary.team_progress.attainment_text, boundary.team_progress.status) == ("80%", "missed")
    assert boundary.behind == []  # a finished quarter is reached or missed, nobody is "behind pace"
    assert (after.progress_period.label, after.progress_period.dates) == ("2018-Q2", "2017-07-01 to 2017-07-09")
    assert after.team_progress is None and after.progress == []  # no 2018-Q2 targets


def test_team_names_that_read_like_a_period_or_a_scope_word_work_and_twin_names_each_get_their_own(
    engine, world, config_dir
):
    for number, name in enumerate(("Q2", "Team", "Org", "Twins", "Twins"), start=1):
        squad = world.team(name)
        lead = world.rep(f"{name} Lead {number}", team=squad, role="manager")
        world.manage(squad, lead)
        world.deal(world.rep(f"{name} Rep {number}", team=squad), 100 * number, "won", closed="2017-05-30")
    world.commit()
    kpibot = Kpibot(engine, config_dir)

    for name, amount in (("Q2", "100"), ("Team", "200"), ("Org", "300")):
        digest = build_digest(kpibot, spec(), team(kpibot, name), None, MONDAY, now=NOW)
        assert (digest.figures[0].formatted, digest.leaders[0].formatted) == (f"${amount}.00", f"${amount}")
    twins = [a for a in audiences(spec(), kpibot) if a.name == "Twins"]  # digests ask by team, not by name
    built = [build_digest(kpibot, spec(), twin, None, MONDAY, now=NOW) for twin in twins]
    assert [digest.figures[0].formatted for digest in built] == ["$400.00", "$500.00"]


# ------------------------------------------------------------------------------------------------------
# A big team: a parent message and its thread


@pytest.fixture
def big_team(engine, world, config_dir) -> Kpibot:
    squad = world.team("Big Team")
    boss = world.rep("Boss Person", team=squad, role="manager")
    world.manage(squad, boss)
    boss.slack_user_id = "U0BOSS"
    for i in range(1, 81):
        rep = world.rep(f"Rep {i:02d}", team=squad)
        rep.slack_user_id = f"U0REP{i:02d}"
        world.target("revenue", 9100, "2017-04-01", "2017-07-01", rep=rep)
        if i % 16 == 0:
            world.deal(rep, 1000 * i, "won", closed="2017-05-30")
    world.commit()
    return Kpibot(engine, config_dir)


def test_a_team_of_80_reps_splits_into_a_parent_and_thread_replies_within_slacks_limits(big_team):
    digest = build_digest(big_team, spec(), team(big_team, "Big Team"), None, MONDAY, now=NOW)
    rendered = render_digest(digest, big_team.config_dir)

    assert len(digest.progress) == 80
    assert len(rendered.replies) >= 1
    assert all(len(m.blocks) <= 50 for m in rendered.messages)
    assert all(m.text for m in rendered.messages)
    parent = json.dumps(rendered.parent.blocks)
    assert "Weekly digest: Big Team" in parent and "Continued in the thread" in parent
    everything = json.dumps([m.blocks for m in rendered.messages])
    for i in range(1, 81):
        assert everything.count(f"<@U0REP{i:02d}> `") == 1  # each rep's progress line, once
    with FakeSlack() as fake:
        fake.add_user("U0BOSS", real_name="Boss Person")
        sent = send_digest(fake.client(), rendered, "U0BOSS")
        posts = fake.messages
        assert sent.channel == fake.im_for("U0BOSS") and len(sent.thread_ts) == len(rendered.replies)
        assert [p["thread_ts"] for p in posts] == [None] + [sent.ts] * len(rendered.replies)
        assert [p["blocks"] for p in posts] == [m.blocks for m in rendered.messages]
        assert [f["thread_ts"] for f in fake.files.values()] == [sent.ts] * len(rendered.charts)
        assert not fake.warnings and not fake.internal_errors


def test_send_digest_reports_what_was_posted_when_a_later_step_fails(kpibot):
    rendered = render_digest(build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW), kpibot.config_dir)
    with FakeSlack() as fake:
        fake.add_channel("C0SALES", "sales")
        fake.error("files.getUploadURLExternal", "not_allowed_token_type")

        with pytest.raises(PartialDigest) as error:
            send_digest(fake.client(), rendered, "#sales")

        assert error.value.sent.channel == "C0SALES" and error.value.sent.ts == fake.messages[0]["ts"]
        assert "chart upload failed: not_allowed_token_type" in str(error.value)


# ------------------------------------------------------------------------------------------------------
# The command line


def test_cli_preview_prints_the_blocks_and_a_block_kit_builder_link(kpibot, engine, config_dir):
    runner = CliRunner()
    env = cli_env(engine, config_dir)

    as_json = runner.invoke(
        digest_app, ["preview", "weekly", "--team", "West 1", "--as-of", "2017-06-05", "--json"], env=env
    )
    human = runner.invoke(digest_app, ["preview", "weekly", "--team", "west 1", "--as-of", "2017-06-05"], env=env)
    rep = runner.invoke(
        digest_app,
        ["preview", "weekly", "--rep", "alice.adams@example.com", "--as-of", "2017-06-05", "--json"],
        env=env,
    )

    assert as_json.exit_code == 0, as_json.output
    preview = json.loads(as_json.stdout)["previews"][0]
    assert (preview["audience"], preview["period"], preview["skip"]) == ("West 1", "2017-05-29 to 2017-06-04", False)
    message = preview["messages"][0]
    assert message["blocks"][0]["text"]["text"] == "Weekly digest: West 1"
    assert message["block_kit_builder"].startswith("https://app.slack.com/block-kit-builder/#%7B%22blocks%22%3A%5B")
    assert human.exit_code == 0 and "Block Kit Builder: https://app.slack.com/block-kit-builder/#" in human.stdout
    assert json.loads(rep.stdout)["previews"][0]["messages"][0]["blocks"][0]["text"]["text"] == (
        "Your weekly digest, Alice"
    )


def test_cli_preview_explains_an_unknown_digest_or_team(kpibot, engine, config_dir):
    runner = CliRunner()
    env = cli_env(engine, config_dir)

    unknown = runner.invoke(digest_app, ["preview", "hourly"], env=env)
    no_team = runner.invoke(digest_app, ["preview", "weekly", "--team", "Atlantis"], env=env)

    assert (
        unknown.exit_code == 2
        and "no digest called 'hourly'. Configured digests: daily, weekly, monthly" in unknown.output
    )
    assert no_team.exit_code == 2 and "Its audiences: East 1, West 1" in no_team.output


def test_cli_send_posts_the_digest_to_the_managers_dm_with_charts_in_the_thread(kpibot, engine, config_dir):
    with FakeSlack() as fake:
        fake.add_user("U0MORGAN", real_name="Morgan Manager")
        env = cli_env(engine, config_dir, SLACK_BOT_TOKEN=fake.token, SLACK_API_URL=fake.url)

        result = CliRunner().invoke(
            digest_app, ["send", "weekly", "--team", "West 1", "--as-of", "2017-06-05"], env=env
        )

        assert result.exit_code == 0, result.output
        assert "West 1 → user:U0MORGAN: sent to" in result.stdout and "2 charts" in result.stdout
        parent = fake.messages[0]
        assert parent["channel"] == fake.im_for("U0MORGAN") and parent["text"].startswith("Weekly digest: West 1")
        assert {f["thread_ts"] for f in fake.files.values()} == {parent["ts"]}
