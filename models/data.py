"""Load labeled transactions for training and evaluation, in either supported column layout.

Two layouts are accepted: the Fraud Detection Handbook's parquet (TRANSACTION_ID, TX_DATETIME,
CUSTOMER_ID, TERMINAL_ID, TX_AMOUNT, TX_FRAUD) and the project's Transaction records (transaction_id,
customer_id, terminal_id, amount, event_time as ISO-8601 or a timestamp, optional is_fraud or label,
optional lat/lon) as parquet or JSONL. Everything becomes plain numpy arrays sorted by event time,
because the offline feature replay must see events in the order the stream would.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

__all__ = ["DataError", "Transactions", "load_transactions"]

_HANDBOOK = {
    "transaction_id": "TRANSACTION_ID",
    "event_time": "TX_DATETIME",
    "customer_id": "CUSTOMER_ID",
    "terminal_id": "TERMINAL_ID",
    "amount": "TX_AMOUNT",
    "label": "TX_FRAUD",
}
_SCENARIO = "TX_FRAUD_SCENARIO"
_PROJECT_REQUIRED = ("transaction_id", "customer_id", "terminal_id", "amount", "event_time")
_PROJECT_LABELS = ("is_fraud", "label")


class DataError(ValueError):
    """The input cannot be used as given; the message names the file, column or window at fault."""


@dataclass(frozen=True)
class Transactions:
    """Column arrays sorted by event time (epoch seconds, UTC); ``label`` is None when unlabeled."""

    transaction_id: npt.NDArray[Any]
    customer_id: npt.NDArray[Any]
    terminal_id: npt.NDArray[Any]
    amount: npt.NDArray[np.float64]
    event_time: npt.NDArray[np.float64]
    label: npt.NDArray[np.int8] | None
    lat: npt.NDArray[np.float64] | None = None
    lon: npt.NDArray[np.float64] | None = None
    source: str = ""
    #: The handbook simulator's fraud scenario (0 genuine, 1 large amount, 2 compromised terminal,
    #: 3 compromised card) when the file has TX_FRAUD_SCENARIO; used only to explain metrics.
    scenario: npt.NDArray[np.int8] | None = None

    def __len__(self) -> int:
        return len(self.event_time)

    def select(self, mask: npt.NDArray[np.bool_]) -> Transactions:
        """The rows where ``mask`` is true, still in event-time order."""
        return Transactions(
            self.transaction_id[mask],
            self.customer_id[mask],
            self.terminal_id[mask],
            self.amount[mask],
            self.event_time[mask],
            None if self.label is None else self.label[mask],
            None if self.lat is None else self.lat[mask],
            None if self.lon is None else self.lon[mask],
            self.source,
            None if self.scenario is None else self.scenario[mask],
        )


def _read_table(path: Path) -> pa.Table:
    if not path.exists():
        raise DataError(f"{path}: no such file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pq.read_table(path)
        if suffix in (".jsonl", ".json", ".ndjson"):
            rows = []
            with path.open(encoding="utf-8") as handle:
                for lineno, line in enumerate(handle, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as exc:
                            raise DataError(f"{path}:{lineno}: not valid JSON: {exc}") from exc
            if not rows:
                raise DataError(f"{path}: no records")
            return pa.Table.from_pylist(rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"{path}: unreadable: {exc}") from exc
    raise DataError(f"{path}: unsupported file type {suffix!r} (expected .parquet or .jsonl)")


def _epoch_seconds(column: pa.ChunkedArray, path: Path) -> npt.NDArray[np.float64]:
    if pa.types.is_timestamp(column.type):
        tz = column.type.tz
        micros = pc.cast(column, pa.timestamp("us", tz=tz)).cast(pa.int64())
        return np.asarray(micros.to_numpy(zero_copy_only=False), dtype=np.float64) / 1e6
    if pa.types.is_string(column.type) or pa.types.is_large_string(column.type):
        out = np.empty(len(column), dtype=np.float64)
        for i, text in enumerate(column.to_pylist()):
            if text is None:
                out[i] = np.nan
                continue
            try:
                moment = datetime.fromisoformat(text)
            except ValueError as exc:
                raise DataError(f"{path}: event_time {text!r} (row {i}) is not ISO-8601") from exc
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            out[i] = moment.timestamp()
        return out
    if pa.types.is_integer(column.type) or pa.types.is_floating(column.type):
        return np.asarray(column.to_numpy(), dtype=np.float64)
    raise DataError(f"{path}: event_time has unsupported type {column.type}")


def _numeric(table: pa.Table, name: str, path: Path) -> npt.NDArray[np.float64]:
    column = table.column(name)
    if column.null_count and name not in ("lat", "lon"):
        raise DataError(f"{path}: column {name!r} has {column.null_count} missing value(s)")
    try:
        return np.asarray(column.to_numpy(zero_copy_only=False), dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{path}: column {name!r} is not numeric ({column.type})") from exc


def _ids(column: pa.ChunkedArray) -> npt.NDArray[Any]:
    values = column.to_numpy(zero_copy_only=False)
    return np.asarray(values)


def load_transactions(path: str | Path, *, require_labels: bool = False) -> Transactions:
    """Read ``path`` (handbook or project layout), validate it and sort it by event time."""
    path = Path(path)
    table = _read_table(path)
    names = set(table.column_names)
    if set(_HANDBOOK.values()) - {"TX_FRAUD"} <= names:
        mapping = dict(_HANDBOOK)
        if "TX_FRAUD" not in names:
            del mapping["label"]
    else:
        missing = [c for c in _PROJECT_REQUIRED if c not in names]
        if missing:
            hb_missing = sorted(set(_HANDBOOK.values()) - {"TX_FRAUD"} - names)
            raise DataError(
                f"{path}: missing column(s) {', '.join(missing)} (project layout) — or "
                f"{', '.join(hb_missing)} (handbook layout); found {', '.join(sorted(names))}"
            )
        mapping = {c: c for c in _PROJECT_REQUIRED}
        for candidate in _PROJECT_LABELS:
            if candidate in names:
                mapping["label"] = candidate
                break
        for geo in ("lat", "lon"):
            if geo in names:
                mapping[geo] = geo
    if require_labels and "label" not in mapping:
        raise DataError(f"{path}: no label column (expected TX_FRAUD, is_fraud or label)")
    if table.num_rows == 0:
        raise DataError(f"{path}: no rows")

    event_time = _epoch_seconds(table.column(mapping["event_time"]), path)
    amount = _numeric(table, mapping["amount"], path)
    columns: dict[str, npt.NDArray[Any]] = {"event_time": event_time, "amount": amount}
    for key in ("transaction_id", "customer_id", "terminal_id"):
        column = table.column(mapping[key])
        if column.null_count:
            raise DataError(f"{path}: column {mapping[key]!r} has {column.null_count} missing value(s)")
        columns[key] = _ids(column)
    label: npt.NDArray[np.int8] | None = None
    if "label" in mapping:
        raw = _numeric(table, mapping["label"], path)
        columns["label"] = raw
    for key in ("event_time", "amount", "label"):
        if key in columns:
            bad = int(np.count_nonzero(~np.isfinite(columns[key])))
            if bad:
                raise DataError(f"{path}: column {mapping[key]!r} has {bad} missing or non-finite value(s)")
    if "label" in columns:
        raw = columns["label"]
        if not np.isin(raw, (0.0, 1.0)).all():
            raise DataError(f"{path}: column {mapping['label']!r} must be 0/1 (or true/false)")
        label = raw.astype(np.int8)
    if (amount < 0).any():
        raise DataError(
            f"{path}: column {mapping['amount']!r} has {int((amount < 0).sum())} negative value(s)"
        )
    scenario = None
    if mapping.get("label") == "TX_FRAUD" and _SCENARIO in names:
        raw_scenario = _numeric(table, _SCENARIO, path)
        if not np.isin(raw_scenario, (0.0, 1.0, 2.0, 3.0)).all():
            raise DataError(f"{path}: column {_SCENARIO!r} must be 0, 1, 2 or 3")
        scenario = raw_scenario.astype(np.int8)
    lat = _numeric(table, "lat", path) if "lat" in mapping else None
    lon = _numeric(table, "lon", path) if "lon" in mapping else None

    order = np.argsort(event_time, kind="stable")
    return Transactions(
        columns["transaction_id"][order],
        columns["customer_id"][order],
        columns["terminal_id"][order],
        amount[order],
        event_time[order],
        None if label is None else label[order],
        None if lat is None else lat[order],
        None if lon is None else lon[order],
        str(path),
        None if scenario is None else scenario[order],
    )
