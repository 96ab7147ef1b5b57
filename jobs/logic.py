"""The detector's two keyed stages as pure functions: state bytes in, state bytes and results out.

A Flink KeyedProcessFunction (or the replay loop) only loads the key's single state value, calls one of
these, stores the returned bytes and emits the results. Nothing here knows about Flink, Kafka or clocks
(except the default detection time), so the same code runs in the stream, in replay and in tests.

Stage 1, keyed by terminal: :func:`terminal_step` enriches the transaction with the terminal's recent
activity, its label-confirmed frauds and the ML terminal features. Stage 2, keyed by customer:
:func:`customer_step` evaluates the rules, scores with the model and decides the alert. Labels go to both
stages (:func:`apply_label_terminal`, :func:`apply_label_customer`) and act only from their delivery on.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, Final, NamedTuple

from fraud_jobs.config import DetectorConfig
from fraud_jobs.rules import combine
from fraud_jobs.schemas import Channel, FraudAlert, Label, PaymentMethod, RuleHit, Transaction, alert_id_for
from fraud_jobs.scoring import Scorer, combiner_of, score_rows
from fraud_jobs.state import CustomerState, TerminalState
from fraud_models import features as feat
from fraud_models.combiner import Combiner

__all__ = [
    "EnrichedTransaction",
    "PendingDecision",
    "ScoreError",
    "ScoreRecord",
    "apply_label_customer",
    "apply_label_terminal",
    "customer_step",
    "customer_update",
    "decide",
    "terminal_step",
]

_HOUR_S = 3600.0
_TX_FIELD_SET: Final = frozenset(Transaction.model_fields)


class EnrichedTransaction(NamedTuple):
    """A transaction plus what stage 1 knows about its terminal; crosses the keyed stages."""

    tx: Transaction
    terminal_tx_1h: int
    """Transactions at this terminal in the hour before this one."""
    terminal_confirmed_frauds: int
    """Frauds at this terminal whose labels were delivered within the FR-007 window."""
    terminal_features: tuple[float, ...]
    """fraud_models.features.terminal_features as of this transaction."""

    def to_json(self) -> str:
        """Wire form between the two keyed stages."""
        return json.dumps(
            {
                "tx": self.tx.model_dump(mode="json"),
                "terminal_tx_1h": self.terminal_tx_1h,
                "terminal_confirmed_frauds": self.terminal_confirmed_frauds,
                "terminal_features": self.terminal_features,
            }
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> EnrichedTransaction:
        data: dict[str, Any] = json.loads(text)
        return cls(
            Transaction.model_validate(data["tx"]),
            int(data["terminal_tx_1h"]),
            int(data["terminal_confirmed_frauds"]),
            tuple(float(v) for v in data["terminal_features"]),
        )

    def to_wire(self) -> tuple[Any, ...]:
        """Compact form between the keyed stages of the stream: builtin scalars only.

        Flink pickles it; a datetime, an enum or a pydantic model would cost 5-20x more to pickle than
        these primitives, and JSON plus re-validation cost ~10x more. The transaction was validated at
        parse time, so :meth:`from_wire` trusts it. Event times are UTC (the parser normalises them) and
        epoch seconds as a float round-trip exactly to the microsecond for years 2000..2100.
        """
        tx = self.tx
        pm, ch = tx.payment_method, tx.channel
        return (
            tx.schema_version,
            tx.transaction_id,
            tx.customer_id,
            tx.terminal_id,
            tx.amount,
            tx.event_time.timestamp(),
            tx.currency,
            None if pm is None else pm.value,
            None if ch is None else ch.value,
            tx.device_id,
            tx.lat,
            tx.lon,
            self.terminal_tx_1h,
            self.terminal_confirmed_frauds,
            self.terminal_features,
        )

    @classmethod
    def from_wire(cls, wire: tuple[Any, ...]) -> EnrichedTransaction:
        """Inverse of :meth:`to_wire`; rebuilds the Transaction without re-validating it (as pickle does)."""
        (version, tx_id, customer, terminal, amount, ts, currency, pm, ch, device, lat, lon) = wire[:12]
        values = {
            "schema_version": version,
            "transaction_id": tx_id,
            "customer_id": customer,
            "terminal_id": terminal,
            "amount": amount,
            "event_time": datetime.fromtimestamp(ts, UTC),
            "currency": currency,
            "payment_method": None if pm is None else PaymentMethod(pm),
            "channel": None if ch is None else Channel(ch),
            "device_id": device,
            "lat": lat,
            "lon": lon,
        }
        tx = Transaction.__new__(Transaction)
        tx.__setstate__(
            {
                "__dict__": values,
                "__pydantic_fields_set__": set(_TX_FIELD_SET),
                "__pydantic_extra__": None,
                "__pydantic_private__": None,
            }
        )
        return cls(tx, wire[12], wire[13], wire[14])


class ScoreRecord(NamedTuple):
    """The outcome for every valid transaction, alert or not (what replay writes to scores.parquet)."""

    transaction_id: str
    customer_id: str
    terminal_id: str
    event_ts: float
    amount: float
    score: float
    rule_score: float
    ml_score: float | None
    rule_codes: tuple[str, ...]
    alert: bool
    model_version: str | None = None
    """The active model that scored (None: rules only)."""
    shadow_model_version: str | None = None
    """Set when a shadow model scored the same feature vector and rule hits (it never changes alerts)."""
    shadow_score: float | None = None
    """Combined rules + shadow model score, as if the shadow were active."""
    shadow_ml_score: float | None = None
    shadow_alert: bool | None = None
    shadow_error: str | None = None
    """Why the shadow could not score this transaction (the active outcome stands regardless)."""


class PendingDecision(NamedTuple):
    """A transaction after the customer stage, waiting for its model scores (the stream's scoring row).

    The customer stage has judged it against the history and recorded it; FR-006 and the combination wait
    for the model, which scores a whole batch at once (so the model never sees one row at a time, in the
    stream or in replay)."""

    tx: Transaction
    hits: tuple[RuleHit, ...]
    """FR-001..FR-005, in code order."""
    risk: RuleHit | None
    """FR-007."""
    cfg: DetectorConfig
    """The live config the customer stage used (its alpha, threshold and FR-006 settings decide)."""
    x: tuple[float, ...] | None
    """The feature vector (None: no model scores)."""


class ScoreError(Exception):
    """The active model could not score a transaction; the text is the dead letter's message."""


def customer_update(
    cstate: bytes | None, enriched: EnrichedTransaction, cfg: DetectorConfig, features: bool
) -> tuple[bytes, PendingDecision]:
    """Stage 2 (keyed by customer_id) up to the model: the rules against the customer's history *before*
    the transaction, its feature vector (``features``: a model scores), then the history records it.

    Raises ValueError when a model scores but ``ml_features`` is off (nothing to score; the caller
    dead-letters the transaction and keeps the state as it was).
    """
    tx = enriched.tx
    ts = tx.event_time.timestamp()
    amount = tx.amount
    st = CustomerState.from_bytes(cstate) if cstate else CustomerState()
    if _expired(st.last_ts, ts, cfg.state_ttl_s):
        st = CustomerState()

    hits: list[RuleHit] = []
    hit = cfg.high_value.check(amount, st.n, st.mean, st.std)
    if hit is not None:
        hits.append(hit)
    hit = cfg.velocity.check(st.count_within(ts - cfg.velocity.window_s, ts) + 1)
    if hit is not None:
        hits.append(hit)
    lat, lon = tx.lat, tx.lon
    if (
        lat is not None
        and lon is not None
        and (lat != st.geo_lat or lon != st.geo_lon)
        and st.geo_ts == st.geo_ts
    ):
        # (geo_ts is NaN without a position; the same place again needs no trigonometry)
        distance = feat.haversine_km(st.geo_lat, st.geo_lon, lat, lon)
        hit = cfg.travel.check(distance, abs(ts - st.geo_ts) / _HOUR_S)
        if hit is not None:
            hits.append(hit)
    hour = int(ts // _HOUR_S) % 24
    hours = st.hours
    if st.n:
        near = (
            hours[hour - 2] + hours[hour - 1] + hours[hour] + hours[(hour + 1) % 24] + hours[(hour + 2) % 24]
        )
        share = near / st.n
        hit = cfg.unusual_hour.check(hour, share, st.n)
        if hit is not None:
            hits.append(hit)
    hit = cfg.blocklist.check(tx.customer_id, tx.terminal_id)
    if hit is not None:
        hits.append(hit)

    fstate: feat.CustomerFeatureState | None = None
    if cfg.ml_features:
        fstate = (
            feat.CustomerFeatureState.from_bytes(st.features) if st.features else feat.CustomerFeatureState()
        )
    x: tuple[float, ...] | None = None
    if features:
        if fstate is None:
            raise ValueError("a scorer needs ml_features enabled (the model scores those features)")
        customer = feat.customer_features(fstate, ts, amount, lat, lon)
        x = feat.assemble(amount, ts, customer, enriched.terminal_features)
    risk = cfg.terminal_risk.check(enriched.terminal_confirmed_frauds)
    if fstate is not None:
        feat.customer_observe(fstate, ts, amount, lat, lon)
        st.features = fstate.to_bytes()

    st.observe_amount(amount)
    st.push_time(ts)
    hours[hour] += 1
    if lat is not None and lon is not None and not ts < st.geo_ts:
        st.geo_lat, st.geo_lon, st.geo_ts = lat, lon, ts
    if not ts <= st.last_ts:
        st.last_ts = ts
    return st.to_bytes(), PendingDecision(tx, tuple(hits), risk, cfg, x)


def _usable(raw: float | str | None, version: str, tx: Transaction) -> float:
    """A model's score clipped to [0, 1]; raises ScoreError with the reason it cannot be used."""
    if isinstance(raw, str):
        raise ScoreError(raw)
    if raw is None or math.isnan(raw):
        raise ScoreError(f"ValueError: scorer {version} returned NaN for transaction {tx.transaction_id}")
    return min(1.0, max(0.0, float(raw)))


def decide(
    pending: PendingDecision,
    model: tuple[str, float | str | None] | None = None,
    shadow: tuple[str, float | str | None] | None = None,
    detection_time: datetime | None = None,
    *,
    combiner: Combiner | None = None,
    shadow_combiner: Combiner | None = None,
) -> tuple[ScoreRecord, FraudAlert | None]:
    """FR-006, the combined score and the alert, once the models scored (``(version, raw score or the
    error text)`` each; ``fraud_jobs.scoring.score_rows`` gives them). The shadow's outcome only goes
    into the record. ``combiner``/``shadow_combiner``: each model's learned combiner, if its artifact
    has one (:func:`fraud_jobs.scoring.combiner_of`). Raises ScoreError when the active model's score is
    unusable."""
    tx, cfg = pending.tx, pending.cfg
    hits = list(pending.hits)
    ml_score = _usable(model[1], model[0], tx) if model is not None else None
    shadow_out: tuple[float, float, bool] | None = None
    shadow_error: str | None = None
    if shadow is not None:
        try:
            shadow_ml = _usable(shadow[1], shadow[0], tx)
        except ScoreError as exc:
            shadow_error = str(exc)
        else:
            shadow_hits = list(hits)
            for extra in (cfg.anomaly.check(shadow_ml, shadow[0]), pending.risk):
                if extra is not None:
                    shadow_hits.append(extra)
            shadow_score = combine(shadow_hits, shadow_ml, cfg.alpha, shadow_combiner)[0]
            shadow_out = (shadow_score, shadow_ml, shadow_score >= cfg.alert_threshold)
    if model is not None:
        hit = cfg.anomaly.check(ml_score, model[0])
        if hit is not None:
            hits.append(hit)
    if pending.risk is not None:
        hits.append(pending.risk)
    score, rule_score = combine(hits, ml_score, cfg.alpha, combiner)
    ts = tx.event_time.timestamp()
    is_alert = score >= cfg.alert_threshold
    version = model[0] if model is not None else None
    record = ScoreRecord(
        tx.transaction_id,
        tx.customer_id,
        tx.terminal_id,
        ts,
        tx.amount,
        score,
        rule_score,
        ml_score,
        tuple([h.code for h in hits]) if hits else (),
        is_alert,
        version,
        shadow[0] if shadow is not None else None,
        shadow_out[0] if shadow_out is not None else None,
        shadow_out[1] if shadow_out is not None else None,
        shadow_out[2] if shadow_out is not None else None,
        shadow_error,
    )
    alert = None
    if is_alert:
        alert = FraudAlert(
            alert_id=alert_id_for(tx.transaction_id),
            transaction_id=tx.transaction_id,
            customer_id=tx.customer_id,
            terminal_id=tx.terminal_id,
            amount=tx.amount,
            score=score,
            rule_score=rule_score,
            ml_score=ml_score,
            rule_hits=tuple(hits),
            model_version=version,
            event_time=tx.event_time,
            detection_time=detection_time or datetime.now(UTC),
        )
    return record, alert


def _expired(last_ts: float, ts: float, ttl_s: float) -> bool:
    return ts - last_ts > ttl_s  # False while last_ts is NaN (no history yet)


def terminal_step(
    tstate: bytes | None, tx: Transaction, cfg: DetectorConfig
) -> tuple[bytes, EnrichedTransaction]:
    """Stage 1 (keyed by terminal_id): enrich ``tx`` with the terminal's state, then record it."""
    ts = tx.event_time.timestamp()
    st = TerminalState.from_bytes(tstate) if tstate else TerminalState()
    if _expired(st.last_ts, ts, cfg.state_ttl_s):
        st = TerminalState()
    features: tuple[float, ...] = ()
    if cfg.ml_features:
        fstate = (
            feat.TerminalFeatureState.from_bytes(st.features) if st.features else feat.TerminalFeatureState()
        )
        features = feat.terminal_features(fstate, ts, cfg.label_delay_s)
        feat.terminal_observe(fstate, ts)
        st.features = fstate.to_bytes()
    recent = st.count_within(ts - _HOUR_S, ts)
    frauds = st.confirmed_frauds(ts, cfg.terminal_risk.window_s)
    st.observe(ts, tx.amount)
    return st.to_bytes(), EnrichedTransaction(tx, recent, frauds, features)


def customer_step(
    cstate: bytes | None,
    enriched: EnrichedTransaction,
    cfg: DetectorConfig,
    scorer: Scorer | None = None,
    detection_time: datetime | None = None,
    shadow: Scorer | None = None,
) -> tuple[bytes, ScoreRecord, FraudAlert | None]:
    """Stage 2 whole, for one transaction: :func:`customer_update`, the models scoring its vector as a
    batch of one (the same :func:`fraud_jobs.scoring.score_rows` the stream uses), then :func:`decide`.

    Raises ScoreError when the active model cannot score it (the returned state is then lost to the
    caller, unlike in the stream, which keeps it: use the two steps to keep it).
    """
    new_state, pending = customer_update(cstate, enriched, cfg, scorer is not None or shadow is not None)
    model = shadow_raw = None
    if scorer is not None and pending.x is not None:
        model = (scorer.version, score_rows(scorer, [pending.x])[0])
    if shadow is not None and pending.x is not None:
        shadow_raw = (shadow.version, score_rows(shadow, [pending.x])[0])
    record, alert = decide(
        pending,
        model,
        shadow_raw,
        detection_time,
        combiner=combiner_of(scorer),
        shadow_combiner=combiner_of(shadow),
    )
    return new_state, record, alert


def apply_label_terminal(tstate: bytes | None, label: Label, cfg: DetectorConfig) -> bytes:
    """Stage 1 side input: a label delivered now (at ``confirmed_at``) updates the terminal's fraud risk."""
    st = TerminalState.from_bytes(tstate) if tstate else TerminalState()
    st.labels += 1
    if label.is_fraud:
        st.fraud_labels += 1
        st.add_fraud_label(label.confirmed_at.timestamp())
    if cfg.ml_features and label.is_fraud:  # the feature state counts frauds only
        fstate = (
            feat.TerminalFeatureState.from_bytes(st.features) if st.features else feat.TerminalFeatureState()
        )
        feat.terminal_label(fstate, label.tx_event_time.timestamp(), label.is_fraud)
        st.features = fstate.to_bytes()
    return st.to_bytes()


def apply_label_customer(cstate: bytes | None, label: Label, cfg: DetectorConfig) -> bytes:
    """Stage 2 side input: records a confirmed fraud on the customer (kept for analysts and future rules)."""
    if not label.is_fraud and cstate:
        return cstate  # a legitimate outcome changes nothing here: skip the decode/encode
    st = CustomerState.from_bytes(cstate) if cstate else CustomerState()
    if label.is_fraud:
        st.fraud_labels += 1
        delivered = label.confirmed_at.timestamp()
        if not delivered <= st.last_fraud_label_ts:
            st.last_fraud_label_ts = delivered
    return st.to_bytes()
