"""The `streamflow` command: the one place that wires the three packages (and the dev stack) together.

Each area registers its own subcommands from its own module; this package is the only code allowed to
import ``fraud_operator``, ``fraud_jobs`` and ``fraud_models`` side by side (import-linter contracts hold
the rest to their layers), and it hands the models area the two hooks that need a higher layer.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "main", "version"]

# Modules that expose ``register(subparsers)``; each adds its subcommands with ``set_defaults(func=...)``.
_COMMAND_MODULES = (
    "fraud_operator.commands",  # render
    "fraud_operator.operator_cmd",  # operator
    "fraud_operator.db.cli",  # db migrate|status|transform
    "fraud_jobs.cli",  # generate, replay
    "fraud_jobs.flink.cli",  # job run
    "streamflow_cli.models",  # model train|evaluate|select|compare
)
# The local development stack and the demo: a separate distribution (devstack/), installed by `make setup`
# and never by an image; without it these commands are simply absent.
_DEV_MODULES = ("streamflow_dev.cli", "streamflow_dev.demo")
_OURS = {"fraud_operator", "fraud_jobs", "fraud_models", "streamflow_cli", "streamflow_dev"}
# The extra that installs each third-party package a command may import late.
_EXTRA_OF = {
    "pyflink": "job",
    "apache_beam": "job",
    "sklearn": "training",
    "scipy": "training",
    "joblib": "training",
    "pandas": "training",
    "matplotlib": "training",
    "pyarrow": "training",
    "kopf": "operator",
    "kubernetes": "operator",
    "prometheus_client": "operator",
    "psycopg": "operator",
    "confluent_kafka": "operator",
}
_EXTRAS_HINT = (
    ". Install the extra that brings it: streamflow[operator], streamflow[job] or streamflow[training]; "
    "the dev stack and demo come with `make setup` (devstack/)."
)


def version() -> str:
    """The installed distribution's version."""
    try:
        return importlib.metadata.version("streamflow")
    except (
        importlib.metadata.PackageNotFoundError
    ):  # pragma: no cover - only when run from an uninstalled tree
        return "unknown"


def build_parser() -> argparse.ArgumentParser:
    """Build the full argument parser from every area's ``register``."""
    parser = argparse.ArgumentParser(prog="streamflow", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"streamflow {version()}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    missing: list[str] = []
    for name in (*_COMMAND_MODULES, *_DEV_MODULES):
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            # An area whose extra is not installed (the operator image has no PyFlink, the job image no
            # kopf) is left out and named; a module of ours that is missing is a broken install.
            top = (exc.name or "").split(".")[0]
            if top in _OURS and not (top == "streamflow_dev" and name in _DEV_MODULES):
                raise
            missing.append(f"{name} (needs {exc.name})")
            continue
        module.register(subparsers)
    if missing:
        parser.epilog = "not installed here: " + "; ".join(missing) + _EXTRAS_HINT
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the console script; returns the process exit code (2: usage error, 1: failure)."""
    parser = build_parser()
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        try:
            args = parser.parse_args(words)
        except SystemExit as exc:  # argparse: 2 after a usage error, 0 after --help/--version
            return exc.code if isinstance(exc.code, int) else 2
        func = getattr(args, "func", None)
        if func is None:
            parser.print_help()
            return 2
        return int(func(args) or 0)
    except ModuleNotFoundError as exc:
        # A late import, in the command or in an argument's type (model train's windows), from an extra
        # this install lacks.
        top = (exc.name or "").split(".")[0]
        if top not in _EXTRA_OF:
            raise
        command = next((w for w in words if not w.startswith("-")), "")
        print(
            f"error: `streamflow {command}` needs {top}, which this install lacks: "
            f"pip install 'streamflow[{_EXTRA_OF[top]}]'",
            file=sys.stderr,
        )
        return 1


if __name__ == "__main__":
    sys.exit(main())
