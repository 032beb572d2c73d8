"""Digest charts: real PNGs at Slack's size with alt text, uploaded into the digest's thread."""

from __future__ import annotations

import datetime as dt
import struct
from decimal import Decimal

import pytest

from digests.build import build_digest
from digests.charts import _compact, charts_for, progress_chart, trend_chart
from digests.model import Progress, TrendPoint
from digests.render import render_digest
from digests.send import send_digest
from kpi.service import Kpibot
from tests.fakes import FakeSlack
from tests.test_digests import MONDAY, NOW, spec, team, west

PNG = b"\x89PNG\r\n\x1a\n"


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def row(name: str, attainment: str, status: str, expected: str | None = "6300") -> Progress:
    share = Decimal(attainment)
    return Progress(
        None,
        name,
        name,
        share * 9100,
        f"${share * 9100:,.2f}",
        Decimal(9100),
        "$9,100.00",
        share,
        f"{share * 100:.0f}%",
        None if expected is None else Decimal(expected),
        None if expected is None else f"${Decimal(expected):,.2f}",
        None,
        None,
        status,
        None,
    )


def test_a_progress_chart_is_a_1200_px_wide_png_with_alt_text_naming_every_rep():
    rows = [
        row("Alice Adams", "1.18", "ahead"),
        row("Bob Brown", "0.71", "on track"),
        row("Carol Chen", "0.64", "behind"),
    ]

    chart = progress_chart("West 1: Revenue target progress, 2017-Q2", rows, "progress.png")

    assert png_size(chart.png) == (1200, 700)
    assert chart.filename == "progress.png" and chart.title == "West 1: Revenue target progress, 2017-Q2"
    assert chart.alt_text == (
        "Bar chart. West 1: Revenue target progress, 2017-Q2. Alice Adams 118% of $9,100.00, ahead; "
        "Bob Brown 71% of $9,100.00, on track; Carol Chen 64% of $9,100.00, behind."
    )


def test_a_big_team_gets_a_taller_chart_and_alt_text_within_slacks_limit():
    rows = [row(f"Rep {i:02d}", "0.5", "behind") for i in range(80)]

    chart = progress_chart("Big Team", rows)

    width, height = png_size(chart.png)
    assert width == 1200 and height > 2000
    assert len(chart.alt_text) <= 1000 and chart.alt_text.endswith("…")


def test_a_trend_chart_is_1200_by_700_with_every_value_in_the_alt_text():
    points = [
        TrendPoint(
            f"week of 2017-05-{d:02d}",
            f"May {d}",
            dt.date(2017, 5, d),
            dt.date(2017, 5, d) + dt.timedelta(days=6),
            v,
            f,
        )
        for d, v, f in ((15, Decimal(0), "$0.00"), (22, Decimal(3000), "$3,000.00"), (29, None, "n/a"))
    ]

    chart = trend_chart("West 1: Revenue, last 3 weeks", points, "currency", "USD")

    assert png_size(chart.png) == (1200, 700)
    assert chart.alt_text == (
        "Column chart. West 1: Revenue, last 3 weeks. week of 2017-05-15: $0.00; week of 2017-05-22: $3,000.00; "
        "week of 2017-05-29: n/a."
    )


@pytest.fixture
def kpibot(engine, world, tmp_path) -> Kpibot:
    west(world)
    (tmp_path / "config").mkdir()
    return Kpibot(engine, tmp_path / "config")


def test_a_weekly_digest_draws_progress_and_trend_and_the_daily_none(kpibot):
    weekly = build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW)
    daily = build_digest(kpibot, spec("daily"), team(kpibot), None, MONDAY, now=NOW)
    quiet = build_digest(kpibot, spec(charts=False), team(kpibot), None, MONDAY, now=NOW)

    charts = charts_for(weekly)

    assert [c.filename for c in charts] == [
        "weekly-west-1-progress-2017-05-29.png",
        "weekly-west-1-trend-2017-05-29.png",
    ]
    assert charts[0].alt_text.startswith(
        "Bar chart. West 1: Revenue target progress, 2017-Q2 (to 2017-06-04). Alice Adams 118% of $9.1k, ahead;"
    )
    assert "week of 2017-05-29: $7,500.00." in charts[1].alt_text
    assert charts_for(daily) == []
    assert render_digest(quiet, kpibot.config_dir).charts == []


def test_charts_are_uploaded_into_the_digests_thread_with_alt_text(kpibot):
    rendered = render_digest(build_digest(kpibot, spec(), team(kpibot), None, MONDAY, now=NOW), kpibot.config_dir)

    with FakeSlack() as fake:
        fake.add_channel("C0SALES", "sales")
        sent = send_digest(fake.client(), rendered, "#sales")

        assert (sent.channel, sent.thread_ts) == ("C0SALES", [])
        assert len(sent.files) == 2
        for chart, file_id in zip(rendered.charts, sent.files, strict=True):
            uploaded = fake.files[file_id]
            assert (uploaded["thread_ts"], uploaded["channels"]) == (sent.ts, ["C0SALES"])
            assert (uploaded["title"], uploaded["alt_txt"], uploaded["name"]) == (
                chart.title,
                chart.alt_text,
                chart.filename,
            )
            assert fake.uploads[file_id] == chart.png and png_size(chart.png)[0] == 1200
        assert [m["ts"] for m in fake.history("C0SALES") if m.get("files")] != []
        assert not fake.internal_errors


@pytest.mark.parametrize(
    ("value", "fmt", "label"),
    [
        ("4437912.18", "currency", "$4.44M"),  # money reads as in leaderboards and scorecards: one rule
        ("12500", "currency", "$12.5k"),
        ("950", "currency", "$950"),
        ("0.615", "percent", "62%"),
        ("1204", "number", "1.2k"),
        ("42", "number", "42"),
        ("3.5", "days", "3.5"),
    ],
)
def test_a_charts_axis_labels_are_compact(value, fmt, label):
    assert _compact(Decimal(value), fmt, "USD") == label
