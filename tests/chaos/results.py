"""The chaos suite's measurements: each run's timings, and per scenario their medians, as JSON.

What the figures are is written into the file itself (``definitions``), so a reader of
benchmarks/results/chaos.json does not need this module to interpret it.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DEFINITIONS", "ChaosResults", "Run", "load_sample"]

DEFINITIONS = {
    "detect_s": "fault injected -> the JobManager reports the job no longer RUNNING or its numRestarts grew. "
    "null: the job rode the fault out without failing over (its Kafka or database client retried until the "
    "component was back); always null for the operator, which is restarted at once and lists every object "
    "when it starts (there is nothing separate to detect)",
    "recover_s": "fault injected -> the job is RUNNING again and has completed a checkpoint triggered after "
    "both its last restart and the repair (new TaskManager registered, broker or database back, partition "
    "healed); operator: -> the pipeline Ready again with every child it renders, owned once (this includes "
    "the test's Flink-operator stand-in reporting the upgraded job, polled every 0.5 s)",
    "catch_up_s": "fault injected -> consumer lag of the job's group on the transactions topic back to 0 "
    "(offsets are committed on checkpoints) with every produced record scored in a committed transaction; "
    "the events produced during the outage (about 4 s of them at 80/s) are part of the backlog. null for "
    "the operator",
    "outage_s": "fault injected -> repair done (the time the component was really gone or cut off)",
    "load": "1-minute load average of the machine before and after the run (2 cores, shared with other "
    "engineers' test runs: a busy machine stretches every figure)",
}


def load_sample() -> float:
    return round(os.getloadavg()[0], 2)


@dataclass
class Run:
    """One repetition of one scenario."""

    scenario: str
    repetition: int
    detect_s: float | None = None
    recover_s: float | None = None
    catch_up_s: float | None = None
    outage_s: float | None = None
    restarts: int | None = None
    events: int = 0
    alerts: int = 0
    lost: int = 0
    duplicated: int = 0
    load_before: float = field(default_factory=load_sample)
    load_after: float | None = None
    notes: list[str] = field(default_factory=list)

    def finish(self) -> None:
        self.load_after = load_sample()


def _median(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 2) if present else None


class ChaosResults:
    """Accumulates runs; ``write`` puts medians and every run into ``path``."""

    def __init__(self, path: Path, repetitions: int) -> None:
        self.path = path
        self.repetitions = repetitions
        self.runs: list[Run] = []
        self.started = time.time()

    def add(self, run: Run) -> None:
        run.finish()
        self.runs.append(run)

    def summary(self) -> dict[str, Any]:
        scenarios: dict[str, Any] = {}
        for name in dict.fromkeys(r.scenario for r in self.runs):
            runs = [r for r in self.runs if r.scenario == name]
            scenarios[name] = {
                "runs": len(runs),
                "median": {
                    key: _median([getattr(r, key) for r in runs])
                    for key in ("detect_s", "recover_s", "catch_up_s", "outage_s")
                },
                "lost": sum(r.lost for r in runs),
                "duplicated": sum(r.duplicated for r in runs),
                "individual": [{k: v for k, v in vars(r).items() if k != "scenario"} for r in runs],
            }
        return {
            "suite": "tests/chaos",
            "repetitions": self.repetitions,
            "recorded_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "definitions": DEFINITIONS,
            "scenarios": scenarios,
        }

    def write(self) -> None:
        if not self.runs:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.summary(), indent=2) + "\n", encoding="utf-8")
