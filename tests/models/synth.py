"""A small labeled transaction stream with learnable fraud, generated for fast tests.

Patterns in the spirit of the handbook's simulator: large amounts are fraud, some terminals are
compromised for a while (all their transactions are fraud), and some cards are compromised (a third
of their transactions, with inflated amounts).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["START", "generate", "write_handbook_parquet"]

START = datetime(2018, 4, 1, tzinfo=UTC).timestamp()


def generate(
    days: int = 30,
    customers: int = 200,
    terminals: int = 100,
    seed: int = 0,
    geo: bool = False,
    compromised_share: float = 0.05,
) -> dict[str, Any]:
    """Columns of a handbook-like dataset (unsorted on purpose: loaders must sort)."""
    rng = np.random.default_rng(seed)
    per_day = rng.integers(0, 4, size=(days, customers))
    n = int(per_day.sum())
    day_idx, cust = np.nonzero(per_day)
    reps = per_day[day_idx, cust]
    day_idx, cust = np.repeat(day_idx, reps), np.repeat(cust, reps)
    t = START + day_idx * 86_400.0 + rng.uniform(6 * 3600, 23 * 3600, size=n).round(0)
    term = rng.integers(0, terminals, size=n)
    mean_amount = rng.uniform(10, 80, size=customers)
    amount = np.abs(rng.normal(mean_amount[cust], mean_amount[cust] / 2)).round(2)
    fraud = amount > 220
    scenario = fraud.astype(np.int8)  # the handbook's TX_FRAUD_SCENARIO: 1 amount, 2 terminal, 3 card
    compromised_terminals = rng.choice(
        terminals, size=max(1, int(terminals * compromised_share)), replace=False
    )
    for term_id in compromised_terminals:
        start = rng.integers(0, days)
        hit = (term == term_id) & (day_idx >= start) & (day_idx < start + 14)
        fraud |= hit
        scenario[hit] = 2
    compromised_customers = rng.choice(
        customers, size=max(1, int(customers * compromised_share)), replace=False
    )
    for cust_id in compromised_customers:
        start = rng.integers(0, days)
        hit = (cust == cust_id) & (day_idx >= start) & (day_idx < start + 7) & (rng.random(n) < 0.33)
        amount[hit] *= 5
        fraud |= hit
        scenario[hit] = 3
    order = rng.permutation(n)
    cols: dict[str, Any] = {
        "transaction_id": np.arange(n)[order],
        "event_time": t[order],
        "customer_id": cust[order],
        "terminal_id": term[order],
        "amount": amount[order],
        "label": fraud[order].astype(np.int8),
        "scenario": scenario[order],
    }
    if geo:
        cols["lat"] = rng.uniform(40, 50, size=n)[order]
        cols["lon"] = rng.uniform(0, 10, size=n)[order]
    return cols


def write_handbook_parquet(path: Path, cols: dict[str, Any]) -> Path:
    """Write ``cols`` with the handbook's column names and types."""
    table = pa.table(
        {
            "TRANSACTION_ID": cols["transaction_id"],
            "TX_DATETIME": pa.array((cols["event_time"] * 1e6).astype(np.int64), type=pa.timestamp("us")),
            "CUSTOMER_ID": cols["customer_id"],
            "TERMINAL_ID": cols["terminal_id"],
            "TX_AMOUNT": cols["amount"],
            "TX_FRAUD": cols["label"],
            "TX_FRAUD_SCENARIO": cols["scenario"],
        }
    )
    pq.write_table(table, path)
    return path
