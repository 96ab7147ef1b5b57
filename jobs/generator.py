"""Synthetic transaction stream with injected fraud for every rule, and malformed records on request.

Deterministic by seed: the same arguments give byte-identical output, so a test or a demo can rely on which
transactions are fraudulent. Customers live in one of a few cities, pay at nearby terminals, during their
own active hours, amounts around their own mean; the injected patterns break exactly one of those habits:

==================  ======  =======================================================================
pattern             rule    injection
==================  ======  =======================================================================
high_value          FR-001  one amount ~10x the customer's mean
velocity            FR-002  a burst of 8 transactions 30 s apart
impossible_travel   FR-003  a transaction in another city 10 min after one at home (v2 geo)
unusual_hour        FR-004  a transaction at 03:xx UTC for a customer active 07-22 UTC
blocklist           FR-005  transactions of blocklisted customers and at blocklisted terminals
==================  ======  =======================================================================

Every valid record also carries ``is_fraud`` and ``fraud_pattern`` (simulation ground truth): consumers ignore
unknown fields, and replay uses ``is_fraud`` as a label delivered ``label_delay`` later.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Callable, Iterable, Sized
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

from fraud_jobs.schemas import BlocklistPatch, ControlMessage
from fraud_models.progress import progress_bar

__all__ = [
    "MALFORMATIONS",
    "PATTERNS",
    "GeneratedRecord",
    "Generation",
    "generate",
    "malform",
    "write_jsonl",
    "write_kafka",
]

PATTERNS: Final = ("high_value", "velocity", "impossible_travel", "unusual_hour", "blocklist")
PATTERN_RULE: Final = {
    "high_value": "FR-001",
    "velocity": "FR-002",
    "impossible_travel": "FR-003",
    "unusual_hour": "FR-004",
    "blocklist": "FR-005",
}
_CITIES: Final = (
    (50.85, 4.35),  # Brussels
    (48.86, 2.35),  # Paris
    (52.52, 13.40),  # Berlin
    (40.42, -3.70),  # Madrid
    (41.90, 12.50),  # Rome
    (59.33, 18.07),  # Stockholm
)
_TERMINALS_PER_CITY: Final = 40
_ACTIVE_HOURS: Final = (7, 22)
_BURST: Final = 8
_DEFAULT_START: Final = datetime(2026, 3, 2, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class GeneratedRecord:
    """One output record: the exact bytes plus ground truth the tests and the demo check against."""

    payload: bytes
    key: bytes | None
    pattern: str | None = None
    malformed: str | None = None


@dataclass(slots=True)
class Generation:
    records: list[GeneratedRecord]
    control: ControlMessage
    """Puts the generator's blocklisted customers/terminals on the detector's blocklist."""
    injected: Counter[str] = field(default_factory=Counter)
    """Fraudulent transactions per pattern."""
    malformed: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class _Customer:
    id: str
    city: int
    mean: float
    terminals: list[str]


def _iso(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")


class _Builder:
    def __init__(self, rng: random.Random, start: datetime, days: int) -> None:
        self.rng = rng
        self.start = start
        self.days = days
        self.terminal_geo: dict[str, tuple[float, float]] = {}
        self.city_terminals: list[list[str]] = []
        for c, (lat, lon) in enumerate(_CITIES):
            names = []
            for j in range(_TERMINALS_PER_CITY):
                name = f"T{c}{j:04d}"
                self.terminal_geo[name] = (lat + rng.uniform(-0.1, 0.1), lon + rng.uniform(-0.1, 0.1))
                names.append(name)
            self.city_terminals.append(names)
        self.rows: list[tuple[float, dict[str, Any], str | None]] = []

    def customer(self, cid: str) -> _Customer:
        city = self.rng.randrange(len(_CITIES))
        return _Customer(
            cid, city, self.rng.uniform(20.0, 150.0), self.rng.sample(self.city_terminals[city], 5)
        )

    def amount(self, cust: _Customer) -> float:
        z = max(-2.5, min(2.5, self.rng.gauss(0.0, 1.0)))
        return round(max(1.0, cust.mean * (1.0 + 0.3 * z)), 2)

    def active_time(self, day: float) -> datetime:
        """A moment of day ``day`` (fractional days allowed for the start) within the active hours."""
        base = self.start + timedelta(days=math.floor(day))
        lo, hi = _ACTIVE_HOURS
        return base + timedelta(seconds=self.rng.uniform(lo * 3600.0, hi * 3600.0 - 1.0))

    def add(
        self,
        cust: _Customer,
        when: datetime,
        amount: float,
        terminal: str,
        pattern: str | None = None,
        geo: bool | None = None,
    ) -> None:
        rec: dict[str, Any] = {
            "schema_version": 2,
            "transaction_id": "",
            "customer_id": cust.id,
            "terminal_id": terminal,
            "amount": amount,
            "event_time": _iso(when),
            "currency": "EUR",
        }
        with_geo = (self.rng.random() < 0.8) if geo is None else geo
        if with_geo:
            lat, lon = self.terminal_geo[terminal]
            rec.update(
                payment_method=self.rng.choice(("card_present", "contactless")),
                channel="pos",
                device_id=f"D-{cust.id}",
                lat=round(lat, 5),
                lon=round(lon, 5),
            )
        else:
            rec["schema_version"] = 1  # a v1 producer: no v2 fields at all
        rec["is_fraud"] = pattern is not None
        rec["fraud_pattern"] = pattern
        self.rows.append((when.timestamp(), rec, pattern))


def generate(
    count: int,
    seed: int = 0,
    malformed_ratio: float = 0.0,
    start: datetime = _DEFAULT_START,
    days: int = 30,
) -> Generation:
    """``count`` records in event-time order; about ``malformed_ratio`` of them malformed."""
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    if not 0.0 <= malformed_ratio < 1.0:
        raise ValueError(f"malformed ratio must be in [0, 1), got {malformed_ratio}")
    if days < 6:
        raise ValueError(f"days must be >= 6 (history before the injected fraud), got {days}")
    rng = random.Random(seed)
    n_malformed = round(count * malformed_ratio)
    n_valid = count - n_malformed
    b = _Builder(rng, start, days)

    per_pattern = max(1, n_valid // 400)
    fraud_budget = per_pattern * (3 + _BURST + 2 + 2)  # high value, burst, travel pair, hour, blocklist
    if fraud_budget > n_valid // 2:
        per_pattern = max(1, n_valid // (2 * (_BURST + 7)))
    n_customers = max(10, n_valid // 60)
    customers = [b.customer(f"C{i:06d}") for i in range(n_customers)]
    blocked_customers = [b.customer(f"CB{i:04d}") for i in range(per_pattern)]
    blocked_terminals = [f"TB{i:04d}" for i in range(per_pattern)]
    for t, term in enumerate(blocked_terminals):
        b.terminal_geo[term] = b.terminal_geo[b.city_terminals[t % len(_CITIES)][0]]
    injected: Counter[str] = Counter()
    late = range(days * 2 // 3, days)  # injections after enough history for every rule

    pool = rng.sample(customers, min(len(customers), 4 * per_pattern))

    def victim() -> _Customer:
        """A distinct customer per injection while they last: a second injected 03:00 transaction would
        already be part of the customer's habits."""
        return pool.pop() if pool else rng.choice(customers)

    for _ in range(per_pattern):
        cust = victim()
        b.add(
            cust,
            b.active_time(rng.choice(late)),
            round(cust.mean * 10 + 200, 2),
            rng.choice(cust.terminals),
            "high_value",
        )
        injected["high_value"] += 1

        cust = victim()
        when, term = b.active_time(rng.choice(late)), rng.choice(cust.terminals)
        for k in range(_BURST):
            b.add(
                cust, when + timedelta(seconds=30 * k), b.amount(cust), term, "velocity" if k >= 5 else None
            )
        injected["velocity"] += _BURST - 5

        cust = victim()
        when = b.active_time(rng.choice(late))
        far_city = (cust.city + 1 + rng.randrange(len(_CITIES) - 1)) % len(_CITIES)
        b.add(cust, when, b.amount(cust), rng.choice(cust.terminals), geo=True)
        far = rng.choice(b.city_terminals[far_city])
        b.add(cust, when + timedelta(minutes=10), b.amount(cust), far, "impossible_travel", geo=True)
        injected["impossible_travel"] += 1

        cust = victim()
        day = b.start + timedelta(days=rng.choice(late))
        b.add(
            cust,
            day + timedelta(hours=3, seconds=rng.uniform(0, 3599)),
            b.amount(cust),
            rng.choice(cust.terminals),
            "unusual_hour",
        )
        injected["unusual_hour"] += 1

    for cust in blocked_customers:
        b.add(cust, b.active_time(rng.choice(late)), b.amount(cust), rng.choice(cust.terminals), "blocklist")
        injected["blocklist"] += 1
    for term in blocked_terminals:
        cust = rng.choice(customers)
        b.add(cust, b.active_time(rng.choice(late)), b.amount(cust), term, "blocklist")
        injected["blocklist"] += 1

    while len(b.rows) < n_valid:
        cust = rng.choice(customers)
        b.add(cust, b.active_time(rng.uniform(0, days)), b.amount(cust), rng.choice(cust.terminals))
    b.rows.sort(key=lambda row: row[0])

    records: list[GeneratedRecord] = []
    for i, (_, rec, pattern) in enumerate(b.rows):
        rec["transaction_id"] = f"tx-{seed}-{i:08d}"
        payload = json.dumps(rec, separators=(",", ":")).encode("utf-8")
        records.append(GeneratedRecord(payload, rec["customer_id"].encode(), pattern))

    malformed: Counter[str] = Counter()
    valid = list(records)
    for _ in range(n_malformed):
        source = json.loads(valid[rng.randrange(len(valid))].payload)
        kind, payload = malform(source, rng)
        malformed[kind] += 1
        records.insert(rng.randrange(len(records) + 1), GeneratedRecord(payload, None, None, kind))

    control = ControlMessage(
        message_id=f"generator-blocklist-{seed}",
        issued_at=start,
        blocklist_add=BlocklistPatch(
            customers=tuple(c.id for c in blocked_customers), terminals=tuple(blocked_terminals)
        ),
    )
    return Generation(records, control, injected, malformed)


# ----------------------------------------------------------------------------------------------------------
# malformed records


def _dump(rec: Any) -> bytes:
    return json.dumps(rec, separators=(",", ":")).encode("utf-8")


def _truncated(rec: dict[str, Any], rng: random.Random) -> bytes:
    data = _dump(rec)
    return data[: rng.randrange(1, len(data) - 1)]


def _set(name: str, value: Callable[[dict[str, Any], random.Random], Any]) -> Callable[..., bytes]:
    def corrupt(rec: dict[str, Any], rng: random.Random) -> bytes:
        rec[name] = value(rec, rng)
        return _dump(rec)

    return corrupt


def _missing(rec: dict[str, Any], rng: random.Random) -> bytes:
    del rec[rng.choice(("transaction_id", "customer_id", "terminal_id", "amount", "event_time"))]
    return _dump(rec)


def _duplicate_key(rec: dict[str, Any], rng: random.Random) -> bytes:
    """An identity or amount key given twice with different values (some spelled with a JSON escape)."""
    name = rng.choice(("terminal_id", "customer_id", "transaction_id", "amount"))
    other = rec[name] * 2 if name == "amount" else f"{rec[name]}-other"
    key = json.dumps(name) if rng.random() < 0.5 else f'"\\u{ord(name[0]):04x}{name[1:]}"'
    first, second = (other, rec[name]) if rng.random() < 0.5 else (rec[name], other)
    body = _dump({**rec, name: first})
    return body[:-1] + b"," + key.encode() + b":" + _dump(second) + b"}"


def _garbage(_rec: dict[str, Any], rng: random.Random) -> bytes:
    """Random bytes behind a lone UTF-8 continuation byte (never valid UTF-8), without line breaks."""
    body = bytes(b for b in rng.randbytes(rng.randrange(8, 200)) if b not in (0x0A, 0x0D))
    return bytes([rng.randrange(0x80, 0xC0)]) + body


def _deeply_nested(rec: dict[str, Any], rng: random.Random) -> bytes:
    """A valid record whose id is nested past the JSON parser's depth limit (a stack-exhaustion probe)."""
    depth = rng.randrange(300, 3_000)
    return _dump(rec)[:-1] + b',"transaction_id":' + b"[" * depth + b"]" * depth + b"}"


_BAD_TIMES: Final = (
    "2026-13-01T00:00:00Z",
    "yesterday",
    "",
    "2026-03-02T10:00:00",
    "1900-01-01T00:00:00Z",
    "2026-03-02 25:61:00Z",
    1772445600,
    None,
    "2100-12-31T23:30:00-05:00",  # in range as written, 2101 in UTC
    "2000-01-01T00:30:00+14:00",  # 1999 in UTC
)

MALFORMATIONS: Final[dict[str, Callable[[dict[str, Any], random.Random], bytes]]] = {
    "truncated_json": _truncated,
    "amount_as_string": _set("amount", lambda r, _: str(r["amount"])),
    "amount_nan": _set("amount", lambda *_: math.nan),
    "amount_infinite": _set("amount", lambda _, g: g.choice((math.inf, -math.inf))),
    "amount_negative": _set("amount", lambda r, g: -abs(r["amount"]) - g.uniform(0.01, 100)),
    "amount_huge": _set("amount", lambda _, g: 10 ** g.uniform(6.1, 300)),
    "amount_bool": _set("amount", lambda *_: True),
    "id_wrong_type": _set("customer_id", lambda _, g: g.randrange(10**6)),
    "missing_key": _missing,
    "duplicate_key": _duplicate_key,
    "bad_timestamp": _set("event_time", lambda _, g: g.choice(_BAD_TIMES)),
    "bad_geo": _set("lat", lambda _, g: g.choice((91.5, -200.0, "north", math.nan))),
    "oversize": _set("padding", lambda _, g: "x" * g.randrange(17_000, 40_000)),
    "utf16_encoded": lambda r, _: json.dumps(r).encode("utf-16"),
    "latin1_encoded": lambda r, _: _dump({**r, "customer_id": "Müller"}).replace(
        b"M\\u00fcller", b"M\xfcller"
    ),
    "not_an_object": lambda r, g: _dump(g.choice(([r], r["amount"], r["transaction_id"], None))),
    "empty_payload": lambda *_: b"",
    "binary_garbage": _garbage,
    "deeply_nested": _deeply_nested,
    "bad_schema_version": _set("schema_version", lambda _, g: g.choice(("2", 0, -1, 2.5, None))),
    "id_control_chars": _set(
        "customer_id", lambda r, g: r["customer_id"] + g.choice(("\x00", "\n", "\x1b[0m"))
    ),
}
"""Kinds of corruption; each one is invalid whatever the source record (the fuzz test relies on it)."""


def malform(rec: dict[str, Any], rng: random.Random, kind: str | None = None) -> tuple[str, bytes]:
    """Corrupt a valid record dict; returns (kind, bytes). Output never contains a newline (JSONL-safe)."""
    kind = kind or rng.choice(sorted(MALFORMATIONS))
    payload = MALFORMATIONS[kind](dict(rec), rng)
    return kind, payload.replace(b"\n", b" ")


# ----------------------------------------------------------------------------------------------------------
# outputs


def write_jsonl(records: Iterable[GeneratedRecord], path: str | Path) -> int:
    """One record per line (malformed ones included, byte for byte); returns the number written."""
    n = 0
    with Path(path).open("wb") as fh:
        for rec in records:
            fh.write(rec.payload)
            fh.write(b"\n")
            n += 1
    return n


def write_kafka(
    records: Iterable[GeneratedRecord],
    topic: str,
    bootstrap: str,
    timeout_s: float = 60.0,
    *,
    progress: bool = False,
) -> int:
    """Produce to Kafka (idempotent producer, keyed by customer); raises if any record is not acknowledged.

    ``progress``: a bar on stderr counting the records the broker acknowledged.
    """
    from confluent_kafka import KafkaError, Message, Producer

    total = len(records) if isinstance(records, Sized) else None
    bar = progress_bar(progress, total=total, desc=f"kafka {topic}", unit="rec", unit_scale=True)
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "linger.ms": 20})
    failures: list[str] = []

    def on_delivery(err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            failures.append(str(err))
        else:
            bar.update(1)

    n = 0
    for rec in records:
        while True:
            try:
                producer.produce(topic, rec.payload, key=rec.key, on_delivery=on_delivery)
                break
            except BufferError:
                producer.poll(0.5)
        producer.poll(0)
        n += 1
    remaining = producer.flush(timeout_s)
    bar.close()
    if remaining or failures:
        raise RuntimeError(
            f"kafka {bootstrap} topic {topic}: {remaining} records unacknowledged, {len(failures)} failed"
            + (f" (first: {failures[0]})" if failures else "")
        )
    return n
