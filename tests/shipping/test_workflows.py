"""The GitHub workflows, checked by the real actionlint (built from the Go module proxy)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml
from streamflow_dev.tools import ensure_actionlint

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))


def test_actionlint_is_clean() -> None:
    assert WORKFLOWS
    actionlint = ensure_actionlint(quiet=True)
    result = subprocess.run(
        [str(actionlint), "-no-color", *map(str, WORKFLOWS)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _steps() -> dict[str, list[dict[str, object]]]:
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    return {name: job["steps"] for name, job in workflow["jobs"].items()}


def test_ci_runs_the_same_entry_point_kind_and_both_images() -> None:
    steps = _steps()
    assert any(s.get("run") == "bash .ci/run" for s in steps["test"])
    assert any(str(s.get("uses", "")).startswith("helm/kind-action@") for s in steps["kind"])
    assert any(
        "--kubeconfig" in str(s.get("run", "")) and "-m cluster" in str(s.get("run", ""))
        for s in steps["kind"]
    )
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "ci.yml").read_text())
    targets = workflow["jobs"]["images"]["strategy"]["matrix"]["target"]
    dockerfile = (REPO / "Dockerfile").read_text()
    assert sorted(targets) == ["job", "operator"]
    for target in targets:
        assert f" AS {target}\n" in dockerfile


def test_referenced_scripts_exist_and_parse() -> None:
    for script in (REPO / ".ci" / "run", REPO / ".ci" / "setup"):
        result = subprocess.run(
            ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
        )
        assert result.returncode == 0, result.stderr


def test_third_party_files_come_from_the_one_pinned_table() -> None:
    """No workflow downloads CRDs or data itself: `.ci/setup` and the kind job run `streamflow dev fetch`,
    which resolves exactly streamflow_dev.upstream.TABLE (the installer and the fixtures use the same)."""
    fetch = "python -m streamflow_cli dev fetch"
    assert "python3 -m streamflow_cli dev fetch\n" in (REPO / ".ci" / "setup").read_text()
    workflow_text = (REPO / ".github" / "workflows" / "ci.yml").read_text()
    assert "raw.githubusercontent.com" not in workflow_text and "curl " not in workflow_text
    assert "STREAMFLOW_SHARED_DIR" not in workflow_text, "GitHub has no offline mirror: upstream it is"
    assert not (REPO / ".github" / "fetch-upstream-crds.sh").exists()
    for name, steps in _steps().items():
        runs = [str(step.get("run", "")) for step in steps]
        tests = [i for i, run in enumerate(runs) if "pytest" in run or run == "bash .ci/run"]
        if not tests or runs[tests[0]] == "bash .ci/run":
            continue
        fetched = [i for i, run in enumerate(runs) if run.strip() == fetch]
        assert fetched and fetched[0] < tests[0], f"job {name} runs pytest without `{fetch}` before it"
        installs = [run for run in runs[: fetched[0]] if "pip install" in run]
        assert any("-e ./devstack" in run for run in installs), f"job {name} lacks the dev tools"
