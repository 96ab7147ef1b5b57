"""Compact, versioned per-key state of the detector and its byte codec.

Flink keeps exactly one value per key (a ``bytes`` ValueState), because every state access crosses the
Python/JVM boundary and that boundary, not the rules, is the cost. The layout is fixed little-endian
``struct`` fields, a variable ring of recent timestamps and the ML feature state as an opaque blob
(:mod:`fraud_models.features` owns its format). A version byte leads, so a future layout can read old state
after an upgrade; an unknown version or a damaged value raises :class:`StateCodecError` instead of silently
scoring with garbage.
"""

from __future__ import annotations

import math
import struct
from bisect import bisect_right, insort
from dataclasses import dataclass, field
from typing import Final

__all__ = [
    "CUSTOMER_STATE_VERSION",
    "RING_CAPACITY",
    "TERMINAL_STATE_VERSION",
    "CustomerState",
    "StateCodecError",
    "TerminalState",
]

CUSTOMER_STATE_VERSION: Final = 1
TERMINAL_STATE_VERSION: Final = 1
RING_CAPACITY: Final = 32
"""Recent timestamps kept per key: bounds the velocity rule's max_count (<= 31) and the state size."""
FRAUD_RING_CAPACITY: Final = 8

# Whole-value layouts, one struct call per decode/encode. Customer: version, ring length, reserved, n,
# fraud labels, mean, m2, last_ts, geo lat/lon/ts, last fraud label ts | ring doubles | 24 hour counts |
# feature blob length, then the blob.
_CUSTOMER_HEAD: Final = "<BBHIIddddddd"
_CUSTOMER_LAYOUT: Final = tuple(struct.Struct(f"{_CUSTOMER_HEAD}{k}d24II") for k in range(RING_CAPACITY + 1))
# Terminal: version, ring length, fraud ring length, reserved, n, labels, fraud labels, mean, m2, last_ts |
# ring doubles | fraud ring doubles | feature blob length, then the blob.
_TERMINAL_HEAD: Final = "<BBBBIIIddd"
_TERMINAL_LAYOUT: Final = tuple(
    tuple(struct.Struct(f"{_TERMINAL_HEAD}{k}d{f}dI") for f in range(FRAUD_RING_CAPACITY + 1))
    for k in range(RING_CAPACITY + 1)
)
_NAN: Final = math.nan


class StateCodecError(ValueError):
    """Stored state that cannot be decoded (unknown version, truncated or corrupt bytes)."""


@dataclass(slots=True)
class CustomerState:
    """Everything the rules need about one customer, plus the ML feature state."""

    n: int = 0
    """Transactions seen (the denominator of the running stats and of the hour histogram)."""
    mean: float = 0.0
    m2: float = 0.0
    """Welford's running sum of squared deviations of the amount."""
    last_ts: float = _NAN
    geo_lat: float = _NAN
    geo_lon: float = _NAN
    geo_ts: float = _NAN
    ring: list[float] = field(default_factory=list)
    """Timestamps of the most recent transactions, oldest first, at most RING_CAPACITY."""
    hours: list[int] = field(default_factory=lambda: [0] * 24)
    fraud_labels: int = 0
    last_fraud_label_ts: float = _NAN
    features: bytes = b""
    """fraud_models.features.CustomerFeatureState bytes (empty until the first event)."""

    @property
    def std(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    def observe_amount(self, amount: float) -> None:
        """Welford update: numerically stable running mean and variance in O(1) state."""
        self.n += 1
        delta = amount - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (amount - self.mean)

    def count_within(self, since_ts: float, until_ts: float) -> int:
        """Ring timestamps in ``(since_ts, until_ts]`` (the ring is sorted): a transaction that arrives
        late is counted with what happened before it, not with the later ones already seen."""
        return bisect_right(self.ring, until_ts) - bisect_right(self.ring, since_ts)

    def push_time(self, ts: float) -> None:
        ring = self.ring
        if not ring or ts >= ring[-1]:
            ring.append(ts)
        else:  # out-of-order event: keep the ring sorted for count_within
            insort(ring, ts)
        if len(ring) > RING_CAPACITY:
            del ring[0]

    def to_bytes(self) -> bytes:
        ring = self.ring
        return (
            _CUSTOMER_LAYOUT[len(ring)].pack(
                CUSTOMER_STATE_VERSION,
                len(ring),
                0,
                self.n,
                self.fraud_labels,
                self.mean,
                self.m2,
                self.last_ts,
                self.geo_lat,
                self.geo_lon,
                self.geo_ts,
                self.last_fraud_label_ts,
                *ring,
                *self.hours,
                len(self.features),
            )
            + self.features
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerState:
        if not data or data[0] != CUSTOMER_STATE_VERSION:
            found = data[0] if data else "empty"
            raise StateCodecError(f"customer state version {found}, this code reads {CUSTOMER_STATE_VERSION}")
        k = data[1] if len(data) > 1 else 0
        if k > RING_CAPACITY:
            raise StateCodecError(f"customer state ring of {k} entries exceeds {RING_CAPACITY}")
        layout = _CUSTOMER_LAYOUT[k]
        try:
            v = layout.unpack_from(data)
        except struct.error as exc:
            raise StateCodecError(f"customer state truncated ({len(data)} bytes): {exc}") from None
        end = 12 + k
        blob_len = v[end + 24]
        if layout.size + blob_len != len(data):
            raise StateCodecError(
                f"customer state is {len(data)} bytes, layout says {layout.size + blob_len} (blob {blob_len})"
            )
        return cls(
            v[3], v[5], v[6], v[7], v[8], v[9], v[10],
            list(v[12:end]), list(v[end : end + 24]), v[4], v[11], data[layout.size :],
        )  # fmt: skip


@dataclass(slots=True)
class TerminalState:
    """Recent activity of one terminal and the frauds confirmed there (by delivered labels)."""

    n: int = 0
    mean: float = 0.0
    m2: float = 0.0
    last_ts: float = _NAN
    ring: list[float] = field(default_factory=list)
    """Timestamps of the most recent transactions, oldest first, at most RING_CAPACITY."""
    labels: int = 0
    fraud_labels: int = 0
    fraud_ring: list[float] = field(default_factory=list)
    """Delivery times of the most recent confirmed frauds, at most FRAUD_RING_CAPACITY."""
    features: bytes = b""
    """fraud_models.features.TerminalFeatureState bytes (empty until the first event)."""

    def observe(self, ts: float, amount: float) -> None:
        self.n += 1
        delta = amount - self.mean
        self.mean += delta / self.n
        self.m2 += delta * (amount - self.mean)
        ring = self.ring
        if not ring or ts >= ring[-1]:
            ring.append(ts)
        else:  # out-of-order event: keep the ring sorted for count_within
            insort(ring, ts)
        if len(ring) > RING_CAPACITY:
            del ring[0]
        if not ts <= self.last_ts:  # also true when last_ts is NaN
            self.last_ts = ts

    def count_within(self, since_ts: float, until_ts: float) -> int:
        """Ring timestamps in ``(since_ts, until_ts]`` (the ring is sorted): a transaction that arrives
        late is counted with what happened before it, not with the later ones already seen."""
        return bisect_right(self.ring, until_ts) - bisect_right(self.ring, since_ts)

    def add_fraud_label(self, delivered_ts: float) -> None:
        ring = self.fraud_ring
        ring.append(delivered_ts)
        ring.sort()
        if len(ring) > FRAUD_RING_CAPACITY:
            del ring[0]

    def confirmed_frauds(self, now_ts: float, window_s: float) -> int:
        """Frauds whose label was delivered in ``(now - window, now]``: a label counts only once known."""
        ring = self.fraud_ring
        if not ring:
            return 0
        since = now_ts - window_s
        return sum(1 for ts in ring if since < ts <= now_ts)

    def to_bytes(self) -> bytes:
        ring, fraud = self.ring, self.fraud_ring
        return (
            _TERMINAL_LAYOUT[len(ring)][len(fraud)].pack(
                TERMINAL_STATE_VERSION,
                len(ring),
                len(fraud),
                0,
                self.n,
                self.labels,
                self.fraud_labels,
                self.mean,
                self.m2,
                self.last_ts,
                *ring,
                *fraud,
                len(self.features),
            )
            + self.features
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TerminalState:
        if not data or data[0] != TERMINAL_STATE_VERSION:
            found = data[0] if data else "empty"
            raise StateCodecError(f"terminal state version {found}, this code reads {TERMINAL_STATE_VERSION}")
        k, f = (data[1], data[2]) if len(data) > 2 else (0, 0)
        if k > RING_CAPACITY or f > FRAUD_RING_CAPACITY:
            raise StateCodecError(f"terminal state rings of {k}/{f} entries exceed their capacity")
        layout = _TERMINAL_LAYOUT[k][f]
        try:
            v = layout.unpack_from(data)
        except struct.error as exc:
            raise StateCodecError(f"terminal state truncated ({len(data)} bytes): {exc}") from None
        blob_len = v[10 + k + f]
        if layout.size + blob_len != len(data):
            raise StateCodecError(
                f"terminal state is {len(data)} bytes, layout says {layout.size + blob_len} (blob {blob_len})"
            )
        return cls(
            v[4], v[7], v[8], v[9], list(v[10 : 10 + k]), v[5], v[6], list(v[10 + k : 10 + k + f]),
            data[layout.size :],
        )  # fmt: skip
