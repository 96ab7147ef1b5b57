"""The stack's own behaviour: clear failures naming the component and its log, exact teardown, no orphans."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from streamflow_dev import stack
from streamflow_dev.procs import ComponentError, pid_alive, start_process, wait_until

from tests.conftest import REPO, wait_for


def _processes_mentioning(text: str) -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit() or int(proc.name) == os.getpid():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in cmdline and pid_alive(int(proc.name)):
            pids.append(int(proc.name))
    return pids


def test_missing_binary_names_the_component_and_log(tmp_path: Path) -> None:
    log = tmp_path / "logs" / "ghost.log"
    with pytest.raises(ComponentError) as err:
        start_process("ghost", [str(tmp_path / "no-such-binary")], log)
    assert str(err.value).startswith("ghost: cannot start")
    assert str(log) in str(err.value)


def test_a_component_that_dies_is_reported_with_its_log_tail(tmp_path: Path) -> None:
    log = tmp_path / "broker.log"
    proc = start_process("broker", ["sh", "-c", "echo 'Address already in use: bind'; exit 3"], log)
    with pytest.raises(ComponentError) as err:
        wait_until("broker", lambda: False, timeout=30, process=proc)
    message = str(err.value)
    assert message.startswith("broker: exited before it was ready")
    assert str(log) in message and "Address already in use" in message


def test_a_component_that_never_gets_ready_times_out_clearly(tmp_path: Path) -> None:
    proc = start_process("sleeper", ["sleep", "30"], tmp_path / "sleeper.log")
    try:
        with pytest.raises(ComponentError, match=r"sleeper: not ready after 1s"):
            wait_until("sleeper", lambda: False, timeout=1, process=proc)
    finally:
        os.kill(proc.pid, signal.SIGKILL)


PRIVATE_RUNS = Path(stack.runs_root()) / f"tests-{uuid.uuid4().hex[:8]}"
"""These tests' own runs root (STREAMFLOW_RUNS): their `dev up`/`dev down` leave the pointer to a
developer's running stack alone."""


def _env() -> dict[str, str]:
    PRIVATE_RUNS.mkdir(mode=0o755, exist_ok=True)
    PRIVATE_RUNS.chmod(0o755)
    return {**os.environ, "STREAMFLOW_RUNS": str(PRIVATE_RUNS)}


def _cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "streamflow_cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env=_env(),
    )


def test_dev_up_env_status_down_stop_exactly_what_was_started(tmp_path: Path) -> None:
    pointer = stack.current_run_pointer()
    before = pointer.read_text() if pointer.is_file() else None
    run_dir = PRIVATE_RUNS / f"cli-{uuid.uuid4().hex[:8]}"
    up = _cli("dev", "up", "--components", "postgres", "--run-dir", str(run_dir))
    assert up.returncode == 0, up.stderr
    assert "postgresql:" in up.stdout
    info = stack.load(run_dir)
    pids = [int(p["pid"]) for p in info.processes]
    assert pids and all(pid_alive(pid) for pid in pids)

    env = _cli("dev", "env", "--run-dir", str(run_dir))
    assert f"export STREAMFLOW_STACK_DIR={run_dir}" in env.stdout
    assert "export STREAMFLOW_PG_DSN=postgresql://" in env.stdout

    status = _cli("dev", "status", "--run-dir", str(run_dir))
    assert status.returncode == 0 and "running" in status.stdout

    down = _cli("dev", "down", "--run-dir", str(run_dir))
    assert down.returncode == 0 and "postgresql" in down.stdout
    wait_for(
        lambda: not any(pid_alive(pid) for pid in pids), timeout=30, what="the stack's processes to exit"
    )
    assert not run_dir.exists()
    assert _processes_mentioning(str(run_dir)) == []
    assert (pointer.read_text() if pointer.is_file() else None) == before, "the developer's pointer moved"


def test_interrupting_dev_up_leaves_no_orphans(tmp_path: Path) -> None:
    run_dir = PRIVATE_RUNS / f"interrupt-{uuid.uuid4().hex[:8]}"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "streamflow_cli",
            "dev",
            "up",
            "--components",
            "kafka,postgres",
            "--run-dir",
            str(run_dir),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        # A runner started in the background (`cmd &` without job control) ignores SIGINT and its
        # children inherit that, so Python would install no Ctrl-C handler: give the child the default.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    # Interrupt while the broker is starting: Kafka is started (log exists), PostgreSQL not yet.
    wait_for(
        lambda: (run_dir / "logs" / "kafka.log").exists() or proc.poll() is not None,
        timeout=120,
        interval=0.05,
        what="the broker to start",
    )
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "interrupted" in err
    wait_for(lambda: _processes_mentioning(str(run_dir)) == [], timeout=30, what="no process of the run left")
    assert (run_dir / "logs" / "kafka.log").exists()  # the broker had really been started
    shutil.rmtree(run_dir, ignore_errors=True)


def test_after_dev_up_and_dev_env_the_samples_apply() -> None:
    """As a user would: `streamflow dev up`, `eval "$(streamflow dev env)"`, `kubectl apply -f crds/samples/`.

    One stack start (the API server only); PATH holds no other kubectl than the system one, which the
    stack's must come before.
    """
    run_dir = PRIVATE_RUNS / f"crds-{uuid.uuid4().hex[:8]}"
    up = _cli("dev", "up", "--components", "kube", "--run-dir", str(run_dir), timeout=900)
    try:
        assert up.returncode == 0, up.stderr
        script = f"""
            set -euo pipefail
            eval "$({sys.executable} -m streamflow_cli dev env --run-dir {run_dir})"
            command -v kubectl
            kubectl get crd -o name
            kubectl apply -f crds/samples/
            kubectl get fraudpipelines,fraudmodels -o name
        """
        env = {**_env(), "PATH": "/usr/bin:/bin"}
        env.pop("KUBECONFIG", None)
        shell = subprocess.run(
            ["bash", "-c", script],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert shell.returncode == 0, shell.stdout + shell.stderr
        lines = shell.stdout.split()
        assert Path(lines[0]).parent == Path(stack.load(run_dir).kube_bin_dir or ""), (
            "the stack's own kubectl"
        )
        for crd in (
            "fraudpipelines.streamflow.io",
            "fraudmodels.streamflow.io",
            "flinkdeployments.flink.apache.org",
            "kafkatopics.kafka.strimzi.io",
            "clusters.postgresql.cnpg.io",
            "databases.postgresql.cnpg.io",
            "podmonitors.monitoring.coreos.com",
            "servicemonitors.monitoring.coreos.com",
            "prometheusrules.monitoring.coreos.com",
        ):
            assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in lines
        for created in (
            "fraudpipeline.streamflow.io/payments",
            "fraudmodel.streamflow.io/iforest-v1",
            "fraudmodel.streamflow.io/hgb-v2",
        ):
            assert lines.count(created) == 2, (created, shell.stdout)  # once by apply, once by get
    finally:
        down = _cli("dev", "down", "--run-dir", str(run_dir))
        assert down.returncode == 0, down.stderr
