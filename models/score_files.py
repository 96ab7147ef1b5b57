"""Score files for `streamflow model compare --active-scores/--shadow-scores`: replay outputs or JSONL.

`streamflow replay --model` writes DIR/scores.parquet (transaction_id, event_time, customer_id, score,
ml_score, alert, label); JSONL files with the same keys work too. Labels may come from the score files'
optional label column (``label``, ``is_fraud`` or ``TX_FRAUD``) or from a separate labels file.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from fraud_models.compare import ScoredEvent

__all__ = ["LABEL_COLUMNS", "ScoreFile", "load_labels", "load_score_file", "merge_labels"]

#: Accepted names of the fraud label column, in order of preference.
LABEL_COLUMNS = ("label", "is_fraud", "TX_FRAUD")
_ID_COLUMNS = ("transaction_id", "TRANSACTION_ID")
_TIME_COLUMNS = ("event_time", "TX_DATETIME")
_CUSTOMER_COLUMNS = ("customer_id", "CUSTOMER_ID")


class ScoreFile:
    """The events of one score file and the labels it carries (transaction id -> is fraud)."""

    def __init__(self, path: Path, events: list[ScoredEvent], labels: dict[str, bool]) -> None:
        self.path = path
        self.events = events
        self.labels = labels


def _records(path: Path) -> Iterator[dict[str, Any]]:
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.suffix == ".parquet":
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises several types for unreadable files
            raise ValueError(f"{path}: not a readable parquet file: {exc}") from exc
        yield from table.to_pylist()
        return
    if path.suffix not in (".jsonl", ".json", ".ndjson"):
        raise ValueError(f"{path}: unsupported format (expected .parquet or .jsonl)")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path}:{n}: not JSON: {exc}") from exc
            if not isinstance(obj, dict):
                raise ValueError(f"{path}:{n}: expected a JSON object")
            yield obj


def _pick(obj: dict[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        if name in obj:
            return obj[name]
    return None


def _time(value: Any, where: str) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"{where}: event_time {value!r} is not an ISO-8601 time") from None
        return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return datetime.fromtimestamp(float(value), UTC)
    raise ValueError(f"{where}: missing or invalid event_time {value!r}")


def _label(value: Any, where: str) -> bool | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise ValueError(f"{where}: label {value!r} is not a boolean or 0/1")


def _transaction_id(obj: dict[str, Any], where: str) -> str:
    tid = _pick(obj, _ID_COLUMNS)
    if tid is None or str(tid) == "":
        raise ValueError(f"{where}: no transaction_id")
    return str(tid)


def load_score_file(path: Path, score_column: str = "score") -> ScoreFile:
    """Events and labels of a score file; a clear error naming the file and row for anything unusable."""
    events: list[ScoredEvent] = []
    labels: dict[str, bool] = {}
    for n, obj in enumerate(_records(path), 1):
        where = f"{path} row {n}"
        tid = _transaction_id(obj, where)
        score = obj.get(score_column)
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise ValueError(f"{where}: missing or non-numeric {score_column!r}")
        customer = _pick(obj, _CUSTOMER_COLUMNS)
        alert = obj.get("alert")
        if alert is not None and not isinstance(alert, bool):
            raise ValueError(f"{where}: alert {alert!r} is not a boolean")
        events.append(
            ScoredEvent(
                tid,
                None if customer is None else str(customer),
                _time(_pick(obj, _TIME_COLUMNS), where),
                float(score),
                alert,
            )
        )
        label = _label(_pick(obj, LABEL_COLUMNS), where)
        if label is not None:
            labels[tid] = label
    if not events:
        raise ValueError(f"{path}: no scored events")
    return ScoreFile(path, events, labels)


def load_labels(path: Path) -> dict[str, bool]:
    """A labels file (parquet or JSONL): transaction_id and one of label / is_fraud / TX_FRAUD a row."""
    labels: dict[str, bool] = {}
    for n, obj in enumerate(_records(path), 1):
        where = f"{path} row {n}"
        tid = _transaction_id(obj, where)
        label = _label(_pick(obj, LABEL_COLUMNS), where)
        if label is None:
            raise ValueError(f"{where}: no label (one of {', '.join(LABEL_COLUMNS)})")
        if labels.get(tid, label) != label:
            raise ValueError(f"{where}: transaction {tid} is labeled both ways in this file")
        labels[tid] = label
    return labels


def merge_labels(*sources: tuple[str, dict[str, bool]]) -> dict[str, bool]:
    """Union of label maps; a transaction labeled differently by two sources is an error, not a guess."""
    out: dict[str, bool] = {}
    origin: dict[str, str] = {}
    for name, labels in sources:
        for tid, label in labels.items():
            if tid in out and out[tid] != label:
                raise ValueError(
                    f"transaction {tid} is labeled {out[tid]} in {origin[tid]} but {label} in {name}"
                )
            out[tid] = label
            origin.setdefault(tid, name)
    return out
