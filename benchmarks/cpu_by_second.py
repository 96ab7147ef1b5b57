"""CPU seconds per wall-clock second, by process and by thread name, read from ``/proc`` while a run lasts.

A latency run's slow seconds are only explained by what else took the cores then: on a machine shared by
the job, the broker and the load generator, a RocksDB compaction or a collector's cycle shows up here as
its threads' CPU in the same second. Threads are grouped by their name (``comm``, which Linux cuts to 15
characters) with digits removed, so ``rocksdb:low0`` and ``rocksdb:low1`` add up to ``rocksdb:low``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["CpuBySecond"]

_TICK_S = 1.0 / os.sysconf("SC_CLK_TCK")
_DIGITS = re.compile(r"\d+")


def _ticks(stat: str) -> int:
    """utime + stime of a ``/proc/.../stat`` line (the fields after the parenthesised name)."""
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:  # the process or thread ended between listing and reading
        return None


class CpuBySecond(threading.Thread):
    """Samples every second until :meth:`stop`; :meth:`seconds` gives the per-second deltas.

    ``processes`` names the processes to report (label to pid); every other process on the machine is
    summed as ``other``. The threads of the processes in ``by_thread`` are also reported by name."""

    def __init__(self, processes: dict[str, int], by_thread: set[str]) -> None:
        super().__init__(daemon=True, name="cpu-by-second")
        self._labels = {pid: label for label, pid in processes.items()}
        self._by_thread = {processes[label] for label in by_thread}
        self._done = threading.Event()
        self._samples: list[tuple[float, dict[str, int]]] = []

    def _sample(self) -> dict[str, int]:
        """Ticks by ``<label>#<pid>`` and ``<label>/<thread name>#<tid>``: a process or thread is counted
        by its own id, so one that ends between two samples cannot make its group's delta negative."""
        totals: dict[str, int] = defaultdict(int)
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            pid = int(entry.name)
            stat = _read(Path(entry.path, "stat"))
            if stat is None:
                continue
            label = self._labels.get(pid, "other")
            totals[f"{label}#{pid}"] += _ticks(stat)
            if pid in self._by_thread:
                for task in os.scandir(Path(entry.path, "task")):
                    tstat = _read(Path(task.path, "stat"))
                    if tstat is None:
                        continue
                    name = _DIGITS.sub("", tstat[tstat.index("(") + 1 : tstat.rindex(")")]).strip()
                    totals[f"{label}/{name}#{task.name}"] += _ticks(tstat)
        return totals

    def run(self) -> None:
        while True:
            self._samples.append((time.time(), self._sample()))
            if self._done.wait(1.0):
                self._samples.append((time.time(), self._sample()))
                return

    def stop(self) -> None:
        self._done.set()
        self.join()

    def seconds(self, since: float) -> list[dict[str, Any]]:
        """Each interval between samples: its start (seconds after ``since``, the wall clock) and the CPU
        seconds each process and thread group used in it (groups under 10 ms left out). Processes that
        ended or started between two samples count only where both samples saw them."""
        out: list[dict[str, Any]] = []
        for (t0, a), (t1, b) in zip(self._samples, self._samples[1:], strict=False):
            used: dict[str, int] = defaultdict(int)
            for key, ticks in b.items():
                if key in a:
                    used[key.rsplit("#", 1)[0]] += ticks - a[key]
            cpu = {k: round(used[k] * _TICK_S, 2) for k in sorted(used) if used[k] * _TICK_S >= 0.01}
            out.append({"from_s": round(t0 - since, 2), "span_s": round(t1 - t0, 2), "cpu_s": cpu})
        return out
