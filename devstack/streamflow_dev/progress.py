"""What a long build step is doing, while it runs: elapsed time and its current step on stderr.

``streamflow dev build`` takes 10-25 minutes cold, almost all of it in two subprocesses whose own output
goes to a log: the Go build of Kubernetes (module downloads, then package compiles) and Maven's jar
downloads. :func:`run_logged` runs such a command and follows its log, so the bar shows which step runs
and how many modules, packages or jars are done. Off unless asked for (``--progress``/a terminal).
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Protocol

from fraud_models.progress import progress_bar

__all__ = ["GoBuildSteps", "LogSteps", "MavenDownloads", "run_logged"]

_POLL_S = 0.5
_BAR_FORMAT = "{desc} [{elapsed}]{postfix}"


class LogSteps(Protocol):
    """Reads a command's log lines and says where the command is."""

    def feed(self, line: str) -> None:
        """Take one more line of the log."""

    def describe(self) -> str:
        """The current step and the counts so far, for the bar."""


class GoBuildSteps:
    """``go build -v``/``go install -v``: ``go: downloading`` lines, then one import path per package."""

    def __init__(self) -> None:
        self.modules = 0
        self.packages = 0
        self.last = ""

    def feed(self, line: str) -> None:
        line = line.strip()
        if line.startswith("go: downloading "):
            self.modules += 1
            self.last = line.removeprefix("go: downloading ")
        elif line and not line.startswith(("go:", "#")) and " " not in line:
            self.packages += 1
            self.last = line

    def describe(self) -> str:
        if self.packages:
            return f"compiling: {self.packages} packages, {self.last}"
        if self.modules:
            return f"downloading modules: {self.modules}, {self.last}"
        return "resolving modules"


class MavenDownloads:
    """Maven in batch mode: ``[INFO] Downloaded from <repo>: <url> (<size> …)`` per file; jars counted."""

    def __init__(self) -> None:
        self.jars = 0
        self.files = 0

    def feed(self, line: str) -> None:
        _, found, rest = line.partition("Downloaded from ")
        if found:
            self.files += 1
            url = rest.partition(": ")[2].split(" (", 1)[0].strip()
            if url.endswith(".jar"):
                self.jars += 1

    def describe(self) -> str:
        return f"{self.jars} jars downloaded ({self.files} files)"


def run_logged(
    argv: Sequence[str],
    log: Path,
    *,
    desc: str,
    steps: LogSteps,
    progress: bool,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
) -> int:
    """Run ``argv`` with its output in ``log``; while it runs, a bar with the elapsed time and ``steps``.

    Returns the exit code. Interrupted (Ctrl-C), the command is killed before the exception goes on.
    """
    bar = progress_bar(progress, desc=desc, bar_format=_BAR_FORMAT, mininterval=_POLL_S)
    with log.open("w") as out, log.open("r", errors="replace") as follow:
        process = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        pending = ""
        try:
            while True:
                try:
                    code = process.wait(timeout=_POLL_S)
                except subprocess.TimeoutExpired:
                    code = None
                chunk = follow.read()
                if chunk:
                    *lines, pending = (pending + chunk).split("\n")
                    for line in lines:
                        steps.feed(line)
                bar.set_postfix_str(steps.describe(), refresh=False)
                bar.refresh()
                if code is not None:
                    if pending:
                        steps.feed(pending)
                    return code
        except BaseException:
            process.kill()
            process.wait()
            raise
        finally:
            bar.close()
