"""The alert rules, checked and unit-tested by the real promtool (built from the Go module proxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from fraud_operator.devstack.tools import ensure_promtool

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "charts" / "streamflow-operator" / "files" / "streamflow.rules.yaml"
RULE_TESTS = Path(__file__).with_name("prometheus") / "streamflow.rules.test.yaml"


@pytest.fixture(scope="module")
def promtool() -> Path:
    return ensure_promtool(quiet=True)


def test_promtool_check_rules(promtool: Path) -> None:
    result = subprocess.run(
        [str(promtool), "check", "rules", str(RULES)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 9 rules found" in result.stdout, result.stdout


def test_promtool_unit_tests(promtool: Path) -> None:
    result = subprocess.run(
        [str(promtool), "test", "rules", str(RULE_TESTS)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
