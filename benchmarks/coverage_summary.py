"""Condense coverage.py's JSON report into per-package line and branch figures (``make coverage`` runs this).

``coverage json`` gives one percentage that mixes lines and branches, per file and in total; the README and
docs/reliability.md report lines and branches apart, per package, and the modules with the most uncovered
lines, so that is what this keeps (the full report lists every line and is not worth committing):

    python3 benchmarks/coverage_summary.py FULL.json [OUT.json] [--seconds N] [--pytest-exit N]
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["summarize"]

RESULTS = Path(__file__).with_name("results") / "coverage.json"
PACKAGES = {"operator": "fraud_operator", "jobs": "fraud_jobs", "models": "fraud_models"}
COMMAND = "make coverage"
WORST = 15


def _pct(covered: int, total: int) -> float | None:
    return round(100.0 * covered / total, 1) if total else None


def _figures(s: dict[str, Any]) -> dict[str, Any]:
    return {
        "statements": s["num_statements"],
        "missing_lines": s["missing_lines"],
        "lines_pct": _pct(s["covered_lines"], s["num_statements"]),
        "branches": s["num_branches"],
        "missing_branches": s["missing_branches"],
        "branches_pct": _pct(s["covered_branches"], s["num_branches"]),
    }


def _add(into: dict[str, int], s: dict[str, Any]) -> None:
    for key in ("num_statements", "covered_lines", "missing_lines", "num_branches", "covered_branches"):
        into[key] = into.get(key, 0) + s[key]
    into["missing_branches"] = into["num_branches"] - into["covered_branches"]


def summarize(report: dict[str, Any]) -> dict[str, Any]:
    """Totals, per package and per file (lines and branches apart), and the files with most lines missed."""
    packages: dict[str, dict[str, int]] = {}
    files: dict[str, dict[str, Any]] = {}
    for path, data in sorted(report["files"].items()):
        package = PACKAGES.get(Path(path).parts[0], Path(path).parts[0])
        _add(packages.setdefault(package, {}), data["summary"])
        files[path] = _figures(data["summary"])
    total: dict[str, int] = {}
    for sums in packages.values():
        _add(total, sums)
    worst = sorted(files, key=lambda p: (-files[p]["missing_lines"], p))[:WORST]
    return {
        "total": _figures(total),
        "packages": {name: _figures(sums) for name, sums in sorted(packages.items())},
        "most_uncovered": [{"file": p, **files[p]} for p in worst],
        "files": files,
    }


def _table(summary: dict[str, Any]) -> str:
    rows = [*summary["packages"].items(), ("total", summary["total"])]
    lines = ["| package | lines | branches |", "|---|---|---|"]
    for name, f in rows:
        lines.append(
            f"| {name} | {f['lines_pct']}% of {f['statements']} | {f['branches_pct']}% of {f['branches']} |"
        )
    lines += ["", "| module | lines missed | lines | branches |", "|---|---|---|---|"]
    for f in summary["most_uncovered"]:
        lines.append(f"| `{f['file']}` | {f['missing_lines']} | {f['lines_pct']}% | {f['branches_pct']}% |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("full", type=Path, help="the output of `coverage json`")
    parser.add_argument("out", type=Path, nargs="?", default=RESULTS)
    parser.add_argument("--seconds", type=int, default=None, help="how long the measured run took")
    parser.add_argument("--pytest-exit", type=int, default=None, help="the measured pytest run's exit code")
    args = parser.parse_args(argv)
    report = json.loads(args.full.read_text())
    summary = {
        "command": COMMAND,
        "date": datetime.date.today().isoformat(),
        "coverage_version": report["meta"]["version"],
        "branch": report["meta"]["branch_coverage"],
        "seconds": args.seconds,
        "pytest_exit": args.pytest_exit,
        **summarize(report),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1) + "\n")
    print(_table(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
