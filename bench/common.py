"""What every benchmark shares: the run's settings, timing statistics, peak memory, and the report.

A benchmark returns :class:`Section` objects (a title, a table, notes); :class:`Report` prints them as aligned
tables with rich and renders them as Markdown for bench/RESULTS.md, so figures are printed and written the
same way.
"""

from __future__ import annotations

import math
import platform
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
CONFIG_DIR = ROOT / "config"
PG_SERVER = "postgresql://postgres@127.0.0.1:5432"
MIB = 1024 * 1024


#: The companies a full run can measure: issue 6's (2,000 reps, about 1M deals) and issue 17's, five times larger
#: (10,000 reps in 1,000 teams under 20 regions, about 5M deals), each in a database of its own so both are kept.
SIZES: dict[str, tuple[int, int | None, str]] = {  # size -> reps, regions (None: the demo's one per 200 reps), db
    "1x": (2000, None, "kpibot_bench"),
    "5x": (10_000, 20, "kpibot_bench_5x"),
}


@dataclass(frozen=True)
class Settings:
    """The sizes of one run: the issue's company (full, at ``size``) or a laptop-sized one (``--quick``)."""

    quick: bool
    database_url: str
    reps: int
    months: int
    seed: int = 7
    repeats: int = 3  # timed passes over the question mix per concurrency level
    concurrency: tuple[int, ...] = (1, 4, 16)
    floor_repeats: int = 5
    csv_deals: int | None = None  # None: every deal of the data set
    hubspot_deals: int = 100_000
    workers: int = 2  # gunicorn worker processes for `kpibot serve`
    mix_asks: int = 600  # the cost curve's realistic mix at 16 clients
    regions: int | None = None  # None: the demo's own (one region per 200 reps)
    size: str = "quick"

    @classmethod
    def for_run(cls, quick: bool, database_url: str | None, reps: int | None = None, size: str = "1x") -> Settings:
        if quick:
            url = database_url or f"{PG_SERVER}/kpibot_bench_quick"
            return cls(True, url, reps or 100, 24, repeats=1, floor_repeats=3, hubspot_deals=5_000, mix_asks=30)
        default_reps, regions, database = SIZES[size]
        url = database_url or f"{PG_SERVER}/{database}"
        return cls(False, url, reps or default_reps, 24, regions=regions, size=size)

    @property
    def backend(self) -> str:
        return "PostgreSQL" if self.database_url.startswith("postgres") else "SQLite"


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method: a value that was actually measured."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def ms(seconds: float) -> str:
    """Milliseconds with a precision that suits the size."""
    if math.isnan(seconds):
        return "-"
    value = seconds * 1000
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def ratio(numerator: float, denominator: float) -> str:
    if not denominator or math.isnan(numerator) or math.isnan(denominator):
        return "-"
    return f"{numerator / denominator:,.1f}"


def mib(size: int | None) -> str:
    return "-" if size is None else f"{size / MIB:,.0f} MiB"


@contextmanager
def stopwatch() -> Iterator[Callable[[], float]]:
    """``with stopwatch() as elapsed: ...``; ``elapsed()`` gives the seconds so far (frozen at exit)."""
    start = time.perf_counter()
    end: list[float] = []
    yield lambda: (end[0] if end else time.perf_counter()) - start
    end.append(time.perf_counter())


def peak_rss(pid: int) -> int | None:
    """The process's peak resident set size in bytes (VmHWM), or None once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def tree_peak_rss(pid: int) -> dict[int, int]:
    """Peak RSS of a process and each of its descendants (a gunicorn master and its workers)."""
    try:
        processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return {}
    peaks = {process.pid: peak_rss(process.pid) for process in processes}
    return {found: peak for found, peak in peaks.items() if peak is not None}


@dataclass
class Section:
    """One benchmark's figures: a table and notes (what was measured, what a figure is compared with)."""

    title: str
    columns: list[str]
    rows: list[list[Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([str(cell) for cell in cells])

    def markdown(self) -> str:
        lines = [f"### {self.title}", ""]
        if self.rows:
            lines.append("| " + " | ".join(self.columns) + " |")
            lines.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(self.columns))) + "|")
            lines += ["| " + " | ".join(row) + " |" for row in self.rows]
            lines.append("")
        lines += [f"- {note}" for note in self.notes]
        return "\n".join(lines).rstrip() + "\n"


class Report:
    """Sections printed as they arrive, then rendered together into the results file."""

    def __init__(self, settings: Settings, console: Console | None = None) -> None:
        self.settings = settings
        self.console = console or Console(width=140)
        self.sections: list[Section] = []
        self.goals = Section("Figures to reach", ["figure", "goal", "measured", "met"])
        self.started = time.strftime("%Y-%m-%d %H:%M %Z")

    def check(self, figure: str, goal: str, measured: str, met: bool) -> None:
        """Compare a figure with the issue's goal, for the closing summary."""
        self.goals.add(figure, goal, measured, "yes" if met else "**no**")

    def close(self) -> None:
        """Print the goals met and missed, and keep them as the last section."""
        if self.goals.rows:
            self.add(self.goals)

    def add(self, section: Section) -> None:
        self.sections.append(section)
        table = Table(title=section.title, title_justify="left")
        for i, column in enumerate(section.columns):
            table.add_column(column, justify="left" if i == 0 else "right")
        for row in section.rows:
            table.add_row(*row)
        self.console.print(table)
        for note in section.notes:
            self.console.print(f"  - {note}", highlight=False, markup=False)

    def say(self, text: str) -> None:
        self.console.print(text, highlight=False, markup=False)

    def machine(self) -> str:
        memory = psutil.virtual_memory().total / 1024**3
        cpu = platform.processor() or platform.machine()
        return f"{psutil.cpu_count()} cores ({cpu}), {memory:.0f} GiB, {platform.system()} {platform.release()}"

    def markdown(self) -> str:
        s = self.settings
        size = "quick" if s.quick else "full"
        head = [
            f"Run of {self.started}, {size} size ({s.reps:,} reps, {s.months} months), {s.backend}.",
            f"Machine: {self.machine()}; Python {platform.python_version()}.",
        ]
        return "\n".join(head) + "\n\n" + "\n".join(section.markdown() for section in self.sections)


START, END = "<!-- bench:figures:start -->", "<!-- bench:figures:end -->"


def write_results(path: Path, text: str, start: str = START, end: str = END) -> None:
    """Replace a generated block of ``path`` (between the markers ``start`` and ``end``), keeping the hand-written
    text and the other blocks around it; a block not there yet is added at the end."""
    block = f"{start}\n{text.rstrip()}\n{end}"
    current = path.read_text() if path.exists() else "# Benchmark results\n"
    if start in current and end in current:
        before, rest = current.split(start, 1)
        after = rest.split(end, 1)[1]
        path.write_text(before + block + after)
    else:
        path.write_text(current.rstrip() + "\n\n" + block + "\n")


@dataclass(frozen=True)
class Measured:
    """A finished subprocess: wall time, peak RSS and output."""

    seconds: float
    peak_rss: int
    returncode: int
    output: str


def run_measured(command: list[str], env: dict[str, str]) -> Measured:
    """Run ``command`` to the end, sampling its peak RSS (VmHWM) every 50 ms.

    Not ``wait4``'s ``ru_maxrss``: Linux carries the parent's resident size over the fork into the child's
    figure, so a benchmark holding a million exported deals would be charged to the sync it starts.
    VmHWM belongs to the program the child runs; it only grows, so the last sample is the peak to within
    the last 50 ms.
    """
    import subprocess
    import tempfile

    with tempfile.TemporaryFile("w+") as output:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=output, stderr=subprocess.STDOUT, text=True)
        peak = 0
        while process.poll() is None:
            peak = max(peak, peak_rss(process.pid) or 0)
            time.sleep(0.05)
        seconds = time.perf_counter() - start
        output.seek(0)
        return Measured(seconds, peak, process.returncode, output.read())
