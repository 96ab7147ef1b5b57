"""Install our CRDs and the third-party ones (Flink, Strimzi, CNPG) into a cluster, and wait for them.

Used by the test fixtures and the local demo alike, so both validate against exactly the same schemas.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .paths import repo_root, shared_dir
from .procs import ComponentError, wait_until

__all__ = ["crd_files", "install_crds"]


def crd_files() -> list[Path]:
    """Our generated CRDs, then the upstream ones from ``../shared/crds``."""
    theirs = sorted((shared_dir() / "crds").glob("*.y*ml"))
    if not theirs:
        raise ComponentError(
            "crds", f"no third-party CRDs under {shared_dir() / 'crds'} (set STREAMFLOW_SHARED_DIR)"
        )
    return [*sorted((repo_root() / "crds").glob("*.yaml")), *theirs]


def install_crds(kubectl: Callable[..., str], *, field_manager: str, timeout: float = 60) -> None:
    """Server-side apply every CRD with ``kubectl`` (returns stdout), then wait until all are Established."""
    for path in crd_files():
        kubectl(
            "apply", "--server-side", "--force-conflicts", f"--field-manager={field_manager}", "-f", str(path)
        )

    def all_established() -> bool:
        items = json.loads(kubectl("get", "crd", "-o", "json"))["items"]
        conditions = [(item.get("status") or {}).get("conditions") or [] for item in items]
        return all(any(c["type"] == "Established" and c["status"] == "True" for c in cs) for cs in conditions)

    wait_until("crds", all_established, timeout=timeout, what="Established")
