"""Release and test tooling (helm, promtool, actionlint, Toxiproxy) built from the Go module proxy, once.

The shipping tests run the real tools on the chart, the alert rules and the workflows; none of them can be
downloaded as a prebuilt binary here, but each is a plain ``go install``-able module (no replace or exclude
directives in its go.mod). Binaries live in ``~/.cache/streamflow/bin/<tool>-<version>/``; a second call
reuses them, and a build that fails leaves no half-written directory behind.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from .kube_build import go_env
from .paths import cache_dir
from .procs import ComponentError
from .progress import GoBuildSteps, run_logged

__all__ = [
    "ACTIONLINT",
    "HELM",
    "PROMTOOL",
    "RELEASE_TOOLS",
    "TEST_TOOLS",
    "TOXIPROXY",
    "GoTool",
    "ensure_actionlint",
    "ensure_helm",
    "ensure_promtool",
    "ensure_release_tools",
    "ensure_tool",
    "ensure_toxiproxy",
]


@dataclass(frozen=True)
class GoTool:
    """One binary and the module version it is built from."""

    name: str
    package: str
    version: str
    ldflags: str = "-s -w"
    built_as: str | None = None
    """The name ``go install`` gives the binary (its package directory), when it is not ``name``."""

    def bin_dir(self) -> Path:
        return cache_dir() / "bin" / f"{self.name}-{self.version}"

    def path(self) -> Path:
        return self.bin_dir() / self.name


# helm 3.19 pairs with Kubernetes 0.34 libraries, the same minor as the local API server. Its Makefile stamps
# the version and the Kubernetes version it assumes offline (else 1.20, below our charts' kubeVersion).
_HELM_LDFLAGS = " ".join(
    [
        "-s -w -X helm.sh/helm/v3/internal/version.version=v3.19.5",
        *(
            f"-X helm.sh/helm/v3/pkg/{pkg}.k8sVersion{part}={value}"
            for pkg in ("chartutil", "lint/rules")
            for part, value in (("Major", "1"), ("Minor", "34"))
        ),
    ]
)
HELM = GoTool("helm", "helm.sh/helm/v3/cmd/helm", "v3.19.5", _HELM_LDFLAGS)
PROMTOOL = GoTool("promtool", "github.com/prometheus/prometheus/cmd/promtool", "v0.316.0")
ACTIONLINT = GoTool("actionlint", "github.com/rhysd/actionlint/cmd/actionlint", "v1.7.12")
# The chaos tests' fault proxy (network partitions between the job and Kafka); its package is cmd/server.
TOXIPROXY = GoTool(
    "toxiproxy-server",
    "github.com/Shopify/toxiproxy/v2/cmd/server",
    "v2.12.0",
    "-s -w -X github.com/Shopify/toxiproxy/v2.Version=2.12.0",
    built_as="server",
)


def ensure_tool(tool: GoTool, *, quiet: bool = False, progress: bool = False) -> Path:
    """Path of ``tool``'s binary, ``go install``-ing it first when it is not cached (``progress``: a bar)."""
    target = tool.path()
    if target.is_file():
        return target
    if shutil.which("go") is None:
        raise ComponentError(f"{tool.name} build", "the `go` command is not on PATH")
    cache = cache_dir()
    log = cache / "logs" / f"{tool.name}-build-{tool.version}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    partial = tool.bin_dir().with_name(tool.bin_dir().name + ".partial")
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir(parents=True)
    env = go_env(GOBIN=str(partial))
    argv = ["go", "install", "-v", "-trimpath", "-ldflags", tool.ldflags, f"{tool.package}@{tool.version}"]
    if not quiet:
        print(f"building {tool.name} {tool.version} from the Go module proxy; log: {log}")
    started = time.monotonic()
    code = run_logged(
        argv, log, desc=f"{tool.name} {tool.version}", steps=GoBuildSteps(), progress=progress, env=env
    )
    built = partial / (tool.built_as or tool.name)
    if code != 0 or not built.is_file():
        raise ComponentError(f"{tool.name} build", f"go install failed (exit code {code})", log)
    built.rename(partial / tool.name)
    if tool.bin_dir().exists():
        shutil.rmtree(tool.bin_dir())
    partial.rename(tool.bin_dir())
    if not quiet:
        print(f"built {tool.name} {tool.version} in {time.monotonic() - started:.0f}s -> {target}")
    return target


def ensure_helm(*, quiet: bool = False) -> Path:
    """The helm binary (charts are linted, templated and installed with the real helm)."""
    return ensure_tool(HELM, quiet=quiet)


def ensure_promtool(*, quiet: bool = False) -> Path:
    """The promtool binary (alert rules are checked and unit-tested with the real promtool)."""
    return ensure_tool(PROMTOOL, quiet=quiet)


def ensure_actionlint(*, quiet: bool = False) -> Path:
    """The actionlint binary (the GitHub workflows are checked with it)."""
    return ensure_tool(ACTIONLINT, quiet=quiet)


def ensure_toxiproxy(*, quiet: bool = False) -> Path:
    """The toxiproxy-server binary (the chaos tests cut the job's Kafka traffic through it)."""
    return ensure_tool(TOXIPROXY, quiet=quiet)


RELEASE_TOOLS = (HELM, PROMTOOL, ACTIONLINT)
TEST_TOOLS = (TOXIPROXY,)


def ensure_release_tools(*, quiet: bool = False, progress: bool = False) -> list[Path]:
    """Every tool the shipping tests run (CI warm-up: ``streamflow dev build``)."""
    return [ensure_tool(tool, quiet=quiet, progress=progress) for tool in RELEASE_TOOLS]
