"""The Java per-key state and ML features equal Python's, bit for bit, over real event sequences.

One JVM run of ``io.streamflow.detector.tools.FeatureDump`` per test replays the same events as a Python
reference built from ``fraud_models.features`` and ``fraud_jobs.state``, updated in the order
``fraud_jobs.logic`` updates them (features before observing; labels delivered ``label_delay`` after their
transaction, before the first transaction at or after that instant, as ``fraud_jobs.replay`` delivers them).
Every output row holds the 24 assembled features, the rules' view of the customer (n, mean, std, velocity
count) and of the terminal (hour count, confirmed frauds), and the CRC-32 of both state values after the
event: Java writes Python's byte layout, so equal checksums mean equal state. The tool also decodes every
state it encodes and checks it equal, so the codec runs on every event.

The one tolerance: the travel speed's ``sin``, ``cos`` and ``asin`` come from fdlibm (``StrictMath``, the
same bits on every JVM and CPU) in Java and from glibc in Python (which itself picks an FMA or a non-FMA
variant by CPU), and glibc's ``x ** 2`` is ``pow``, not always the correctly rounded ``x * x``. Measured on
the generated data: about 2% of the travel speeds differ, by at most 3 ulps; everything else is exact.
"""

from __future__ import annotations

import heapq
import json
import random
import struct
import time
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pyarrow.parquet as pq
import pytest
from fraud_jobs.flink.jvm import java_main
from fraud_jobs.generator import generate
from fraud_jobs.schemas import Transaction
from fraud_jobs.state import (
    CUSTOMER_STATE_VERSION,
    FRAUD_RING_CAPACITY,
    RING_CAPACITY,
    TERMINAL_STATE_VERSION,
    CustomerState,
    StateCodecError,
    TerminalState,
)
from fraud_models import features as feat

TOOL = "io.streamflow.detector.tools.FeatureDump"
VELOCITY_WINDOW_S = 600.0
RECENT_WINDOW_S = 3600.0
RISK_WINDOW_S = 28 * feat.DAY_S
COLUMNS: tuple[str, ...] = (
    *feat.FEATURE_NAMES,
    "customer.n",
    "customer.mean",
    "customer.std",
    "customer.count_within_600s",
    "terminal.count_within_1h",
    "terminal.confirmed_frauds_28d",
    "terminal.state_crc32",
    "customer.state_crc32",
)
DOUBLE_COLUMNS = frozenset(range(len(feat.FEATURE_NAMES))) | {
    COLUMNS.index("customer.mean"),
    COLUMNS.index("customer.std"),
}
SPEED = COLUMNS.index("customer_travel_speed_kmh")
SPEED_MAX_ULPS = 8
"""The largest travel-speed difference allowed (measured: 3 here, 5 over 200,000 random European pairs)."""

_DOUBLE = struct.Struct("<d")
_U64 = struct.Struct("<Q")


def _bits(x: float) -> str:
    return f"{_U64.unpack(_DOUBLE.pack(x))[0]:016x}"


@dataclass(slots=True)
class Tx:
    customer: str
    terminal: str
    micros: int
    amount: float
    lat: float | None
    lon: float | None
    is_fraud: bool | None

    @property
    def ts(self) -> float:
        return self.micros / 1e6  # datetime.timestamp(): integer microseconds / 10**6


@dataclass(slots=True)
class LabelEvent:
    customer: str
    terminal: str
    tx_ts: float
    confirmed_ts: float
    is_fraud: bool


Event = Tx | LabelEvent


@dataclass
class Reference:
    """The Python side: fraud_jobs.state and fraud_models.features, updated as fraud_jobs.logic does."""

    label_delay_s: float
    terminals: dict[str, TerminalState] = field(default_factory=dict)
    customers: dict[str, CustomerState] = field(default_factory=dict)
    tfeatures: dict[str, feat.TerminalFeatureState] = field(default_factory=dict)
    cfeatures: dict[str, feat.CustomerFeatureState] = field(default_factory=dict)

    def transaction(self, tx: Tx) -> tuple[list[float], list[int]]:
        ts, amount, lat, lon = tx.ts, tx.amount, tx.lat, tx.lon
        tst = self.terminals.setdefault(tx.terminal, TerminalState())
        tf = self.tfeatures.setdefault(tx.terminal, feat.TerminalFeatureState())
        terminal = feat.terminal_features(tf, ts, self.label_delay_s)
        feat.terminal_observe(tf, ts)
        tst.features = tf.to_bytes()
        recent = tst.count_within(ts - RECENT_WINDOW_S, ts)
        frauds = tst.confirmed_frauds(ts, RISK_WINDOW_S)
        tst.observe(ts, amount)
        terminal_crc = zlib.crc32(tst.to_bytes())

        cst = self.customers.setdefault(tx.customer, CustomerState())
        n, mean, std, velocity = cst.n, cst.mean, cst.std, cst.count_within(ts - VELOCITY_WINDOW_S, ts)
        cf = self.cfeatures.setdefault(tx.customer, feat.CustomerFeatureState())
        x = feat.assemble(amount, ts, feat.customer_features(cf, ts, amount, lat, lon), terminal)
        feat.customer_observe(cf, ts, amount, lat, lon)
        cst.features = cf.to_bytes()
        cst.observe_amount(amount)
        cst.push_time(ts)
        cst.hours[int(ts // 3600.0) % 24] += 1
        if lat is not None and lon is not None and not ts < cst.geo_ts:
            cst.geo_lat, cst.geo_lon, cst.geo_ts = lat, lon, ts
        if not ts <= cst.last_ts:
            cst.last_ts = ts
        customer_crc = zlib.crc32(cst.to_bytes())
        return [*x, mean, std], [n, velocity, recent, frauds, terminal_crc, customer_crc]

    def label(self, label: LabelEvent) -> None:
        """apply_label_terminal, then apply_label_customer."""
        tst = self.terminals.setdefault(label.terminal, TerminalState())
        tst.labels += 1
        if label.is_fraud:
            tst.fraud_labels += 1
            tst.add_fraud_label(label.confirmed_ts)
            tf = self.tfeatures.setdefault(label.terminal, feat.TerminalFeatureState())
            feat.terminal_label(tf, label.tx_ts, True)
            tst.features = tf.to_bytes()
        cst = self.customers.get(label.customer)
        if not label.is_fraud and cst is not None:
            return
        cst = self.customers.setdefault(label.customer, CustomerState())
        if label.is_fraud:
            cst.fraud_labels += 1
            if not label.confirmed_ts <= cst.last_fraud_label_ts:
                cst.last_fraud_label_ts = label.confirmed_ts


def _event_line(event: Event) -> str:
    if isinstance(event, Tx):
        geo = (
            f"{_bits(event.lat)}\t{_bits(event.lon)}"
            if event.lat is not None and event.lon is not None
            else "-\t-"
        )
        return f"T\t{event.customer}\t{event.terminal}\t{_bits(event.ts)}\t{_bits(event.amount)}\t{geo}\n"
    fraud = "1" if event.is_fraud else "0"
    return (
        f"L\t{event.customer}\t{event.terminal}\t{_bits(event.tx_ts)}\t{_bits(event.confirmed_ts)}\t{fraud}\n"
    )


def _with_labels(order: Iterable[Tx], delay_micros: Sequence[int] | int) -> list[Event]:
    """Transactions in arrival order, each label delivered ``delay`` after its transaction, before the first
    transaction at or after that instant (fraud_jobs.replay; a heap, as arrival may be out of order)."""
    events: list[Event] = []
    pending: list[tuple[int, int, LabelEvent]] = []
    for seq, tx in enumerate(order):
        ts = tx.ts
        while pending and pending[0][2].confirmed_ts <= ts:
            events.append(heapq.heappop(pending)[2])
        events.append(tx)
        if tx.is_fraud is not None:
            delay = delay_micros if isinstance(delay_micros, int) else delay_micros[seq]
            confirmed = tx.micros + delay
            label = LabelEvent(tx.customer, tx.terminal, ts, confirmed / 1e6, tx.is_fraud)
            heapq.heappush(pending, (confirmed, seq, label))
    return events


def _expected(events: Sequence[Event], label_delay_s: float) -> npt.NDArray[np.uint64]:
    ref = Reference(label_delay_s)
    doubles: list[list[float]] = []
    ints: list[list[int]] = []
    for event in events:
        if isinstance(event, Tx):
            d, i = ref.transaction(event)
            doubles.append(d)
            ints.append(i)
        else:
            ref.label(event)
    out = np.empty((len(doubles), len(COLUMNS)), dtype=np.uint64)
    double_cols = sorted(DOUBLE_COLUMNS)
    out[:, double_cols] = np.asarray(doubles, dtype=np.float64).view(np.uint64)
    out[:, [c for c in range(len(COLUMNS)) if c not in DOUBLE_COLUMNS]] = np.asarray(ints, dtype=np.uint64)
    return out


def _java(events: Sequence[Event], label_delay_s: float) -> npt.NDArray[np.uint64]:
    stdin = "".join(map(_event_line, events)).encode("ascii")
    started = time.perf_counter()
    lines = java_main(TOOL, repr(label_delay_s), stdin=stdin).decode("ascii").splitlines()
    print(f"FeatureDump: {len(events)} events in {time.perf_counter() - started:.1f} s (JVM start included)")
    hex_cols = DOUBLE_COLUMNS | {len(COLUMNS) - 2, len(COLUMNS) - 1}
    rows = []
    for line in lines:
        fields = line.split("\t")
        assert len(fields) == len(COLUMNS), line
        rows.append([int(v, 16) if c in hex_cols else int(v) for c, v in enumerate(fields)])
    return np.asarray(rows, dtype=np.uint64).reshape(len(rows), len(COLUMNS))


def _show(value: np.uint64, column: int) -> str:
    if column in DOUBLE_COLUMNS:
        return float(np.asarray(value, dtype=np.uint64).view(np.float64)).hex()
    return str(int(value))


def _compare(
    expected: npt.NDArray[np.uint64], got: npt.NDArray[np.uint64], speed_ulps: int
) -> tuple[int, int]:
    """Assert equality (the travel speed within ``speed_ulps``); returns how many speeds differed, and by
    how many ulps at most."""
    assert got.shape == expected.shape, f"Java wrote {got.shape[0]} rows, Python {expected.shape[0]}"
    differs = got != expected
    speed_diff = np.abs(got[:, SPEED].astype(np.int64) - expected[:, SPEED].astype(np.int64))
    differs[:, SPEED] = speed_diff > speed_ulps
    bad = np.argwhere(differs)
    assert not len(bad), f"{len(bad)} values differ; first: " + "; ".join(
        f"row {r} {COLUMNS[c]}: python {_show(expected[r, c], c)} java {_show(got[r, c], c)}"
        for r, c in bad[:8]
    )
    return int(np.count_nonzero(speed_diff)), int(speed_diff.max(initial=0))


# ---------------------------------------------------------------------------------------------------------


def _handbook(path: Path, days: int, customer_modulus: int) -> list[Tx]:
    """The handbook's first ``days`` days, customers whose id is 0 modulo ``customer_modulus`` (so a
    month's windows fill within the time budget), in event-time order as replay sorts them."""
    table = pq.read_table(
        path, columns=["TX_DATETIME", "CUSTOMER_ID", "TERMINAL_ID", "TX_AMOUNT", "TX_FRAUD"]
    )
    micros = table.column("TX_DATETIME").cast("timestamp[us]").cast("int64").to_numpy()
    customer = table.column("CUSTOMER_ID").to_numpy()
    start = int(datetime(2018, 4, 1, tzinfo=UTC).timestamp()) * 1_000_000
    keep = (micros >= start) & (micros < start + days * 86_400_000_000) & (customer % customer_modulus == 0)
    rows = np.flatnonzero(keep)
    rows = rows[np.argsort(micros[rows], kind="stable")]
    terminal = table.column("TERMINAL_ID").to_numpy()
    amount = table.column("TX_AMOUNT").to_numpy()
    fraud = table.column("TX_FRAUD").to_numpy()
    return [
        Tx(str(c), str(t), int(m), float(a), None, None, bool(f))
        for c, t, m, a, f in zip(
            customer[rows].tolist(),
            terminal[rows].tolist(),
            micros[rows].tolist(),
            amount[rows].tolist(),
            fraud[rows].tolist(),
            strict=True,
        )
    ]


def test_handbook_features_and_state_equal(handbook_data: Path) -> None:
    """45 days of a third of the handbook's customers (all windows full, the 30-day horizon and the
    terminal buckets' amortised drop exercised), labels 7 days late: every value bit for bit."""
    started = time.perf_counter()
    txs = _handbook(handbook_data, days=45, customer_modulus=3)
    events = _with_labels(txs, 7 * 86_400_000_000)
    expected = _expected(events, feat.DEFAULT_LABEL_DELAY_S)
    python_s = time.perf_counter() - started
    got = _java(events, feat.DEFAULT_LABEL_DELAY_S)
    assert expected.shape[0] == len(txs) >= 100_000
    assert _compare(expected, got, speed_ulps=0) == (0, 0)
    # the sequence reaches every feature: frauds known at terminals, full months, fraud ages
    names = list(COLUMNS)
    assert expected[:, names.index("terminal_risk_30d")].view(np.float64).max() > 0
    assert expected[:, names.index("customer_nb_tx_30d")].view(np.float64).max() > 60
    assert (expected[:, names.index("terminal_fraud_age_h")].view(np.float64) < feat.NO_FRAUD_AGE_H).any()
    labels = sum(1 for e in events if isinstance(e, LabelEvent))
    print(
        f"handbook: {len(txs)} transactions and {labels} labels, {expected.size} values equal; "
        f"python {python_s:.1f} s, java+compare {time.perf_counter() - started - python_s:.1f} s"
    )


def _generated(count: int, seed: int, days: int) -> list[Tx]:
    out = []
    for record in generate(count, seed=seed, days=days).records:
        tx = Transaction.model_validate_json(record.payload)
        delta = tx.event_time - datetime(1970, 1, 1, tzinfo=UTC)
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        is_fraud = bool(json.loads(record.payload)["is_fraud"])
        out.append(Tx(tx.customer_id, tx.terminal_id, micros, tx.amount, tx.lat, tx.lon, is_fraud))
    return out


def test_generated_features_with_geo_and_disorder_equal() -> None:
    """Generator events with positions (travel speed), arriving out of order (a tenth up to an hour late,
    a few from the first days after a month), labels 1 h or 2 days late (early labels, out-of-order fraud
    hours), features' label delay 1.5 h (rounded up to 2 h): all exact but the travel speed, within
    SPEED_MAX_ULPS."""
    started = time.perf_counter()
    rng = random.Random(17)
    txs = _generated(40_000, seed=5, days=40)
    late = {
        i
        for i, tx in enumerate(txs)
        if tx.micros < txs[0].micros + 2 * 86_400_000_000 and rng.random() < 0.05
    }
    keyed = []
    for i, tx in enumerate(txs):
        lag = 10**18 if i in late else (rng.uniform(0, 3600e6) if rng.random() < 0.1 else 0.0)
        keyed.append((tx.micros + lag, i))
    keyed.sort()
    order = [txs[i] for _, i in keyed]
    delays = [rng.choice((3_600_000_000, 2 * 86_400_000_000)) for _ in order]
    events = _with_labels(order, delays)
    label_delay_s = 5400.0
    expected = _expected(events, label_delay_s)
    python_s = time.perf_counter() - started
    got = _java(events, label_delay_s)
    speeds_differing, ulps = _compare(expected, got, speed_ulps=SPEED_MAX_ULPS)
    names = list(COLUMNS)
    speed = expected[:, SPEED].view(np.float64)
    assert (speed > 1000).sum() > 10  # impossible travel is in there
    assert np.count_nonzero(speed) > len(txs) // 2
    assert expected[:, names.index("terminal_fraud_age_h")].view(np.float64).min() < feat.NO_FRAUD_AGE_H
    assert len(late) > 10 and sum(1 for a, b in pairwise(order) if b.micros < a.micros) > 1000
    print(
        f"generated: {len(txs)} transactions ({len(late)} a month late), {expected.size} values equal, "
        f"{speeds_differing} of {np.count_nonzero(speed)} travel speeds differ, by at most {ulps} ulps; "
        f"python {python_s:.1f} s, java+compare {time.perf_counter() - started - python_s:.1f} s"
    )


def test_hot_customers_median_over_thousands_equal() -> None:
    """Customers with thousands of transactions in 30 days, whose windows fill to the cap of the newest
    MAX_CUSTOMER_PAYMENTS, where the median of the window is found by selection in Java and by a sort in
    Python: ties (a few repeated amounts, as a card charged the same fare), one customer with every amount
    equal, and distinct amounts, late payments among the kept ones and older than all of them; windows of
    both parities, all exact (no position, so no travel speed)."""
    rng = random.Random(23)
    start = 1_700_000_000_000_000
    fares = (2.5, 2.5, 4.0, 9.99, 9.99, 9.99, 120.0)
    txs = []
    for i in range(9_000):
        micros = start + i * 240_000_000  # one every 4 minutes: 10,800 in 30 days, the newest 1,000 kept
        txs.append(Tx("C-FARES", f"T{i % 7}", micros, rng.choice(fares), None, None, None))
        if i % 500 == 250:  # late: by 2 hours (among the newest kept) and by 100 hours (older than all)
            txs.append(Tx("C-FARES", "T8", micros - 7_200_000_000, 3.0, None, None, None))
            txs.append(Tx("C-FARES", "T8", micros - 360_000_000_000, 5.0, None, None, None))
        txs.append(Tx("C-SAME", "T9", micros + 1, 7.0, None, None, None))
        if i % 3 == 0:
            amount = round(rng.lognormvariate(3.0, 1.2), 2)
            txs.append(Tx("C-SPREAD", f"T{i % 11}", micros + 2, amount, None, None, None))
    events: list[Event] = list(txs)
    expected = _expected(events, 3600.0)
    got = _java(events, 3600.0)
    _compare(expected, got, speed_ulps=0)
    windows = expected[:, list(COLUMNS).index("customer_nb_tx_30d")].view(np.float64)
    assert windows.max() == feat.MAX_CUSTOMER_PAYMENTS + 1 and len({int(w) % 2 for w in windows}) == 2


# ---------------------------------------------------------------------------------------------------------
# the codec


def _damaged(data: bytes, kind: str) -> dict[str, tuple[bytes, str]]:
    """Damaged copies of one state value, by what is wrong, with what Java's message must say."""
    blob_len_at = {
        "C": 68 + 8 * data[1] + 96,
        "T": 40 + 8 * (data[1] + data[2]),
    }[kind]
    blob = blob_len_at + 4
    out = {
        "version": (bytes([2]) + data[1:], "version 2"),
        "empty": (b"", "version empty"),
        "truncated": (data[: blob_len_at - 3], "truncated"),
        "one byte short": (data[:-1], "layout says" if len(data) > blob else "truncated"),
        "one byte long": (data + b"\x00", "layout says"),
        "ring too long": (data[:1] + bytes([33]) + data[2:], "exceed"),
        "blob length": (
            data[:blob_len_at] + struct.pack("<I", len(data) - blob + 1) + data[blob:],
            "layout says",
        ),
    }
    if len(data) > blob:
        out["feature blob version"] = (data[:blob] + bytes([7]) + data[blob + 1 :], "feature state version 7")
        count = struct.unpack_from("<I", data, blob + 1)[0]
        out["feature blob count"] = (
            data[: blob + 1] + struct.pack("<I", count + 1) + data[blob + 5 :],
            "feature state has",
        )
    return out


def test_codec_reads_python_bytes_and_refuses_damage() -> None:
    """Java decodes Python's state values and writes the same bytes back (every state after a generated
    stream, with and without a feature blob, and empty ones); each kind of damage is refused with a message
    naming it, as Python refuses the outer ones (StateCodecError) and the blob ones (ValueError on use)."""
    ref = Reference(3600.0)
    txs = _generated(3000, seed=9, days=10)
    for event in _with_labels(txs, 86_400_000_000):
        if isinstance(event, Tx):
            ref.transaction(event)
        else:
            ref.label(event)
    blobless_customer = CustomerState()
    blobless_customer.observe_amount(12.5)
    blobless_customer.push_time(1.5e9)
    states: list[tuple[str, bytes]] = [
        ("C", CustomerState().to_bytes()),
        ("T", TerminalState().to_bytes()),
        ("C", blobless_customer.to_bytes()),
        *(("C", st.to_bytes()) for st in ref.customers.values()),
        *(("T", st.to_bytes()) for st in ref.terminals.values()),
    ]
    assert any(len(TerminalState.from_bytes(d).fraud_ring) for k, d in states if k == "T")
    assert max(len(CustomerState.from_bytes(d).ring) for k, d in states if k == "C") == 32
    cases: list[tuple[str, str, bytes, str]] = [(kind, "ok", data, "") for kind, data in states]
    customers = [s for s in states[3:] if s[0] == "C"]
    terminals = [s for s in states[3:] if s[0] == "T"]
    for kind, data in [*states[:3], *customers[:6], *terminals[:6]]:
        cases.extend((kind, damage, bad, why) for damage, (bad, why) in _damaged(data, kind).items())
    stdin = "".join(f"D\t{kind}\t{data.hex()}\n" for kind, _, data, _ in cases).encode("ascii")
    lines = java_main(TOOL, "3600.0", stdin=stdin).decode("ascii").splitlines()
    assert len(lines) == len(cases)
    for (kind, damage, data, why), line in zip(cases, lines, strict=True):
        status, _, rest = line.partition("\t")
        decode = CustomerState.from_bytes if kind == "C" else TerminalState.from_bytes
        if damage == "ok":
            assert (status, rest) == ("ok", data.hex()), (kind, data.hex(), line)
            continue
        assert status == "error" and why in rest, (kind, damage, line)
        if damage.startswith("feature blob"):  # Python keeps the blob opaque until the features decode it
            blob = decode(data).features
            with pytest.raises(ValueError):
                (feat.CustomerFeatureState if kind == "C" else feat.TerminalFeatureState).from_bytes(blob)
        else:
            with pytest.raises(StateCodecError):
                decode(data)


def test_constants_equal() -> None:
    """The feature names, the constants and the state layout's versions and capacities are Python's."""
    lines = java_main(TOOL, "--constants").decode("ascii").splitlines()
    java = dict(line.split("\t", 1) for line in lines)
    assert java == {
        "FEATURE_NAMES": ",".join(feat.FEATURE_NAMES),
        "CUSTOMER_FEATURES": ",".join(feat.CUSTOMER_FEATURES),
        "TERMINAL_FEATURES": ",".join(feat.TERMINAL_FEATURES),
        "DAY_S": _bits(feat.DAY_S),
        "HOUR_S": _bits(feat.HOUR_S),
        "DEFAULT_LABEL_DELAY_S": _bits(feat.DEFAULT_LABEL_DELAY_S),
        "NO_FRAUD_AGE_H": _bits(feat.NO_FRAUD_AGE_H),
        "EARTH_RADIUS_KM": _bits(feat.EARTH_RADIUS_KM),
        "FEATURE_SCHEMA_VERSION": str(feat.FEATURE_SCHEMA_VERSION),
        "CUSTOMER_STATE_VERSION": str(CUSTOMER_STATE_VERSION),
        "TERMINAL_STATE_VERSION": str(TERMINAL_STATE_VERSION),
        "RING_CAPACITY": str(RING_CAPACITY),
        "FRAUD_RING_CAPACITY": str(FRAUD_RING_CAPACITY),
        "MAX_CUSTOMER_PAYMENTS": str(feat.MAX_CUSTOMER_PAYMENTS),
    }
