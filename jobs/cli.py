"""Subcommands of the detector area: ``streamflow generate`` and ``streamflow replay``.

Exit codes: 2 for a usage error (argparse's, or options that do not fit together), 1 when the command
fails on its inputs or its target (a missing or invalid file, a model whose checksum does not match,
a broker that does not acknowledge).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from fraud_models.argtypes import positive_int
from fraud_models.durations import DURATION_HELP, duration_arg
from fraud_models.progress import add_progress_switch, progress_wanted

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the `streamflow` parser."""
    gen = subparsers.add_parser(
        "generate",
        help="synthetic transactions with injected fraud (and malformed records) to a file or Kafka",
    )
    gen.add_argument(
        "--count", type=positive_int, required=True, help="records to produce (malformed ones included)"
    )
    target = gen.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="JSONL file to write")
    target.add_argument("--topic", help="Kafka topic to produce to (needs --bootstrap)")
    gen.add_argument("--bootstrap", help="Kafka bootstrap servers, e.g. localhost:9092")
    gen.add_argument(
        "--malformed-ratio", type=_ratio, default=0.0, help="share of malformed records, in [0, 1)"
    )
    gen.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    gen.add_argument(
        "--days",
        type=_days,
        default=30,
        help="event-time span of the stream in days, at least 6 (the history before injected fraud)",
    )
    gen.add_argument(
        "--control-out",
        type=Path,
        help="write the control message that blocklists the generated entries here",
    )
    add_progress_switch(gen)
    gen.set_defaults(func=_generate)

    rep = subparsers.add_parser(
        "replay", help="run a stored stream through the detector logic in event-time order (no Flink)"
    )
    rep.add_argument(
        "--input", type=Path, required=True, help="transactions: .jsonl or .parquet (handbook too)"
    )
    rep.add_argument("--out", type=Path, required=True, help="output directory")
    rep.add_argument(
        "--model",
        help="FR-006 model: a `streamflow model train` output DIR, or a model.npz path/file:// /https://",
    )
    rep.add_argument("--model-sha256", help="expected sha256 of the model artifact")
    rep.add_argument(
        "--label-delay",
        type=duration_arg,
        default="7d",
        help=f"delay before a label is known, {DURATION_HELP}; default 7d",
    )
    rep.add_argument("--config", type=Path, help="DetectorConfig as YAML or JSON")
    rep.add_argument(
        "--control", type=Path, help="JSONL of control messages applied, in order, before the replay"
    )
    rep.add_argument(
        "--limit", type=positive_int, help="replay only the first N valid transactions of the file"
    )
    add_progress_switch(rep)
    rep.set_defaults(func=_replay)


def _ratio(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share in [0, 1)")
    return value


def _days(text: str) -> int:
    value = positive_int(text)
    if value < 6:
        raise argparse.ArgumentTypeError(f"{text!r}: the generator needs at least 6 days")
    return value


def _usage(command: str, message: str) -> int:
    """Options that do not fit together: exit 2, like argparse's own usage errors."""
    print(f"streamflow {command}: error: {message}", file=sys.stderr)
    return 2


def _fail(command: str, message: str) -> int:
    print(f"streamflow {command}: {message}", file=sys.stderr)
    return 1


def _generate(args: argparse.Namespace) -> int:
    from fraud_jobs.generator import generate, write_jsonl, write_kafka

    if args.topic and not args.bootstrap:
        return _usage("generate", "--topic needs --bootstrap")
    if args.bootstrap and not args.topic:
        return _usage("generate", "--bootstrap is for --topic; --out writes a file")
    try:
        result = generate(args.count, seed=args.seed, malformed_ratio=args.malformed_ratio, days=args.days)
    except ValueError as exc:  # the generator's own bounds (--malformed-ratio, --days)
        return _usage("generate", str(exc))
    try:
        if args.out is not None:
            n = write_jsonl(result.records, args.out)
            where = str(args.out)
        else:
            n = write_kafka(
                result.records, args.topic, args.bootstrap, progress=progress_wanted(args.progress)
            )
            where = f"kafka {args.bootstrap} topic {args.topic}"
        if args.control_out is not None:
            args.control_out.write_text(result.control.model_dump_json() + "\n", encoding="utf-8")
    except OSError as exc:
        return _fail("generate", f"cannot write {exc.filename}: {exc.strerror}")
    except RuntimeError as exc:  # the broker did not acknowledge every record
        return _fail("generate", str(exc))
    report = {
        "records": n,
        "to": where,
        "injected_fraud": dict(sorted(result.injected.items())),
        "malformed": dict(sorted(result.malformed.items())),
    }
    print(json.dumps(report, indent=2))
    return 0


def _replay(args: argparse.Namespace) -> int:
    from fraud_jobs.config import ControlError, DetectorConfig, apply_control, load_config
    from fraud_jobs.replay import load_scorer, run_replay
    from fraud_jobs.schemas import ControlMessage
    from fraud_jobs.scoring import Scorer
    from pydantic import ValidationError

    try:
        cfg = load_config(args.config) if args.config else DetectorConfig()
        cfg = DetectorConfig.model_validate({**cfg.model_dump(), "label_delay_s": args.label_delay})
        if args.control is not None:
            for n, line in enumerate(args.control.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        cfg = apply_control(cfg, ControlMessage.model_validate_json(line))
                    except ValidationError as exc:
                        raise ValueError(f"{args.control}:{n}: invalid control message: {exc}") from exc
        scorer: Scorer | None = load_scorer(args.model, args.model_sha256) if args.model else None
        summary = run_replay(
            args.input, args.out, cfg, scorer, limit=args.limit, progress=progress_wanted(args.progress)
        )
    except (ValueError, ControlError) as exc:
        return _fail("replay", str(exc))
    except OSError as exc:
        return _fail("replay", f"{exc.filename or 'input/output'}: {exc.strerror or exc}")
    print(json.dumps(summary.as_dict(), indent=2))
    return 0
