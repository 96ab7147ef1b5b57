"""The two keyed stages on real state bytes: each rule fires in context, labels act only once delivered."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import UTC, datetime, timedelta

import pytest
from fraud_jobs.config import DetectorConfig
from fraud_jobs.logic import (
    ScoreRecord,
    apply_label_customer,
    apply_label_terminal,
    customer_step,
    terminal_step,
)
from fraud_jobs.schemas import FraudAlert, Label, Transaction, alert_id_for
from fraud_jobs.scoring import ConstantScorer, Scorer, ScorerMismatchError, check_scorer
from fraud_jobs.state import CustomerState, TerminalState
from fraud_models.combiner import Combiner
from fraud_models.features import FEATURE_NAMES, TERMINAL_FEATURES

T0 = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


MakeTx = Callable[..., Transaction]


@pytest.fixture
def make_tx() -> MakeTx:
    """Build transactions at ``T0 + minutes`` with unique ids."""
    counter = iter(range(10**9))

    def build(
        minutes: float = 0.0,
        amount: float = 50.0,
        customer: str = "C1",
        terminal: str = "T1",
        lat: float | None = None,
        lon: float | None = None,
        at: datetime | None = None,
    ) -> Transaction:
        when = at if at is not None else T0 + timedelta(minutes=minutes)
        return Transaction(
            schema_version=2 if lat is not None else 1,
            transaction_id=f"tx-{next(counter)}",
            customer_id=customer,
            terminal_id=terminal,
            amount=amount,
            event_time=when,
            lat=lat,
            lon=lon,
        )

    return build


BLOCKING = DetectorConfig.model_validate(
    {"blocklist": {"customers": ["C-BAD"], "terminals": ["T-BAD"]}, "alert_threshold": 0.4}
)


class Pipeline:
    """The replay harness in miniature: per-key bytes in dicts, the two stages in order."""

    def __init__(self, cfg: DetectorConfig = BLOCKING, scorer: Scorer | None = None) -> None:
        self.cfg, self.scorer = cfg, scorer
        self.terminals: dict[str, bytes] = {}
        self.customers: dict[str, bytes] = {}

    def run(self, txs: Iterable[Transaction]) -> list[tuple[ScoreRecord, FraudAlert | None]]:
        out = []
        for tx in txs:
            self.terminals[tx.terminal_id], enriched = terminal_step(
                self.terminals.get(tx.terminal_id), tx, self.cfg
            )
            self.customers[tx.customer_id], record, alert = customer_step(
                self.customers.get(tx.customer_id),
                enriched,
                self.cfg,
                self.scorer,
                detection_time=tx.event_time,
            )
            out.append((record, alert))
        return out

    def one(self, tx: Transaction) -> tuple[ScoreRecord, FraudAlert | None]:
        return self.run([tx])[0]


def history(make_tx: MakeTx, days: int = 20, customer: str = "C1") -> list[Transaction]:
    """Two ordinary payments a day around 10:00 and 17:00 UTC, ~50 EUR, in Brussels."""
    out = []
    for d in range(days):
        for hour, amount in ((10, 48.0 + d % 5), (17, 52.0 - d % 3)):
            out.append(
                make_tx(
                    at=T0.replace(hour=hour) + timedelta(days=d, minutes=d),
                    amount=amount,
                    customer=customer,
                    lat=50.85,
                    lon=4.35,
                )
            )
    return out


def codes(results: Sequence[tuple[ScoreRecord, FraudAlert | None]]) -> set[str]:
    return {c for record, _ in results for c in record.rule_codes}


def next_day(at_hour: int = 12, days: int = 20) -> timedelta:
    return timedelta(days=days, hours=at_hour - T0.hour)


def test_normal_traffic_raises_nothing(make_tx: MakeTx) -> None:
    results = Pipeline().run(history(make_tx, days=30))
    assert codes(results) == set()
    assert all(alert is None and record.score == 0.0 for record, alert in results)


def test_high_value_fires_fr001(make_tx: MakeTx) -> None:
    p = Pipeline()
    p.run(history(make_tx))
    record, alert = p.one(make_tx(at=T0 + next_day(), amount=950.0, lat=50.85, lon=4.35))
    assert record.rule_codes == ("FR-001",)
    assert alert is not None and alert.rule_hits[0].code == "FR-001"
    assert "950.00" in alert.rule_hits[0].reason
    assert alert.alert_id == alert_id_for(record.transaction_id)
    assert alert.score == record.score == pytest.approx(BLOCKING.high_value.weight)


def test_velocity_fires_fr002_from_the_sixth_transaction(make_tx: MakeTx) -> None:
    p = Pipeline()
    p.run(history(make_tx))
    burst = [make_tx(at=T0 + next_day() + timedelta(seconds=30 * k), amount=50.0) for k in range(8)]
    results = p.run(burst)
    assert [("FR-002" in r.rule_codes) for r, _ in results] == [False] * 5 + [True] * 3
    assert all(a is not None for _, a in results[5:])


def test_velocity_counts_what_came_before_a_late_transaction_not_after(make_tx: MakeTx) -> None:
    p = Pipeline()
    p.run(history(make_tx))
    start = T0 + next_day()
    p.run([make_tx(at=start + timedelta(seconds=30 * k), amount=50.0) for k in range(1, 8)])
    # arrives last, happened first: seven transactions came after it within the window, none before
    record, _ = p.one(make_tx(at=start, amount=50.0))
    assert "FR-002" not in record.rule_codes


def test_impossible_travel_fires_fr003_and_v1_events_are_still_scored(make_tx: MakeTx) -> None:
    p = Pipeline()
    p.run(history(make_tx))
    home = make_tx(at=T0 + next_day(), amount=50.0, lat=50.85, lon=4.35)
    v1 = make_tx(at=T0 + next_day() + timedelta(minutes=5), amount=50.0)  # no geo: nothing to compare
    madrid = make_tx(at=T0 + next_day() + timedelta(minutes=15), amount=50.0, lat=40.42, lon=-3.70)
    results = p.run([home, v1, madrid])
    assert v1.schema_version == 1 and results[1][0].rule_codes == ()
    record, alert = results[2]
    assert record.rule_codes == ("FR-003",)
    assert alert is not None and "km/h" in alert.rule_hits[0].reason


def test_unusual_hour_fires_fr004(make_tx: MakeTx) -> None:
    p = Pipeline()
    p.run(history(make_tx))
    record, alert = p.one(make_tx(at=T0 + next_day(at_hour=3), amount=50.0, lat=50.85, lon=4.35))
    assert record.rule_codes == ("FR-004",)
    assert alert is not None and "03:00" in alert.rule_hits[0].reason


def test_unusual_hour_needs_history(make_tx: MakeTx) -> None:
    p = Pipeline()
    p.run(history(make_tx, days=5))  # 10 transactions < min_history
    record, _ = p.one(make_tx(at=T0 + next_day(at_hour=3, days=5), amount=50.0))
    assert "FR-004" not in record.rule_codes


def test_blocklist_fires_fr005_without_any_history(make_tx: MakeTx) -> None:
    p = Pipeline()
    record, alert = p.one(make_tx(customer="C-BAD"))
    assert record.rule_codes == ("FR-005",) and alert is not None and alert.score == 1.0
    record, alert = p.one(make_tx(minutes=1, terminal="T-BAD"))
    assert record.rule_codes == ("FR-005",) and alert is not None


def test_ml_anomaly_fr006_uses_the_scorer_and_the_documented_combination(make_tx: MakeTx) -> None:
    p = Pipeline(scorer=ConstantScorer(0.95, version="iforest-7"))
    p.run(history(make_tx, days=3))
    record, alert = p.one(make_tx(at=T0 + next_day(days=3), amount=50.0))
    assert record.ml_score == 0.95
    assert record.rule_codes == ("FR-006",)
    assert record.rule_score == BLOCKING.anomaly.weight
    assert record.score == pytest.approx(
        (1 - BLOCKING.alpha) * BLOCKING.anomaly.weight + BLOCKING.alpha * 0.95
    )
    assert alert is not None and alert.model_version == "iforest-7" and alert.ml_score == 0.95

    calm = Pipeline(scorer=ConstantScorer(0.1))
    record, alert = calm.one(make_tx(amount=50.0))
    assert record.ml_score == 0.1 and record.rule_codes == () and alert is None
    assert record.score == pytest.approx(BLOCKING.alpha * 0.1)


class OtherSchemaScorer(ConstantScorer):
    """A real scorer trained on another feature schema."""

    @property
    def feature_schema_id(self) -> str:
        return "0123456789abcdef"


def test_scorer_with_another_feature_schema_is_refused() -> None:
    assert check_scorer(ConstantScorer(0.5)).score([0.0] * len(FEATURE_NAMES)) == 0.5
    with pytest.raises(ScorerMismatchError, match="0123456789abcdef"):
        check_scorer(OtherSchemaScorer(0.5))


def test_a_label_changes_terminal_risk_only_from_its_delivery(make_tx: MakeTx) -> None:
    cfg = DetectorConfig()
    fraud = make_tx(terminal="T7", customer="C1", amount=300.0)
    label = Label(
        transaction_id=fraud.transaction_id,
        is_fraud=True,
        confirmed_at=fraud.event_time + timedelta(days=7),
        terminal_id="T7",
        customer_id="C1",
        tx_event_time=fraud.event_time,
    )
    risk = TERMINAL_FEATURES.index("terminal_risk_30d")
    tstate, _ = terminal_step(None, fraud, cfg)

    # Before delivery: nothing about the fraud is known at the terminal.
    tstate, before = terminal_step(
        tstate, make_tx(at=fraud.event_time + timedelta(days=1), terminal="T7"), cfg
    )
    assert before.terminal_confirmed_frauds == 0 and before.terminal_features[risk] == 0.0

    tstate = apply_label_terminal(tstate, label, cfg)
    assert TerminalState.from_bytes(tstate).fraud_labels == 1

    # A transaction processed after the label but timed before its confirmation (out of order) ignores it.
    early = make_tx(at=fraud.event_time + timedelta(days=2), terminal="T7")
    tstate, out_of_order = terminal_step(tstate, early, cfg)
    assert out_of_order.terminal_confirmed_frauds == 0

    tstate, after = terminal_step(
        tstate, make_tx(at=fraud.event_time + timedelta(days=8), terminal="T7"), cfg
    )
    assert after.terminal_confirmed_frauds == 1
    assert after.terminal_features[risk] > 0.0
    _, record, alert = customer_step(None, after, cfg)
    assert record.rule_codes == ("FR-007",)
    assert alert is None  # terminal risk alone stays below the alert threshold by default


def test_customer_label_is_recorded(make_tx: MakeTx) -> None:
    tx = make_tx()
    label = Label(
        transaction_id=tx.transaction_id,
        is_fraud=True,
        confirmed_at=tx.event_time + timedelta(days=7),
        terminal_id=tx.terminal_id,
        customer_id=tx.customer_id,
        tx_event_time=tx.event_time,
    )
    st = CustomerState.from_bytes(apply_label_customer(None, label, DetectorConfig()))
    assert st.fraud_labels == 1 and st.last_fraud_label_ts == label.confirmed_at.timestamp()
    legit = label.model_copy(update={"is_fraud": False})
    assert (
        CustomerState.from_bytes(apply_label_customer(st.to_bytes(), legit, DetectorConfig())).fraud_labels
        == 1
    )


def test_state_ttl_forgets_inactive_customers(make_tx: MakeTx) -> None:
    cfg = DetectorConfig(state_ttl_s=10 * 86400.0)
    p = Pipeline(cfg)
    p.run(history(make_tx, days=5))
    assert CustomerState.from_bytes(p.customers["C1"]).n == 10
    p.one(make_tx(at=T0 + timedelta(days=30), amount=5_000.0))  # 25 days later: history expired
    st = CustomerState.from_bytes(p.customers["C1"])
    assert st.n == 1 and st.mean == 5_000.0


def test_same_input_same_state_bytes_and_alerts(make_tx: MakeTx) -> None:
    txs = [*history(make_tx, days=10), make_tx(at=T0 + next_day(days=10), amount=999.0)]
    a, b = Pipeline(), Pipeline()
    ra, rb = a.run(txs), b.run(txs)
    assert ra == rb
    assert a.customers == b.customers and a.terminals == b.terminals


def test_rules_work_without_the_ml_feature_state_and_a_scorer_then_is_refused(make_tx: MakeTx) -> None:
    cfg = DetectorConfig(ml_features=False, high_value=BLOCKING.high_value)
    p = Pipeline(cfg)
    p.run(history(make_tx))
    record, alert = p.one(make_tx(at=T0 + next_day(), amount=950.0, lat=50.85, lon=4.35))
    assert record.rule_codes == ("FR-001",) and alert is not None
    assert CustomerState.from_bytes(p.customers["C1"]).features == b""
    assert TerminalState.from_bytes(p.terminals["T1"]).features == b""
    _, enriched = terminal_step(None, make_tx(), cfg)
    with pytest.raises(ValueError, match="ml_features"):
        customer_step(None, enriched, cfg, ConstantScorer(0.5))


def test_wire_form_between_the_stages_is_lossless_and_pickles_small() -> None:
    import pickle

    from fraud_jobs.generator import generate
    from fraud_jobs.logic import EnrichedTransaction
    from fraud_jobs.schemas import parse_transaction

    txs = [t for t in (parse_transaction(r.payload) for r in generate(400, seed=3).records)]
    valid = [t for t in txs if isinstance(t, Transaction)]
    edge = Transaction(
        transaction_id="t-edge",
        customer_id="C1",
        terminal_id="T1",
        amount=0.01,
        event_time=datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
    )
    assert any(t.payment_method is not None for t in valid) and any(t.lat is not None for t in valid)
    for tx in [*valid, edge]:
        enriched = EnrichedTransaction(tx, 3, 1, (0.5, 2.0, 0.125))
        wire = pickle.loads(pickle.dumps(enriched.to_wire()))
        back = EnrichedTransaction.from_wire(wire)
        assert back == enriched
        assert back.tx.model_dump_json() == tx.model_dump_json()  # every field, incl. enums and microseconds
        assert len(pickle.dumps(enriched.to_wire())) < len(enriched.to_json())


class _FailingScorer(ConstantScorer):
    def score(self, x: Sequence[float]) -> float:
        raise RuntimeError("broken shadow")


def _run_with_shadow(
    txs: Sequence[Transaction], active: Scorer, shadow: Scorer | None
) -> list[tuple[ScoreRecord, FraudAlert | None]]:
    terminals: dict[str, bytes] = {}
    customers: dict[str, bytes] = {}
    out = []
    for tx in txs:
        terminals[tx.terminal_id], enriched = terminal_step(terminals.get(tx.terminal_id), tx, BLOCKING)
        customers[tx.customer_id], record, alert = customer_step(
            customers.get(tx.customer_id), enriched, BLOCKING, active, tx.event_time, shadow
        )
        out.append((record, alert))
    return out


def test_shadow_scores_the_same_features_and_never_changes_the_active_outcome(make_tx: MakeTx) -> None:
    txs = [*history(make_tx), make_tx(at=T0 + next_day(), amount=950.0, lat=50.85, lon=4.35)]
    txs.append(make_tx(at=T0 + next_day(), amount=20.0, customer="C-BAD"))
    active, shadow = ConstantScorer(0.1, "v-active"), ConstantScorer(0.9, "v-shadow")
    alone = _run_with_shadow(txs, active, None)
    both = _run_with_shadow(txs, active, shadow)
    for (a_rec, a_alert), (b_rec, b_alert) in zip(alone, both, strict=True):
        assert b_rec[:11] == a_rec[:11] and (a_alert is None) == (b_alert is None)  # active part unchanged
        assert a_rec.shadow_model_version is None and a_rec.model_version == "v-active"
        assert b_rec.shadow_model_version == "v-shadow" and b_rec.shadow_ml_score == 0.9
        # the shadow's own FR-006 hit (0.9 >= 0.8) replaces the active one's; other hits are shared
        shared = [c for c in b_rec.rule_codes if c != "FR-006"]
        weights = {"FR-001": BLOCKING.high_value.weight, "FR-005": BLOCKING.blocklist.weight}
        rules = min(1.0, BLOCKING.anomaly.weight + sum(weights.get(c, 0.0) for c in shared))
        expected = min(1.0, (1 - BLOCKING.alpha) * rules + BLOCKING.alpha * 0.9)
        assert b_rec.shadow_score == pytest.approx(expected)
        assert b_rec.shadow_alert == (expected >= BLOCKING.alert_threshold)
    assert both[-1][0].alert and both[-1][1] is not None  # the blocklisted customer still alerts
    assert not both[0][0].alert and both[0][0].shadow_alert  # the shadow alone would have alerted


class _Combined(ConstantScorer):
    """A constant model whose artifact carries a learned combiner (as CompiledModel.combiner)."""

    def __init__(self, value: float, version: str, combiner: Combiner) -> None:
        super().__init__(value, version)
        self.combiner = combiner


def test_each_model_is_combined_by_its_own_learned_combiner(make_tx: MakeTx) -> None:
    txs = [*history(make_tx), make_tx(at=T0 + next_day(), amount=950.0, lat=50.85, lon=4.35)]
    active = _Combined(0.1, "v-active", Combiner(-1.0, 1.0, {"FR-001": 2.0}))
    shadow = _Combined(0.9, "v-shadow", Combiner(-3.0, 0.5, {}))
    for record, alert in _run_with_shadow(txs, active, shadow):
        assert record.score == active.combiner.score(0.1, [(c, _weight(c)) for c in record.rule_codes])
        assert record.rule_score == min(1.0, sum(_weight(c) for c in record.rule_codes))
        shadow_hits = [(c, _weight(c)) for c in record.rule_codes if c != "FR-006"]
        assert record.shadow_score == shadow.combiner.score(0.9, shadow_hits)
        assert (alert is not None) == (record.score >= BLOCKING.alert_threshold)
    last = _run_with_shadow(txs, active, shadow)[-1][0]
    assert last.rule_codes == ("FR-001",) and last.score > active.combiner.score(0.1, [])  # FR-001 learned


def _weight(code: str) -> float:
    return {"FR-001": BLOCKING.high_value.weight, "FR-006": BLOCKING.anomaly.weight}.get(code, 0.0)


def test_a_failing_shadow_is_recorded_not_raised(make_tx: MakeTx) -> None:
    txs = history(make_tx, days=2)
    active = ConstantScorer(0.3, "v-active")
    alone = _run_with_shadow(txs, active, None)
    broken = _run_with_shadow(txs, active, _FailingScorer(0.5, "v-broken"))
    for (a_rec, _), (b_rec, _) in zip(alone, broken, strict=True):
        assert b_rec[:11] == a_rec[:11]
        assert b_rec.shadow_model_version == "v-broken" and b_rec.shadow_score is None
        assert b_rec.shadow_error == "RuntimeError: broken shadow"
