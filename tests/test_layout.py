"""The layout: imports point down (bot and digests over slackui and kpi, crm over kpi, demo over crm and kpi)
and no two modules import each other, directly or round a loop. Walked with ``ast``, so it stays so. And no module
outside tests and migrations is over 600 lines."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]
PACKAGES = ("kpi", "crm", "digests", "bot", "slackui", "demo")
#: What each package may import (besides itself).
MAY_IMPORT = {
    "kpi": set(),
    "slackui": set(),
    "crm": {"kpi"},
    "demo": {"kpi", "crm"},
    "digests": {"kpi", "crm", "slackui"},
    "bot": {"kpi", "crm", "digests", "slackui", "demo"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _runtime_imports(path: Path, modules: dict[str, Path]) -> set[str]:
    """Project modules imported at module level or in functions, not under ``if TYPE_CHECKING``."""
    tree = ast.parse(path.read_text())
    checking = {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.unparse(block.test)
        for node in ast.walk(block)
    }
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in checking:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name in modules}


def test_no_package_imports_a_package_above_it():
    modules = _modules()
    upward = []
    for name, path in modules.items():
        package = name.split(".")[0]
        for imported in _runtime_imports(path, modules):
            target = imported.split(".")[0]
            if target != package and target not in MAY_IMPORT[package]:
                upward.append(f"{name} imports {imported}")
    assert upward == []


def test_no_module_imports_itself_round_a_loop():
    modules = _modules()
    graph = {name: _runtime_imports(path, modules) - {name} for name, path in modules.items()}
    graph = {name: {i for i in imports if not name.startswith(i + ".")} for name, imports in graph.items()}
    loops, state = [], {}

    def visit(node: str, stack: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                loops.append(" -> ".join([*stack[stack.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*stack, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert loops == []


#: The most lines a module may hold: a module that grows past it holds two things and is split by what it holds.
MAX_LINES = 600


def test_no_module_outside_tests_and_migrations_is_over_600_lines():
    modules = {**_modules(), **{f"bench.{path.stem}": path for path in (ROOT / "bench").glob("*.py")}}

    long = {name: lines for name, path in modules.items() if (lines := len(path.read_text().splitlines())) > MAX_LINES}

    assert long == {}


def test_the_web_server_loads_no_matplotlib_numpy_or_pandas_which_only_the_digest_builders_and_loaders_use():
    # Some 40 MB in each of the server's processes (issue 17: the server within 400 MB at 10,000 reps).
    code = "import sys, bot.server; print(sorted(m for m in ('matplotlib', 'numpy', 'pandas') if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)

    assert loaded.stdout.strip() == "[]"
