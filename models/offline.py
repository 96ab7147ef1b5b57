"""Build the feature matrix of a whole dataset by replaying it through the online feature functions.

Events go through :mod:`fraud_models.features` in event-time order with one state per customer and per
terminal, exactly as the detector's keyed state sees them; each label is delivered ``label_delay``
after its transaction (before any event at or after that moment), so training sees what the stream
would have known — no more.
"""

from __future__ import annotations

import math
from array import array
from typing import Any

import numpy as np
import numpy.typing as npt
from fraud_models.data import Transactions
from fraud_models.features import (
    FEATURE_NAMES,
    CustomerFeatureState,
    TerminalFeatureState,
    assemble,
    customer_features,
    customer_observe,
    terminal_features,
    terminal_label,
    terminal_observe,
)
from tqdm import tqdm

__all__ = ["build_features"]

_PROGRESS_STEP = 20_000


def build_features(
    tx: Transactions, label_delay_s: float, *, progress: bool = True, desc: str = "features"
) -> npt.NDArray[np.float64]:
    """The ``(len(tx), len(FEATURE_NAMES))`` matrix, row ``i`` being the features of transaction ``i``."""
    n = len(tx)
    times: list[float] = tx.event_time.tolist()
    amounts: list[float] = tx.amount.tolist()
    customers: list[Any] = tx.customer_id.tolist()
    terminals: list[Any] = tx.terminal_id.tolist()
    labels: list[int] | None = None if tx.label is None else tx.label.tolist()
    lats: list[float] | None = None if tx.lat is None else tx.lat.tolist()
    lons: list[float] | None = None if tx.lon is None else tx.lon.tolist()
    if any(times[i] > times[i + 1] for i in range(n - 1)):
        raise ValueError("transactions must be sorted by event time (load_transactions sorts them)")

    customer_states: dict[Any, CustomerFeatureState] = {}
    terminal_states: dict[Any, TerminalFeatureState] = {}
    out = array("d")
    delivered = 0  # labels of transactions [0, delivered) have been delivered
    bar = tqdm(total=n, desc=desc, unit="tx", disable=not progress, mininterval=1.0)
    for i in range(n):
        t = times[i]
        if labels is not None:
            while delivered < i and times[delivered] + label_delay_s <= t:
                terminal_label(
                    terminal_states[terminals[delivered]], times[delivered], labels[delivered] == 1
                )
                delivered += 1
        amount = amounts[i]
        lat = lon = None
        if lats is not None and lons is not None and not (math.isnan(lats[i]) or math.isnan(lons[i])):
            lat, lon = lats[i], lons[i]
        cstate = customer_states.get(customers[i])
        if cstate is None:
            cstate = customer_states[customers[i]] = CustomerFeatureState()
        tstate = terminal_states.get(terminals[i])
        if tstate is None:
            tstate = terminal_states[terminals[i]] = TerminalFeatureState()
        cfeat = customer_features(cstate, t, amount, lat, lon)
        customer_observe(cstate, t, amount, lat, lon)
        tfeat = terminal_features(tstate, t, label_delay_s)
        terminal_observe(tstate, t)
        out.extend(assemble(amount, t, cfeat, tfeat))
        if i % _PROGRESS_STEP == _PROGRESS_STEP - 1:
            bar.update(_PROGRESS_STEP)
    bar.update(n - bar.n)
    bar.close()
    return np.frombuffer(out, dtype=np.float64).reshape(n, len(FEATURE_NAMES)).copy()
