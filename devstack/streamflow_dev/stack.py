"""Bring the whole local stack up and down, and describe it.

A run directory holds everything of one stack (data, logs, certificates, ``stack.json`` with pids and
endpoints), so ``down`` stops exactly the processes ``up`` started, and nothing else.
"""

from __future__ import annotations

import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .crds import crd_files, install_crds
from .flink import ensure_flink_jars, flink_jar_urls
from .kafka import KAFKA_VERSION, ensure_kafka_jars, start_kafka
from .kube import start_kube
from .kube_build import K8S_VERSION, ensure_kube_binaries
from .paths import current_run_pointer, runs_root
from .postgres import start_postgres
from .procs import ComponentError, ManagedProcess, pid_alive, stop_pid
from .tools import RELEASE_TOOLS, TEST_TOOLS, ensure_tool

__all__ = ["COMPONENTS", "StackInfo", "build_all", "down", "env_lines", "load", "status", "up"]

COMPONENTS = ("kube", "kafka", "postgres", "flink")


@dataclass
class StackInfo:
    """What a running stack is and how to reach it; persisted as ``<run_dir>/stack.json``."""

    run_dir: str
    started_at: float
    components: list[str]
    processes: list[dict[str, Any]] = field(default_factory=list)
    kubeconfig: str | None = None
    kube_server: str | None = None
    kube_bin_dir: str | None = None
    kafka_bootstrap: str | None = None
    pg_dsn: str | None = None
    flink_jars: str | None = None

    @property
    def path(self) -> Path:
        return Path(self.run_dir) / "stack.json"

    def save(self) -> None:
        self.path.write_text(json.dumps(asdict(self), indent=2) + "\n")
        self.path.chmod(0o600)


def build_all(components: Iterable[str] = COMPONENTS, *, progress: bool = False) -> None:
    """Download and build everything the components need, without starting anything (for CI warm-up).

    ``progress``: each step announced as ``[i/n]`` on stderr, with a bar while it builds or downloads.
    """
    wanted = set(components)
    steps: list[tuple[str, Callable[[], object]]] = []
    if "kube" in wanted:
        steps.append((f"Kubernetes {K8S_VERSION} binaries", lambda: ensure_kube_binaries(progress=progress)))
        steps += [
            (f"{tool.name} {tool.version}", functools.partial(ensure_tool, tool, progress=progress))
            for tool in RELEASE_TOOLS
        ]
    if "kafka" in wanted:
        steps.append((f"Kafka {KAFKA_VERSION} jars", lambda: ensure_kafka_jars(progress=progress)))
        steps += [
            (f"{tool.name} {tool.version}", functools.partial(ensure_tool, tool, progress=progress))
            for tool in TEST_TOOLS
        ]
    if "flink" in wanted:
        steps.append(("Flink connector jars", lambda: ensure_flink_jars(progress=progress)))
    for number, (label, step) in enumerate(steps, start=1):
        if progress:
            print(f"[{number}/{len(steps)}] {label}", file=sys.stderr, flush=True)
        step()


def up(
    run_dir: Path | None = None,
    components: Iterable[str] = COMPONENTS,
    *,
    tied_to_parent: bool = False,
    remember: bool = True,
) -> StackInfo:
    """Start the components; on any failure (or Ctrl-C) stop what was started and re-raise.

    The API server gets our CRDs and the upstream ones, Established, before ``up`` returns: a user can
    apply the samples right away. They are resolved first, so a missing file fails before anything starts.
    """
    wanted = [c for c in COMPONENTS if c in set(components)]
    unknown = set(components) - set(COMPONENTS)
    if unknown:
        raise ValueError(f"unknown components {sorted(unknown)}; choose from {COMPONENTS}")
    if run_dir is None:
        run_dir = Path(tempfile.mkdtemp(prefix=time.strftime("%Y%m%d-%H%M%S-"), dir=runs_root()))
    run_dir.mkdir(parents=True, exist_ok=True)
    run_dir.chmod(0o755)
    info = StackInfo(run_dir=str(run_dir), started_at=time.time(), components=wanted)
    started: list[ManagedProcess] = []
    try:
        crds = crd_files() if "kube" in wanted else []
        if "flink" in wanted:
            info.flink_jars = flink_jar_urls(ensure_flink_jars())
        if "kube" in wanted:
            kube = start_kube(run_dir, started, tied_to_parent=tied_to_parent)
            info.kubeconfig, info.kube_server = str(kube.kubeconfig), kube.server
            info.kube_bin_dir = str(kube.bin_dir)
            install_crds(_kubectl(kube.bin_dir, kube.kubeconfig), field_manager="streamflow-dev", files=crds)
        if "kafka" in wanted:
            info.kafka_bootstrap = start_kafka(run_dir, started, tied_to_parent=tied_to_parent).bootstrap
        if "postgres" in wanted:
            info.pg_dsn = start_postgres(run_dir, started, tied_to_parent=tied_to_parent).dsn
    except BaseException:
        for proc in reversed(started):
            stop_pid(proc.pid)
        raise
    finally:
        info.processes = [
            {"component": p.component, "pid": p.pid, "log": str(p.log), "argv0": p.argv[0]} for p in started
        ]
        info.save()
    if remember:
        current_run_pointer().write_text(str(run_dir) + "\n")
    return info


def _kubectl(bin_dir: Path, kubeconfig: Path) -> Callable[..., str]:
    """The stack's own kubectl against its API server; stdout, or ComponentError with kubectl's message."""

    def run(*args: str) -> str:
        argv = [str(bin_dir / "kubectl"), f"--kubeconfig={kubeconfig}", *args]
        result = subprocess.run(argv, capture_output=True, text=True, timeout=180, check=False)
        if result.returncode != 0:
            raise ComponentError("crds", f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result.stdout

    return run


def load(run_dir: Path | None = None) -> StackInfo:
    """Read the stack description of ``run_dir`` (default: the one ``dev up`` started last)."""
    if run_dir is None:
        pointer = current_run_pointer()
        if not pointer.is_file():
            raise ComponentError("stack", "no stack is up (run `streamflow dev up`)")
        run_dir = Path(pointer.read_text().strip())
    path = run_dir / "stack.json"
    if not path.is_file():
        raise ComponentError("stack", f"{run_dir} holds no stack.json")
    return StackInfo(**json.loads(path.read_text()))


def _is_ours(proc: dict[str, Any]) -> bool:
    """True if the pid still runs the program we started (guards against pid reuse)."""
    pid = int(proc["pid"])
    if not pid_alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return bool(cmdline) and os.fsdecode(cmdline[0]) == proc["argv0"]


def status(info: StackInfo) -> list[tuple[str, int, bool, str]]:
    """(component, pid, running, log) for every process of the stack."""
    return [(p["component"], int(p["pid"]), _is_ours(p), p["log"]) for p in info.processes]


def down(info: StackInfo, *, keep_run_dir: bool = False) -> list[str]:
    """Stop exactly the stack's processes (last started first) and remove its run directory."""
    stopped = []
    for proc in reversed(info.processes):
        if _is_ours(proc):
            stop_pid(int(proc["pid"]))
            stopped.append(f"{proc['component']} (pid {proc['pid']})")
    run_dir = Path(info.run_dir)
    if not keep_run_dir and run_dir.is_dir():
        shutil.rmtree(run_dir, ignore_errors=True)
    pointer = current_run_pointer()
    if pointer.is_file() and pointer.read_text().strip() == str(run_dir):
        pointer.unlink()
    return stopped


def env_lines(info: StackInfo) -> str:
    """Shell ``export`` lines, for ``eval "$(streamflow dev env)"``; the stack's kubectl first on PATH."""
    values = {
        "STREAMFLOW_STACK_DIR": info.run_dir,
        "KUBECONFIG": info.kubeconfig,
        "STREAMFLOW_KUBE_BIN": info.kube_bin_dir,
        "STREAMFLOW_KAFKA_BOOTSTRAP": info.kafka_bootstrap,
        "STREAMFLOW_PG_DSN": info.pg_dsn,
        "STREAMFLOW_FLINK_JARS": info.flink_jars,
    }
    lines = [f"export {k}={shlex.quote(v)}\n" for k, v in values.items() if v]
    if info.kube_bin_dir:
        lines.append(f'export PATH={shlex.quote(info.kube_bin_dir)}:"$PATH"\n')
    return "".join(lines)
