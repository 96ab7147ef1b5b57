"""Where the local stack keeps its caches and its per-run directories.

Downloads and builds are expensive (a cold Kubernetes build takes many minutes), so they live in one cache
that survives runs; everything a run writes (data, logs, certificates) lives in its own run directory.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir", "current_run_pointer", "repo_root", "runs_root", "shared_dir"]


def cache_dir() -> Path:
    """The download/build cache, ``$STREAMFLOW_CACHE`` or ``~/.cache/streamflow``."""
    path = Path(os.environ.get("STREAMFLOW_CACHE", "~/.cache/streamflow")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def runs_root() -> Path:
    """Run directories live under /tmp: PostgreSQL runs as an unprivileged user that must reach it."""
    path = Path(os.environ.get("STREAMFLOW_RUNS", "/tmp/streamflow-runs"))
    path.mkdir(parents=True, exist_ok=True)
    path.chmod(0o755)
    return path


def current_run_pointer() -> Path:
    """File holding the run directory of the stack that ``streamflow dev up`` started last.

    It lives beside the run directories, so a test suite with its own ``STREAMFLOW_RUNS`` never moves the
    pointer of the stack a developer has up."""
    return runs_root() / "current-run"


def repo_root() -> Path:
    """The checkout this package runs from (installed editable, as the README and CI do)."""
    return Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """``../shared`` beside the checkout (third-party CRDs, datasets), or ``$STREAMFLOW_SHARED_DIR``."""
    return Path(os.environ.get("STREAMFLOW_SHARED_DIR", repo_root().parent / "shared"))
