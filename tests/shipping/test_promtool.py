"""The alert rules, checked and unit-tested by the real promtool (built from the Go module proxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from streamflow_dev.tools import ensure_promtool

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts" / "streamflow-operator" / "files" / "streamflow.rules.yaml"
RULE_TESTS = Path(__file__).with_name("prometheus") / "streamflow.rules.test.yaml"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return ensure_promtool(quiet=True)


def _promtool(promtool: Path, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [str(promtool), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_promtool_check_rules(promtool: Path) -> None:
    result = _promtool(promtool, "check", "rules", str(RULES), timeout=120)
    assert "SUCCESS: 10 rules found" in result.stdout, result.stdout


def test_promtool_unit_tests(promtool: Path) -> None:
    result = _promtool(promtool, "test", "rules", str(RULE_TESTS), timeout=300)
    assert "SUCCESS" in result.stdout
