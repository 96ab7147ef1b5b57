"""The chaos suite's figures as the Markdown table of docs/reliability.md.

The measuring is done by the suite itself (``make chaos``: tests/chaos, 5 repetitions, results in
benchmarks/results/chaos.json); this prints that file's medians with the range of the individual runs:

    python3 benchmarks/chaos.py [benchmarks/results/chaos.json]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["table"]

RESULTS = Path(__file__).with_name("results") / "chaos.json"
COLUMNS = (
    ("outage_s", "outage"),
    ("detect_s", "detect"),
    ("recover_s", "recover"),
    ("catch_up_s", "catch up"),
)


def _cell(median: float | None, runs: list[dict[str, Any]], key: str) -> str:
    values = [r[key] for r in runs if r[key] is not None]
    if median is None:
        return f"— ({len(runs) - len(values)}/{len(runs)} none)" if runs else "—"
    spread = f" ({min(values):.1f} to {max(values):.1f})" if len(values) > 1 else ""
    missing = f", {len(runs) - len(values)} none" if len(values) < len(runs) else ""
    return f"{median:.1f}{spread}{missing}"


def table(results: dict[str, Any]) -> str:
    """One row per scenario: median seconds (min to max of the runs), restarts, lost and duplicated, load."""
    lines = [
        "| scenario | runs | "
        + " | ".join(f"{label} s" for _, label in COLUMNS)
        + " | restarts | alerts per run"
        " | lost | duplicated | load (1 min) |",
        "|---|---|" + "---|" * len(COLUMNS) + "---|---|---|---|---|",
    ]
    for name, scenario in results["scenarios"].items():
        runs = scenario["individual"]
        cells = [_cell(scenario["median"][key], runs, key) for key, _ in COLUMNS]
        restarts = sorted({r["restarts"] for r in runs if r["restarts"] is not None})
        alerts = sorted({r["alerts"] for r in runs})
        loads = [v for r in runs for v in (r["load_before"], r["load_after"]) if v is not None]
        lines.append(
            f"| {name} | {scenario['runs']} | "
            + " | ".join(cells)
            + f" | {', '.join(map(str, restarts)) or '—'}"
            + f" | {', '.join(map(str, alerts)) if any(alerts) else '—'}"
            + f" | {scenario['lost']} | {scenario['duplicated']} | {min(loads):.1f} to {max(loads):.1f} |"
        )
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    path = Path(argv[0]) if argv else RESULTS
    results = json.loads(path.read_text(encoding="utf-8"))
    machine = results["machine"]
    print(
        f"{results['repetitions']} repetition(s), recorded {results['recorded_at']}, {machine['cpus']} CPUs"
    )
    print(table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
