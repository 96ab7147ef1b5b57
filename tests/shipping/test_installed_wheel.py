"""The wheel a user installs, run from fresh virtual environments outside the checkout.

Everything else in the suite runs from the editable install, where a file the wheel lacks is still found in
the source tree. Here the wheel is built from the tracked sources, installed with one extra per environment
exactly as the images install it (``[operator]`` for the operator, ``[job]`` for the detector), and run with
the checkout off ``sys.path``: the operator environment migrates the real PostgreSQL and brings a pipeline to
Ready on the real API server, the job environment's detector runs on the standalone Flink cluster.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from streamflow_dev.flink_cluster import FlinkCluster
from streamflow_dev.paths import cache_dir
from streamflow_dev.procs import free_port
from streamflow_dev.standins.cnpg import cnpg_ready_app_database
from streamflow_dev.standins.flink_operator import write_flink_operator_status

from tests.conftest import KubeCluster, wait_for
from tests.jobs.flink.streams import ROLES, TopicReader, detector_settings, produce, tx
from tests.operator.integration.conftest import Cluster, sample

REPO = Path(__file__).resolve().parents[2]
MIGRATIONS = sorted(p.name for p in (REPO / "operator" / "sql" / "migrations").glob("*.sql"))
# Distributions the operator image must not carry (its extra is [operator]).
NOT_FOR_THE_OPERATOR = ("apache-flink", "apache-beam", "matplotlib", "scikit-learn", "scipy", "pandas")


class Env:
    """A virtual environment with the wheel installed; commands run outside the checkout, no PYTHONPATH."""

    def __init__(self, root: Path, workdir: Path) -> None:
        self.root = root
        self.python = root / "bin" / "python"
        self.workdir = workdir

    def env(self, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
        env["PATH"] = f"{self.root / 'bin'}{os.pathsep}{env.get('PATH', '')}"
        return env | extra

    def run(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            cwd=self.workdir,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def streamflow(self, *args: str, timeout: float = 300, **env: str) -> subprocess.CompletedProcess[str]:
        return self.run(str(self.root / "bin" / "streamflow"), *args, timeout=timeout, **env)

    def distributions(self) -> set[str]:
        listed = self.run(str(self.python), "-m", "pip", "list", "--format=json")
        assert listed.returncode == 0, listed.stderr
        return {d["name"].lower() for d in json.loads(listed.stdout)}


def _tracked_sources(dest: Path) -> Path:
    """What a clone has (git ls-files) of the wheel's source directories, copied out of the checkout."""
    listed = subprocess.run(
        [
            "git",
            "ls-files",
            "-z",
            "pyproject.toml",
            "README.md",
            "operator",
            "jobs",
            "models",
            "cli",
        ],
        cwd=REPO,
        capture_output=True,
        check=True,
    )
    for name in filter(None, listed.stdout.decode().split("\0")):
        if (REPO / name).is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / name, dest / name)
    return dest


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = _tracked_sources(tmp_path_factory.mktemp("wheel-src"))
    out = tmp_path_factory.mktemp("wheel-dist")
    built = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(src)],
        env=os.environ | {"PIP_CACHE_DIR": str(cache_dir() / "pip")},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (found,) = out.glob("streamflow-*.whl")
    return found


def _install(wheel: Path, root: Path, workdir: Path, extra: str) -> Env:
    venv.EnvBuilder(with_pip=True, clear=True).create(root)
    env = Env(root, workdir)
    result = env.run(
        str(env.python), "-m", "pip", "install", "--disable-pip-version-check", "-q",
        "-c", str(REPO / ".ci" / "constraints.txt"), f"{wheel}[{extra}]",
        timeout=900, PIP_CACHE_DIR=str(cache_dir() / "pip"),
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return env


@pytest.fixture(scope="module")
def operator_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Env:
    return _install(
        wheel, tmp_path_factory.mktemp("venv-operator"), tmp_path_factory.mktemp("cwd-op"), "operator"
    )


@pytest.fixture(scope="module")
def job_env(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Env:
    return _install(wheel, tmp_path_factory.mktemp("venv-job"), tmp_path_factory.mktemp("cwd-job"), "job")


def test_the_wheel_carries_the_migrations_and_no_dev_stack(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    packaged = sorted(Path(n).name for n in names if n.startswith("fraud_operator/sql/migrations/"))
    assert packaged == MIGRATIONS
    tops = {n.split("/")[0] for n in names if not n.startswith("streamflow-")}
    assert tops == {"fraud_operator", "fraud_jobs", "fraud_models", "streamflow_cli"}, tops


def test_the_operator_install_has_no_flink_beam_or_training_stack(operator_env: Env) -> None:
    installed = operator_env.distributions()
    assert {"kopf", "kubernetes", "psycopg", "streamflow"} <= installed
    assert not installed & set(NOT_FOR_THE_OPERATOR), installed & set(NOT_FOR_THE_OPERATOR)
    where = operator_env.run(
        str(operator_env.python), "-c", "import fraud_operator; print(fraud_operator.__file__)"
    )
    assert where.returncode == 0, where.stderr
    assert Path(where.stdout.strip()).is_relative_to(operator_env.root), where.stdout
    version = operator_env.streamflow("--version")
    assert version.returncode == 0 and version.stdout.strip() == "streamflow 0.1.0", version
    helped = operator_env.streamflow("--help")
    assert helped.returncode == 0 and "operator" in helped.stdout and "db" in helped.stdout
    assert "not installed here" in helped.stdout and "streamflow_dev" in helped.stdout
    # a training command names the extra it needs instead of a traceback
    train = operator_env.streamflow(
        "model", "train", "--data", "x.parquet", "--algorithm", "isolation_forest",
        "--train-window", "2018-07-25..2018-07-31", "--out", "out",
    )  # fmt: skip
    assert train.returncode == 1 and "streamflow[training]" in train.stderr, train.stderr


@pytest.mark.postgres
def test_the_installed_package_migrates_a_database(operator_env: Env, postgres_dsn: str) -> None:
    result = operator_env.streamflow("db", "migrate", "--dsn", postgres_dsn)
    assert result.returncode == 0, result.stdout + result.stderr
    with psycopg.connect(postgres_dsn) as conn:
        rows = conn.execute("SELECT version, name FROM public.schema_migrations ORDER BY version").fetchall()
    assert [f"{v:03d}_{n}.sql" for v, n in rows] == MIGRATIONS


@pytest.fixture
def installed_operator(
    operator_env: Env, kube: KubeCluster, namespace: str, pg_server_dsn: str, tmp_path: Path
) -> Iterator[Cluster]:
    """`streamflow operator` from the operator environment, watching the test's namespace."""
    db = sample("fraudpipeline-payments")["spec"]["database"]
    with cnpg_ready_app_database(
        kube.api_client, namespace, db["cnpgCluster"], pg_server_dsn, db["database"]
    ) as app:
        log = (tmp_path / "operator.log").open("w")
        proc = subprocess.Popen(
            [str(operator_env.root / "bin" / "streamflow"), "operator", "--namespace", namespace,
             "--metrics-port", str(free_port()), "--liveness-port", str(free_port())],
            cwd=operator_env.workdir, stdout=log, stderr=subprocess.STDOUT,
            env=operator_env.env(
                KUBECONFIG=str(kube.kubeconfig),
                STREAMFLOW_DB_HOST_OVERRIDE=f"{app.host}:{app.port}",
            ),
        )  # fmt: skip
        cluster = Cluster(kube, namespace)
        try:
            yield cluster
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            log.close()
            for plural in ("fraudpipelines", "fraudmodels"):
                for name in kube.kubectl("get", plural, "-n", namespace, "-o", "name").stdout.split():
                    kube.kubectl(
                        "patch",
                        name,
                        "-n",
                        namespace,
                        "--type=merge",
                        "-p",
                        '{"metadata":{"finalizers":null}}',
                    )
        assert proc.returncode in (0, -15), (tmp_path / "operator.log").read_text()[-4000:]


@pytest.mark.cluster
@pytest.mark.postgres
def test_the_installed_operator_brings_a_pipeline_to_ready(
    installed_operator: Cluster, tmp_path: Path
) -> None:
    cluster = installed_operator
    cluster.apply(sample("fraudmodel-iforest-v1"), sample("fraudmodel-hgb-v2"))
    cluster.apply(sample("fraudpipeline-payments"))
    try:
        cluster.wait_condition("payments", "SchemaMigrated", "True", "Migrated", timeout=120)
        wait_for(
            lambda: cluster.get("flink.apache.org/v1beta1", "FlinkDeployment", "payments"),
            60,
            what="FlinkDeployment",
        )
        write_flink_operator_status(cluster.kube.api_client, cluster.namespace, "payments")
        cluster.wait_condition("payments", "Ready", "True", timeout=120)
    except AssertionError:
        log = next(iter(sorted(tmp_path.parent.glob("**/operator.log"))), None)
        raise AssertionError(log.read_text()[-6000:] if log else "no operator log") from None
    status = cluster.pipeline("payments")["status"]
    assert status["schemaVersion"] == len(MIGRATIONS)


def _descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def _mapped_site_packages(pid: int) -> set[str]:
    """Files under a site-packages directory mapped into ``pid`` or any process below it."""
    paths: set[str] = set()
    for each in _descendants(pid):
        try:
            lines = Path(f"/proc/{each}/maps").read_text().splitlines()
        except OSError:
            continue
        paths |= {line.split()[-1] for line in lines if "/site-packages/" in line}
    return paths


@pytest.mark.flink
@pytest.mark.kafka
def test_the_installed_detector_runs_on_the_standalone_cluster(
    job_env: Env, flink_cluster: FlinkCluster, kafka_bootstrap: str, kafka_topic_factory: Any, tmp_path: Path
) -> None:
    installed = job_env.distributions()
    assert {"apache-flink", "streamflow"} <= installed
    assert not installed & {"kopf", "kubernetes", "matplotlib", "scikit-learn"}
    topics = {role: kafka_topic_factory(role) for role in ROLES}
    # Process mode: the TaskManager starts the job environment's interpreter for the Python functions. (In
    # thread mode it embeds the interpreter of the base installation, which ignores a venv's site-packages:
    # the job image therefore installs into a real prefix, /opt/python, not into a venv.)
    settings = detector_settings(kafka_bootstrap, topics, "", tmp_path / "checkpoints").with_flink(
        jars=None, execution_mode="process"
    )
    config = tmp_path / "detector.json"
    config.write_text(settings.model_dump_json(), encoding="utf-8")
    python = str(job_env.python)
    result = flink_cluster.flink(
        "run", "-d", "-m", flink_cluster.address, "-pyexec", python, "-pyclientexec", python,
        "-pym", "fraud_jobs.detector", "--config", str(config),
    )  # fmt: skip
    found = re.search(r"JobID ([0-9a-f]{32})", result.stdout)
    assert result.returncode == 0 and found, f"flink run failed:\n{result.stdout}\n{result.stderr}"
    job_id = found.group(1)
    wait_for(lambda: flink_cluster.rest(f"/jobs/{job_id}")["state"] == "RUNNING", 90, what="the job RUNNING")
    produce(kafka_bootstrap, topics["transactions"], [tx(f"w-{i}", "C-W", "T-W", 10.0 + i) for i in range(5)])
    scores = TopicReader(kafka_bootstrap, topics["scores"])
    scored = scores.wait(lambda s: len(s) >= 5 and s, 120, "5 score records")
    assert {s["transaction_id"] for s in scored} == {f"w-{i}" for i in range(5)}
    # The Python workers below the TaskManager run the job environment: every extension module mapped into
    # them comes from its site-packages, none from the development install's.
    mapped = set()
    for process in flink_cluster.processes:
        if process.component.startswith("flink-taskmanager"):
            mapped |= _mapped_site_packages(process.pid)
    assert any(Path(p).is_relative_to(job_env.root) for p in mapped), sorted(mapped)[:20]
    assert all(Path(p).is_relative_to(job_env.root) for p in mapped), sorted(mapped)[:20]
    flink_cluster.rest(f"/jobs/{job_id}?mode=cancel", method="PATCH")


@pytest.mark.postgres
def test_an_install_without_its_migrations_says_so_and_touches_nothing(
    operator_env: Env, postgres_dsn: str
) -> None:
    """What a wheel built without package data would do: a clear error, no schema, exit 1."""
    where = operator_env.run(
        str(operator_env.python), "-c", "import fraud_operator; print(fraud_operator.__file__)"
    )
    sql = Path(where.stdout.strip()).parent / "sql"
    hidden = sql.with_name("sql.hidden-by-test")
    sql.rename(hidden)
    try:
        result = operator_env.streamflow("db", "migrate", "--dsn", postgres_dsn)
    finally:
        hidden.rename(sql)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "carries no migrations" in result.stderr and "package data" in result.stderr, result.stderr
    with psycopg.connect(postgres_dsn) as conn:
        found = conn.execute("SELECT to_regclass('public.schema_migrations')").fetchone()
    assert found == (None,)
