"""Digest templates: the shipped ones within Slack's limits, overrides from the config folder, broken templates
reported with file and line without stopping other digests, and the fitting of long output to Slack's limits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digests.build import build_digest
from digests.planning import Recipient
from digests.render import DigestTemplateError, render_digest
from kpi.service import Kpibot
from slackui.fitting import CONTINUED, fit, paginate
from slackui.text import sparkline
from tests.fakes.slack import validate_blocks
from tests.test_digests import MONDAY, NOW, spec, team, west


@pytest.fixture
def config_dir(tmp_path) -> Path:
    folder = tmp_path / "config"
    (folder / "templates").mkdir(parents=True)
    return folder


@pytest.fixture
def kpibot(engine, world, config_dir) -> Kpibot:
    west(world)
    return Kpibot(engine, config_dir)


def override(config_dir: Path, name: str, text: str) -> Path:
    path = config_dir / "templates" / name
    path.write_text(text)
    return path


@pytest.mark.parametrize("kind", ["daily", "weekly", "monthly"])
@pytest.mark.parametrize("who", ["team", "rep", "quiet"])
def test_every_shipped_template_renders_valid_block_kit_with_a_text_fallback(kpibot, kind, who):
    recipient = None
    if who == "rep":
        alice = kpibot.person("Alice Adams")
        recipient = Recipient("rep", "U0ALICE", alice)
    as_of = MONDAY if who != "quiet" else MONDAY.replace(year=2016)
    digest = build_digest(kpibot, spec(kind), team(kpibot), recipient, as_of, now=NOW)

    rendered = render_digest(digest, kpibot.config_dir, charts=False)

    for message in rendered.messages:
        assert message.text.strip()
        assert validate_blocks(message.blocks, "/blocks", 50) == []
    parent = json.dumps(rendered.parent.blocks)
    assert rendered.parent.blocks[0]["text"]["text"] == digest.title
    assert rendered.template.endswith(f"digests/templates/{kind}.json.j2")
    if who == "rep":
        assert "Your" in parent and "Carol Chen" not in parent.replace("<@U0CAROL>", "")  # no one else's progress
    if who == "team" and kind == "weekly":
        for text in ("<@U0ALICE> `", ":rocket: *Biggest mover:* <@U0ALICE>", "On a roll", "Room to catch up"):
            assert text in parent
        assert (
            "<@U0CAROL> is at 64% of $9.1k: $450 more puts them back on pace ($6.3k expected by now); "
            "to reach the target: $163 per working day for the 20 working days left."
        ) in parent


def test_a_template_in_the_config_folder_replaces_the_shipped_one(kpibot, config_dir):
    override(
        config_dir,
        "weekly.json.j2",
        '{% import "_macros.json.j2" as m %}\n'
        '{"text": "Custom", "blocks": [{{ m.section("Custom for " ~ digest.audience.name ~ ": "'
        " ~ digest.figures[0].formatted) }}]}\n",
    )
    weekly = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)
    daily = build_digest(kpibot, spec("daily"), team(kpibot), None, MONDAY, now=NOW)

    custom = render_digest(weekly, config_dir, charts=False)
    shipped = render_digest(daily, config_dir, charts=False)

    assert custom.template == str((config_dir / "templates" / "weekly.json.j2").resolve())
    assert custom.parent.text == "Custom"
    assert custom.parent.blocks == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Custom for West 1: $7,500.00"}}
    ]
    assert shipped.template.endswith("digests/templates/daily.json.j2")


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ('{\n  "blocks": [\n    {{ digest.title | }}\n  ]\n}\n', 3, "template syntax error: expected token 'name'"),
        ('{\n  "text": "x",\n  "blocks": [\n    {{ digest.nonsense }}\n  ]\n}\n', 4, "has no attribute 'nonsense'"),
        (
            '{\n  "blocks": [\n    {"type": "divider"}\n    {"type": "divider"}\n  ]\n}\n',
            4,
            "the template's output is not valid JSON: Expecting ',' delimiter (output line 4, column 5",
        ),
        (
            '{% import "_macros.json.j2" as m %}\n{\n  "blocks": [\n    {{ m.header(digest.title) }},\n  ]\n}\n',
            5,
            "not valid JSON: Expecting value (output line 4, column 3: ']')",
        ),
    ],
)
def test_a_broken_template_names_its_file_and_line_and_other_digests_still_render(kpibot, config_dir, text, line, says):
    path = override(config_dir, "weekly.json.j2", text)
    weekly = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)
    daily = build_digest(kpibot, spec("daily"), team(kpibot), None, MONDAY, now=NOW)

    with pytest.raises(DigestTemplateError) as error:
        render_digest(weekly, config_dir, charts=False)

    assert str(error.value).startswith(f"{path.resolve()}, line {line}: ")
    assert says in str(error.value)
    assert (error.value.path, error.value.line) == (str(path.resolve()), line)
    assert render_digest(daily, config_dir, charts=False).parent.blocks[0]["type"] == "header"


def test_a_template_must_print_block_kit(kpibot, config_dir):
    weekly = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)

    override(config_dir, "weekly.json.j2", '{"text": "no blocks"}')
    with pytest.raises(DigestTemplateError, match="must print a JSON object with a 'blocks' list"):
        render_digest(weekly, config_dir, charts=False)
    override(config_dir, "weekly.json.j2", '{"blocks": [{"text": "no type"}]}')
    with pytest.raises(DigestTemplateError, match="block 0 is not a Block Kit block"):
        render_digest(weekly, config_dir, charts=False)


def test_a_custom_template_name_is_found_in_the_config_folder(kpibot, config_dir):
    override(config_dir, "team-week.json.j2", '{"blocks": [{"type": "divider"}]}')

    digest = build_digest(kpibot, spec(template="team-week"), team(kpibot), None, MONDAY, now=NOW)

    assert render_digest(digest, config_dir, charts=False).parent.blocks == [{"type": "divider"}]
    digest.template = "nowhere.json.j2"
    with pytest.raises(DigestTemplateError, match="There is no template nowhere.json.j2"):
        render_digest(digest, config_dir, charts=False)


def test_names_are_escaped_for_mrkdwn_and_mentions_are_not(engine, world, config_dir):
    squad = world.team("R&D <West>")
    boss = world.rep("Boss", team=squad, role="manager")
    world.manage(squad, boss)
    odd = world.rep("Tom & <Jerry>", team=squad)
    world.deal(odd, 100, "won", closed="2017-05-30")
    world.commit()
    kpibot = Kpibot(engine, config_dir)

    digest = build_digest(kpibot, spec(), team(kpibot, "R&D <West>"), None, MONDAY, now=NOW)
    blocks = render_digest(digest, config_dir, charts=False).parent.blocks

    assert digest.leaders[0].mention == "Tom &amp; &lt;Jerry&gt;"
    assert blocks[0]["text"]["text"] == "Weekly digest: R&D <West>"  # a header is plain text
    assert "Tom &amp; &lt;Jerry&gt; · *$100*" in json.dumps(blocks, ensure_ascii=False)


# ------------------------------------------------------------------------------------------------------
# Slack's limits


def section(text: str) -> dict:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_long_sections_are_cut_at_line_ends_headers_clipped_and_fields_ten_at_a_time():
    lines = [f"line {i:04d} " + "x" * 90 for i in range(70)]  # 70 lines of 100 characters
    fields = [{"type": "mrkdwn", "text": f"field {i}"} for i in range(23)]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "H" * 200}},
        {**section("\n".join(lines)), "block_id": "long", "accessory": {"type": "button"}},
        {"type": "section", "fields": fields},
        section("   "),
    ]

    fitted = fit(blocks)

    assert len(fitted[0]["text"]["text"]) == 150 and fitted[0]["text"]["text"].endswith("…")
    long = [b for b in fitted if "text" in b and b["text"]["text"].startswith("line")]
    assert [len(b["text"]["text"].splitlines()) for b in long] == [29, 29, 12]
    assert "\n".join(b["text"]["text"] for b in long) == "\n".join(lines)  # nothing lost, nothing cut mid-line
    assert (long[0].get("block_id"), "accessory" in long[0], "block_id" in long[1]) == ("long", True, False)
    assert [len(b["fields"]) for b in fitted if "fields" in b] == [10, 10, 3]
    assert len(fitted) == 1 + 3 + 3  # the blank section is dropped
    assert validate_blocks(fitted, "/blocks", 50) == []


def test_a_long_digest_becomes_a_parent_and_replies_cut_before_a_header_when_one_is_near():
    blocks = [section(f"row {i}") for i in range(120)]
    blocks[40] = {"type": "header", "text": {"type": "plain_text", "text": "Part two"}}

    pages = paginate(blocks)

    assert [len(page) for page in pages] == [41, 50, 30]
    assert pages[0][-1] == CONTINUED and pages[1][0]["type"] == "header"
    assert [b for page in pages for b in page if b is not CONTINUED] == blocks
    assert paginate(blocks[:50]) == [blocks[:50]]


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ([0, 5, 9, 3], "▁▅█▃"),  # 0..9 in 7 steps: 5 is 3.9 steps up, 3 is 2.3
        ([4, 4, 4], "▁▁▁"),  # flat: the lowest block, the numbers beside it say the level
        ([0.40, None, 0.47], "▁ █"),  # a period without a value is a gap
        ([-2, 0, 5], "▁▃█"),  # -2..5: 0 is 2 steps up
        ([], ""),
    ],
)
def test_a_sparkline_runs_from_the_lowest_value_to_the_highest_in_eight_heights(values, line):
    assert sparkline(values) == line
