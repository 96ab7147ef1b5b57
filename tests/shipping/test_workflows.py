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
    assert (REPO / ".ci" / "run").is_file()
    script = REPO / ".github" / "fetch-upstream-crds.sh"
    result = subprocess.run(
        ["bash", "-n", str(script)], capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 0, result.stderr
    # it fetches exactly the files the cluster fixtures install from the shared directory
    shared_readme = REPO.parent / "shared" / "crds" / "README.md"
    names = [
        line.split("|")[1].strip()
        for line in shared_readme.read_text().splitlines()
        if line.startswith("| ") and ".y" in line
    ]
    text = script.read_text()
    for name in names:
        assert f"fetch {name} " in text, name
