"""``streamflow dev``: the local stack of real components (Kubernetes, Kafka, PostgreSQL, Flink jars)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from fraud_models.argtypes import positive_int
from fraud_models.progress import add_progress_switch, progress_wanted

from . import stack
from .flink import ensure_flink_jars
from .kafka import ensure_kafka_jars
from .kube_build import ensure_kube_binaries
from .procs import ComponentError

__all__ = ["register"]


def _components(value: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    bad = [n for n in names if n not in stack.COMPONENTS]
    if bad:
        raise argparse.ArgumentTypeError(
            f"unknown component(s) {bad}; choose from {','.join(stack.COMPONENTS)}"
        )
    return names


def _describe(info: stack.StackInfo) -> str:
    lines = [f"run directory: {info.run_dir}"]
    if info.kubeconfig:
        lines.append(f"kubernetes:    {info.kube_server}  (kubeconfig {info.kubeconfig})")
    if info.kafka_bootstrap:
        lines.append(f"kafka:         {info.kafka_bootstrap}")
    if info.pg_dsn:
        lines.append(
            "postgresql:    " + info.pg_dsn.split("@", 1)[-1] + "  (DSN with password: `streamflow dev env`)"
        )
    if info.flink_jars:
        lines.append(f"flink jars:    {len(info.flink_jars.split(';'))} connector jars for pipeline.jars")
    lines.append('use it:        eval "$(streamflow dev env)"')
    return "\n".join(lines)


def _prepare(components: list[str], progress: bool) -> None:
    """What `up` would build or download first (cold: minutes), here with a progress bar when wanted."""
    if "kube" in components:
        ensure_kube_binaries(progress=progress)
    if "kafka" in components:
        ensure_kafka_jars(progress=progress)
    if "flink" in components:
        ensure_flink_jars(progress=progress)


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
        _prepare(args.components, progress_wanted(args.progress))
        info = stack.up(Path(args.run_dir) if args.run_dir else None, args.components)
    except ComponentError as exc:
        print(f"streamflow dev up failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted: every process started so far was stopped", file=sys.stderr)
        return 130
    print(f"stack up in {time.monotonic() - started:.1f}s")
    print(_describe(info))
    return 0


def _load(args: argparse.Namespace) -> stack.StackInfo:
    return stack.load(Path(args.run_dir) if args.run_dir else None)


def _down(args: argparse.Namespace) -> int:
    try:
        info = _load(args)
    except ComponentError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    stopped = stack.down(info, keep_run_dir=args.keep)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    return 0


def _env(args: argparse.Namespace) -> int:
    try:
        sys.stdout.write(stack.env_lines(_load(args)))
    except ComponentError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    return 0


def _status(args: argparse.Namespace) -> int:
    try:
        info = _load(args)
    except ComponentError as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(_describe(info))
    rows = stack.status(info)
    for component, pid, running, log in rows:
        print(f"  {component:<24} pid {pid:<8} {'running' if running else 'STOPPED':<8} {log}")
    return 0 if rows and all(r[2] for r in rows) else 1


def _build(args: argparse.Namespace) -> int:
    try:
        stack.build_all(args.components, progress=progress_wanted(args.progress))
    except ComponentError as exc:
        print(f"streamflow dev build failed: {exc}", file=sys.stderr)
        return 1
    return 0


def _fetch(args: argparse.Namespace) -> int:
    """Resolve pinned third-party files into the cache; print ``NAME PATH`` (or the table with --list)."""
    from .upstream import TABLE, Resolver

    unknown = [name for name in args.names if name not in TABLE]
    if unknown:
        print(f"unknown name(s) {unknown}; choose from {', '.join(TABLE)}", file=sys.stderr)
        return 2
    if args.list:
        resolver = Resolver()
        for name in args.names or TABLE:
            entry = TABLE[name]
            source = resolver.url(entry.parts[0]) + (
                f" (+{len(entry.parts) - 1} more)" if entry.assembly else ""
            )
            print(f"{name}\t{entry.path}\tsha256 {entry.sha256}\t{source}")
        return 0
    try:
        paths = Resolver().resolve_all(args.names or None)
    except ComponentError as exc:
        print(f"streamflow dev fetch failed: {exc}", file=sys.stderr)
        return 1
    for name, path in paths.items():
        print(f"{name}\t{path}")
    return 0


def _flink_cluster(args: argparse.Namespace) -> int:
    """A standalone Flink cluster in the foreground until Ctrl-C (submit to it with its bin/flink)."""
    import shutil
    import tempfile

    from .flink_cluster import start_flink_cluster, stop_flink_cluster
    from .paths import runs_root
    from .procs import pid_alive, stop_pid

    run_dir = Path(args.run_dir) if args.run_dir else Path(tempfile.mkdtemp(prefix="flink-", dir=runs_root()))
    started: list[Any] = []
    try:
        cluster = start_flink_cluster(run_dir, started, taskmanagers=args.taskmanagers, tied_to_parent=True)
    except (ComponentError, KeyboardInterrupt) as exc:
        for process in reversed(started):
            stop_pid(process.pid)
        print(f"streamflow dev flink-cluster failed: {exc or 'interrupted'}", file=sys.stderr)
        return 1
    py = sys.executable
    print(f"Flink {cluster.rest_url} ({args.taskmanagers} TaskManager(s)), logs in {cluster.log_dir}")
    print(
        f"submit:  FLINK_CONF_DIR={cluster.conf_dir} {cluster.home}/bin/flink run -d -m {cluster.address}"
        f" -pyexec {py} -pyclientexec {py} -pym fraud_jobs.detector --config detector.json"
    )
    print("Ctrl-C stops the cluster", flush=True)
    try:
        while all(pid_alive(p.pid) for p in cluster.processes):
            time.sleep(1)
        print("a Flink process exited; stopping the cluster", file=sys.stderr)
        status = 1
    except KeyboardInterrupt:
        status = 0
    stop_flink_cluster(cluster)
    if not args.keep and not args.run_dir:
        shutil.rmtree(run_dir, ignore_errors=True)
        print("stopped")
    else:
        print(f"stopped; logs kept in {cluster.log_dir}")
    return status


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``streamflow dev up|down|env|status|build|fetch|flink-cluster``."""
    dev = subparsers.add_parser("dev", help="the local stack of real components")
    sub = dev.add_subparsers(dest="dev_command", metavar="ACTION", required=True)
    for name, func, text in (
        ("up", _up, "build/download what is missing, start every component, print how to reach it"),
        ("down", _down, "stop exactly the processes `up` started and remove the run directory"),
        ("env", _env, 'print `export` lines: eval "$(streamflow dev env)"'),
        ("status", _status, "show each process of the stack and whether it runs"),
        ("build", _build, "only build/download (Kubernetes binaries, Kafka and Flink jars) into the cache"),
    ):
        p = sub.add_parser(name, help=text, description=text)
        p.add_argument("--run-dir", help="run directory (default: a new one for up, the last one otherwise)")
        if name in ("up", "build"):
            p.add_argument(
                "--components",
                type=_components,
                default=list(stack.COMPONENTS),
                help=f"comma-separated subset of {','.join(stack.COMPONENTS)}",
            )
            add_progress_switch(p)
        if name == "down":
            p.add_argument("--keep", action="store_true", help="keep the run directory (logs, data)")
        p.set_defaults(func=func)
    text = (
        "resolve the pinned third-party files (upstream CRDs, the handbook dataset) into the cache: from the"
        " cache, the offline mirror ($STREAMFLOW_SHARED_DIR or ../shared) or upstream, each checked by sha256"
    )
    fetch = sub.add_parser("fetch", help=text, description=text)
    fetch.add_argument("names", nargs="*", metavar="NAME", help="entries to resolve (default: all)")
    fetch.add_argument("--list", action="store_true", help="only list the pinned entries, fetch nothing")
    fetch.set_defaults(func=_fetch)
    text = "a standalone Flink cluster (JobManager + TaskManagers) in the foreground, until Ctrl-C"
    fc = sub.add_parser("flink-cluster", help=text, description=text)
    fc.add_argument(
        "--taskmanagers", type=positive_int, default=1, help="one-slot TaskManagers to start (default 1)"
    )
    fc.add_argument("--run-dir", help="directory for its configuration and logs (kept; default: a new one)")
    fc.add_argument("--keep", action="store_true", help="keep the new run directory (logs) after it stops")
    fc.set_defaults(func=_flink_cluster)
