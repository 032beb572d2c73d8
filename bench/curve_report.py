"""The cost curves of every size measured, side by side: a Markdown table for bench/RESULTS.md (its own generated
block, so that a run at one size keeps the other size's figures) and a PNG chart beside it.

Each size's curve is the JSON benchmark 9 keeps (``curve_<size>.json`` beside the results file); sizes are shown
smallest first. The chart is drawn with matplotlib's Agg canvas directly, as digests/charts.py draws.
"""

from __future__ import annotations

from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, NullLocator, ScalarFormatter

from bench.common import ms, write_results
from bench.curve import BUDGET, CACHES, CLIENTS, P95_GOAL, ROLLUPS, Cell, Curve, deployed
from bench.mix import CURVE_KINDS

START, END = "<!-- bench:curve:start -->", "<!-- bench:curve:end -->"
CHART = "cost_curve.png"
SIZES = ("quick", "1x", "5x")
#: The columns of a size, in the table: the cache off (every ask computes), then each cache cold and warm.
STATES = (("off", "cold", "cache off"), *((c, s, f"{c} {s}") for c in CACHES if c != "off" for s in ("cold", "warm")))


def curves(folder: Path) -> list[Curve]:
    """The curves kept in ``folder``, smallest size first."""
    found = {path.stem.removeprefix("curve_"): path for path in folder.glob("curve_*.json")}
    return [Curve.load(found[size]) for size in SIZES if size in found]


def _cell(cell: Cell | None) -> str:
    return f"{ms(cell.p50)} / {ms(cell.p95)}" if cell else "-"


def markdown(measured: list[Curve], chart: str | None) -> str:
    """Per rollups setting, one table: a row per kind and number of clients, for each size its p50 / p95 with
    the cache off, and cold and warm with each cache; then the realistic mix's throughput."""
    lines = ["### 9. The cost curve, every size side by side (p50 / p95 ms)", ""]
    lines.append(
        "Measured: "
        + "; ".join(
            f"**{c.size}** ({c.reps:,} reps, {c.deals:,} deals, {c.backend}) on {c.measured}, {c.machine_load}"
            for c in measured
        )  # fmt: skip
        + "."
    )
    for rollups in ROLLUPS:
        if not any(cell.rollups == rollups for curve in measured for cell in curve.cells):
            continue
        states = [s for s in STATES if any(c.cache == s[0] for curve in measured for c in curve.cells)]
        head = ["kind", "clients", *(f"{curve.size} {label}" for curve in measured for _, _, label in states)]
        lines += ["", f"Rollups {rollups}:", "", "| " + " | ".join(head) + " |"]
        lines.append("|---|" + "---:|" * (len(head) - 1))
        for kind in CURVE_KINDS:
            for clients in CLIENTS:
                cells = [
                    _cell(c.cell(rollups, cache, state, clients, kind)) for c in measured for cache, state, _ in states
                ]
                lines.append(f"| {kind} | {clients} | " + " | ".join(cells) + " |")
    lines += ["", f"Answers later than the {BUDGET:g}-s budget (acknowledged \"working on it\", the answer following "
              "through the response_url), of all asked at 16 and at 64 clients:", ""]  # fmt: skip
    lines += ["| rollups | cache | state | " + " | ".join(f"{c.size} at 16 | {c.size} at 64" for c in measured) + " |"]
    lines.append("|---|---|---|" + "---:|" * (2 * len(measured)))
    for rollups in ROLLUPS:
        for cache, state, _ in STATES:
            counts = [_late(c, rollups, cache, state, n) for c in measured for n in (16, 64)]
            if any(counts):
                lines.append(f"| {rollups} | {cache} | {state} | " + " | ".join(counts) + " |")
    lines += ["", "Realistic mix (70% rep, 20% team and leaderboards, 10% organisation) at 16 clients, answers/s:", ""]
    lines += [
        "| rollups | cache | " + " | ".join(c.size for c in measured) + " |",
        "|---|---|" + "---:|" * len(measured),
    ]
    for rollups in ROLLUPS:
        for cache in CACHES:
            rates = [
                next((t for t in c.throughput if (t.rollups, t.cache) == (rollups, cache)), None) for c in measured
            ]
            if any(rates):
                cells = [f"{t.per_second:,.0f} ({t.late} late)" if t else "-" for t in rates]
                lines.append(f"| {rollups} | {cache} | " + " | ".join(cells) + " |")
    lines += ["", "Peak RSS of `kpibot serve` (master and 2 workers): "
              + ", ".join(f"{c.size} {c.peak_rss / 1024**2:,.0f} MiB" for c in measured) + "."]  # fmt: skip
    if chart:
        lines += ["", f"![p95 per kind against clients, every size]({chart})"]
    return "\n".join(lines) + "\n"


def _late(curve: Curve, rollups: str, cache: str, state: str, clients: int) -> str:
    cells = [c for c in curve.cells if (c.rollups, c.cache, c.state, c.clients) == (rollups, cache, state, clients)]
    return f"{sum(c.late for c in cells)} of {sum(c.asks for c in cells)}" if cells else ""


def draw(measured: list[Curve], path: Path) -> None:
    """p95 against clients, a panel per kind: a colour per size, solid cold, dashed warm, dotted cache off, for
    the configuration the figures are checked on; the 250-ms figure as a grey line."""
    figure = Figure(figsize=(15, 9), dpi=100)
    FigureCanvasAgg(figure)
    colours = {"quick": "#757575", "1x": "#1565c0", "5x": "#c62828"}
    panels = figure.subplots(2, 3, sharex=True, sharey=True).flatten()
    for panel, kind in zip(panels, CURVE_KINDS, strict=True):
        for curve in measured:
            rollups, cache = deployed(curve)
            for cache_of, state, style in ((cache, "cold", "-"), (cache, "warm", "--"), ("off", "cold", ":")):
                cells = [curve.cell(rollups, cache_of, state, clients, kind) for clients in CLIENTS]
                points = [(n, c.p95 * 1000) for n, c in zip(CLIENTS, cells, strict=True) if c and c.asks]
                if points:
                    label = f"{curve.size} {'cache off' if cache_of == 'off' else state}"
                    panel.plot(*zip(*points, strict=True), style, marker="o", color=colours[curve.size], label=label)
        panel.axhline(P95_GOAL * 1000, color="#9e9e9e", linewidth=1)
        panel.set_title(kind, fontsize=14)
        panel.set_xscale("log", base=2)
        panel.set_yscale("log")
        panel.xaxis.set_major_locator(FixedLocator(CLIENTS))
        panel.xaxis.set_minor_locator(NullLocator())
        panel.xaxis.set_major_formatter(ScalarFormatter())
        panel.grid(True, which="major", alpha=0.3)
    for panel in panels[3:]:
        panel.set_xlabel("concurrent clients")
    for panel in panels[::3]:
        panel.set_ylabel("p95 ms (log)")
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), frameon=False)
    figure.suptitle("kpibot /kpi end to end: p95 per kind (grey line: 250 ms)", fontsize=16)
    figure.tight_layout(rect=(0, 0.05, 1, 0.96))
    figure.savefig(path, format="png")


def write(results: Path) -> None:
    """Redraw the chart and the curve block of ``results`` from every curve kept beside it."""
    measured = curves(results.parent)
    if not measured:
        return
    draw(measured, results.with_name(CHART))
    write_results(results, markdown(measured, CHART), START, END)
