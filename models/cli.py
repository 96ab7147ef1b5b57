"""``streamflow model train|evaluate``: the data scientist's side of the ML lifecycle."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the `streamflow` parser."""
    model = subparsers.add_parser("model", help="train and evaluate fraud models")
    commands = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)

    train = commands.add_parser("train", help="train a model and write its artifacts and FraudModel manifest")
    train.add_argument(
        "--data", required=True, type=Path, help="transactions (handbook parquet or JSONL/parquet)"
    )
    train.add_argument(
        "--algorithm",
        required=True,
        choices=("isolation_forest", "logistic_regression", "hist_gradient_boosting"),
    )
    train.add_argument("--label-delay", default="7d", help="label delay, e.g. 7d (default 7d)")
    train.add_argument("--train-window", required=True, help="START..END, e.g. 2018-07-25..2018-07-31")
    train.add_argument("--test-window", help="START..END; default: the last quarter of the training window")
    train.add_argument("--out", required=True, type=Path, help="output directory")
    train.add_argument("--feature-set", default="full", choices=("full", "book", "label_free"))
    train.add_argument("--version", help="model version (default: algorithm and timestamp)")
    train.add_argument("--artifact-uri", help="URI of model.npz in the manifest (default: its file:// path)")
    train.add_argument(
        "--param",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="estimator parameter override (repeatable), e.g. max_iter=200",
    )
    train.add_argument("--no-progress", action="store_true", help="no progress bars")
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("evaluate", help="the handbook protocol, side by side with its baselines")
    evaluate.add_argument(
        "--data", type=Path, default=None, help="handbook parquet (default: the shared copy)"
    )
    evaluate.add_argument("--label-delay", default="7d")
    evaluate.add_argument("--write", type=Path, help="also write the table as Markdown to this file")
    evaluate.add_argument("--no-progress", action="store_true")
    evaluate.set_defaults(func=_evaluate)


def _train(args: argparse.Namespace) -> int:
    from fraud_models.data import DataError
    from fraud_models.pipeline import TrainRequest, train_to_directory
    from fraud_models.training import parse_duration, parse_window

    try:
        request = TrainRequest(
            data=args.data,
            algorithm=args.algorithm,
            label_delay_s=parse_duration(args.label_delay),
            train_window=parse_window(args.train_window),
            test_window=parse_window(args.test_window) if args.test_window else None,
            out_dir=args.out,
            feature_set=args.feature_set,
            version=args.version,
            artifact_uri=args.artifact_uri,
            progress=not args.no_progress,
            params=_params(args.param),
        )
        card = train_to_directory(request)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    m = card["metrics"]
    print(
        f"{card['version']}: AUC {m['auc_roc']:.3f}  AP {m['average_precision']:.3f}  "
        f"CP@100 {m['card_precision_at_100']:.3f}  P@1% {m['precision_at_1pct']:.3f}  "
        f"R@1% {m['recall_at_1pct']:.3f}\nwrote {args.out}/fraudmodel.yaml (model.npz sha256 "
        f"{card['artifacts']['model.npz']})"
    )
    return 0


def _params(pairs: list[str]) -> dict[str, Any]:
    """``KEY=VALUE`` pairs with JSON values (numbers, true/false, null) or plain strings."""
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"invalid --param {pair!r} (expected KEY=VALUE)")
        try:
            out[key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            out[key.strip()] = value
    return out


def _evaluate(args: argparse.Namespace) -> int:
    from fraud_models.data import DataError
    from fraud_models.evaluate import DEFAULT_DATA, markdown_table, run_evaluation
    from fraud_models.training import parse_duration

    data = args.data or DEFAULT_DATA
    try:
        rows = run_evaluation(data, parse_duration(args.label_delay), progress=not args.no_progress)
    except (DataError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    table = markdown_table(rows)
    print(table)
    if args.write:
        args.write.write_text(table + "\n")
    return 0
