"""``streamflow dev``: the local stack of real components (Kubernetes, Kafka, PostgreSQL, Flink jars)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from . import stack
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


def _up(args: argparse.Namespace) -> int:
    started = time.monotonic()
    try:
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
        stack.build_all(args.components)
    except ComponentError as exc:
        print(f"streamflow dev build failed: {exc}", file=sys.stderr)
        return 1
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``streamflow dev up|down|env|status|build``."""
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
        if name == "down":
            p.add_argument("--keep", action="store_true", help="keep the run directory (logs, data)")
        p.set_defaults(func=func)
