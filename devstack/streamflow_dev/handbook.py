"""The handbook dataset rebuilt from its upstream daily files, and a digest of its content.

The offline mirror holds one parquet file; upstream (Fraud-Detection-Handbook/simulated-data-raw) holds one
pickled pandas DataFrame per day. Concatenating the days and giving the object columns their integer type
yields exactly the mirror's table, but parquet bytes depend on the writer's version, so a rebuilt file is
checked by :func:`table_sha256`, a digest of the values, not of the bytes. The pickles are only loaded after
their own pinned sha256 matched (a pickle can run code when loaded).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

__all__ = ["COLUMNS", "assemble", "table_sha256"]

#: The dataset's columns, in order, all int64 except TX_DATETIME (timestamp[ns]) and TX_AMOUNT (double).
COLUMNS = (
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
)
# Stored as Python objects in the daily pickles; integers in the published table.
_OBJECT_INT_COLUMNS = ("CUSTOMER_ID", "TERMINAL_ID", "TX_TIME_SECONDS", "TX_TIME_DAYS")


def table_sha256(path: Path) -> str:
    """sha256 over the table's values: per column ``NAME:TYPE:ROWS\\n`` then its little-endian values.

    Independent of the parquet encoding (compression, row groups, writer version); a file with other
    columns, other types or nulls gets a different digest.
    """
    import numpy as np
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    digest = hashlib.sha256()
    for name in table.column_names:
        column = table.column(name).combine_chunks()
        values = column.to_numpy(zero_copy_only=False)
        digest.update(f"{name}:{column.type}:{len(values)}:{column.null_count}\n".encode())
        digest.update(np.ascontiguousarray(values.astype(values.dtype.newbyteorder("<"))).tobytes())
    return digest.hexdigest()


def assemble(days: Sequence[Path], out: Path) -> None:
    """Concatenate the daily pickles (already checked against their pinned sha256) into ``out`` (parquet)."""
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq

    frame = pd.concat([pd.read_pickle(day) for day in days], ignore_index=True)
    missing = sorted(set(COLUMNS) - set(frame.columns))
    if missing:
        raise ValueError(f"the daily files lack the columns {missing}")
    frame = frame[list(COLUMNS)].astype({name: "int64" for name in _OBJECT_INT_COLUMNS})
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), out, compression="zstd")
