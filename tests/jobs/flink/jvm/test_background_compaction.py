"""``io.streamflow.detector.BackgroundCompaction``, the detector's RocksDB options factory, applied to a real
RocksDB (``tools.CompactionCheck``): compactions run on threads at the lowest CPU priority while flushes keep
theirs, and a configured level-0 trigger moves the slowdown and stop triggers above it."""

from __future__ import annotations

import json
from typing import Any

from fraud_jobs.flink.jvm import java_main

_MAIN = "io.streamflow.detector.tools.CompactionCheck"


def _check(trigger: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(java_main(_MAIN, trigger))
    return result


def test_compactions_run_at_the_lowest_cpu_priority_and_flushes_do_not() -> None:
    out = _check("-")
    nice = {t["name"]: t["nice"] for t in out["threads"]}
    assert nice == {"rocksdb:low": 19, "rocksdb:high": 0}
    assert out["level0_files"] < out["level0_trigger"]  # the compaction ran on that thread
    assert (out["level0_trigger"], out["level0_slowdown"], out["level0_stop"]) == (4, 20, 36)  # RocksDB's


def test_a_level0_trigger_keeps_the_slowdown_and_stop_triggers_above_it() -> None:
    out = _check("8")
    assert (out["level0_trigger"], out["level0_slowdown"], out["level0_stop"]) == (8, 24, 40)
    assert out["level0_files"] < 8


def test_a_trigger_below_one_is_refused_naming_the_option() -> None:
    assert _check("0") == {"error": "streamflow.rocksdb.level0-compaction-trigger must be at least 1, got 0"}
