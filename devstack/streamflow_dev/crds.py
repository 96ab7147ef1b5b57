"""Install our CRDs and the upstream ones (Flink, Strimzi, CNPG, Prometheus Operator), and wait for them.

Used by ``streamflow dev up``, the test fixtures and the demo alike, so all of them validate against exactly
the same schemas: ours from the checkout's ``crds/``, the upstream ones resolved by
:mod:`streamflow_dev.upstream` (cache, offline mirror or pinned release URL, each checked by sha256).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path

from .paths import repo_root
from .procs import ComponentError, wait_until
from .upstream import CRD_NAMES, Resolver

__all__ = ["crd_files", "install_crds", "upstream_crd_dir"]


def crd_files(resolver: Resolver | None = None) -> list[Path]:
    """Our generated CRDs, then the upstream ones (resolved and verified, see :mod:`.upstream`)."""
    ours = sorted((repo_root() / "crds").glob("*.yaml"))
    if not ours:
        raise ComponentError("crds", f"no CRDs under {repo_root() / 'crds'}")
    return [*ours, *(resolver or Resolver()).resolve_all(CRD_NAMES).values()]


def upstream_crd_dir(resolver: Resolver | None = None) -> Path:
    """The cache directory of the upstream CRDs, all resolved (for ``streamflow render --check-upstream``)."""
    (directory,) = {path.parent for path in (resolver or Resolver()).resolve_all(CRD_NAMES).values()}
    return directory


def install_crds(
    kubectl: Callable[..., str],
    *,
    field_manager: str,
    timeout: float = 60,
    files: Sequence[Path] | None = None,
) -> None:
    """Server-side apply every CRD with ``kubectl`` (returns stdout), then wait until all are Established.

    ``files`` defaults to :func:`crd_files`; pass them to resolve before anything starts.
    """
    for path in crd_files() if files is None else files:
        kubectl(
            "apply", "--server-side", "--force-conflicts", f"--field-manager={field_manager}", "-f", str(path)
        )

    def all_established() -> bool:
        items = json.loads(kubectl("get", "crd", "-o", "json"))["items"]
        conditions = [(item.get("status") or {}).get("conditions") or [] for item in items]
        return all(any(c["type"] == "Established" and c["status"] == "True" for c in cs) for cs in conditions)

    wait_until("crds", all_established, timeout=timeout, what="Established")
