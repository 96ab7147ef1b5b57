"""``streamflow operator``: run the operator in-process (same as ``kopf run -m fraud_operator``).

Adds what a Deployment needs around kopf: a Prometheus endpoint and kopf's liveness endpoint.
"""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ["register", "run_operator"]


def run_operator(
    *,
    namespaces: list[str],
    all_namespaces: bool,
    metrics_port: int | None,
    liveness_port: int | None,
) -> int:
    """Run kopf until interrupted; returns the exit code (1, with the message, for invalid settings)."""
    import sys

    from fraud_operator.settings import SettingsError, load

    try:
        load()
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    from fraud_operator.malloc import fix_thresholds, limit_arenas

    limit_arenas()  # before kopf's and the scheduler's threads exist
    fix_thresholds()
    import fraud_operator  # noqa: F401  (registers the handlers)
    import kopf
    from fraud_operator.handlers.child_watch import watch_cluster_wide
    from prometheus_client import start_http_server

    if metrics_port:
        start_http_server(metrics_port)
    liveness = f"http://0.0.0.0:{liveness_port}/healthz" if liveness_port else None
    kopf.configure(verbose=False)
    watch_cluster_wide(all_namespaces)
    kopf.run(
        standalone=True,
        clusterwide=all_namespaces,
        namespaces=namespaces,
        liveness_endpoint=liveness,
    )
    return 0


def _port(value: str) -> int:
    try:
        port = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a port number") from None
    if not 0 < port < 65536:
        raise argparse.ArgumentTypeError(f"port {port} is outside 1..65535")
    return port


def _cmd_operator(args: argparse.Namespace) -> int:
    return run_operator(
        namespaces=list(args.namespace or []),
        all_namespaces=bool(args.all_namespaces),
        metrics_port=args.metrics_port,
        liveness_port=args.liveness_port,
    )


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``streamflow operator`` to the CLI."""
    parser = subparsers.add_parser(
        "operator",
        help="run the operator (kopf) with Prometheus metrics and a liveness endpoint",
        description=__doc__.splitlines()[0] if __doc__ else None,
    )
    scope = parser.add_mutually_exclusive_group(required=True)
    scope.add_argument(
        "--namespace", "-n", action="append", metavar="NS", help="watch this namespace (repeatable)"
    )
    scope.add_argument("--all-namespaces", "-A", action="store_true", help="watch every namespace")
    parser.add_argument("--metrics-port", type=_port, default=9090, help="Prometheus port (default 9090)")
    parser.add_argument(
        "--liveness-port", type=_port, default=8080, help="port of GET /healthz (default 8080)"
    )
    parser.set_defaults(func=_cmd_operator)
