"""`make demo` on a fresh machine: the install says nothing unless something is wrong (it printed about 130 lines of
setuptools deprecation warnings before anything useful)."""

from __future__ import annotations

import subprocess
import venv
from pathlib import Path

ROOT = Path(__file__).parents[1]


def test_an_editable_install_prints_no_warning(tmp_path):
    venv.create(tmp_path / "venv", with_pip=True)  # a throwaway one: the project's own stays as it is
    pip = [
        str(tmp_path / "venv" / "bin" / "python"),
        "-m",
        "pip",
        "install",
        "-q",
        "--disable-pip-version-check",
        "--no-deps",
        "-e",
        str(ROOT),
    ]

    result = subprocess.run(pip, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr
    # pip's own notes about this machine's package index locations are not the project's
    lines = [line for line in result.stderr.splitlines() if line.strip() and "Location 'file:" not in line]
    assert lines == []
