"""One feature implementation: the stream (state through bytes) and the replay give identical vectors."""

from __future__ import annotations

import hashlib
import heapq
import json
import math
from typing import Any

import numpy as np
import pytest
from fraud_models import features as feat
from fraud_models.data import Transactions
from fraud_models.offline import build_features

from tests.models.synth import START, generate

DELAY = 7 * 86_400.0


def _transactions(cols: dict[str, Any]) -> Transactions:
    order = np.argsort(cols["event_time"], kind="stable")
    return Transactions(
        cols["transaction_id"][order],
        cols["customer_id"][order],
        cols["terminal_id"][order],
        cols["amount"][order],
        cols["event_time"][order],
        cols["label"][order],
        cols["lat"][order] if "lat" in cols else None,
        cols["lon"][order] if "lon" in cols else None,
    )


def _stream(tx: Transactions, delay: float) -> list[tuple[float, ...]]:
    """The detector's way: keyed state kept as bytes between events, labels arriving on their own stream."""
    customer_state: dict[Any, bytes] = {}
    terminal_state: dict[Any, bytes] = {}
    labels: list[tuple[float, int, Any, float, int]] = []  # (delivery time, seq, terminal, tx time, is_fraud)
    out = []
    assert tx.label is not None
    for i in range(len(tx)):
        t = float(tx.event_time[i])
        while labels and labels[0][0] <= t:
            _, _, term, tx_time, is_fraud = heapq.heappop(labels)
            state = feat.TerminalFeatureState.from_bytes(terminal_state[term])
            feat.terminal_label(state, tx_time, bool(is_fraud))
            terminal_state[term] = state.to_bytes()
        cust, term, amount = tx.customer_id[i].item(), tx.terminal_id[i].item(), float(tx.amount[i])
        lat = None if tx.lat is None else float(tx.lat[i])
        lon = None if tx.lon is None else float(tx.lon[i])
        c_bytes = customer_state.get(cust)
        cstate = feat.CustomerFeatureState.from_bytes(c_bytes) if c_bytes else feat.CustomerFeatureState()
        cf = feat.customer_features(cstate, t, amount, lat, lon)
        feat.customer_observe(cstate, t, amount, lat, lon)
        customer_state[cust] = cstate.to_bytes()
        t_bytes = terminal_state.get(term)
        tstate = feat.TerminalFeatureState.from_bytes(t_bytes) if t_bytes else feat.TerminalFeatureState()
        tf = feat.terminal_features(tstate, t, delay)
        feat.terminal_observe(tstate, t)
        terminal_state[term] = tstate.to_bytes()
        out.append(feat.assemble(amount, t, cf, tf))
        heapq.heappush(labels, (t + delay, i, term, t, int(tx.label[i])))
    return out


@pytest.mark.parametrize("geo", [False, True])
def test_streaming_state_and_offline_replay_give_identical_vectors(geo: bool) -> None:
    tx = _transactions(generate(days=50, customers=60, terminals=30, seed=3, geo=geo))
    offline = build_features(tx, DELAY, progress=False)
    online = np.array(_stream(tx, DELAY))
    assert offline.shape == (len(tx), len(feat.FEATURE_NAMES))
    assert np.array_equal(offline, online)  # bit for bit, not approximately
    risk = offline[:, feat.FEATURE_NAMES.index("terminal_risk_30d")]
    assert (risk > 0).any()  # the labels did reach the features
    speed = offline[:, feat.FEATURE_NAMES.index("customer_travel_speed_kmh")]
    assert (speed > 0).any() == geo


def test_a_label_never_changes_features_before_it_is_delivered() -> None:
    cols = generate(days=40, customers=40, terminals=10, seed=5)
    tx = _transactions(cols)
    assert tx.label is not None
    base = build_features(tx, DELAY, progress=False)
    # Flip the label of one transaction in the middle: only rows at or after its delivery may change.
    i = len(tx) // 2
    flipped_label = tx.label.copy()
    flipped_label[i] = 1 - flipped_label[i]
    flipped = Transactions(
        tx.transaction_id, tx.customer_id, tx.terminal_id, tx.amount, tx.event_time, flipped_label
    )
    other = build_features(flipped, DELAY, progress=False)
    delivered_at = tx.event_time[i] + DELAY
    before = tx.event_time < delivered_at
    assert np.array_equal(base[before], other[before])
    same_terminal_later = (tx.terminal_id == tx.terminal_id[i]) & (tx.event_time >= delivered_at + 3600)
    changed = np.any(base != other, axis=1)
    assert changed[same_terminal_later].any()  # and afterwards it does act


def test_terminal_risk_counts_only_delivered_labels_over_the_delayed_window() -> None:
    state = feat.TerminalFeatureState()
    t0 = START + 10 * 3600
    for k in range(10):  # ten transactions, one per hour
        feat.terminal_observe(state, t0 + k * 3600)
    later = t0 + DELAY + 12 * 3600  # all ten are in the 1-day delayed window now
    assert feat.terminal_features(state, later, DELAY)[:2] == (10.0, 0.0)
    feat.terminal_label(state, t0 + 3600, True)  # the label of the second transaction is delivered
    assert feat.terminal_features(state, later, DELAY)[:2] == (10.0, 0.1)
    feat.terminal_label(state, t0 + 7200, False)  # a legitimate label changes nothing
    assert feat.terminal_features(state, later, DELAY)[:2] == (10.0, 0.1)
    # Within the delay the transactions are not in any window yet, whatever was delivered early.
    assert feat.terminal_features(state, t0 + 12 * 3600, DELAY) == (0.0,) * 6 + (feat.NO_FRAUD_AGE_H, 0.0)


def test_terminal_fraud_recency_tells_a_current_compromise_from_an_ended_one() -> None:
    state = feat.TerminalFeatureState()
    t0 = START + 10 * 3600
    for k in range(10):  # ten transactions, one per hour; the second and third were frauds
        feat.terminal_observe(state, t0 + k * 3600)
    feat.terminal_label(state, t0 + 3600, True)
    feat.terminal_label(state, t0 + 7200, True)
    later = t0 + DELAY + 12 * 3600
    named = dict(zip(feat.TERMINAL_FEATURES, feat.terminal_features(state, later, DELAY), strict=True))
    newest = math.floor(later / 3600) - 168
    assert named["terminal_fraud_age_h"] == newest - math.floor((t0 + 3600) / 3600)  # the first fraud
    assert named["terminal_nb_tx_since_fraud"] == 7.0  # the seven after the last fraud's hour
    # A fraud in the last transaction: nothing legitimate came after it.
    feat.terminal_label(state, t0 + 9 * 3600, True)
    assert feat.terminal_features(state, later, DELAY)[-1] == 0.0


def test_terminal_windows_match_a_brute_force_definition() -> None:
    rng = np.random.default_rng(7)
    times = np.sort(START + rng.uniform(0, 60 * 86_400, size=400))
    fraud = rng.random(400) < 0.2
    state = feat.TerminalFeatureState()
    delivered = 0
    for i, t in enumerate(times):
        while times[delivered] + DELAY <= t:
            feat.terminal_label(state, float(times[delivered]), bool(fraud[delivered]))
            delivered += 1
        got = feat.terminal_features(state, float(t), DELAY)
        newest = math.floor(t / 3600) - 168  # window: whole hours [newest - 24 w, newest)
        hours = np.floor(times[:i] / 3600)
        expected: list[float] = []
        for days in (1, 7, 30):
            inside = (hours >= newest - 24 * days) & (hours < newest)
            n, f = int(inside.sum()), int((inside & fraud[:i]).sum())
            expected += [float(n), f / n if n else 0.0]
        fraud_hours = hours[inside & fraud[:i]]  # inside: the 30-day window
        if len(fraud_hours):
            after = inside & (hours > fraud_hours.max())
            expected += [float(newest - fraud_hours.min()), float(after.sum())]
        else:
            expected += [feat.NO_FRAUD_AGE_H, float(inside.sum())]
        assert got == tuple(expected), i
        feat.terminal_observe(state, float(t))


def test_customer_features_include_the_current_transaction() -> None:
    state = feat.CustomerFeatureState()
    for k, amount in enumerate((10.0, 20.0, 30.0)):  # three transactions, 10 days apart
        t = START + k * 10 * 86_400
        feat.customer_observe(state, t, amount)
    now = START + 20 * 86_400 + 1800
    values = dict(zip(feat.CUSTOMER_FEATURES, feat.customer_features(state, now, 60.0), strict=True))
    assert values["customer_nb_tx_1d"] == 2.0  # the one 30 minutes ago and this one
    assert values["customer_avg_amount_1d"] == 45.0
    assert values["customer_nb_tx_30d"] == 4.0
    assert values["customer_avg_amount_30d"] == 30.0
    assert values["customer_amount_ratio_30d"] == 3.0  # 60 against a mean of 20
    assert values["customer_nb_tx_1h"] == 2.0
    assert values["customer_seconds_since_prev"] == 1800.0
    assert values["customer_travel_speed_kmh"] == 0.0
    assert values["customer_max_amount_ratio_7d"] == 1.5  # 30 (7 days) against the median 20 (30 days)


def test_max_amount_ratio_matches_a_brute_force_definition() -> None:
    rng = np.random.default_rng(11)
    times = np.sort(START + rng.uniform(0, 50 * 86_400, size=300))
    amounts = np.round(rng.lognormal(3.5, 1.0, size=300), 2)
    state = feat.CustomerFeatureState()
    index = feat.CUSTOMER_FEATURES.index("customer_max_amount_ratio_7d")
    for i, t in enumerate(times):
        got = feat.customer_features(state, float(t), float(amounts[i]))[index]
        month = amounts[:i][times[:i] > t - 30 * 86_400]
        week = amounts[:i][times[:i] > t - 7 * 86_400]
        expected = float(week.max() / np.median(month)) if len(week) else 0.0
        assert got == pytest.approx(expected, rel=1e-12), i
        feat.customer_observe(state, float(t), float(amounts[i]))


def test_travel_speed_from_consecutive_positions() -> None:
    state = feat.CustomerFeatureState()
    feat.customer_observe(state, START, 10.0, 0.0, 0.0)
    speed = feat.customer_features(state, START + 3600, 10.0, 0.0, 1.0)[
        feat.CUSTOMER_FEATURES.index("customer_travel_speed_kmh")
    ]
    assert speed == pytest.approx(111.19, abs=0.01)  # one degree of longitude at the equator in one hour


def test_assemble_flags_weekend_and_night() -> None:
    saturday_3am = 1_522_465_200.0  # 2018-03-31T03:00:00Z
    vector = feat.assemble(12.5, saturday_3am, (0.0,) * 12, (0.0,) * 8)
    named = dict(zip(feat.FEATURE_NAMES, vector, strict=True))
    assert (named["amount"], named["tx_during_weekend"], named["tx_during_night"], named["tx_hour"]) == (
        12.5,
        1.0,
        1.0,
        3.0,
    )
    with pytest.raises(ValueError, match="expected 12 customer and 8 terminal features"):
        feat.assemble(1.0, saturday_3am, (0.0,), (0.0,) * 8)


def test_state_bytes_round_trip_and_refuse_foreign_values() -> None:
    cstate = feat.CustomerFeatureState([START, START + 5.5], [1.25, 99.0], 48.1, 11.6, START + 5.5)
    assert feat.CustomerFeatureState.from_bytes(cstate.to_bytes()).to_bytes() == cstate.to_bytes()
    tstate = feat.TerminalFeatureState([420_000, 420_003], [2, 1], [420_003], [1])
    assert feat.TerminalFeatureState.from_bytes(tstate.to_bytes()) == tstate
    with pytest.raises(ValueError, match="expected"):
        feat.CustomerFeatureState.from_bytes(cstate.to_bytes()[:-3])
    with pytest.raises(ValueError, match="version"):
        feat.TerminalFeatureState.from_bytes(b"\x09" + tstate.to_bytes()[1:])
    with pytest.raises(ValueError, match="too short"):
        feat.TerminalFeatureState.from_bytes(b"")


def test_state_saved_under_schema_version_1_still_loads() -> None:
    """Savepoints of the version-1 job restore: version 2 added features, not state (bytes from v1 code)."""
    customer = bytes.fromhex(
        "0102000000000000000000f87f000000000000f87f000000000000f87f"
        "0000004008b0d641000000a05cb0d64100000000000024400000000000004940"
    )
    terminal = bytes.fromhex("010200000001000000107406002674060002000000010000001074060001000000")
    cstate = feat.CustomerFeatureState.from_bytes(customer)
    assert (cstate.times, cstate.amounts) == ([1_522_540_800.0, 1_522_627_200.0], [10.0, 50.0])
    assert cstate.to_bytes() == customer
    tstate = feat.TerminalFeatureState.from_bytes(terminal)
    assert tstate == feat.TerminalFeatureState([422_928, 422_950], [2, 1], [422_928], [1])
    named = dict(
        zip(feat.CUSTOMER_FEATURES, feat.customer_features(cstate, 1_522_630_800.0, 25.0), strict=True)
    )
    assert named["customer_max_amount_ratio_7d"] == 50.0 / 30.0  # median of 10 and 50


def test_terminal_state_stays_bounded() -> None:
    state = feat.TerminalFeatureState()
    t = START
    for _ in range(5000):  # 5000 hours of one transaction an hour, about 208 days
        feat.terminal_features(state, t, DELAY)
        feat.terminal_observe(state, t)
        t += 3600
    assert len(state.hours) <= 24 * (30 + 7 + 2)


def test_customer_state_keeps_the_newest_payments_up_to_the_cap() -> None:
    """A key paying every second keeps a window of MAX_CUSTOMER_PAYMENTS, the newest, and its features are
    over those; a late payment older than all of them is not kept."""
    cap = feat.MAX_CUSTOMER_PAYMENTS
    state = feat.CustomerFeatureState()
    for k in range(cap + 500):
        feat.customer_observe(state, START + k, float(k % 7))
    assert len(state.times) == len(state.amounts) == cap
    assert state.times[0] == START + 500 and state.amounts[-1] == float((cap + 499) % 7)
    now = START + cap + 500
    values = dict(zip(feat.CUSTOMER_FEATURES, feat.customer_features(state, now, 1.0), strict=True))
    assert values["customer_nb_tx_30d"] == values["customer_nb_tx_1h"] == cap + 1
    assert values["customer_avg_amount_30d"] == (sum(state.amounts) + 1.0) / (cap + 1)
    feat.customer_observe(state, START + 10, 99.0)  # out of order, older than the newest 1,000
    assert len(state.times) == cap and state.times[0] == START + 500 and 99.0 not in state.amounts
    feat.customer_observe(state, START + 700.5, 99.0)  # out of order, within them: the oldest goes
    assert len(state.times) == cap and state.times[0] == START + 501 and 99.0 in state.amounts


def test_schema_id_is_the_hash_of_names_order_and_version() -> None:
    payload = json.dumps(
        {"names": feat.FEATURE_NAMES, "version": feat.FEATURE_SCHEMA_VERSION}, sort_keys=True
    )
    assert hashlib.sha256(payload.encode()).hexdigest()[:16] == feat.FEATURE_SCHEMA_ID
    assert set(feat.BOOK_FEATURES) <= set(feat.FEATURE_NAMES) and len(feat.BOOK_FEATURES) == 15
    assert set(feat.SCHEMA_V1_FEATURES) <= set(feat.FEATURE_NAMES) and len(feat.SCHEMA_V1_FEATURES) == 21
    assert feat.FEATURE_SCHEMA_ID != "7965cd5b051e582a"  # version 1's id: a v1 model is refused


def test_replaying_from_history_start_gives_the_same_features_as_from_the_beginning() -> None:
    from fraud_models.training import history_start

    tx = _transactions(generate(days=70, customers=40, terminals=15, seed=9))
    full = build_features(tx, DELAY, progress=False)
    window_start = START + 55 * 86_400
    keep = tx.event_time >= history_start(window_start, DELAY)
    assert not keep.all()  # the crop does drop history
    cropped = build_features(tx.select(keep), DELAY, progress=False)
    in_window = tx.event_time[keep] >= window_start
    assert np.array_equal(cropped[in_window], full[keep][in_window])
