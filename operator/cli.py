"""The `streamflow` command.

Each area of the project registers its own subcommands from its own module, so the areas
stay independent and this file stays a table of contents.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main"]

# Modules that expose ``register(subparsers)``; each adds its subcommands with ``set_defaults(func=...)``.
_COMMAND_MODULES = (
    "fraud_operator.devstack.cli",  # dev up|down|env|status|build
    "fraud_operator.commands",  # render, operator
    "fraud_operator.operator_cmd",
    "fraud_operator.demo",  # demo
    "fraud_operator.db.cli",  # db migrate|status|transform
    "fraud_jobs.cli",  # job run, generate, replay
    "fraud_jobs.flink.cli",
    "fraud_models.cli",  # model train|evaluate|compare
)


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every area's ``register``."""
    parser = argparse.ArgumentParser(prog="streamflow", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    result = func(args)
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
