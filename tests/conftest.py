"""Session fixtures over the real local stack (the same code as ``streamflow dev up``).

Each component starts only when a test asks for it, in one run directory per test session, tied to the
pytest process so nothing outlives it. ``--kubeconfig PATH`` points the cluster tests at an existing cluster;
``STREAMFLOW_STACK_DIR`` (set by ``eval "$(streamflow dev env)"``) reuses a stack started by ``dev up``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from streamflow_dev import stack
from streamflow_dev.crds import install_crds
from streamflow_dev.kube_build import ensure_kube_binaries
from streamflow_dev.paths import runs_root
from streamflow_dev.upstream import resolve

REPO = Path(__file__).resolve().parents[1]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kubeconfig",
        default=None,
        help="run the cluster tests against this existing cluster (e.g. kind), not the local API server",
    )


@pytest.fixture(autouse=True)
def _no_pyflink_worker_environment() -> Iterator[None]:
    """A job on the local mini-cluster runs its Beam Python workers inside this process (PyFlink's
    loopback mode), and they set ``PYFLINK_GATEWAY_DISABLED`` in ``os.environ``; a later test's subprocess
    that starts a PyFlink gateway would inherit it and refuse to start one."""
    yield
    os.environ.pop("PYFLINK_GATEWAY_DISABLED", None)


@pytest.fixture(scope="session")
def session_run_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pytest-", dir=runs_root()))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _reused_stack() -> stack.StackInfo | None:
    run_dir = os.environ.get("STREAMFLOW_STACK_DIR")
    if not run_dir:
        return None
    info = stack.load(Path(run_dir))
    dead = [c for c, _pid, running, _log in stack.status(info) if not running]
    if dead:
        raise RuntimeError(
            f"STREAMFLOW_STACK_DIR={run_dir}: {', '.join(dead)} not running (streamflow dev status)"
        )
    return info


def _component(session_run_dir: Path, name: str) -> Iterator[stack.StackInfo]:
    reused = _reused_stack()
    if reused is not None and name in reused.components:
        yield reused
        return
    info = stack.up(session_run_dir / name, [name], tied_to_parent=True, remember=False)
    try:
        yield info
    finally:
        stack.down(info, keep_run_dir=True)


# ---------------------------------------------------------------- third-party inputs


@pytest.fixture(scope="session")
def handbook_data() -> Path:
    """The handbook dataset, pinned by sha256 (cache, offline mirror or upstream: streamflow_dev.upstream)."""
    return resolve("handbook")


# ---------------------------------------------------------------- Kubernetes


@dataclass
class KubeCluster:
    """A reachable cluster: its kubeconfig, a kubectl of the matching version, and a Python API client."""

    kubeconfig: Path
    kubectl_path: str
    api_client: Any
    local: bool

    def kubectl(
        self, *args: str, check: bool = True, input: str | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run the real kubectl against this cluster."""
        argv = [self.kubectl_path, f"--kubeconfig={self.kubeconfig}", *args]
        result = subprocess.run(argv, capture_output=True, text=True, input=input, timeout=120, check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"kubectl {' '.join(args)} failed ({result.returncode}):\n{result.stderr}")
        return result


@pytest.fixture(scope="session")
def kube_stack(request: pytest.FixtureRequest, session_run_dir: Path) -> Iterator[stack.StackInfo | None]:
    if request.config.getoption("--kubeconfig"):
        yield None
        return
    yield from _component(session_run_dir, "kube")


@pytest.fixture(scope="session")
def kube(
    request: pytest.FixtureRequest, kube_stack: stack.StackInfo | None, session_run_dir: Path
) -> KubeCluster:
    """The cluster with our CRDs and the upstream ones Established, by the installer ``dev up`` uses.

    A stack this session started has them already; an external cluster or a reused stack (whose CRDs may
    predate the checkout's) gets them applied here.
    """
    from kubernetes import client, config

    external = request.config.getoption("--kubeconfig")
    if external:
        kubeconfig = Path(external)
        kubectl = shutil.which("kubectl") or str(ensure_kube_binaries() / "kubectl")
    else:
        assert kube_stack is not None and kube_stack.kubeconfig and kube_stack.kube_bin_dir
        kubeconfig = Path(kube_stack.kubeconfig)
        kubectl = str(Path(kube_stack.kube_bin_dir) / "kubectl")
    api_client = config.new_client_from_config(config_file=str(kubeconfig))
    cluster = KubeCluster(kubeconfig, kubectl, api_client, local=not external)
    if kube_stack is None or not Path(kube_stack.run_dir).is_relative_to(session_run_dir):
        install_crds(lambda *args: cluster.kubectl(*args).stdout, field_manager="streamflow-tests")
    client.VersionApi(api_client).get_code()
    return cluster


@pytest.fixture
def namespace(kube: KubeCluster) -> Iterator[str]:
    """A fresh namespace for one test, deleted (by the real namespace controller) afterwards."""
    from kubernetes import client

    name = f"t-{uuid.uuid4().hex[:10]}"
    core = client.CoreV1Api(kube.api_client)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    with contextlib.suppress(Exception):
        core.delete_namespace(name)


# ---------------------------------------------------------------- Kafka


@pytest.fixture(scope="session")
def kafka_bootstrap(session_run_dir: Path) -> Iterator[str]:
    """Bootstrap servers of the real KRaft broker."""
    for info in _component(session_run_dir, "kafka"):
        assert info.kafka_bootstrap
        yield info.kafka_bootstrap


@pytest.fixture
def kafka_topic_factory(kafka_bootstrap: str) -> Iterator[Any]:
    """Create uniquely named topics for one test and delete them afterwards."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    created: list[str] = []

    def make(prefix: str = "t", partitions: int = 1, config: dict[str, str] | None = None) -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        futures = admin.create_topics(
            [NewTopic(name, partitions, 1, config=config or {})], operation_timeout=30
        )
        futures[name].result(timeout=30)
        created.append(name)
        return name

    yield make
    if created:
        for future in admin.delete_topics(created, operation_timeout=30).values():
            with contextlib.suppress(Exception):
                future.result(timeout=30)


# ---------------------------------------------------------------- PostgreSQL


@pytest.fixture(scope="session")
def pg_server_dsn(session_run_dir: Path) -> Iterator[str]:
    """Superuser DSN (database ``postgres``) of the real Debian PostgreSQL server."""
    for info in _component(session_run_dir, "postgres"):
        assert info.pg_dsn
        yield info.pg_dsn


@pytest.fixture
def postgres_dsn(pg_server_dsn: str) -> Iterator[str]:
    """DSN of a fresh, empty database for one test (dropped afterwards)."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_server_dsn.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(pg_server_dsn, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# ---------------------------------------------------------------- Flink


@pytest.fixture(scope="session")
def flink_jars(session_run_dir: Path) -> str:
    """``pipeline.jars`` value: the Kafka and JDBC connector jars for PyFlink 2.2."""
    reused = _reused_stack()
    if reused is not None and reused.flink_jars:
        return reused.flink_jars
    from streamflow_dev.flink import flink_jar_urls

    return flink_jar_urls()


@pytest.fixture
def flink_env(flink_jars: str, tmp_path: Path) -> Any:
    """A local StreamExecutionEnvironment with the connector jars and exactly-once checkpointing."""
    from pyflink.common import Configuration
    from pyflink.datastream import StreamExecutionEnvironment

    conf = Configuration()
    conf.set_string("pipeline.jars", flink_jars)
    conf.set_string("execution.checkpointing.interval", "1s")
    conf.set_string("execution.checkpointing.mode", "EXACTLY_ONCE")
    conf.set_string("execution.checkpointing.dir", (tmp_path / "checkpoints").as_uri())
    conf.set_string("state.backend.type", "hashmap")
    conf.set_string("python.execution-mode", "thread")
    env = StreamExecutionEnvironment.get_execution_environment(conf)
    env.set_parallelism(1)
    return env


@pytest.fixture(scope="module")
def flink_cluster(request: pytest.FixtureRequest, session_run_dir: Path) -> Iterator[Any]:
    """A real standalone Flink cluster (JobManager + one TaskManager JVM), fresh for the test module and
    stopped after it (its JVMs would idle through the rest of the suite): never a long-lived one, since a
    TaskManager's embedded interpreter keeps the modules it loaded and would run old code. When a test of
    the module failed, its logs are kept in ``<runs root>/flink-cluster-logs-*`` (the run directory goes).
    """
    from streamflow_dev.flink_cluster import start_flink_cluster, stop_flink_cluster
    from streamflow_dev.procs import stop_pid

    started: list[Any] = []
    run_dir = Path(tempfile.mkdtemp(prefix="flink-cluster-", dir=session_run_dir))
    try:
        cluster = start_flink_cluster(run_dir, started, taskmanagers=1, tied_to_parent=True)
    except BaseException:
        for process in reversed(started):
            stop_pid(process.pid)
        raise
    failed_before = request.session.testsfailed
    yield cluster
    stop_flink_cluster(cluster)
    if request.session.testsfailed > failed_before:
        shutil.copytree(
            cluster.log_dir, Path(tempfile.mkdtemp(prefix="flink-cluster-logs-", dir=runs_root())) / "log"
        )


def wait_for(predicate: Any, timeout: float = 60.0, interval: float = 0.5, what: str = "condition") -> Any:
    """Poll ``predicate`` until it returns a truthy value; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """In CI nothing may be skipped: a skipped test is turned into a failure that says why."""
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("CI") and report.skipped:
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, which is not allowed here: {report.longrepr}"
