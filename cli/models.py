"""`streamflow model …`: the models area's commands with the hooks that need the layers above it."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from fraud_models.cli import DSN_ENVS, ModelHooks, UsageError
from fraud_models.cli import register as register_models

if TYPE_CHECKING:
    from pathlib import Path

    import numpy as np
    import numpy.typing as npt
    from fraud_models.data import Transactions
    from fraud_models.scorer import CompiledModel

__all__ = ["compare_database", "detector_run", "handbook_data", "register", "rule_hits"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """The models area's subcommands, with the detector and database hooks plugged in."""
    hooks = ModelHooks(
        detector_run=detector_run,
        rule_hits=rule_hits,
        compare_database=compare_database,
        default_data=handbook_data,
    )
    register_models(subparsers, hooks)


def detector_run(
    tx: Transactions, model: CompiledModel, label_delay_s: float
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]:
    """The model through the detector's own logic (fraud_jobs), at the detector's default settings."""
    from fraud_jobs.config import DetectorConfig
    from fraud_jobs.replay import detector_scores

    return detector_scores(tx, model, DetectorConfig(label_delay_s=label_delay_s))


def rule_hits(tx: Transactions, label_delay_s: float) -> tuple[list[str], npt.NDArray[np.bool_], list[float]]:
    """Which rules fire on each row, replayed by the detector's own logic at its default settings."""
    from fraud_jobs.config import DetectorConfig
    from fraud_jobs.replay import detector_rule_hits

    return detector_rule_hits(tx, DetectorConfig(label_delay_s=label_delay_s))


def compare_database(args: argparse.Namespace) -> Any:
    """`model compare`'s database mode: gold.model_scores through the operator's connection handling."""
    import psycopg
    from fraud_models.compare import compare_database
    from fraud_operator.db.dsn import DatabaseUnavailable, connect, db_error

    if not (args.active and args.shadow):
        raise UsageError(
            "give --active and --shadow model versions (or --active-scores/--shadow-scores files)"
        )
    if args.labels:
        raise UsageError("--labels is for file mode; database mode reads bronze.fraud_labels")
    dsn = args.dsn or next((os.environ[e] for e in DSN_ENVS if os.environ.get(e)), "")
    if not dsn:
        raise UsageError(f"no database given: pass --dsn or set {' or '.join(DSN_ENVS)}")
    since = None
    if args.since:
        try:
            since = datetime.fromisoformat(args.since.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f"--since {args.since!r} is not an ISO-8601 time") from None
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
    try:
        with connect(dsn, application_name="streamflow-model-compare") as conn:
            return compare_database(
                conn, args.active, args.shadow, threshold=args.threshold, since=since, score_column=args.score
            )
    except DatabaseUnavailable as exc:
        raise ValueError(str(exc)) from None
    except psycopg.Error as exc:
        raise ValueError(db_error(exc, dsn)) from None


def handbook_data() -> Path:
    """The pinned handbook dataset, resolved by the dev tools (cache, offline mirror or upstream, by sha256).

    Looked up by name: the dev tools (devstack/) are optional, and an install without them needs --data.
    """
    import importlib
    from pathlib import Path

    try:
        upstream = importlib.import_module("streamflow_dev.upstream")
    except ModuleNotFoundError:
        raise UsageError(
            "give --data PATH: the default handbook dataset is resolved by the dev tools (devstack/,"
            " installed by `make setup`), which this install lacks"
        ) from None
    try:
        return Path(upstream.resolve("handbook"))
    except upstream.UpstreamError as exc:
        raise ValueError(str(exc)) from None
