"""``streamflow demo``: the whole local pipeline on embedded defaults, on the real local stack."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from .devstack import stack
from .devstack.paths import shared_dir
from .devstack.procs import ComponentError

__all__ = ["register"]


def _step(title: str) -> None:
    print(f"\n=== {title}", flush=True)


def _kubectl(info: stack.StackInfo, *args: str) -> str:
    assert info.kube_bin_dir and info.kubeconfig
    argv = [str(Path(info.kube_bin_dir) / "kubectl"), f"--kubeconfig={info.kubeconfig}", *args]
    return subprocess.run(argv, capture_output=True, text=True, check=True, timeout=120).stdout


def run_demo(keep: bool) -> int:
    """Start the stack, show every component is the real one, and tear down unless ``keep``."""
    _step("starting the local stack (Kubernetes API server, Kafka, PostgreSQL, Flink connector jars)")
    try:
        info = stack.up()
    except ComponentError as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        return 1
    try:
        _step("Kubernetes: kubectl get --raw /version")
        version = json.loads(_kubectl(info, "get", "--raw", "/version"))
        print(f"gitVersion={version['gitVersion']} platform={version['platform']}")
        for crd in sorted((shared_dir() / "crds").glob("*.y*ml")):
            _kubectl(info, "apply", "--server-side", "-f", str(crd))
        _step("kubectl get crd")
        print(_kubectl(info, "get", "crd"))
        _step("Kafka and PostgreSQL")
        from confluent_kafka.admin import AdminClient

        assert info.kafka_bootstrap and info.pg_dsn
        metadata = AdminClient({"bootstrap.servers": info.kafka_bootstrap}).list_topics(timeout=10)
        brokers = len(metadata.brokers)
        print(f"kafka {info.kafka_bootstrap}: {brokers} broker(s), cluster id {metadata.cluster_id}")
        import psycopg

        with psycopg.connect(info.pg_dsn) as conn:
            row = conn.execute("SELECT version()").fetchone()
        print(f"postgresql: {row[0] if row else '?'}")
        print('\nthe stack stays up with --keep; use it with: eval "$(streamflow dev env)"')
    finally:
        if not keep:
            _step("stopping the stack")
            stack.down(info)
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``streamflow demo``."""
    p = subparsers.add_parser("demo", help="run the whole pipeline locally on embedded defaults")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    p.set_defaults(func=lambda args: run_demo(args.keep))
