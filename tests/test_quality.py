"""Lint, format and strict typing of our packages are part of the test suite, so CI enforces them."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SOURCES = ["operator", "jobs", "models", "tests", "benchmarks"]


def _run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    existing = [s for s in SOURCES if (REPO / s).exists()] if argv[-1] == "@sources" else []
    args = [*argv[:-1], *existing] if existing else list(argv)
    return subprocess.run(
        args,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env={**os.environ, **(env or {})},
    )


def test_ruff_lint_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "check", "@sources")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_is_clean() -> None:
    result = _run(sys.executable, "-m", "ruff", "format", "--check", "@sources")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_on_our_packages(tmp_path: Path) -> None:
    # mypy does not follow setuptools' editable import hooks, and our directory names differ from the
    # import names (operator/ is fraud_operator), so give it a path where the import names exist.
    packages = {
        "fraud_operator": "operator",
        "fraud_jobs": "jobs",
        "fraud_models": "models",
        "streamflow_cli": "cli",
        "streamflow_dev": "devstack/streamflow_dev",
    }
    for name, directory in packages.items():
        (tmp_path / name).symlink_to(REPO / directory, target_is_directory=True)
    selected = [arg for name in packages for arg in ("-p", name)]
    result = _run(
        sys.executable, "-m", "mypy", "--no-error-summary", *selected, env={"MYPYPATH": str(tmp_path)}
    )
    assert result.returncode == 0, result.stdout + result.stderr
