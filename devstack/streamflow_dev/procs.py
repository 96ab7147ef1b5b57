"""Starting, watching and stopping the stack's processes.

Every process is started in its own session with its output in a log file, and its pid recorded, so that a
failure can name the component and its log, and ``dev down`` stops exactly what was started.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ComponentError",
    "ManagedProcess",
    "free_port",
    "pid_alive",
    "start_process",
    "stop_pid",
    "wait_until",
]


class ComponentError(RuntimeError):
    """A component of the stack failed; the message names it and points at its log."""

    def __init__(self, component: str, problem: str, log: Path | None = None) -> None:
        self.component = component
        self.log = log
        where = f" (log: {log})" if log else ""
        tail = _tail(log) if log else ""
        super().__init__(f"{component}: {problem}{where}{tail}")


def _tail(log: Path, lines: int = 15) -> str:
    try:
        text = log.read_text(errors="replace").splitlines()[-lines:]
    except OSError:
        return ""
    return ("\n  last lines of the log:\n    " + "\n    ".join(text)) if text else ""


@dataclass(frozen=True)
class ManagedProcess:
    """A started process: which component, its pid, its log and the argv it was started with."""

    component: str
    pid: int
    log: Path
    argv: tuple[str, ...]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _die_with_parent() -> None:
    """Ask the kernel to SIGTERM this child when its parent dies (used for test-owned stacks)."""
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    pr_set_pdeathsig = 1
    libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_process(
    component: str,
    argv: Sequence[str],
    log: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    tied_to_parent: bool = False,
) -> ManagedProcess:
    """Start ``argv`` in a new session, output to ``log``; raise ComponentError if it cannot start."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        try:
            proc = subprocess.Popen(
                list(argv),
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
                preexec_fn=_die_with_parent if tied_to_parent else None,
            )
        except OSError as exc:
            raise ComponentError(component, f"cannot start {argv[0]}: {exc}", log) from exc
    return ManagedProcess(component, proc.pid, log, tuple(argv))


def pid_alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):
        state = Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0]
        if state == "Z":
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            return False
    return True


def stop_pid(pid: int, *, grace: float = 15.0) -> None:
    """SIGTERM the process group led by ``pid``, then SIGKILL it after ``grace`` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, sig)
        deadline = time.monotonic() + (grace if sig == signal.SIGTERM else 5.0)
        while time.monotonic() < deadline:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            if not pid_alive(pid):
                return
            time.sleep(0.1)


def wait_until(
    component: str,
    ready: Callable[[], bool],
    *,
    timeout: float,
    process: ManagedProcess | None = None,
    what: str = "ready",
) -> None:
    """Poll ``ready`` until it is true; fail early if the process died, or after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last_error = ""
    while time.monotonic() < deadline:
        if process is not None and not pid_alive(process.pid):
            raise ComponentError(component, f"exited before it was {what}", process.log)
        try:
            if ready():
                return
        except Exception as exc:  # readiness probes fail in many ways until the component is up
            last_error = f"; last probe error: {exc}"
        time.sleep(0.25)
    log = process.log if process else None
    raise ComponentError(component, f"not {what} after {timeout:.0f}s{last_error}", log)
