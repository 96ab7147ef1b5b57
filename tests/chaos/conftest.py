"""The chaos suite's own components, which its scenarios kill: a Kafka broker whose second listener is
reached through Toxiproxy, a PostgreSQL server and a standalone Flink cluster configured as the operator
configures a FlinkDeployment (exponential-delay restarts, incremental RocksDB checkpoints, the Prometheus
reporter). They are never the session's shared broker or database: a killed broker must not fail another
test, and a stack reused through ``STREAMFLOW_STACK_DIR`` must not be killed.

How often each scenario runs: ``STREAMFLOW_CHAOS_REPETITIONS`` (default 1, which is what CI runs;
``make chaos`` runs 5). Where the measurements go: ``STREAMFLOW_CHAOS_RESULTS`` (``make chaos``:
benchmarks/results/chaos.json), else a file in the session's run directory.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from streamflow_dev.flink_cluster import start_flink_cluster
from streamflow_dev.kafka import ExtraListener, start_kafka
from streamflow_dev.paths import runs_root
from streamflow_dev.postgres import start_postgres
from streamflow_dev.procs import ManagedProcess, free_port, stop_pid
from streamflow_dev.toxiproxy import start_toxiproxy

from tests.chaos.results import ChaosResults
from tests.chaos.stack import PROXY, ChaosStack, prometheus_port_range

REPETITIONS_ENV = "STREAMFLOW_CHAOS_REPETITIONS"
RESULTS_ENV = "STREAMFLOW_CHAOS_RESULTS"


def repetitions() -> int:
    raw = os.environ.get(REPETITIONS_ENV, "1")
    try:
        count = int(raw)
    except ValueError:
        raise pytest.UsageError(f"{REPETITIONS_ENV}={raw!r}: expected a whole number") from None
    if count < 1:
        raise pytest.UsageError(f"{REPETITIONS_ENV}={count}: at least 1 repetition")
    return count


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that takes ``repetition`` runs ``STREAMFLOW_CHAOS_REPETITIONS`` times (rep1, rep2, ...)."""
    if "repetition" in metafunc.fixturenames:
        count = repetitions()
        metafunc.parametrize("repetition", range(1, count + 1), ids=[f"rep{i}" for i in range(1, count + 1)])


@pytest.fixture(scope="session")
def chaos_results(session_run_dir: Path) -> Iterator[ChaosResults]:
    """Collects each run's timings; written (medians and every run) when the session ends."""
    target = os.environ.get(RESULTS_ENV)
    results = ChaosResults(Path(target) if target else session_run_dir / "chaos.json", repetitions())
    yield results
    results.write()


@pytest.fixture(scope="package")
def chaos_stack(request: pytest.FixtureRequest, session_run_dir: Path) -> Iterator[ChaosStack]:
    """Broker (plain listener + one advertised as Toxiproxy's address), PostgreSQL, Toxiproxy, Flink."""
    run_dir = Path(tempfile.mkdtemp(prefix="chaos-", dir=session_run_dir))
    run_dir.chmod(0o755)  # PostgreSQL runs as its own user
    started: list[ManagedProcess] = []
    try:
        proxy = start_toxiproxy(run_dir, started, tied_to_parent=True)
        proxied = f"127.0.0.1:{free_port()}"
        listener = ExtraListener("PROXIED", free_port(), proxied)
        kafka = start_kafka(run_dir, started, tied_to_parent=True, extra_listeners=[listener])
        proxy.create_proxy(PROXY, proxied, kafka.listeners["PROXIED"])
        postgres = start_postgres(run_dir, started, tied_to_parent=True)
        prom_ports = prometheus_port_range()
        flink = start_flink_cluster(
            run_dir,
            started,
            tied_to_parent=True,
            extra_config={
                # as operator/render/flink.py sets them for a FlinkDeployment
                "restart-strategy.type": "exponential-delay",
                "execution.checkpointing.incremental": "true",
                "metrics.reporter.prom.factory.class": (
                    "org.apache.flink.metrics.prometheus.PrometheusReporterFactory"
                ),
                "metrics.reporter.prom.port": f"{prom_ports.start}-{prom_ports.stop - 1}",
            },
        )
        stack = ChaosStack(run_dir, kafka, proxy, proxied, postgres, flink, started, prom_ports)
    except BaseException:
        for process in reversed(started):
            stop_pid(process.pid)
        raise
    failed_before = request.session.testsfailed
    stack.supervise()
    try:
        yield stack
    finally:
        stack.stop_supervising()
        for process in reversed(stack.started):
            stop_pid(process.pid, grace=5.0)
        if request.session.testsfailed > failed_before:  # the run directory goes with the session
            kept = Path(tempfile.mkdtemp(prefix="chaos-logs-", dir=runs_root()))
            shutil.copytree(run_dir / "flink-cluster" / "log", kept / "flink")
            shutil.copytree(run_dir / "logs", kept / "logs")
