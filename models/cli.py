"""``streamflow model train|evaluate|select|quality|compare``: the data scientist's side of the ML lifecycle.

Exit codes: 2 for a usage error (argparse's, and :class:`UsageError` for options that do not fit
together), 1 when the command fails on its inputs (a missing or invalid data file, too little history,
an unreachable database).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from fraud_models.argtypes import positive_int, share
from fraud_models.durations import DURATION_HELP, duration_arg
from fraud_models.env_settings import DB_DSN, PG_DSN
from fraud_models.progress import add_progress_switch, progress_wanted

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt
    from fraud_models.data import Transactions
    from fraud_models.scorer import CompiledModel
    from fraud_models.training import RuleHitsRun, Window

__all__ = ["DSN_ENVS", "DetectorRun", "ModelHooks", "UsageError", "register"]

#: Where `model compare` finds the database when --dsn is not given, first set wins.
DSN_ENVS = (DB_DSN.name, PG_DSN.name)


class UsageError(ValueError):
    """Options that do not fit together: the command exits 2, like argparse's own usage errors."""


def _window(text: str) -> Window:
    """``START..END`` as an argparse ``type`` (the training module is imported only when one is given)."""
    from fraud_models.training import parse_window

    try:
        return parse_window(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _param(text: str) -> tuple[str, Any]:
    """``KEY=VALUE`` with a JSON value (numbers, true/false, null) or a plain string."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not KEY=VALUE")
    try:
        return key.strip(), json.loads(value)
    except json.JSONDecodeError:
        return key.strip(), value


def _fail(command: str, exc: Exception) -> int:
    """Usage errors exit 2, everything else the command ran into exits 1; both name the problem."""
    usage = isinstance(exc, UsageError)
    print(f"streamflow model {command}: {'error: ' if usage else ''}{exc}", file=sys.stderr)
    return 2 if usage else 1


class DetectorRun(Protocol):
    """Scores transactions through the detector's own logic: (combined, model score, split name)."""

    def __call__(
        self, tx: Transactions, model: CompiledModel, label_delay_s: float
    ) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]: ...


@dataclass(frozen=True)
class ModelHooks:
    """What the model commands need from the layers above this package, given by the `streamflow` wiring.

    ``detector_run`` adds the detector rows to `model evaluate` (fraud_jobs); ``rule_hits`` trains the
    learned combiner of `model train` and `model quality` (fraud_jobs' rules); ``compare_database`` is
    `model compare`'s database mode (the operator's connection handling); ``default_data`` is the dataset of
    `model evaluate`/`select` without --data (the handbook file). Without a hook the command says so.
    """

    detector_run: DetectorRun | None = None
    rule_hits: RuleHitsRun | None = None
    compare_database: Callable[[argparse.Namespace], Any] | None = None
    default_data: Callable[[], Path] | None = None


#: `--data` of `model evaluate` and `model select`.
_HANDBOOK_HELP = "handbook parquet (default: the pinned handbook dataset, as `streamflow dev fetch handbook`)"


def _data(args: argparse.Namespace) -> Path:
    """``--data``, else the handbook dataset from the ``default_data`` hook (the dev tools resolve it)."""
    if args.data:
        return Path(args.data)
    if args.model_hooks.default_data is None:
        raise UsageError("give --data PATH (there is no default dataset here)")
    return Path(args.model_hooks.default_data())


_LABEL_DELAY_HELP = f"how long a label takes to arrive, {DURATION_HELP} (default 7d)"


def _fold_arguments(parser: argparse.ArgumentParser, *, test_help: str) -> None:
    """The options of the commands that judge on prequential folds (``select``, ``quality``)."""
    parser.add_argument("--data", type=Path, default=None, help=_HANDBOOK_HELP)
    parser.add_argument("--label-delay", type=duration_arg, default="7d", help=_LABEL_DELAY_HELP)
    parser.add_argument(
        "--train-window", type=_window, default="2018-07-25..2018-07-31", help="the protocol's fit window"
    )
    parser.add_argument("--test-window", type=_window, default="2018-08-08..2018-08-14", help=test_help)
    parser.add_argument(
        "--folds", type=positive_int, default=10, help="folds, each one test window earlier (default 10)"
    )
    parser.add_argument("--json", type=Path, help="also write every figure as JSON to this file")
    parser.add_argument("--write", type=Path, help="also write the table as Markdown to this file")


def register(subparsers: argparse._SubParsersAction[Any], hooks: ModelHooks | None = None) -> None:
    """Add this area's subcommands to the `streamflow` parser."""
    model = subparsers.add_parser("model", help="train and evaluate fraud models")
    model.set_defaults(model_hooks=hooks or ModelHooks())
    commands = model.add_subparsers(dest="model_command", metavar="SUBCOMMAND", required=True)

    train = commands.add_parser("train", help="train a model and write its artifacts and FraudModel manifest")
    train.add_argument(
        "--data", required=True, type=Path, help="transactions (handbook parquet or JSONL/parquet)"
    )
    train.add_argument(
        "--algorithm",
        required=True,
        choices=("isolation_forest", "logistic_regression", "hist_gradient_boosting"),
        help="the estimator to fit",
    )
    train.add_argument("--label-delay", type=duration_arg, default="7d", help=_LABEL_DELAY_HELP)
    train.add_argument(
        "--train-window", type=_window, required=True, help="START..END, e.g. 2018-07-25..2018-07-31"
    )
    train.add_argument(
        "--test-window", type=_window, help="START..END; default: the last quarter of the training window"
    )
    train.add_argument("--out", required=True, type=Path, help="output directory")
    train.add_argument(
        "--feature-set",
        default="full",
        choices=("full", "book", "label_free", "schema_v1"),
        help="which features the model reads (default full)",
    )
    train.add_argument("--version", help="model version (default: algorithm and timestamp)")
    train.add_argument("--artifact-uri", help="URI of model.npz in the manifest (default: its file:// path)")
    train.add_argument(
        "--param",
        type=_param,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="estimator parameter override (repeatable), e.g. max_iter=200",
    )
    train.add_argument(
        "--fixed-blend",
        action="store_true",
        help="no learned combiner in the artifact: pipelines combine it with the rules by their alpha",
    )
    add_progress_switch(train)
    train.set_defaults(func=_train)

    evaluate = commands.add_parser("evaluate", help="the handbook protocol, side by side with its baselines")
    evaluate.add_argument("--data", type=Path, default=None, help=_HANDBOOK_HELP)
    evaluate.add_argument("--label-delay", type=duration_arg, default="7d", help=_LABEL_DELAY_HELP)
    evaluate.add_argument("--write", type=Path, help="also write the table as Markdown to this file")
    add_progress_switch(evaluate)
    evaluate.set_defaults(func=_evaluate)

    select = commands.add_parser(
        "select",
        help="choose a model on earlier weeks (prequential folds), never on the test week",
        description="Shifts the split back one test-window length per fold and judges every candidate on "
        "each; the first candidate (the default model) stays unless a challenger wins clearly.",
    )
    _fold_arguments(select, test_help="the protocol's test window (never read)")
    select.add_argument(
        "--candidates", type=Path, help="JSON list of candidates (default: the built-in grid)"
    )
    select.add_argument("--min-gain", type=float, default=0.002, help="mean CP@100 gain a challenger needs")
    select.add_argument("--min-win-share", type=share, default=0.6, help="share of folds it must win")
    add_progress_switch(select)
    select.set_defaults(func=_select)

    quality = commands.add_parser(
        "quality",
        help="per fold: the model alone, the score the detector emits, the handbook's RF and LR",
        description="On the prequential folds of `model select` and the protocol's test week (ch3): "
        "AUC, AP and CP@100 of the default model, of the detector's emitted score with that model (rules + "
        "model, replayed as the job runs them), and of the handbook's random forest and logistic "
        "regression refitted on each fold.",
    )
    _fold_arguments(quality, test_help="the protocol's test window")
    quality.add_argument(
        "--fit-days",
        type=positive_int,
        help="days our model fits on, up to each fold's fit-window end (default: the fit window's)",
    )
    quality.add_argument(
        "--fixed-blend",
        action="store_true",
        help="judge the pipeline's fixed blend (alpha) instead of the model's learned combiner",
    )
    add_progress_switch(quality)
    quality.set_defaults(func=_quality)

    compare = commands.add_parser(
        "compare",
        help="active vs shadow model side by side (AUC, AP, CP@100, agreement, drift)",
        description="Reads gold.model_scores (--dsn) or two score files (--active-scores/--shadow-scores).",
    )
    compare.add_argument("--dsn", help=f"database (default ${DSN_ENVS[0]} or ${DSN_ENVS[1]})")
    compare.add_argument("--active", help="active model version (database mode; also names it in file mode)")
    compare.add_argument("--shadow", help="shadow model version (database mode; also names it in file mode)")
    compare.add_argument("--active-scores", type=Path, help="active model's scores (.parquet or .jsonl)")
    compare.add_argument("--shadow-scores", type=Path, help="shadow model's scores (.parquet or .jsonl)")
    compare.add_argument("--labels", type=Path, help="labels file (transaction_id + label/is_fraud/TX_FRAUD)")
    compare.add_argument("--threshold", type=float, default=0.5, help="alert threshold (default 0.5)")
    compare.add_argument("--since", help="only events at or after this ISO-8601 time (database mode)")
    compare.add_argument(
        "--score",
        default="score",
        choices=("score", "ml_score"),
        help="combined score (default) or model's own",
    )
    compare.add_argument("--json", action="store_true", help="print the FraudModel status comparison as JSON")
    compare.set_defaults(func=_compare)


def _train(args: argparse.Namespace) -> int:
    from fraud_models.data import DataError
    from fraud_models.pipeline import TrainRequest, train_to_directory

    try:
        request = TrainRequest(
            data=args.data,
            algorithm=args.algorithm,
            label_delay_s=args.label_delay,
            train_window=args.train_window,
            test_window=args.test_window,
            out_dir=args.out,
            feature_set=args.feature_set,
            version=args.version,
            artifact_uri=args.artifact_uri,
            progress=progress_wanted(args.progress),
            params=dict(args.param),
            rule_hits=None if args.fixed_blend else _rule_hits(args),
        )
        card = train_to_directory(request)
    except (DataError, ValueError, OSError) as exc:
        return _fail("train", exc)
    if card.get("combiner_skipped"):
        print(
            f"streamflow model train: no learned combiner: {card['combiner_skipped']} "
            "(pipelines combine this model with the rules by their alpha)",
            file=sys.stderr,
        )
    m = card["metrics"]
    print(
        f"{card['version']}: AUC {m['auc_roc']:.3f}  AP {m['average_precision']:.3f}  "
        f"CP@100 {m['card_precision_at_100']:.3f}  P@1% {m['precision_at_1pct']:.3f}  "
        f"R@1% {m['recall_at_1pct']:.3f}\nwrote {args.out}/fraudmodel.yaml (model.npz sha256 "
        f"{card['artifacts']['model.npz']})"
    )
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from fraud_models.data import DataError
    from fraud_models.evaluate import budget_markdown, markdown_table, run_evaluation

    try:
        evaluation = run_evaluation(
            _data(args),
            args.label_delay,
            progress=progress_wanted(args.progress),
            detector=args.model_hooks.detector_run,
            rule_hits=args.model_hooks.rule_hits,
        )
    except (DataError, ValueError, OSError) as exc:
        return _fail("evaluate", exc)
    table = markdown_table(evaluation.rows)
    budgets = budget_markdown(evaluation.budgets)
    if budgets:
        table += "\n\n" + budgets
    print(table)
    if args.write:
        args.write.write_text(table + "\n")
    return 0


def _select(args: argparse.Namespace) -> int:
    from fraud_models.data import DataError
    from fraud_models.selection import DEFAULT_CANDIDATES, load_candidates, run_selection

    try:
        candidates = DEFAULT_CANDIDATES
        if args.candidates:
            try:
                spec = json.loads(args.candidates.read_text())
            except OSError as exc:
                raise ValueError(f"{args.candidates}: {exc.strerror or exc}") from None
            except json.JSONDecodeError as exc:
                raise ValueError(f"{args.candidates}: invalid JSON: {exc}") from None
            if not isinstance(spec, list):
                raise ValueError(f"{args.candidates}: expected a JSON list of candidates")
            candidates = load_candidates(spec)
        selection = run_selection(
            _data(args),
            args.label_delay,
            args.train_window,
            args.test_window,
            folds=args.folds,
            candidates=candidates,
            min_gain=args.min_gain,
            min_win_share=args.min_win_share,
            progress=progress_wanted(args.progress),
        )
    except (DataError, ValueError, OSError) as exc:
        return _fail("select", exc)
    return _report(args, selection.markdown(), selection.to_json())


def _quality(args: argparse.Namespace) -> int:
    from fraud_models.data import DataError
    from fraud_models.detector_quality import run_quality

    try:
        if args.model_hooks.detector_run is None:
            raise UsageError("the detector is not available here (it needs fraud_jobs: use `streamflow`)")
        report = run_quality(
            _data(args),
            args.label_delay,
            args.train_window,
            args.test_window,
            args.model_hooks.detector_run,
            folds=args.folds,
            rule_hits=None if args.fixed_blend else _rule_hits(args),
            fit_days=args.fit_days,
            progress=progress_wanted(args.progress),
        )
    except (DataError, ValueError, OSError) as exc:
        return _fail("quality", exc)
    return _report(args, report.markdown(), report.to_json())


def _rule_hits(args: argparse.Namespace) -> RuleHitsRun:
    """The rules-hits hook a learned combiner is trained with; a usage error without fraud_jobs."""
    hook: RuleHitsRun | None = args.model_hooks.rule_hits
    if hook is None:
        raise UsageError("the rules are not available here (a learned combiner needs fraud_jobs)")
    return hook


_TABLE_BEGIN = "<!-- streamflow model {command}: begin -->"
_TABLE_END = "<!-- streamflow model {command}: end -->"


def _report(args: argparse.Namespace, table: str, figures: Any) -> int:
    """Print the Markdown table; also write it (``--write``) and every figure as JSON (``--json``).

    A ``--write`` file that holds this command's begin and end markers (e.g. docs/evaluation.md) keeps
    everything around them: only the table between them is replaced, so a page can carry it generated."""
    print(table)
    if args.write:
        _write_table(args.write, str(args.model_command), table)
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


def _write_table(path: Path, command: str, table: str) -> None:
    begin, end = _TABLE_BEGIN.format(command=command), _TABLE_END.format(command=command)
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    head, found, rest = text.partition(begin)
    _, closed, tail = rest.partition(end)
    if found and closed:
        path.write_text(f"{head}{begin}\n{table}\n{end}{tail}", encoding="utf-8")
    else:
        path.write_text(table + "\n", encoding="utf-8")


def _compare(args: argparse.Namespace) -> int:
    from fraud_models.compare import Comparison

    try:
        if args.active_scores or args.shadow_scores:
            result: Comparison = _compare_files(args)
        else:
            if args.model_hooks.compare_database is None:
                raise UsageError("database mode is not available here: give --active-scores/--shadow-scores")
            result = args.model_hooks.compare_database(args)
    except (ValueError, OSError) as exc:
        return _fail("compare", exc)
    print(json.dumps(result.to_status(), indent=2) if args.json else result.to_table())
    return 0


def _compare_files(args: argparse.Namespace) -> Any:
    from fraud_models.compare import compare
    from fraud_models.score_files import load_labels, load_score_file, merge_labels

    if not (args.active_scores and args.shadow_scores):
        raise UsageError("file mode needs both --active-scores and --shadow-scores")
    if args.dsn or args.since:
        raise UsageError(
            "--dsn/--since are for database mode; file mode reads --active-scores/--shadow-scores"
        )
    active = load_score_file(args.active_scores, args.score)
    shadow = load_score_file(args.shadow_scores, args.score)
    sources = [(str(active.path), active.labels), (str(shadow.path), shadow.labels)]
    if args.labels:
        sources.insert(0, (str(args.labels), load_labels(args.labels)))
    return compare(
        active.events,
        shadow.events,
        merge_labels(*sources),
        threshold=args.threshold,
        active_version=args.active or args.active_scores.name,
        shadow_version=args.shadow or args.shadow_scores.name,
    )
