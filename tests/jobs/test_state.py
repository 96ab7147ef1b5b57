"""State codec: round trip, version check, damaged input, bounded size, Welford accuracy."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from fraud_jobs.state import (
    CUSTOMER_STATE_VERSION,
    RING_CAPACITY,
    TERMINAL_STATE_VERSION,
    CustomerState,
    StateCodecError,
    TerminalState,
)


def _customer() -> CustomerState:
    st = CustomerState()
    for i, amount in enumerate((12.5, 80.0, 33.3, 47.0)):
        st.observe_amount(amount)
        st.push_time(1_772_000_000.0 + 60 * i)
        st.hours[(8 + i) % 24] += 1
    st.geo_lat, st.geo_lon, st.geo_ts = 50.85, 4.35, 1_772_000_180.0
    st.last_ts = 1_772_000_180.0
    st.fraud_labels, st.last_fraud_label_ts = 1, 1_772_500_000.0
    st.features = b"\x01opaque-ml-state\x00"
    return st


def _terminal() -> TerminalState:
    st = TerminalState()
    for i in range(5):
        st.observe(1_772_000_000.0 + 30 * i, 10.0 * i)
    st.labels, st.fraud_labels = 3, 2
    st.add_fraud_label(1_772_600_000.0)
    st.add_fraud_label(1_772_700_000.0)
    st.features = b"terminal-blob"
    return st


def test_customer_round_trip() -> None:
    st = _customer()
    assert CustomerState.from_bytes(st.to_bytes()) == st


def test_terminal_round_trip() -> None:
    st = _terminal()
    assert TerminalState.from_bytes(st.to_bytes()) == st


def test_empty_states_round_trip_with_nan_fields() -> None:
    c = CustomerState.from_bytes(CustomerState().to_bytes())
    t = TerminalState.from_bytes(TerminalState().to_bytes())
    assert c.n == 0 and math.isnan(c.last_ts) and math.isnan(c.geo_ts) and c.ring == [] and c.features == b""
    assert t.n == 0 and math.isnan(t.last_ts) and t.fraud_ring == []


def test_first_byte_is_the_version_and_unknown_versions_are_refused() -> None:
    data = _customer().to_bytes()
    assert data[0] == CUSTOMER_STATE_VERSION
    with pytest.raises(StateCodecError, match="version 99"):
        CustomerState.from_bytes(bytes([99]) + data[1:])
    tdata = _terminal().to_bytes()
    assert tdata[0] == TERMINAL_STATE_VERSION
    with pytest.raises(StateCodecError, match="version 7"):
        TerminalState.from_bytes(bytes([7]) + tdata[1:])
    with pytest.raises(StateCodecError, match="empty"):
        CustomerState.from_bytes(b"")


@pytest.mark.parametrize("cut", [1, 5, 40, 70, 100, -1])
def test_truncated_state_is_refused(cut: int) -> None:
    data = _customer().to_bytes()
    with pytest.raises(StateCodecError):
        CustomerState.from_bytes(data[:cut])
    tdata = _terminal().to_bytes()
    with pytest.raises(StateCodecError):
        TerminalState.from_bytes(tdata[: min(cut, len(tdata) - 1)] if cut > 0 else tdata[:cut])


def test_trailing_garbage_and_impossible_ring_lengths_are_refused() -> None:
    with pytest.raises(StateCodecError, match="layout says"):
        CustomerState.from_bytes(_customer().to_bytes() + b"junk")
    data = bytearray(_customer().to_bytes())
    data[1] = RING_CAPACITY + 1
    with pytest.raises(StateCodecError, match="exceeds"):
        CustomerState.from_bytes(bytes(data))


def test_random_bytes_never_decode_silently_into_a_wrong_layout() -> None:
    rng = random.Random(3)
    for _ in range(2_000):
        blob = bytes([CUSTOMER_STATE_VERSION]) + bytes(
            rng.randrange(256) for _ in range(rng.randrange(0, 400))
        )
        try:
            st = CustomerState.from_bytes(blob)
        except StateCodecError:
            continue
        assert st.to_bytes() == blob  # anything accepted is an exact layout, so it re-encodes identically


def test_ring_is_bounded_and_sorted() -> None:
    st = CustomerState()
    for i in range(100):
        st.push_time(float(i))
    st.push_time(50.5)  # out of order
    assert len(st.ring) == RING_CAPACITY
    assert st.ring == sorted(st.ring)
    assert st.count_within(97.0, 99.0) == 2
    assert st.count_within(79.0, 80.5) == 1  # up to 80.5: 80, not the later 81..99
    assert len(CustomerState.from_bytes(st.to_bytes()).ring) == RING_CAPACITY


def test_welford_matches_statistics() -> None:
    rng = random.Random(1)
    amounts = [rng.lognormvariate(3.5, 0.8) for _ in range(5_000)]
    st = CustomerState()
    for a in amounts:
        st.observe_amount(a)
    st = CustomerState.from_bytes(st.to_bytes())
    assert st.mean == pytest.approx(statistics.fmean(amounts), rel=1e-12)
    assert st.std == pytest.approx(statistics.stdev(amounts), rel=1e-9)


def test_state_size_is_compact() -> None:
    st = CustomerState()
    for i in range(1_000):
        st.observe_amount(10.0 + i)
        st.push_time(float(i))
        st.hours[i % 24] += 1
    assert len(st.to_bytes()) <= 68 + 8 * RING_CAPACITY + 96 + 4  # bounded whatever the history length


def test_terminal_counts_only_labels_delivered_by_now() -> None:
    st = TerminalState()
    st.add_fraud_label(1_000.0)
    st.add_fraud_label(5_000.0)
    assert st.confirmed_frauds(now_ts=999.0, window_s=10_000.0) == 0
    assert st.confirmed_frauds(now_ts=1_000.0, window_s=10_000.0) == 1
    assert st.confirmed_frauds(now_ts=6_000.0, window_s=10_000.0) == 2
    assert st.confirmed_frauds(now_ts=12_000.0, window_s=10_000.0) == 1  # the first left the window


def test_terminal_ring_stays_sorted_with_out_of_order_events() -> None:
    st = TerminalState()
    for ts in (10.0, 30.0, 20.0, 40.0, 5.0):
        st.observe(ts, 1.0)
    assert st.ring == [5.0, 10.0, 20.0, 30.0, 40.0]
    assert st.count_within(15.0, 40.0) == 3 and st.last_ts == 40.0 and st.n == 5
    assert st.count_within(5.0, 20.0) == 2  # (5, 20]: 10 and 20, not the later 30 and 40
