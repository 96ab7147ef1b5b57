"""The layers hold: import-linter's contracts (pyproject.toml), and the operator runs without the job's
and training's dependencies (its image installs only ``streamflow[operator]``)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# What `streamflow[operator]` does not install; importing any of them from the operator is a broken image.
NOT_IN_THE_OPERATOR_IMAGE = (
    "pyflink",
    "apache_beam",
    "matplotlib",
    "sklearn",
    "scipy",
    "pandas",
    "pyarrow",
    "joblib",
)


def test_import_linter_contracts_are_kept() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports_command; sys.exit(lint_imports_command())",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def _run_without_heavy_packages(code: str) -> subprocess.CompletedProcess[str]:
    blocker = textwrap.dedent(
        f"""
        import importlib.abc, sys
        BLOCKED = {NOT_IN_THE_OPERATOR_IMAGE!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in BLOCKED:
                    message = f"No module named {{name!r}} (blocked: not in the operator image)"
                    raise ModuleNotFoundError(message, name=name)
                return None
        sys.meta_path.insert(0, Block())
        """
    )
    return subprocess.run(
        [sys.executable, "-c", blocker + textwrap.dedent(code)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_operator_imports_and_starts_its_cli_without_the_job_and_training_dependencies() -> None:
    result = _run_without_heavy_packages(
        """
        import fraud_operator, fraud_operator.operator_cmd, fraud_operator.db.cli, fraud_operator.shadow
        import fraud_operator.handlers.pipeline, fraud_operator.handlers.models
        from streamflow_cli import build_parser
        parser = build_parser()
        commands = set(parser._subparsers._group_actions[0].choices)
        assert {"operator", "db", "render"} <= commands, commands
        print("loaded:", sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED))
        """
    )
    assert result.returncode == 0, result.stderr[-4000:]
    assert "loaded: []" in result.stdout


def test_a_command_whose_extra_is_missing_names_the_extra() -> None:
    result = _run_without_heavy_packages(
        """
        import sys
        from streamflow_cli import main
        sys.exit(main(["model", "train", "--data", "x.parquet", "--algorithm", "isolation_forest",
                       "--train-window", "2018-07-25..2018-07-31", "--out", "/nonexistent/out"]))
        """
    )
    assert result.returncode == 1, result.stderr[-4000:]
    assert "pip install 'streamflow[training]'" in result.stderr
