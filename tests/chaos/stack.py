"""The chaos suite's components and the faults it injects into them (kill -9, restart, partition)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from streamflow_dev.flink_cluster import FlinkCluster, start_taskmanager
from streamflow_dev.kafka import KafkaEndpoints, restart_kafka
from streamflow_dev.postgres import PostgresEndpoints, restart_postgres
from streamflow_dev.procs import ManagedProcess, pid_alive
from streamflow_dev.toxiproxy import Toxiproxy

__all__ = ["PROXY", "ChaosStack", "kill9", "prometheus_port_range"]

PROXY = "kafka-job"
"""The Toxiproxy proxy between the detector job and the broker's PROXIED listener."""


def prometheus_port_range(size: int = 8) -> range:
    """``size`` consecutive free loopback ports (Flink's reporter takes the first free one of a range)."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = int(probe.getsockname()[1])
        if base + size > 65535:
            continue
        ports = range(base, base + size)
        if all(_free(port) for port in ports):
            return ports
    raise RuntimeError(f"no {size} consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def kill9(process: ManagedProcess, timeout: float = 30) -> None:
    """SIGKILL the process and its process group (e.g. PostgreSQL's backends), as a crash would; wait
    until the kernel has reaped them."""
    for kill in (os.killpg, os.kill):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            kill(process.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while pid_alive(process.pid) or _group_alive(process.pid):
        if time.monotonic() > deadline:
            raise AssertionError(f"{process.component} (pid {process.pid}) survived SIGKILL")
        with contextlib.suppress(ChildProcessError):
            os.waitpid(process.pid, os.WNOHANG)
        time.sleep(0.05)


def _group_alive(pgid: int) -> bool:
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


@dataclass
class ChaosStack:
    """What the scenarios act on; ``started`` holds every process, restarted ones too (all stopped at the
    end)."""

    run_dir: Path
    kafka: KafkaEndpoints
    proxy: Toxiproxy
    proxied_bootstrap: str
    postgres: PostgresEndpoints
    flink: FlinkCluster
    started: list[ManagedProcess]
    prom_ports: range
    replacements: list[tuple[float, float, str]] = field(default_factory=list)
    """(when no TaskManager was alive, when its replacement registered, outcome) per replacement."""
    _stopping: threading.Event = field(default_factory=threading.Event)
    _supervisor: threading.Thread | None = None

    def current(self, prefix: str) -> list[ManagedProcess]:
        """The live processes whose component starts with ``prefix`` (``kafka``, ``flink-taskmanager``)."""
        return [p for p in self.started if p.component.startswith(prefix) and pid_alive(p.pid)]

    def supervise(self) -> None:
        """Play the TaskManager Deployment: whenever no TaskManager process is alive, start one at once
        (as the kubelet restarts a container that exited) and note when it registered."""

        def loop() -> None:
            while not self._stopping.wait(0.2):
                if self.current("flink-taskmanager"):
                    continue
                died = time.time()
                index = sum(p.component.startswith("flink-taskmanager") for p in self.started)
                try:
                    start_taskmanager(self.flink, index, self.started, tied_to_parent=True)
                except Exception as exc:  # the next round tries again; the scenario's wait names it
                    self.replacements.append((died, float("nan"), f"{type(exc).__name__}: {exc}"))
                    continue
                self.replacements.append((died, time.time(), "registered"))

        self._supervisor = threading.Thread(target=loop, name="taskmanager-supervisor", daemon=True)
        self._supervisor.start()

    def stop_supervising(self) -> None:
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join(timeout=150)

    def kill_taskmanagers(self) -> None:
        for process in self.current("flink-taskmanager"):
            kill9(process)

    def replaced_after(self, moment: float, timeout: float = 180) -> float:
        """When a TaskManager started by the supervisor after ``moment`` registered."""
        deadline = time.monotonic() + timeout
        while True:
            done = [r for r in self.replacements if r[0] >= moment and r[2] == "registered"]
            if done:
                return done[0][1]
            if time.monotonic() > deadline:
                raise AssertionError(f"no TaskManager replaced after {timeout:.0f}s: {self.replacements}")
            time.sleep(0.2)

    def kill_kafka(self) -> None:
        (broker,) = [p for p in self.current("kafka") if p.component == "kafka"]
        kill9(broker)

    def restart_kafka(self) -> None:
        restart_kafka(self.kafka, self.started, tied_to_parent=True)

    def kill_postgres(self) -> None:
        (server,) = self.current("postgresql")
        kill9(server)

    def restart_postgres(self) -> None:
        restart_postgres(self.postgres, self.started, tied_to_parent=True)

    def database_dsn(self, name: str) -> str:
        return self.postgres.dsn.rsplit("/", 1)[0] + f"/{name}"

    def prometheus(self) -> str:
        """Every Flink process's Prometheus exposition (the reporter's HTTP servers in the port range)."""
        texts = []
        for port in self.prom_ports:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
                    texts.append(response.read().decode())
            except Exception:  # nothing there yet, or not a reporter (another process took the port)
                continue
        return "\n".join(texts)


_SAMPLE = re.compile(r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)\{(?P<labels>[^}]*)\} (?P<value>\S+)$", re.M)


def samples(text: str, name: str) -> list[tuple[dict[str, str], float]]:
    """(labels, value) of every sample of metric ``name`` in a Prometheus text exposition."""
    found = []
    for match in _SAMPLE.finditer(text):
        if match["name"] == name:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match["labels"]))
            found.append((labels, float(match["value"])))
    return found
