"""The one feature implementation, shared by the stream (keyed state) and by training (replay).

Training replays history in event-time order through exactly these functions, and the detector calls
them per event with the state it keeps per customer and per terminal, so the two can never drift apart.

Semantics (event times are epoch seconds, UTC):

- Customer windows are exact rolling windows ``(t - w, t]`` over the customer's own transactions and
  include the current one (the handbook's definition); the state holds the last 30 days of
  ``(time, amount)``: a few dozen entries for a card (16 bytes each), and never more than the newest
  :data:`MAX_CUSTOMER_PAYMENTS`. A key paying faster than that (a card under a card-testing attack, a
  merchant's aggregate id) would otherwise make its state, and the work on each of its events, grow with
  every payment; past the cap its windows are over those newest payments, so its counts saturate there.
  The largest recent amount is judged against the median of those 30 days, not the mean, so a few
  fraudulent large amounts do not hide the next one by raising the card's baseline.
- Terminal windows are delayed, as in the handbook: counts and fraud risk over ``w`` days ending
  ``label_delay`` ago, at hour resolution (the ``24 w`` whole hours that end ``ceil(label_delay / 1 h)``
  hours before the current hour). Every transaction in them is older than the label delay, so its label
  has been delivered if it was delivered on time; only labels actually delivered (:func:`terminal_label`)
  are counted, so a label never acts before it is known. The state is one count per active hour
  (about ``24 * (31 + delay days)`` buckets at most), bounded whatever the terminal's volume.
  Two features say how current the known frauds are, because a compromise ends: the age of the first
  known fraud in the 30-day window and the number of transactions after the last one.

Version 2 of the schema added ``customer_max_amount_ratio_7d``, ``terminal_fraud_age_h`` and
``terminal_nb_tx_since_fraud`` (chosen on validation weeks before the test week, docs/evaluation.md); they
read the same state as version 1, so the state format did not change. The cap on a customer's payments
came later without a new version: no customer of the handbook's five months pays more than 155 times in 30
days, so no feature a shipped model was trained on changes.
"""

from __future__ import annotations

import hashlib
import json
import math
import statistics
import struct
from array import array
from bisect import bisect_left, bisect_right, insort
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import reduce

__all__ = [
    "BOOK_FEATURES",
    "CUSTOMER_FEATURES",
    "DAY_S",
    "DEFAULT_LABEL_DELAY_S",
    "EARTH_RADIUS_KM",
    "FEATURE_NAMES",
    "FEATURE_SCHEMA_ID",
    "FEATURE_SCHEMA_VERSION",
    "LABEL_DERIVED_FEATURES",
    "MAX_CUSTOMER_PAYMENTS",
    "NO_FRAUD_AGE_H",
    "SCHEMA_V1_FEATURES",
    "TERMINAL_FEATURES",
    "CustomerFeatureState",
    "TerminalFeatureState",
    "assemble",
    "customer_features",
    "customer_observe",
    "haversine_km",
    "terminal_features",
    "terminal_label",
    "terminal_observe",
]

DAY_S = 86_400.0
HOUR_S = 3_600.0
DEFAULT_LABEL_DELAY_S = 7 * DAY_S
_WINDOWS_DAYS = (1, 7, 30)
_CUSTOMER_HORIZON_S = 30 * DAY_S
#: A customer's window keeps at most this many payments, the newest (over 33 a day for 30 days).
MAX_CUSTOMER_PAYMENTS = 1_000
_NO_PREVIOUS_S = 30 * DAY_S  # "seconds since previous transaction" when there is none in the window
_MIN_TRAVEL_HOURS = 1.0 / 60.0  # two positions a few seconds apart are not a 10,000 km/h trip
_MIN_MEDIAN = 1e-9  # a card whose median amount is 0 still gets a finite (huge) ratio
#: ``terminal_fraud_age_h`` when no delivered fraud is in the 30-day window: just beyond any real age.
NO_FRAUD_AGE_H = 24.0 * _WINDOWS_DAYS[-1] + 1.0
#: The Earth's mean radius, the one radius of every distance here and in the rules (the shipped models
#: were trained on features computed with it).
EARTH_RADIUS_KM = 6371.0

CUSTOMER_FEATURES: tuple[str, ...] = (
    "customer_nb_tx_1d",
    "customer_avg_amount_1d",
    "customer_nb_tx_7d",
    "customer_avg_amount_7d",
    "customer_nb_tx_30d",
    "customer_avg_amount_30d",
    "customer_amount_zscore_30d",
    "customer_amount_ratio_30d",
    "customer_nb_tx_1h",
    "customer_seconds_since_prev",
    "customer_travel_speed_kmh",
    "customer_max_amount_ratio_7d",
)
TERMINAL_FEATURES: tuple[str, ...] = (
    "terminal_nb_tx_1d",
    "terminal_risk_1d",
    "terminal_nb_tx_7d",
    "terminal_risk_7d",
    "terminal_nb_tx_30d",
    "terminal_risk_30d",
    "terminal_fraud_age_h",
    "terminal_nb_tx_since_fraud",
)
FEATURE_NAMES: tuple[str, ...] = (
    "amount",
    "tx_during_weekend",
    "tx_during_night",
    "tx_hour",
    *CUSTOMER_FEATURES,
    *TERMINAL_FEATURES,
)
FEATURE_SCHEMA_VERSION = 2
FEATURE_SCHEMA_ID: str = hashlib.sha256(
    json.dumps({"names": FEATURE_NAMES, "version": FEATURE_SCHEMA_VERSION}, sort_keys=True).encode()
).hexdigest()[:16]

#: The handbook's 15 features (chapter 3), as a subset of FEATURE_NAMES.
BOOK_FEATURES: tuple[str, ...] = (
    "amount",
    "tx_during_weekend",
    "tx_during_night",
    "customer_nb_tx_1d",
    "customer_avg_amount_1d",
    "customer_nb_tx_7d",
    "customer_avg_amount_7d",
    "customer_nb_tx_30d",
    "customer_avg_amount_30d",
    *TERMINAL_FEATURES[:6],  # counts and risk over 1/7/30 days
)
#: The 21 features of schema version 1 (before the three added in version 2), to compare against.
SCHEMA_V1_FEATURES: tuple[str, ...] = tuple(
    n
    for n in FEATURE_NAMES
    if n not in ("customer_max_amount_ratio_7d", "terminal_fraud_age_h", "terminal_nb_tx_since_fraud")
)
#: Features computed from fraud labels; an unsupervised model that must not depend on labels drops them.
LABEL_DERIVED_FEATURES: tuple[str, ...] = (
    "terminal_risk_1d",
    "terminal_risk_7d",
    "terminal_risk_30d",
    "terminal_fraud_age_h",
    "terminal_nb_tx_since_fraud",
)

_STATE_VERSION = 1
_CUSTOMER_HEADER = struct.Struct("<BIddd")
_TERMINAL_HEADER = struct.Struct("<BII")


@dataclass
class CustomerFeatureState:
    """The last 30 days of one customer's transactions (sorted by time) and its last known position."""

    times: list[float] = field(default_factory=list)
    amounts: list[float] = field(default_factory=list)
    last_lat: float = math.nan
    last_lon: float = math.nan
    last_geo_time: float = math.nan

    def to_bytes(self) -> bytes:
        """One compact value per key, as Flink keyed state stores it (little-endian, versioned)."""
        header = _CUSTOMER_HEADER.pack(
            _STATE_VERSION, len(self.times), self.last_lat, self.last_lon, self.last_geo_time
        )
        return header + array("d", self.times).tobytes() + array("d", self.amounts).tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> CustomerFeatureState:
        """Inverse of :meth:`to_bytes`; raises ``ValueError`` on a foreign or truncated value."""
        if len(data) < _CUSTOMER_HEADER.size:
            raise ValueError(f"customer feature state too short: {len(data)} bytes")
        version, n, lat, lon, geo_time = _CUSTOMER_HEADER.unpack_from(data)
        if version != _STATE_VERSION:
            raise ValueError(f"customer feature state version {version}, expected {_STATE_VERSION}")
        expected = _CUSTOMER_HEADER.size + 16 * n
        if len(data) != expected:
            raise ValueError(
                f"customer feature state has {len(data)} bytes, expected {expected} for {n} entries"
            )
        values = array("d")
        values.frombytes(data[_CUSTOMER_HEADER.size :])
        return cls(values[:n].tolist(), values[n:].tolist(), lat, lon, geo_time)


@dataclass
class TerminalFeatureState:
    """Hourly buckets (hours since the epoch, sorted): transactions, and delivered fraud labels by tx hour."""

    hours: list[int] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)
    fraud_hours: list[int] = field(default_factory=list)
    fraud_counts: list[int] = field(default_factory=list)

    def to_bytes(self) -> bytes:
        """One compact value per key: a header, then int32 hours and counts of both bucket lists."""
        header = _TERMINAL_HEADER.pack(_STATE_VERSION, len(self.hours), len(self.fraud_hours))
        body = array("i", self.hours + self.counts + self.fraud_hours + self.fraud_counts)
        return header + body.tobytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> TerminalFeatureState:
        """Inverse of :meth:`to_bytes`; raises ``ValueError`` on a foreign or truncated value."""
        if len(data) < _TERMINAL_HEADER.size:
            raise ValueError(f"terminal feature state too short: {len(data)} bytes")
        version, n, m = _TERMINAL_HEADER.unpack_from(data)
        if version != _STATE_VERSION:
            raise ValueError(f"terminal feature state version {version}, expected {_STATE_VERSION}")
        expected = _TERMINAL_HEADER.size + 8 * (n + m)
        if len(data) != expected:
            raise ValueError(f"terminal feature state has {len(data)} bytes, expected {expected}")
        flat = array("i")
        flat.frombytes(data[_TERMINAL_HEADER.size :])
        values = flat.tolist()
        return cls(values[:n], values[n : 2 * n], values[2 * n : 2 * n + m], values[2 * n + m :])


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in km on a sphere of the mean Earth radius; the travel feature and FR-003."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def _sum(values: Sequence[float]) -> float:
    """Left to right from 0.0, as the JVM port adds: Python 3.12's ``sum`` compensates its rounding, which
    would move a feature by a last bit between the two (and between Python versions)."""
    return reduce(float.__add__, values, 0.0)


def customer_features(
    state: CustomerFeatureState,
    event_time: float,
    amount: float,
    lat: float | None = None,
    lon: float | None = None,
) -> tuple[float, ...]:
    """The customer's features for a transaction at ``event_time`` (the transaction itself included)."""
    times, amounts = state.times, state.amounts
    hi = bisect_right(times, event_time)  # later entries exist only for out-of-order input
    lo1 = bisect_right(times, event_time - DAY_S, 0, hi)
    lo7 = bisect_right(times, event_time - 7 * DAY_S, 0, lo1)
    lo30 = bisect_right(times, event_time - 30 * DAY_S, 0, lo7)
    # The windows are nested: sum each disjoint slice once.
    s1 = _sum(amounts[lo1:hi])
    s7 = s1 + _sum(amounts[lo7:lo1])
    s30 = s7 + _sum(amounts[lo30:lo7])
    n1, n7, n30 = float(hi - lo1 + 1), float(hi - lo7 + 1), float(hi - lo30 + 1)
    out: list[float] = [n1, (s1 + amount) / n1, n7, (s7 + amount) / n7, n30, (s30 + amount) / n30]
    # Deviation of this amount from the previous 30 days.
    n = hi - lo30
    if n:
        mean = s30 / n
        var = max(0.0, _sum([a * a for a in amounts[lo30:hi]]) / n - mean * mean)
        out.append((amount - mean) / max(math.sqrt(var), 1.0))
        out.append(amount / mean if mean > 0 else 1.0)
    else:
        out.extend((0.0, 1.0))
    out.append(float(hi - bisect_right(times, event_time - HOUR_S, lo1, hi) + 1))
    out.append(event_time - times[hi - 1] if hi else _NO_PREVIOUS_S)
    speed = 0.0
    if lat is not None and lon is not None and not math.isnan(state.last_geo_time):
        hours = max((event_time - state.last_geo_time) / HOUR_S, _MIN_TRAVEL_HOURS)
        speed = haversine_km(state.last_lat, state.last_lon, lat, lon) / hours
    out.append(speed)
    # The largest amount of the previous 7 days against the 30-day median: a compromised card's earlier
    # inflated amounts, whose labels are not known yet.
    if n and lo7 < hi:
        out.append(max(amounts[lo7:hi]) / max(statistics.median(amounts[lo30:hi]), _MIN_MEDIAN))
    else:
        out.append(0.0)
    return tuple(out)


def customer_observe(
    state: CustomerFeatureState,
    event_time: float,
    amount: float,
    lat: float | None = None,
    lon: float | None = None,
) -> None:
    """Record a transaction and forget those older than the longest window or beyond the newest
    :data:`MAX_CUSTOMER_PAYMENTS`."""
    times, amounts = state.times, state.amounts
    if not times or event_time >= times[-1]:
        times.append(event_time)
        amounts.append(amount)
    else:  # out-of-order event: keep the lists sorted
        i = bisect_right(times, event_time)
        insort(times, event_time)
        amounts.insert(i, amount)
    cut = max(bisect_right(times, times[-1] - _CUSTOMER_HORIZON_S), len(times) - MAX_CUSTOMER_PAYMENTS)
    if cut:
        del times[:cut]
        del amounts[:cut]
    if lat is not None and lon is not None and not (state.last_geo_time > event_time):
        state.last_lat, state.last_lon, state.last_geo_time = lat, lon, event_time


def _delay_hours(label_delay_s: float) -> int:
    if label_delay_s < 0 or math.isnan(label_delay_s):
        raise ValueError(f"label delay must be >= 0 seconds, got {label_delay_s}")
    return math.ceil(label_delay_s / HOUR_S)


def _add(hours: list[int], counts: list[int], hour: int) -> None:
    if hours and hours[-1] == hour:
        counts[-1] += 1
    elif not hours or hour > hours[-1]:
        hours.append(hour)
        counts.append(1)
    else:  # out-of-order event or early label: keep the lists sorted
        i = bisect_left(hours, hour)
        if i < len(hours) and hours[i] == hour:
            counts[i] += 1
        else:
            hours.insert(i, hour)
            counts.insert(i, 1)


def _drop_before(hours: list[int], counts: list[int], hour: int) -> None:
    cut = bisect_left(hours, hour)
    if cut:
        del hours[:cut]
        del counts[:cut]


def terminal_features(
    state: TerminalFeatureState, event_time: float, label_delay_s: float
) -> tuple[float, ...]:
    """Counts and fraud risk of the terminal over the delayed 1/7/30-day windows (labels delivered so far).

    The window for ``w`` days is the ``24 w`` whole hours ending ``ceil(label_delay)`` hours before the
    current hour: every transaction in it is at least ``label_delay`` old. Then, over the 30-day window:
    the hours from the first delivered fraud's hour to the window's end (:data:`NO_FRAUD_AGE_H` without
    one), and the transactions in the hours after the last fraud's hour (all of them without one).
    """
    newest = int(event_time // HOUR_S) - _delay_hours(label_delay_s)  # window is hours [.., newest)
    hours, counts = state.hours, state.counts
    fhours, fcounts = state.fraud_hours, state.fraud_counts
    oldest = newest - 24 * _WINDOWS_DAYS[-1]
    if hours and hours[0] < oldest - 24:  # amortised: forget what no window can reach, about once a day
        _drop_before(hours, counts, oldest)
        _drop_before(fhours, fcounts, oldest)
    hi = bisect_left(hours, newest)
    fhi = bisect_left(fhours, newest)
    out: list[float] = []
    n = f = 0
    lo, flo = hi, fhi
    for days in _WINDOWS_DAYS:  # nested windows: each bucket is summed once
        start = newest - 24 * days
        new_lo = bisect_left(hours, start, 0, lo)
        new_flo = bisect_left(fhours, start, 0, flo)
        n += sum(counts[new_lo:lo])
        f += sum(fcounts[new_flo:flo])
        lo, flo = new_lo, new_flo
        out.append(float(n))
        out.append(min(1.0, f / n) if n else 0.0)
    if fhi > flo:  # delivered frauds in the 30-day window: how old the first, what came after the last
        out.append(float(newest - fhours[flo]))
        out.append(float(sum(counts[bisect_right(hours, fhours[fhi - 1], lo, hi) : hi])))
    else:
        out.extend((NO_FRAUD_AGE_H, float(n)))
    return tuple(out)


def terminal_observe(state: TerminalFeatureState, event_time: float) -> None:
    """Record a transaction at the terminal."""
    _add(state.hours, state.counts, int(event_time // HOUR_S))


def terminal_label(state: TerminalFeatureState, tx_event_time: float, is_fraud: bool) -> None:
    """Apply a label delivered now for a transaction made at ``tx_event_time``.

    Only frauds change the state (every transaction already counts in the denominator); the risk is
    capped at 1 in case a label is delivered twice.
    """
    if is_fraud:
        _add(state.fraud_hours, state.fraud_counts, int(tx_event_time // HOUR_S))


def assemble(
    amount: float, event_time: float, customer: Sequence[float], terminal: Sequence[float]
) -> tuple[float, ...]:
    """The full feature vector in FEATURE_NAMES order."""
    day = int(event_time // DAY_S)
    hour = int((event_time - day * DAY_S) // HOUR_S)
    weekend = 1.0 if (day + 3) % 7 >= 5 else 0.0  # 1970-01-01 was a Thursday (weekday 3)
    night = 1.0 if hour <= 6 else 0.0
    if len(customer) != len(CUSTOMER_FEATURES) or len(terminal) != len(TERMINAL_FEATURES):
        raise ValueError(
            f"expected {len(CUSTOMER_FEATURES)} customer and {len(TERMINAL_FEATURES)} terminal features, "
            f"got {len(customer)} and {len(terminal)}"
        )
    return (float(amount), weekend, night, float(hour), *customer, *terminal)
