"""Subcommands of the detector area: ``streamflow generate`` and ``streamflow replay``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the `streamflow` parser."""
    gen = subparsers.add_parser(
        "generate",
        help="synthetic transactions with injected fraud (and malformed records) to a file or Kafka",
    )
    gen.add_argument("--count", type=int, required=True, help="records to produce (malformed ones included)")
    target = gen.add_mutually_exclusive_group(required=True)
    target.add_argument("--out", type=Path, help="JSONL file to write")
    target.add_argument("--topic", help="Kafka topic to produce to (needs --bootstrap)")
    gen.add_argument("--bootstrap", help="Kafka bootstrap servers, e.g. localhost:9092")
    gen.add_argument("--malformed-ratio", type=float, default=0.0, help="share of malformed records (0..1)")
    gen.add_argument("--seed", type=int, default=0, help="same seed, same bytes")
    gen.add_argument("--days", type=int, default=30, help="event-time span of the stream in days")
    gen.add_argument(
        "--control-out",
        type=Path,
        help="write the control message that blocklists the generated entries here",
    )
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
        "--label-delay", default="7d", help="delay before a label is known (e.g. 7d, 12h); default 7d"
    )
    rep.add_argument("--config", type=Path, help="DetectorConfig as YAML or JSON")
    rep.add_argument(
        "--control", type=Path, help="JSONL of control messages applied, in order, before the replay"
    )
    rep.add_argument("--limit", type=int, help="replay only the first N valid transactions of the file")
    rep.set_defaults(func=_replay)


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _generate(args: argparse.Namespace) -> int:
    from fraud_jobs.generator import generate, write_jsonl, write_kafka

    if args.topic and not args.bootstrap:
        return _fail("--topic needs --bootstrap")
    try:
        result = generate(args.count, seed=args.seed, malformed_ratio=args.malformed_ratio, days=args.days)
    except ValueError as exc:
        return _fail(str(exc))
    if args.out is not None:
        n = write_jsonl(result.records, args.out)
        where = str(args.out)
    else:
        n = write_kafka(result.records, args.topic, args.bootstrap)
        where = f"kafka {args.bootstrap} topic {args.topic}"
    if args.control_out is not None:
        args.control_out.write_text(result.control.model_dump_json() + "\n", encoding="utf-8")
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
    from fraud_jobs.replay import load_scorer, parse_duration, run_replay
    from fraud_jobs.schemas import ControlMessage
    from fraud_jobs.scoring import Scorer
    from pydantic import ValidationError

    try:
        cfg = load_config(args.config) if args.config else DetectorConfig()
        cfg = DetectorConfig.model_validate(
            {**cfg.model_dump(), "label_delay_s": parse_duration(args.label_delay)}
        )
        if args.control is not None:
            for n, line in enumerate(args.control.read_text(encoding="utf-8").splitlines(), start=1):
                if line.strip():
                    try:
                        cfg = apply_control(cfg, ControlMessage.model_validate_json(line))
                    except ValidationError as exc:
                        raise ValueError(f"{args.control}:{n}: invalid control message: {exc}") from exc
        scorer: Scorer | None = load_scorer(args.model, args.model_sha256) if args.model else None
        summary = run_replay(args.input, args.out, cfg, scorer, limit=args.limit)
    except (ValueError, ControlError, OSError) as exc:
        return _fail(str(exc))
    print(json.dumps(summary.as_dict(), indent=2))
    return 0
