"""Charts for digests: PNGs sized for Slack (1200 px wide, big type), each with alt text.

Drawn with matplotlib's Agg canvas directly (no pyplot, so no global figure state and no display needed),
from the numbers a :class:`~digests.model.Digest` already holds.
"""

from __future__ import annotations

import io
from decimal import Decimal

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from digests.model import Chart, Digest, Progress, TrendPoint
from kpi.formats import compact_money, compact_number
from slackui.limits import MAX_ALT_TEXT
from slackui.text import clip

WIDTH, HEIGHT, DPI = 12.0, 7.0, 100  # 1200 x 700 px
TITLE, LABEL, TICK = 24, 18, 16
MAX_BARS = 60
COLOURS = {
    "ahead": "#2e7d32",
    "on track": "#1565c0",
    "reached": "#2e7d32",
    "behind": "#ef6c00",
    "at risk": "#c62828",
    "missed": "#757575",
}
NEUTRAL = "#546e7a"


def charts_for(digest: Digest) -> list[Chart]:
    """Target progress per rep (team digests) and the trend, when there is something to draw and the digest does
    not carry its trend as text (a personal digest, :attr:`Digest.trend_as_text`: no upload at Slack's Tier 4)."""
    charts = []
    if digest.progress and digest.progress_period:
        title = f"{_scope(digest)}: {digest.target_label} target progress, {digest.progress_period.label}"
        note = f"to {digest.progress_period.last}" if digest.progress_period.to_date else "final"
        charts.append(progress_chart(f"{title} ({note})", digest.progress, _slug(digest, "progress")))
    points = [point for point in digest.trend if point.value is not None]
    if len(points) >= 2 and not digest.trend_as_text:
        unit = "weeks" if digest.kind == "weekly" else "months"
        title = f"{_scope(digest)}: {digest.trend_label}, last {len(digest.trend)} {unit}"
        charts.append(trend_chart(title, digest.trend, digest.trend_format, digest.currency, _slug(digest, "trend")))
    return charts


def progress_chart(title: str, rows: list[Progress], filename: str = "progress.png") -> Chart:
    """Horizontal bars of attainment per rep, coloured by status, with the 100% line and the pace marks.

    Taller with more reps (a row keeps a readable height); margins are computed, not laid out, so that a
    team of 80 draws in well under a second. Past MAX_BARS reps (a region, the organisation) it shows the
    first and last MAX_BARS / 2 of ``rows`` (which come best first): 2,000 bars made a 68,000-pixel image
    nobody can read in Slack, and took 15 seconds to draw (a region's 200, two).
    """
    if len(rows) > MAX_BARS:
        half = MAX_BARS // 2
        title = f"{title}, top and bottom {half} of {len(rows)}"
        rows = rows[:half] + rows[-half:]
    row = 0.5 if len(rows) <= 20 else 0.34
    height = max(HEIGHT, 1.8 + row * len(rows))
    figure = Figure(figsize=(WIDTH, height), dpi=DPI)
    longest = max((len(r.name) for r in rows), default=4)
    figure.subplots_adjust(
        left=min(0.45, (0.4 + 0.14 * longest) / WIDTH), right=0.97, top=1 - 0.8 / height, bottom=0.9 / height
    )
    axes = figure.add_subplot()
    ordered = rows[::-1]  # barh draws bottom-up: the first row on top
    positions = list(range(len(ordered)))
    shares = [float(r.attainment or 0) * 100 for r in ordered]
    bars = axes.barh(positions, shares, color=[COLOURS.get(r.status, NEUTRAL) for r in ordered], height=0.6)
    axes.set_yticks(positions, [r.name for r in ordered])
    top = max([100.0, *shares]) * 1.3
    for bar, item in zip(bars, ordered, strict=True):
        x = max(bar.get_width(), 100.0) + top * 0.01  # short bars: labels in a column right of the 100% line
        y = bar.get_y() + bar.get_height() / 2
        axes.text(x, y, f"{item.attainment_text} · {item.status}", va="center", fontsize=TICK)
    marks = [(float(r.expected / r.target) * 100, p) for r, p in zip(ordered, positions, strict=True) if r.expected]
    if marks:
        size = (row * 72 * 0.7) ** 2  # a mark as tall as 70% of a row, in points squared
        axes.scatter([x for x, _ in marks], [y for _, y in marks], marker="|", s=size, linewidths=3, color="black")
    axes.axvline(100, color="#424242", linestyle="--", linewidth=2)
    axes.set_xlim(0, top)
    axes.set_ylim(-0.6, len(ordered) - 0.4)
    axes.set_xlabel("% of target" + (" (black mark: expected by now)" if marks else ""), fontsize=LABEL)
    axes.tick_params(labelsize=TICK)
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:.0f}%"))
    _title(figure, title, height)
    axes.spines[["top", "right"]].set_visible(False)
    lines = [f"{r.name} {r.attainment_text} of {r.target_formatted}, {r.status}" for r in rows]
    alt = f"Bar chart. {title}. " + "; ".join(lines) + "."
    return Chart(filename, title, clip(alt, MAX_ALT_TEXT), _png(figure))


def trend_chart(
    title: str, points: list[TrendPoint], fmt: str, currency: str = "USD", filename: str = "trend.png"
) -> Chart:
    """Columns per period with their values written on top."""
    figure = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
    # Margins set, not laid out: the constrained layout measured every text twice, a fifth of the drawing.
    figure.subplots_adjust(left=0.09, right=0.98, top=0.9, bottom=0.08)
    axes = figure.add_subplot()
    labels = [point.short for point in points]
    values = [float(point.value) if point.value is not None else 0.0 for point in points]
    bars = axes.bar(labels, values, color="#1565c0", width=0.6)
    bars[-1].set_color("#2e7d32")  # the reported period
    for bar, point in zip(bars, points, strict=True):
        axes.annotate(
            _compact(point.value, fmt, currency),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            xytext=(0, 6),
            textcoords="offset points",
            ha="center",
            fontsize=TICK,
        )
    axes.set_ylim(0, max([*values, 1.0]) * 1.2)
    axes.yaxis.set_major_formatter(FuncFormatter(lambda value, _: _compact(Decimal(str(value)), fmt, currency)))
    axes.tick_params(labelsize=TICK)
    axes.set_title(title, fontsize=min(TITLE, TITLE * 56 / max(len(title), 1)), loc="left")
    axes.spines[["top", "right"]].set_visible(False)
    alt = f"Column chart. {title}. " + "; ".join(f"{p.label}: {p.formatted}" for p in points) + "."
    return Chart(filename, title, clip(alt, MAX_ALT_TEXT), _png(figure))


def _title(figure: Figure, title: str, height: float) -> None:
    """The title from the figure's left edge, smaller when long, so that it never runs off the image."""
    size = min(TITLE, TITLE * 56 / max(len(title), 1))
    figure.suptitle(title, x=0.01, y=1 - 0.15 / height, ha="left", va="top", fontsize=size)


def _compact(value: Decimal | None, fmt: str, currency: str) -> str:
    """Short axis labels: $12.5k, $1.2M, 61%, 42."""
    if value is None:
        return "n/a"
    if fmt == "percent":
        return f"{value * 100:.0f}%"
    if fmt == "currency":
        return compact_money(value, currency)
    return compact_number(value) if abs(value) >= 1000 or value == value.to_integral_value() else f"{value:.1f}"


def _png(figure: Figure) -> bytes:
    """The figure as PNG, compressed lightly: zlib's default level was a quarter of a chart's time, for 20%
    smaller files (about 50 kB, uploaded once)."""
    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer, pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def _scope(digest: Digest) -> str:
    return digest.person.name if digest.person else digest.audience.name


def _slug(digest: Digest, what: str) -> str:
    who = _scope(digest).lower()
    safe = "".join(c if c.isalnum() else "-" for c in who).strip("-") or "digest"
    return f"{digest.name}-{safe}-{what}-{digest.period.start}.png"
