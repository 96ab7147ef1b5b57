"""Build the real Kubernetes control plane (and etcd, kubectl) from the Go module proxy, once.

``k8s.io/kubernetes`` cannot be ``go install``-ed (its staging modules are replaced by local paths), so a
small wrapper module of ours (``kubebin/``) requires it and pins every staging module to its published twin.
The binaries are cached per version under ``~/.cache/streamflow/bin``; a second run reuses them.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from .paths import cache_dir
from .procs import ComponentError
from .progress import GoBuildSteps, run_logged

__all__ = ["BINARIES", "K8S_VERSION", "ensure_kube_binaries", "go_env", "kube_bin_dir"]

K8S_VERSION = "v1.34.4"
BINARIES = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
_MODULE_DIR = Path(__file__).with_name("kubebin")


def go_env(**extra: str) -> dict[str, str]:
    """Environment for our Go builds: static binaries, module and build caches under our cache."""
    cache = cache_dir()
    return {
        **os.environ,
        "CGO_ENABLED": "0",
        "GOFLAGS": "-mod=mod -buildvcs=false",
        "GOMODCACHE": str(cache / "go" / "mod"),
        "GOCACHE": str(cache / "go" / "build"),
        **extra,
    }


def kube_bin_dir() -> Path:
    """Directory holding the cached binaries of ``K8S_VERSION``."""
    return cache_dir() / "bin" / f"kubernetes-{K8S_VERSION}"


def _ldflags() -> str:
    major, minor = K8S_VERSION.lstrip("v").split(".")[:2]
    flags = ["-s", "-w"]
    for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version"):
        flags += [
            f"-X {pkg}.gitVersion={K8S_VERSION}",
            f"-X {pkg}.gitMajor={major}",
            f"-X {pkg}.gitMinor={minor}",
            f"-X {pkg}.gitTreeState=clean",
            f"-X {pkg}.buildDate=1970-01-01T00:00:00Z",
        ]
    return " ".join(flags)


def ensure_kube_binaries(*, quiet: bool = False, progress: bool = False) -> Path:
    """Return the directory with every binary in ``BINARIES``, building them first if any is missing.

    ``progress``: a bar on stderr with the elapsed time and the build's step (module downloads, then
    each package compiled, counted).
    """
    out = kube_bin_dir()
    if all((out / name).is_file() for name in BINARIES):
        return out
    if shutil.which("go") is None:
        raise ComponentError("kubernetes build", "the `go` command is not on PATH (Go 1.24+ is needed)")
    cache = cache_dir()
    log = cache / "logs" / f"kubernetes-build-{K8S_VERSION}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    staging = cache / "build" / f"kubebin-{K8S_VERSION}"
    if staging.exists():
        shutil.rmtree(staging)
    shutil.copytree(_MODULE_DIR, staging)
    tmp_out = out.with_name(out.name + ".partial")
    tmp_out.mkdir(parents=True, exist_ok=True)
    env = go_env()
    # -v names each package as it is compiled: the log (and the progress bar) show where the build is.
    argv = ["go", "build", "-v", "-trimpath", "-ldflags", _ldflags(), "-o", str(tmp_out) + "/", "./cmd/..."]
    if not quiet:
        print(f"building Kubernetes {K8S_VERSION} from the Go module proxy (cold: 10-25 min); log: {log}")
    started = time.monotonic()
    code = run_logged(
        argv,
        log,
        desc=f"Kubernetes {K8S_VERSION}",
        steps=GoBuildSteps(),
        progress=progress,
        cwd=staging,
        env=env,
    )
    if code != 0:
        raise ComponentError("kubernetes build", f"go build failed with exit code {code}", log)
    missing = [name for name in BINARIES if not (tmp_out / name).is_file()]
    if missing:
        raise ComponentError("kubernetes build", f"go build produced no {', '.join(missing)}", log)
    if out.exists():
        shutil.rmtree(out)
    tmp_out.rename(out)
    if not quiet:
        print(f"built Kubernetes {K8S_VERSION} in {time.monotonic() - started:.0f}s -> {out}")
    return out
