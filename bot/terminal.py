"""What every `kpibot` command prints with: one console for results, one for problems, and `fail`."""

from __future__ import annotations

import json
from typing import Any, NoReturn

import typer
from rich.console import Console

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)


def fail(message: str, code: int = 2, as_json: bool = False, **extra: Any) -> NoReturn:
    """Print a problem for a person (or as JSON) and exit with ``code``."""
    if as_json:
        print(json.dumps({"error": message, **extra}, indent=2))
    else:
        errors.print(message, style="red", highlight=False, markup=False, soft_wrap=True)
    raise typer.Exit(code)
