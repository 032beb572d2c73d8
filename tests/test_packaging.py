"""`make demo` on a fresh machine: the install says nothing unless something is wrong (it printed about 130 lines of
setuptools deprecation warnings before anything useful)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_an_editable_install_prints_no_warning(tmp_path):
    command = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--prefix", str(tmp_path), "-e", str(ROOT)]

    result = subprocess.run(command, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    # pip's own notes about this machine's package index locations are not the project's
    lines = [line for line in result.stderr.splitlines() if line.strip() and "Location 'file:" not in line]
    assert lines == []
