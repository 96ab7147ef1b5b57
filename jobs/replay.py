"""Replay a stored stream through the detector's own logic, in event-time order, without Flink.

Backtests and model evaluation must measure the detector that runs in the stream, not a notebook copy of it:
every transaction goes through :func:`fraud_jobs.logic.terminal_step` then
:func:`fraud_jobs.logic.customer_step` with per-key state kept as the same bytes Flink would store. Labels in
the input (the handbook's ``TX_FRAUD``, the generator's ``is_fraud``) are delivered ``label_delay`` after
their transaction, before any transaction at or after that instant, as the labels topic would deliver them.

Inputs: project Transaction JSONL (one record per line; bad lines go to the DLQ), project Transaction parquet
(columns named like the Transaction fields) and the handbook parquet (``TRANSACTION_ID, TX_DATETIME,
CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT[, TX_FRAUD]``). Outputs in ``DIR``: ``scores.parquet`` (one row per valid
transaction), ``alerts.jsonl``, ``dlq.jsonl`` and ``summary.json``.
"""

from __future__ import annotations

import json
import time
from collections import Counter, deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any, Final

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.parquet as pq
from fraud_jobs.config import RULE_FIELDS, DetectorConfig, apply_control
from fraud_jobs.logic import (
    PendingDecision,
    ScoreError,
    ScoreRecord,
    apply_label_customer,
    apply_label_terminal,
    customer_update,
    decide,
    terminal_step,
)
from fraud_jobs.rules import RULES
from fraud_jobs.schemas import (
    ControlMessage,
    DeadLetterRecord,
    ErrorType,
    Label,
    ParseStats,
    Source,
    Stage,
    Transaction,
    dead_letter,
    decode_json_object,
    validate_transaction,
)
from fraud_jobs.scoring import Scorer, check_scorer, combiner_of, score_rows
from fraud_models.data import Transactions
from fraud_models.progress import progress_bar

__all__ = [
    "HANDBOOK_COLUMNS",
    "ReplayInput",
    "ReplaySummary",
    "detector_rule_hits",
    "detector_scores",
    "iter_jsonl",
    "load_input",
    "load_scorer",
    "replay",
    "run_replay",
]

HANDBOOK_COLUMNS: Final = ("TRANSACTION_ID", "TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT")
_LABEL_FIELD: Final = "is_fraud"
_SCORE_BATCH: Final = 1000
"""Transactions the model scores at once (the stream's default bundle: the same function, other batches,
the same bits)."""
_PROGRESS_EVERY: Final = 1024  # transactions per bar update: a per-event update would cost more than it shows


@dataclass(slots=True)
class ReplayInput:
    """Valid transactions with their labels (None when unknown), and what failed to load."""

    transactions: list[Transaction] = field(default_factory=list)
    labels: list[bool | None] = field(default_factory=list)
    dead_letters: list[DeadLetterRecord] = field(default_factory=list)
    stats: ParseStats = field(default_factory=ParseStats)


@dataclass(slots=True)
class ReplaySummary:
    events: int = 0
    scored: int = 0
    alerts: int = 0
    alerts_by_rule: Counter[str] = field(default_factory=Counter)
    hits_by_rule: Counter[str] = field(default_factory=Counter)
    dead_letters: Counter[str] = field(default_factory=Counter)
    labels_delivered: int = 0
    future_schema_versions: int = 0
    elapsed_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "events": self.events,
            "scored": self.scored,
            "alerts": self.alerts,
            "alerts_by_rule": dict(sorted(self.alerts_by_rule.items())),
            "hits_by_rule": dict(sorted(self.hits_by_rule.items())),
            "dead_letters": dict(sorted(self.dead_letters.items())),
            "labels_delivered": self.labels_delivered,
            "future_schema_versions": self.future_schema_versions,
            "elapsed_s": round(self.elapsed_s, 3),
            "events_per_s": round(self.scored / self.elapsed_s, 1) if self.elapsed_s else None,
        }


# ----------------------------------------------------------------------------------------------------------
# loading


def _label_of(obj: dict[str, Any]) -> bool | None:
    value = obj.get(_LABEL_FIELD)
    return value if type(value) is bool else None


def _load_jsonl(path: Path, out: ReplayInput) -> None:
    topic = f"file:{path.name}"
    with path.open("rb") as fh:
        for line_no, line in enumerate(fh, start=1):
            raw = line[:-1] if line.endswith(b"\n") else line
            if raw.endswith(b"\r"):
                raw = raw[:-1]
            source = Source(topic, None, line_no)
            obj = decode_json_object(raw, Stage.PARSE, source)
            if isinstance(obj, DeadLetterRecord):
                out.stats.dead_letters[obj.error_type.value] += 1
                out.dead_letters.append(obj)
                continue
            result = validate_transaction(obj, raw, source, out.stats)
            if isinstance(result, DeadLetterRecord):
                out.dead_letters.append(result)
            else:
                out.transactions.append(result)
                out.labels.append(_label_of(obj))


def _aware(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(
            tzinfo=UTC
        )  # parquet timestamps without a zone are UTC by the project's convention
    return value


def _load_handbook(table: pa.Table, path: Path, out: ReplayInput) -> None:
    """The handbook's columns -> v1 transactions (ids become strings, naive times are UTC)."""
    columns = {name: table.column(name).to_pylist() for name in HANDBOOK_COLUMNS if name != "TX_DATETIME"}
    # Naive timestamps are UTC by the project's convention; as tz-aware microseconds they become datetimes.
    columns["TX_DATETIME"] = table.column("TX_DATETIME").cast(pa.timestamp("us", tz="UTC")).to_pylist()
    frauds = table.column("TX_FRAUD").to_pylist() if "TX_FRAUD" in table.column_names else None
    topic = f"file:{path.name}"
    validate = Transaction.model_validate
    for i, (tid, when, cid, term, amount) in enumerate(
        zip(*(columns[c] for c in HANDBOOK_COLUMNS), strict=True)
    ):
        row = {
            "transaction_id": str(tid) if tid is not None else None,
            "customer_id": str(cid) if cid is not None else None,
            "terminal_id": str(term) if term is not None else None,
            "amount": amount,
            "event_time": when,
        }
        try:
            tx = validate({k: v for k, v in row.items() if v is not None})
        except ValueError:
            result = validate_transaction(
                row, json.dumps(row, default=str), Source(topic, None, i), out.stats
            )
            if isinstance(result, DeadLetterRecord):
                out.dead_letters.append(result)
                continue
            tx = result
        else:
            out.stats.parsed += 1
            out.stats.by_version[1] += 1
        out.transactions.append(tx)
        label = frauds[i] if frauds is not None else None
        out.labels.append(bool(label) if label is not None else None)


def _load_parquet_transactions(table: pa.Table, path: Path, out: ReplayInput) -> None:
    topic = f"file:{path.name}"
    for i, row in enumerate(table.to_pylist()):
        obj = {k: _aware(v) for k, v in row.items() if v is not None}
        result = validate_transaction(obj, json.dumps(row, default=str), Source(topic, None, i), out.stats)
        if isinstance(result, DeadLetterRecord):
            out.dead_letters.append(result)
        else:
            out.transactions.append(result)
            out.labels.append(_label_of(obj))


def load_input(path: str | Path, limit: int | None = None) -> ReplayInput:
    """Read JSONL or parquet (project or handbook columns); raises ValueError for an unusable file."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"replay input {path} does not exist or is not a file")
    out = ReplayInput()
    if path.suffix in (".jsonl", ".json", ".ndjson"):
        _load_jsonl(path, out)
    elif path.suffix == ".parquet":
        try:
            pf = pq.ParquetFile(path)
        except (OSError, pa.ArrowException) as exc:
            raise ValueError(f"cannot read parquet {path}: {exc}") from exc
        names = pf.schema_arrow.names
        if all(c in names for c in HANDBOOK_COLUMNS):
            wanted = [*HANDBOOK_COLUMNS, *(["TX_FRAUD"] if "TX_FRAUD" in names else [])]
            table = _read(pf, wanted, limit)
            _load_handbook(table, path, out)
        elif "transaction_id" in names:
            _load_parquet_transactions(_read(pf, None, limit), path, out)
        else:
            raise ValueError(
                f"parquet {path} has neither the handbook columns {HANDBOOK_COLUMNS} nor Transaction fields "
                f"(found: {names[:12]})"
            )
    else:
        raise ValueError(
            f"replay input {path}: unsupported extension {path.suffix!r} (use .jsonl or .parquet)"
        )
    if limit is not None and len(out.transactions) > limit:
        del out.transactions[limit:]
        del out.labels[limit:]
    return out


def _read(pf: pq.ParquetFile, columns: list[str] | None, limit: int | None) -> pa.Table:
    if limit is None:
        return pf.read(columns=columns)
    batches, rows = [], 0
    for batch in pf.iter_batches(batch_size=min(limit, 65536), columns=columns):
        batches.append(batch)
        rows += batch.num_rows
        if rows >= limit:
            break
    table = (
        pa.Table.from_batches(batches, schema=batches[0].schema) if batches else pf.schema_arrow.empty_table()
    )
    return table.slice(0, limit)


# ----------------------------------------------------------------------------------------------------------
# the replay loop


def replay(
    data: ReplayInput,
    cfg: DetectorConfig,
    scorer: Scorer | None = None,
    alerts_out: IO[str] | None = None,
    dlq_out: IO[str] | None = None,
    *,
    progress: bool = False,
    controls: Sequence[tuple[datetime, ControlMessage]] = (),
) -> tuple[list[ScoreRecord], list[bool | None], ReplaySummary]:
    """Run every transaction through terminal_step then customer_step in event-time order.

    Returns the score records (one per scored transaction), their labels and a summary; alerts and dead
    letters are written as JSON lines to the given streams as they happen. ``progress``: a bar on stderr.
    ``controls``: control messages, each applied before the first transaction at or after its time (as the
    stream applies one it received before that transaction); one that does not apply raises ControlError.
    """
    started = time.perf_counter()
    if scorer is None and cfg.ml_features:
        # Without a scorer nothing reads the ML feature state: skipping it halves the cost, same scores.
        cfg = cfg.model_copy(update={"ml_features": False})
    summary = ReplaySummary(events=len(data.transactions) + len(data.dead_letters))
    summary.future_schema_versions = data.stats.future_version
    for dl in data.dead_letters:
        summary.dead_letters[dl.error_type.value] += 1
        if dlq_out is not None:
            dlq_out.write(dl.model_dump_json() + "\n")
    order = sorted(range(len(data.transactions)), key=lambda i: data.transactions[i].event_time)
    delay = timedelta(seconds=cfg.label_delay_s)
    pending: deque[tuple[float, Label]] = deque()  # delivery times are monotone: tx order + a constant
    changes = deque(sorted(controls, key=lambda c: c[0]))
    terminals: dict[str, bytes] = {}
    customers: dict[str, bytes] = {}
    records: list[ScoreRecord] = []
    labels: list[bool | None] = []
    bar = progress_bar(progress, total=len(order), desc="replay", unit="tx", unit_scale=True)
    waiting: list[tuple[int, PendingDecision]] = []

    def _dead(tx: Transaction, message: str, stage: Stage) -> None:
        dl = dead_letter(tx.model_dump_json(), ErrorType.PROCESSING_ERROR, message, stage)
        summary.dead_letters[dl.error_type.value] += 1
        if dlq_out is not None:
            dlq_out.write(dl.model_dump_json() + "\n")

    def decide_waiting() -> None:
        """The model scores the waiting transactions as one batch, as the stream's scoring step does."""
        raw = score_rows(scorer, [d.x or () for _, d in waiting]) if scorer is not None else None
        combiner = combiner_of(scorer)
        for k, (i, decision) in enumerate(waiting):
            model = (scorer.version, raw[k]) if scorer is not None and raw is not None else None
            try:
                record, alert = decide(
                    decision, model, detection_time=decision.tx.event_time, combiner=combiner
                )
            except ScoreError as exc:
                _dead(decision.tx, str(exc), Stage.SCORE)
                continue
            records.append(record)
            labels.append(data.labels[i])
            summary.hits_by_rule.update(record.rule_codes)
            if alert is not None:
                summary.alerts += 1
                summary.alerts_by_rule.update(record.rule_codes)
                if alerts_out is not None:
                    alerts_out.write(alert.model_dump_json() + "\n")
        waiting.clear()

    for n, i in enumerate(order, start=1):
        if not n % _PROGRESS_EVERY:
            bar.update(_PROGRESS_EVERY)
        tx = data.transactions[i]
        ts = tx.event_time.timestamp()
        while changes and changes[0][0] <= tx.event_time:
            cfg = apply_control(cfg, changes.popleft()[1])
        while pending and pending[0][0] <= ts:
            label = pending.popleft()[1]
            terminals[label.terminal_id] = apply_label_terminal(terminals.get(label.terminal_id), label, cfg)
            customers[label.customer_id] = apply_label_customer(customers.get(label.customer_id), label, cfg)
            summary.labels_delivered += 1
        stage = Stage.PROCESS
        try:
            terminals[tx.terminal_id], enriched = terminal_step(terminals.get(tx.terminal_id), tx, cfg)
            stage = Stage.SCORE
            customers[tx.customer_id], decision = customer_update(
                customers.get(tx.customer_id), enriched, cfg, scorer is not None
            )
        except Exception as exc:  # one bad event must not stop the stream; it goes to the DLQ with the reason
            _dead(tx, f"{type(exc).__name__}: {exc}", stage)
            continue
        waiting.append((i, decision))
        if len(waiting) >= _SCORE_BATCH:
            decide_waiting()
        is_fraud = data.labels[i]
        if is_fraud is not None:
            confirmed = tx.event_time + delay
            pending.append(
                (
                    confirmed.timestamp(),
                    Label(
                        transaction_id=tx.transaction_id,
                        is_fraud=is_fraud,
                        confirmed_at=confirmed,
                        terminal_id=tx.terminal_id,
                        customer_id=tx.customer_id,
                        tx_event_time=tx.event_time,
                    ),
                )
            )
    decide_waiting()
    bar.update(len(order) - bar.n)
    bar.close()
    summary.scored = len(records)
    summary.elapsed_s = time.perf_counter() - started
    return records, labels, summary


def _replay_rows(
    tx: Transactions, cfg: DetectorConfig, scorer: Scorer | None
) -> tuple[list[ScoreRecord], dict[str, int]]:
    """:func:`replay` of the rows of ``tx`` with their labels; the records and each row's index by id.
    Raises ValueError when a row was not scored."""
    data = ReplayInput()
    validate = Transaction.model_validate
    for tid, cid, term, amount, t in zip(
        tx.transaction_id.tolist(),
        tx.customer_id.tolist(),
        tx.terminal_id.tolist(),
        tx.amount.tolist(),
        tx.event_time.tolist(),
        strict=True,
    ):
        row = {
            "transaction_id": str(tid),
            "customer_id": str(cid),
            "terminal_id": str(term),
            "amount": amount,
        }
        data.transactions.append(validate(row | {"event_time": datetime.fromtimestamp(t, UTC)}))
    data.labels = [None] * len(tx) if tx.label is None else [bool(v) for v in tx.label.tolist()]
    records, _, summary = replay(data, cfg, None if scorer is None else check_scorer(scorer))
    if summary.scored != len(tx):
        raise ValueError(
            f"the detector scored {summary.scored} of {len(tx)} transactions: {summary.dead_letters}"
        )
    return records, {str(tid): i for i, tid in enumerate(tx.transaction_id.tolist())}


def detector_scores(
    tx: Transactions, scorer: Scorer, cfg: DetectorConfig
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64], str]:
    """Each row's combined and model score from :func:`replay` (the detector's own logic), and the
    settings in words; for `streamflow model evaluate`, so its table judges what the detector decides."""
    records, row_of = _replay_rows(tx, cfg, scorer)
    combined = np.full(len(tx), np.nan)
    model = np.full(len(tx), np.nan)
    for record in records:
        i = row_of[record.transaction_id]
        combined[i] = record.score
        model[i] = np.nan if record.ml_score is None else record.ml_score
    if combiner_of(scorer) is not None:
        settings = f"rules + model, learned combiner, alert threshold {cfg.alert_threshold:g}"
    else:
        settings = f"rules + model, alpha {cfg.alpha:g}, alert threshold {cfg.alert_threshold:g}"
    return combined, model, settings


def detector_rule_hits(
    tx: Transactions, cfg: DetectorConfig
) -> tuple[list[str], npt.NDArray[np.bool_], list[float]]:
    """Which rules fired on each row of ``tx`` (replayed without a model, labels delivered late), one column
    per rule code in code order, FR-006 (the model's own) left out, and each rule's configured weight: the
    inputs of a learned combiner."""
    codes = [rule.code for rule in RULES if rule.code != "FR-006"]
    weights = [float(getattr(cfg, RULE_FIELDS[code]).weight) for code in codes]
    records, row_of = _replay_rows(tx, cfg.model_copy(update={"ml_features": False}), None)
    hits = np.zeros((len(tx), len(codes)), dtype=bool)
    column = {code: j for j, code in enumerate(codes)}
    for record in records:
        i = row_of[record.transaction_id]
        for code in record.rule_codes:
            j = column.get(code)
            if j is not None:
                hits[i, j] = True
    return codes, hits, weights


def load_scorer(model: str, sha256: str | None = None) -> Scorer:
    """The compiled model for FR-006 from a training output DIR (``model.npz``, its sha256 taken from
    ``model_card.json`` unless given) or an artifact path/URI; ValueError naming the problem otherwise."""
    from fraud_models.features import FEATURE_SCHEMA_ID
    from fraud_models.scorer import ModelLoadError, load_model

    path = Path(model)
    if path.is_dir():
        artifact = path / "model.npz"
        if not artifact.is_file():
            raise ValueError(
                f"model directory {path} has no model.npz (the output of `streamflow model train`)"
            )
        card = path / "model_card.json"
        if sha256 is None and card.is_file():
            try:
                sha256 = str(json.loads(card.read_text(encoding="utf-8"))["artifacts"]["model.npz"])
            except (ValueError, KeyError, TypeError) as exc:
                raise ValueError(f"model card {card} has no artifacts.model.npz sha256: {exc}") from exc
        model = str(artifact)
    try:
        scorer: Scorer = load_model(model, expected_sha256=sha256, expected_schema_id=FEATURE_SCHEMA_ID)
    except ModelLoadError as exc:
        raise ValueError(f"model {model}: {exc}") from exc
    return check_scorer(scorer)


def _scores_table(records: Sequence[ScoreRecord], labels: Sequence[bool | None]) -> pa.Table:
    return pa.table(
        {
            "transaction_id": pa.array([r.transaction_id for r in records], pa.string()),
            "event_time": pa.array([int(r.event_ts * 1_000_000) for r in records], pa.int64()).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "customer_id": pa.array([r.customer_id for r in records], pa.string()),
            "terminal_id": pa.array([r.terminal_id for r in records], pa.string()),
            "amount": pa.array([r.amount for r in records], pa.float64()),
            "score": pa.array([r.score for r in records], pa.float64()),
            "rule_score": pa.array([r.rule_score for r in records], pa.float64()),
            "ml_score": pa.array([r.ml_score for r in records], pa.float64()),
            "rule_hits": pa.array([",".join(r.rule_codes) for r in records], pa.string()),
            "alert": pa.array([r.alert for r in records], pa.bool_()),
            "label": pa.array(list(labels), pa.bool_()),
        }
    )


def run_replay(
    input_path: str | Path,
    out_dir: str | Path,
    cfg: DetectorConfig,
    scorer: Scorer | None = None,
    limit: int | None = None,
    *,
    progress: bool = False,
) -> ReplaySummary:
    """Load, replay and write DIR/scores.parquet, DIR/alerts.jsonl, DIR/dlq.jsonl and DIR/summary.json.

    ``progress``: a bar on stderr over the replay loop, the part that takes minutes on large inputs.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = load_input(input_path, limit)
    with (
        (out / "alerts.jsonl").open("w", encoding="utf-8") as alerts_fh,
        (out / "dlq.jsonl").open("w", encoding="utf-8") as dlq_fh,
    ):
        records, labels, summary = replay(data, cfg, scorer, alerts_fh, dlq_fh, progress=progress)
    pq.write_table(_scores_table(records, labels), out / "scores.parquet", compression="zstd")
    (out / "summary.json").write_text(json.dumps(summary.as_dict(), indent=2) + "\n", encoding="utf-8")
    return summary


def iter_jsonl(path: str | Path) -> Iterator[dict[str, Any]]:
    """Read a JSONL output file back (alerts, DLQ) as dicts."""
    with Path(path).open("rb") as fh:
        for line in fh:
            if line.strip():
                yield json.loads(line)
