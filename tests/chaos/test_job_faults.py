"""Kill what the detector job depends on while events flow; it recovers with every alert exactly once.

Each scenario runs one detector job on the chaos stack's standalone Flink cluster (JobManager and
TaskManager JVMs, the job submitted by ``flink run -d -pym fraud_jobs.detector``), its Kafka traffic
through Toxiproxy to the broker, alerts also into PostgreSQL. After the fault and its repair, every score
and every committed alert (read_committed) and every alert row equals what the replay decides for the
same stream, once: 0 lost, 0 duplicated; and a velocity window that spans the fault still fires.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.chaos.jobrun import JobRun
from tests.chaos.promrules import STEP_S, assert_restart_alert_fires
from tests.chaos.results import ChaosResults, Run
from tests.chaos.stack import PROXY, ChaosStack
from tests.conftest import wait_for

pytestmark = [pytest.mark.chaos, pytest.mark.flink, pytest.mark.kafka, pytest.mark.postgres]

BROKER_DOWN_S = 5.0
STALL_CHECK_S = 40.0
"""Into the partition, past the clients' 30 s request timeout: from then on nothing may be committed."""
DATABASE_DOWN_S = 8.0
PARTITION_S = 150.0
"""Longer than the longest Kafka client timeout the job runs with, the producer's delivery.timeout.ms
(120 s; request.timeout.ms is 30 s, max.block.ms 60 s). The job fails over once the expired sends are
reported: seen 124 s into a 130 s cut, and 1-2 s after the cut healed. A 45 s cut was ridden out."""


def _scenario(
    stack: ChaosStack,
    results: ChaosResults,
    work: Path,
    name: str,
    repetition: int,
    fault: Callable[[JobRun], float],
    before_fault: Callable[[JobRun], None] | None = None,
) -> tuple[JobRun, Run]:
    """Run the stream around ``fault`` (which injects, repairs and returns when the repair was done)."""
    run = Run(name, repetition)
    job = JobRun(stack, work, seed=100 + repetition)
    try:
        job.submit()
        job.produce(job.first)
        job.wait_scored(job.valid(job.first), 180)
        job.checkpoint_after(time.time())
        assert not job.failovers(0), "the job failed over before the fault"
        if before_fault is not None:
            before_fault(job)
        producer = job.produce_in_background(job.second)
        time.sleep(1.0)  # events are flowing when the fault hits
        fault_at = job.fault_at = time.time()
        repaired_at = fault(job)
        producer.join(timeout=300)
        assert not producer.is_alive() and not producer.errors, producer.errors  # type: ignore[attr-defined]
        caught_up_at = job.wait_caught_up(300)
        job.timings(run, fault_at, repaired_at, caught_up_at)
        job.check_exactly_once(run)
    finally:
        job.cancel()
    results.add(run)
    return job, run


def test_taskmanager_killed(
    chaos_stack: ChaosStack, chaos_results: ChaosResults, tmp_path: Path, repetition: int
) -> None:
    def fault(job: JobRun) -> float:
        killed_at = time.time()
        chaos_stack.kill_taskmanagers()
        return chaos_stack.replaced_after(killed_at)  # the stack's supervisor plays the Deployment

    _, run = _scenario(chaos_stack, chaos_results, tmp_path, "taskmanager-kill-9", repetition, fault)
    assert run.restarts and run.restarts >= 1, "the job did not restart after its TaskManager died"
    assert run.detect_s is not None and run.recover_s is not None


def test_broker_killed_and_restarted(
    chaos_stack: ChaosStack, chaos_results: ChaosResults, tmp_path: Path, repetition: int
) -> None:
    def fault(job: JobRun) -> float:
        chaos_stack.kill_kafka()
        time.sleep(BROKER_DOWN_S)
        chaos_stack.restart_kafka()
        return time.time()

    _, run = _scenario(chaos_stack, chaos_results, tmp_path, "kafka-broker-kill-9", repetition, fault)
    assert run.recover_s is not None


def test_postgres_killed_and_restarted(
    chaos_stack: ChaosStack, chaos_results: ChaosResults, tmp_path: Path, repetition: int
) -> None:
    def fault(job: JobRun) -> float:
        chaos_stack.kill_postgres()
        time.sleep(DATABASE_DOWN_S)
        chaos_stack.restart_postgres()
        return time.time()

    _, run = _scenario(chaos_stack, chaos_results, tmp_path, "postgresql-kill-9", repetition, fault)
    assert run.recover_s is not None


def recorded_before_fault(job: JobRun) -> None:
    """Until the recorded numRestarts series covers two of promtool's grid steps before the fault."""
    wait_for(
        lambda: job.prometheus and time.time() - job.prometheus[0][0] > 2 * STEP_S + 1,
        120,
        what="the JobManager's numRestarts series",
    )


def test_partition_between_job_and_kafka(
    chaos_stack: ChaosStack, chaos_results: ChaosResults, tmp_path: Path, repetition: int
) -> None:
    proxy = chaos_stack.proxy
    through: dict[str, dict[str, float]] = {}
    stalled: dict[str, tuple[int, int | None]] = {}

    def fault(job: JobRun) -> float:
        through["before"] = proxy.bytes_through(PROXY)
        proxy.cut(PROXY)
        time.sleep(STALL_CHECK_S)
        stalled["early"] = (len(job.scores.poll(1)), job.lag())
        time.sleep(PARTITION_S - STALL_CHECK_S - 1)
        stalled["late"] = (len(job.scores.poll(1)), job.lag())
        proxy.restore(PROXY)
        return time.time()

    cut_at = time.time()
    job, run = _scenario(
        chaos_stack, chaos_results, tmp_path, "partition-job-kafka", repetition, fault, recorded_before_fault
    )
    replaced = [r for r in chaos_stack.replacements if r[0] >= cut_at]
    if replaced:  # Flink's Kafka writer rethrows the expired sends in close(): fatal for the TaskManager
        run.notes.append(f"the TaskManager exited and was replaced {len(replaced)} time(s)")
    # the job's traffic went through the proxy: while it was cut, the job committed nothing although the
    # records reached the broker directly, and the connections it closed when it failed over were counted
    assert stalled["early"][0] == stalled["late"][0], stalled
    assert (stalled["late"][1] or 0) > 0, stalled
    after = proxy.bytes_through(PROXY)
    assert after["received"] > through["before"]["received"], (through, after)
    assert after["sent"] > through["before"]["sent"], (through, after)
    assert run.restarts and run.restarts >= 1, "the partition did not make the job fail over"
    assert_restart_alert_fires(job, tmp_path, job.fault_at)
