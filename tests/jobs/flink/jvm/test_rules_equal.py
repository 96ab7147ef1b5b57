"""The Java rules (``io.streamflow.detector.Rules``) against ``fraud_jobs.rules`` and the live-config fold.

Every case goes through one JVM per test (``tools.RuleCheck``, doubles as ``float.hex()`` text both ways) and
must give what Python gives, exactly:

* each rule's hit or no hit, its code, its reason sentence character for character and its weight, and
  ``combine``'s score and rule score bit for bit, on hypothesis-built configs and inputs gathered around
  every threshold, plus hand-picked edges (exact thresholds, NaN and infinite inputs, empty history, a share
  exactly at ``max_share``, ids on both blocklists, disabled rules);
* the effective config of ``fold_controls(base, doc)`` and its problems, where ``doc`` is built by the real
  ``accept_control`` from random control messages and folded over the base it was accepted against and over
  a changed file config, also after tampering that makes parts fail (bounds, unknown fields and codes,
  wrong types, missing keys, unknown formats);
* pydantic's verdict and wording on every bound of every field, probed at and next to each bound, both in the
  file config and in a control document.

A format-1 document (a JSON list) is not folded by the Java side: it keeps the file config and says so.
"""

from __future__ import annotations

import json
import math
import string
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from annotated_types import Ge, Gt, Le
from fraud_jobs.config import RULE_FIELDS, DetectorConfig
from fraud_jobs.flink.control import accept_control, fold_controls
from fraud_jobs.flink.jvm import java_main
from fraud_jobs.rules import Rule, combine
from fraud_jobs.schemas import BlocklistPatch, ControlMessage, RuleHit
from fraud_models.combiner import Combiner
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pydantic.fields import FieldInfo

_MAIN: Final = "io.streamflow.detector.tools.RuleCheck"
_T = TypeVar("_T")
_FLOAT_CAP: Final = 1e9
"""Largest value drawn for a float field without an upper bound (besides the hand-picked huge ones)."""
_IDS: Final = ("c1", "c2", "C-0001", "t1", "t2", "T-0042", "é", "\U0001f600", "x" * 128, "a b", "'q'")
_CODE_OF: Final = {field: code for code, field in RULE_FIELDS.items()}
_NOT_JSON: Final = "accepted control state is not JSON: "
_DAMAGED: Final = "accepted control state (format 2) is damaged: "
_FORMAT_1: Final = "accepted control state has format 1"


# ----------------------------------------------------------------------------------------------------------
# running both sides


def _enc(value: Any) -> Any:
    assert not isinstance(value, bool)
    return value.hex() if isinstance(value, float) else value


def _hit(hit: RuleHit | None) -> list[Any] | None:
    return None if hit is None else [hit.code, hit.reason, hit.weight.hex()]


def _canon(config: DetectorConfig) -> dict[str, Any]:
    """model_dump with doubles as float.hex and id sets as sorted lists (RuleCheck's form)."""

    def walk(v: Any) -> Any:
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        if isinstance(v, frozenset | set):
            return sorted(v)
        if isinstance(v, float):
            return v.hex()
        return v

    out: dict[str, Any] = walk(config.model_dump())
    return out


def _java_canon(config: dict[str, Any]) -> dict[str, Any]:
    blocklist = config["blocklist"]
    for kind in ("customers", "terminals"):
        blocklist[kind] = sorted(blocklist[kind])  # Java sorts by UTF-16 units
    return config


def _run(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    stdin = "".join(json.dumps(r) + "\n" for r in requests).encode()
    lines = java_main(_MAIN, stdin=stdin).decode().split("\n")[:-1]  # not splitlines: ids may hold U+2028
    assert len(lines) == len(requests)
    results = [json.loads(line) for line in lines]
    for result in results:
        if "config" in result:
            _java_canon(result["config"])
    return results


def _collect(strategy: st.SearchStrategy[_T], count: int) -> list[_T]:
    found: list[_T] = []

    @settings(
        max_examples=count,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(strategy)
    def collect(example: _T) -> None:
        found.append(example)

    collect()
    return found


# ----------------------------------------------------------------------------------------------------------
# the schema, read from the pydantic models (so the probes follow any change of a bound)


def _bounds(info: FieldInfo) -> tuple[float | None, bool, float | None]:
    """(lower bound, lower bound exclusive, upper bound) of a field."""
    lo: float | None = None
    lo_open = False
    hi: float | None = None
    for meta in info.metadata:
        if isinstance(meta, Ge):
            lo = meta.ge  # type: ignore[assignment]
        elif isinstance(meta, Gt):
            lo, lo_open = meta.gt, True  # type: ignore[assignment]
        elif isinstance(meta, Le):
            hi = meta.le  # type: ignore[assignment]
    return lo, lo_open, hi


def _rule_models() -> dict[str, type[Rule]]:
    models: dict[str, type[Rule]] = {}
    for name, info in DetectorConfig.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Rule):
            models[name] = info.annotation
    return models


_RULE_MODELS: Final = _rule_models()
_TOP_FIELDS: Final = {n: i for n, i in DetectorConfig.model_fields.items() if n not in _RULE_MODELS}


def _valid_value(info: FieldInfo) -> st.SearchStrategy[Any]:
    lo, lo_open, hi = _bounds(info)
    if info.annotation is bool:
        return st.booleans()
    if info.annotation is int:
        assert lo is not None and hi is not None
        return st.integers(int(lo), int(hi))
    if info.annotation is float:
        assert lo is not None
        top = hi if hi is not None else _FLOAT_CAP
        nice = [v for v in (0.0, 0.02, 0.25, 0.5, 1.0, 2.5, 4.0, 60.0, 600.0, 900.0, 86400.0, 1e-5, 1e6) if
                (v > lo if lo_open else v >= lo) and v <= top]  # fmt: skip
        drawn = st.floats(lo, top, exclude_min=lo_open, allow_nan=False, allow_infinity=False)
        if hi is None:
            drawn = drawn | st.sampled_from([1e300, 1.7976931348623157e308])
        return drawn | st.sampled_from(nice or [top])
    return st.frozensets(st.sampled_from(_IDS) | st.text(min_size=1, max_size=6), max_size=4)


def _config_strategy() -> st.SearchStrategy[DetectorConfig]:
    """Every field drawn within its bounds (a rule at its defaults one time in four)."""
    fields: dict[str, st.SearchStrategy[Any]] = {}
    for name, model in _RULE_MODELS.items():
        drawn = st.fixed_dictionaries({f: _valid_value(i) for f, i in model.model_fields.items()})
        fields[name] = drawn | st.builds(model)
    for name, info in _TOP_FIELDS.items():
        fields[name] = _valid_value(info)
    return st.fixed_dictionaries(fields).map(DetectorConfig.model_validate)


_CONFIGS: Final = _config_strategy()

# ----------------------------------------------------------------------------------------------------------
# rules and combine
# (strategies built once: building them per draw costs more than drawing)


def _floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False)


_ODD: Final = st.sampled_from([0.0, -0.0, math.nan, math.inf, 5e-324, 1e-300, 1e308, -1.0])
_UNIT: Final = _floats(0.0, 1.0)
_MONEY: Final = _floats(0.0, 1e4) | _ODD
_AMOUNT: Final = _floats(0.0, 1e5) | _ODD
_DISTANCE: Final = _floats(0.0, 20038.0) | _ODD
_HOURS: Final = _floats(0.0, 1000.0) | _ODD
_SOURCE: Final = st.integers(0, 2)
_NEAR: Final = st.integers(0, 5)
_OFFSET: Final = st.integers(-3, 3)
_COUNT: Final = st.integers(0, 10**6)
_REPEAT: Final = st.integers(1, 3)
_HOUR: Final = st.integers(0, 23)
_ID: Final = st.integers(0, 63) | st.text(max_size=4)
_VERSION: Final = st.none() | st.sampled_from(["", "v1", "m-2026.12"]) | st.text() | st.just("v" * 460)
_WEIGHTS: Final = st.lists(_UNIT | st.sampled_from([1.5, -0.0, 0.3, 0.1]), max_size=8)
_ML_SCORE: Final = _UNIT | st.sampled_from([0.0, 1.0, -0.5, 1.5, math.nan, -0.0])
_ML: Final = st.none() | _ML_SCORE
_CODES: Final = st.sampled_from(["FR-001", "FR-002", "FR-003", "FR-004", "FR-005", "FR-006", "FR-007"])
_LOG_ODDS: Final = _floats(-30.0, 30.0) | st.sampled_from([0.0, -0.0, 700.0, -700.0, 1e-300])
_COMBINERS: Final = st.none() | st.builds(
    lambda bias, model, rules: {"bias": bias, "model_weight": model, "rule_weights": rules},
    _LOG_ODDS,
    _LOG_ODDS,
    st.dictionaries(_CODES.filter(lambda c: c != "FR-006"), _floats(0.0, 10.0), max_size=4),
)


def _near(draw: st.DrawFn, x: float) -> float:
    """x, a neighbour or a small multiple: values on both sides of a threshold."""
    return [x, math.nextafter(x, -math.inf), math.nextafter(x, math.inf), x * 0.5, x * 2.0, x + 0.05][
        draw(_NEAR)
    ]


def _either(draw: st.DrawFn, strategy: st.SearchStrategy[float], *thresholds: float) -> float:
    """Drawn from ``strategy`` or next to one of ``thresholds``."""
    source = draw(_SOURCE) % (len(thresholds) + 1)
    return draw(strategy) if source == 0 else _near(draw, thresholds[source - 1])


def _count(draw: st.DrawFn, around: int) -> int:
    return max(0, around + draw(_OFFSET)) if draw(st.booleans()) else draw(_COUNT)


@st.composite
def _rule_cases(draw: st.DrawFn) -> tuple[DetectorConfig, list[list[Any]], list[list[Any]]]:
    cfg = draw(_CONFIGS)
    calls: list[list[Any]] = []
    hv = cfg.high_value
    for _ in range(draw(_REPEAT)):
        n = _count(draw, hv.min_history)
        mean, std = draw(_MONEY), draw(_MONEY)
        spread = max(std, hv.min_std_ratio * mean, 1e-9)
        amount = _either(draw, _AMOUNT, mean + hv.z_threshold * spread, hv.min_amount)
        calls.append(["high_value", amount, n, mean, std])
    calls.append(["velocity", _count(draw, cfg.velocity.max_count) % 64])
    tr = cfg.travel
    for _ in range(draw(_REPEAT)):
        distance = _either(draw, _DISTANCE, tr.min_distance_km)
        calls.append(["travel", distance, _either(draw, _HOURS, distance / tr.max_speed_kmh)])
    uh = cfg.unusual_hour
    for _ in range(draw(_REPEAT)):
        n = _count(draw, uh.min_history)
        near = draw(_COUNT) % (n + 1)
        share = _either(draw, st.just(near / n if n else 0.0), uh.max_share)
        calls.append(["unusual_hour", draw(_HOUR), share, n])
    listed = sorted(cfg.blocklist.customers | cfg.blocklist.terminals) or list(_IDS)
    ids = [draw(_ID), draw(_ID)]  # an index into the listed ids (of either kind), or any text
    calls.append(["blocklist", *(listed[i % len(listed)] if isinstance(i, int) else i for i in ids)])
    ml = None if draw(st.booleans()) else _either(draw, _ML_SCORE, cfg.anomaly.threshold)
    calls.append(["anomaly", ml, draw(_VERSION)])
    calls.append(["terminal_risk", _count(draw, cfg.terminal_risk.min_frauds) % 11])
    combos: list[list[Any]] = []
    for _ in range(draw(_REPEAT)):
        weights = draw(_WEIGHTS)
        alpha = cfg.alpha if draw(st.booleans()) else draw(_UNIT)
        codes = [draw(_CODES) for _ in weights]
        combos.append([weights, draw(_ML), alpha, codes, draw(_COMBINERS)])
    return cfg, calls, combos


def _py_call(cfg: DetectorConfig, call: list[Any]) -> list[Any] | None:
    """The hit as RuleCheck writes it; ["raised"] where RuleHit refuses the reason (over 500 characters)."""
    name, *args = call
    rule = getattr(cfg, name)
    try:
        return _hit(rule.check(*args))
    except ValidationError:
        return ["raised"]


def _py_combine(combo: list[Any]) -> list[str]:
    """The combination as RuleCheck writes it; the codes and the learned combiner are optional."""
    weights, ml, alpha, *rest = combo
    codes = rest[0] if rest else ["FR-000"] * len(weights)
    combiner = Combiner.from_meta(rest[1]) if len(rest) > 1 and rest[1] is not None else None
    hits = [
        RuleHit.model_construct(code=c, reason="weight", weight=w)
        for c, w in zip(codes, weights, strict=True)
    ]
    score, rule_score = combine(hits, ml, alpha, combiner)
    return [score.hex(), rule_score.hex()]


def _enc_combo(combo: list[Any]) -> list[Any]:
    weights, ml, alpha, *rest = combo
    return [[w.hex() for w in weights], _enc(ml), alpha.hex(), *rest]


def _check_rules(cases: list[tuple[DetectorConfig, list[list[Any]], list[list[Any]]]]) -> dict[str, int]:
    """Runs the cases on both sides, asserts equality; the hits by code (to show the cases are not blind)."""
    requests = []
    for cfg, calls, combos in cases:
        requests.append(
            {
                "config": cfg.model_dump_json(),
                "calls": [[c[0], *map(_enc, c[1:])] for c in calls],
                "combine": [_enc_combo(c) for c in combos],
            }
        )
    fired: dict[str, int] = {}
    for (cfg, calls, combos), got in zip(cases, _run(requests), strict=True):
        assert got.get("config") == _canon(cfg)
        assert got["problems"] == []
        expected = [_py_call(cfg, c) for c in calls]
        hits = [h[:1] if h and h[0] == "raised" else h for h in got["hits"]]
        assert hits == expected, (cfg.model_dump_json(), calls)
        assert got["combine"] == [_py_combine(c) for c in combos], combos
        for hit in expected:
            if hit is not None:
                fired[hit[0]] = fired.get(hit[0], 0) + 1  # "raised" counted too
    return fired


def test_rules_and_combine_equal_python() -> None:
    cases = _collect(_rule_cases(), 2000)
    fired = _check_rules(cases)
    assert len(cases) >= 1500
    # every rule fired often, and reasons over RuleHit's 500 characters raised on both sides: not blind
    raised = fired.pop("raised", 0)
    assert set(fired) == set(RULE_FIELDS) and min(fired.values()) >= 100 and raised >= 20, (fired, raised)


def test_edge_cases_equal_python() -> None:
    base = DetectorConfig()
    blocked = base.model_copy(
        update={
            "blocklist": base.blocklist.model_copy(
                update={"customers": frozenset({"c1"}), "terminals": frozenset({"t1"})}
            )
        }
    )
    everything_off = DetectorConfig.model_validate(
        {name: {"enabled": False} for name in _RULE_MODELS}
        | {"blocklist": {"enabled": False, "customers": ["c1"]}}
    )
    hv, tr, uh = base.high_value, base.travel, base.unusual_hour
    calls: list[list[Any]] = [
        # FR-001: history exactly at min_history, below it; z exactly at the threshold; spread floors
        ["high_value", 100.0, hv.min_history, 0.0, 1.0],
        ["high_value", 100.0, hv.min_history - 1, 0.0, 1.0],
        ["high_value", hv.z_threshold, 10, 0.0, 1.0],
        ["high_value", math.nextafter(hv.z_threshold, 9.0), 10, 0.0, 1.0],
        ["high_value", 50.0, 10, 10.0, 0.0],
        ["high_value", 1e-8, 10, 0.0, 0.0],
        ["high_value", 100.0, 10, 10.0, math.nan],
        ["high_value", 100.0, 10, math.nan, 1.0],
        ["high_value", math.nan, 10, 10.0, 1.0],
        ["high_value", 1e308, 10, -1e308, 1e-300],
        ["high_value", 0.125, 0, 0.0, 0.0],
        ["high_value", 2.675, 10, 0.005, 0.015],
        # FR-002
        ["velocity", base.velocity.max_count],
        ["velocity", base.velocity.max_count + 1],
        ["velocity", 0],
        # FR-003: NaN geo, infinite speed, exactly the minimum distance and the maximum speed
        ["travel", math.nan, 1.0],
        ["travel", 500.0, math.nan],
        ["travel", math.inf, 1.0],
        ["travel", 1000.0, 0.0],
        ["travel", 1000.0, -0.0],
        ["travel", 1000.0, 5e-324],
        ["travel", 1000.0, -1.0],
        ["travel", tr.min_distance_km, tr.min_distance_km / tr.max_speed_kmh],
        ["travel", math.nextafter(tr.min_distance_km, 0.0), 0.0],
        ["travel", 900.0, 1.0],
        ["travel", 900.0000000000001, 1.0],
        ["travel", 0.5, 0.0],
        # FR-004: share exactly at max_share, no history, history exactly at min_history
        ["unusual_hour", 3, uh.max_share, 1000],
        ["unusual_hour", 3, math.nextafter(uh.max_share, 0.0), 1000],
        ["unusual_hour", 0, 0.0, 0],
        ["unusual_hour", 23, 0.0, uh.min_history],
        ["unusual_hour", 23, 0.0, uh.min_history - 1],
        ["unusual_hour", 7, 0.0005, 2000],
        ["unusual_hour", 7, 0.00049999999999999999, 2000],
        ["unusual_hour", 9, math.nan, 50],
        # FR-005: customer and terminal both listed (the customer is named), one of them, neither
        ["blocklist", "c1", "t1"],
        ["blocklist", "c2", "t1"],
        ["blocklist", "c1", "t2"],
        ["blocklist", "t1", "c1"],
        ["blocklist", "", ""],
        # FR-006: no model, exactly the threshold, NaN, no version
        ["anomaly", None, "v1"],
        ["anomaly", base.anomaly.threshold, "v1"],
        ["anomaly", math.nextafter(base.anomaly.threshold, 0.0), "v1"],
        ["anomaly", math.nan, None],
        ["anomaly", 0.9995, ""],
        ["anomaly", 1.0, "model 'x'"],
        # FR-007
        ["terminal_risk", base.terminal_risk.min_frauds],
        ["terminal_risk", base.terminal_risk.min_frauds - 1],
        ["terminal_risk", 8],
    ]
    combos: list[list[Any]] = [
        [[], None, 0.2],
        [[], 0.9, 0.2],
        [[0.6, 0.6], None, 0.2],
        [[0.1] * 10, None, 0.2],
        [[0.1, 0.2], 0.3, 0.2],
        [[0.2, 0.1], 0.3, 0.2],
        [[1.0], 1.0, 1.0],
        [[0.0], 0.0, 0.0],
        [[0.3], math.nan, 0.5],
        [[0.3], -0.5, 1.0],
        [[0.3], 1.5, 1.0],
        [[-0.0], None, 0.2],
        [[-0.0], -0.0, 0.5],
        [[0.55, 0.3], 0.8, 0.2],
    ]
    cases = [(cfg, calls, combos) for cfg in (base, blocked, everything_off)]
    fired = _check_rules(cases)
    assert fired.get("FR-005") == 3 and fired.get("FR-003", 0) >= 6, fired


# ----------------------------------------------------------------------------------------------------------
# the live-config fold


def _patch_value(info: FieldInfo) -> st.SearchStrategy[Any]:
    """Values a control message may carry for a field: valid ones in every type pydantic converts, and
    some out of bounds (accept_control refuses those)."""
    lo, lo_open, hi = _bounds(info)
    if info.annotation is bool:
        return st.booleans() | st.sampled_from([0, 1, 0.0, 1.0, 2, 0.5])
    if info.annotation is int:
        assert lo is not None and hi is not None
        ints = st.integers(int(lo) - 1, int(hi) + 1)
        return ints | ints.map(float) | st.booleans() | st.sampled_from([2.5, 1e20])
    assert lo is not None
    top = hi if hi is not None else _FLOAT_CAP
    floats = st.floats(lo, top, exclude_min=lo_open, allow_nan=False, allow_infinity=False)
    return floats | st.integers(int(lo), int(top)) | st.booleans() | st.sampled_from([-1.0, top * 2 + 1])


_PATCHABLE: Final = {
    code: [f for f, i in _RULE_MODELS[field].model_fields.items() if i.annotation in (bool, int, float)]
    for code, field in RULE_FIELDS.items()
}
_ID_TEXT: Final = string.ascii_letters + string.punctuation + " "  # message ids have no control characters
_MESSAGE_IDS: Final = st.sampled_from([f"m{i}" for i in range(12)]) | st.text(_ID_TEXT, min_size=1)


@st.composite
def _messages(draw: st.DrawFn) -> ControlMessage:
    rules: dict[str, dict[str, Any]] = {}
    for code in draw(st.lists(st.sampled_from([*RULE_FIELDS, "FR-099"]), max_size=3, unique=True)):
        model = _RULE_MODELS.get(RULE_FIELDS.get(code, ""))
        fields = [*_PATCHABLE.get(code, ["weight"]), "bogus"]
        patch = {}
        for field in draw(st.lists(st.sampled_from(fields), max_size=3, unique=True)):
            info = model.model_fields.get(field) if model else None
            patch[field] = draw(_patch_value(info)) if info else 1
        rules[code] = patch
    unit = st.none() | _floats(0.0, 1.0)
    ids = st.lists(st.sampled_from(_IDS), max_size=3)
    return ControlMessage(
        message_id=draw(_MESSAGE_IDS),
        issued_at=draw(st.datetimes(datetime(2020, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC))),
        rules=rules,
        alpha=draw(unit),
        alert_threshold=draw(unit),
        blocklist_add=BlocklistPatch(customers=draw(ids), terminals=draw(ids)),
        blocklist_remove=BlocklistPatch(customers=draw(ids), terminals=draw(ids)),
    )


def _tamper(doc: dict[str, Any], how: int, code: str, field: str, key: str) -> dict[str, Any]:
    """A document damaged in a way Python's fold survives (skipping a part or the whole document)."""
    doc = json.loads(json.dumps(doc))
    rules = doc["rules"]
    info = _RULE_MODELS[RULE_FIELDS[code]].model_fields[field]
    _, _, hi = _bounds(info)
    if how == 0:  # outside the bounds (e.g. a bound tightened since the message was accepted)
        rules.setdefault(code, {})[field] = (hi * 2 + 1) if hi is not None else -1
    elif how == 1:
        rules.setdefault(code, {})["bogus"] = 1
    elif how == 2:
        rules["FR-099"] = {"weight": 0.5}
    elif how == 3:  # a fractional int; a bool for a float (converted: 0.0 is below some bounds)
        rules.setdefault(code, {})[field] = 2.5 if info.annotation is int else False
    elif how == 4:
        del doc[key]
    elif how == 5:
        doc["format"] = 3
    elif how == 6:
        doc["format"] = 2.0  # == 2 in Python: still format 2
    elif how == 7:
        del doc["recent"]
    return doc


@st.composite
def _fold_cases(draw: st.DrawFn) -> tuple[DetectorConfig, str | None]:
    base = draw(_CONFIGS)
    if draw(st.booleans()):  # blocklists on file, so removals are kept
        base = base.model_copy(
            update={
                "blocklist": base.blocklist.model_copy(
                    update={"customers": frozenset(_IDS[:4]), "terminals": frozenset(_IDS[3:7])}
                )
            }
        )
    doc: str | None = None
    for msg in draw(st.lists(_messages(), max_size=6)):
        try:
            doc = accept_control(base, doc, msg)
        except ValueError:  # ControlError: refused, as the control manager refuses it
            continue
    fold_over = draw(st.sampled_from([base, draw(_CONFIGS), DetectorConfig()]))
    if doc is not None and draw(st.integers(0, 3)) == 0:
        code = draw(st.sampled_from(sorted(RULE_FIELDS)))
        field = draw(st.sampled_from([f for f in _PATCHABLE[code] if f != "enabled"]))
        loaded = json.loads(doc)
        key = draw(st.sampled_from(sorted(loaded)))
        tampered = _tamper(loaded, draw(st.integers(0, 7)), code, field, key)
        doc = json.dumps(tampered)
    return fold_over, doc


def _same_problem(java: str, python: str) -> bool:
    """Identical, except that of Python's wording of a JSON error or a type error only the prefix counts."""
    for prefix in (_NOT_JSON, _DAMAGED):
        if python.startswith(prefix) and "KeyError" not in python:
            return java.startswith(prefix)
    return java == python


def _check_folds(cases: Iterable[tuple[DetectorConfig, str | None]]) -> dict[str, int]:
    cases = list(cases)
    requests = [{"config": base.model_dump_json(), "controls": doc} for base, doc in cases]
    seen = {"changed": 0, "problems": 0}
    for (base, doc), got in zip(cases, _run(requests), strict=True):
        folded, problems = fold_controls(base, doc)
        context = (base.model_dump_json(), doc)
        assert got.get("config") == _canon(folded), context
        same = len(got["problems"]) == len(problems) and all(map(_same_problem, got["problems"], problems))
        assert same, (got["problems"], problems, context)
        seen["changed"] += folded != base
        seen["problems"] += bool(problems)
    return seen


def test_control_folds_equal_python() -> None:
    cases = _collect(_fold_cases(), 800)
    seen = _check_folds(cases)
    assert len(cases) >= 700
    assert seen["changed"] >= 250 and seen["problems"] >= 80, seen


def test_unreadable_documents_leave_the_file_config() -> None:
    base = DetectorConfig()
    good = accept_control(
        base, None, ControlMessage(message_id="m", issued_at=datetime(2026, 1, 1, tzinfo=UTC), alpha=0.5)
    )
    doc = json.loads(good)
    docs: list[str] = [
        "", "{", "{} x", "null", "3", "2.5", '"x"', "true", "{}", '{"format": 3}', '{"format": "2"}',
        '{"format": null}', '{"format": [2]}', '{"format": 1e400}', '{"format": 2}',
    ]  # fmt: skip
    for key in doc:
        if key != "format":
            docs.append(json.dumps({k: v for k, v in doc.items() if k != key}))
    docs.append(json.dumps({**doc, "blocklist_add": {"customers": []}}))
    docs.append(json.dumps({**doc, "rules": {"FR-001": {"weight": 0.1}, "FR-099": {}}}))
    docs.append(json.dumps({**doc, "rules": {"FR-001": {"weight": 2}, "FR-002": {"max_count": 0.5}}}))
    seen = _check_folds((base, d) for d in docs)
    assert seen["problems"] == len(docs) - 1, seen  # all but the empty text

    # format 1 (the message list of earlier jobs) only Python folds; Java keeps the file config and says so
    message = ControlMessage(message_id="m", issued_at=datetime(2026, 1, 1, tzinfo=UTC), alpha=0.5)
    history = json.dumps([message.model_dump_json()])
    for text in (history, "[]"):
        (got,) = _run([{"config": base.model_dump_json(), "controls": text}])
        assert got.get("config") == _canon(base)
        assert len(got["problems"]) == 1 and got["problems"][0].startswith(_FORMAT_1)
    assert fold_controls(base, history)[0].alpha == 0.5  # what Python makes of it


# ----------------------------------------------------------------------------------------------------------
# bounds and conversions of every field


_ID_PROBES: Final[list[Any]] = [
    [], ["ok"], [""], ["x" * 128], ["x" * 129], ["é" * 129], [1], 3,
    ["\U0001f600" * 128], ["\U0001f600" * 129],  # 128 characters are 256 UTF-16 units
]  # fmt: skip


def _probes(info: FieldInfo) -> list[Any]:
    lo, _, hi = _bounds(info)
    ints = [2**63 - 1, 2**63, -(2**63), 10**18 - 1, 10**18, -(10**18) + 1, -(10**18), 10**30]
    if info.annotation is bool:
        return [True, False, 0, 1, 2, -1, 0.0, 1.0, 0.5, 2.0, -0.0, 1e18, 1e300, *ints]
    if info.annotation not in (int, float):
        return _ID_PROBES
    values: list[Any] = [True, False, -0.0, 0.5]
    for bound in (lo, hi):
        if bound is None:
            continue
        b = float(bound)
        values += [b, math.nextafter(b, -math.inf), math.nextafter(b, math.inf), b + 1, b - 1]
        values += [int(b), int(b) + 1, int(b) - 1]
    values += [2.5, 1e20, 9.3e18, 10**400, 1e300, *ints]
    return values


def _field_paths() -> list[tuple[str, str | None, FieldInfo]]:
    paths: list[tuple[str, str | None, FieldInfo]] = []
    for name, model in _RULE_MODELS.items():
        paths += [(name, f, i) for f, i in model.model_fields.items()]
    paths += [(name, None, info) for name, info in _TOP_FIELDS.items()]
    return paths


def _python_base(text: str) -> DetectorConfig | str:
    try:
        return DetectorConfig.model_validate_json(text)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return "detector config: " + ".".join(str(p) for p in first["loc"]) + ": " + first["msg"]


def test_field_bounds_and_conversions_equal_pydantic() -> None:
    default = json.loads(DetectorConfig().model_dump_json())
    requests: list[dict[str, Any]] = []
    expected: list[DetectorConfig | str | tuple[DetectorConfig, list[str]]] = []
    skeleton = json.loads(accept_control(DetectorConfig(), None, ControlMessage(
        message_id="m", issued_at=datetime(2026, 1, 1, tzinfo=UTC))))  # fmt: skip
    for model, field, info in _field_paths():
        for value in _probes(info):
            data = json.loads(json.dumps(default))
            if field is None:
                data[model] = value
            else:
                data[model][field] = value
            text = json.dumps(data)
            requests.append({"config": text})
            expected.append(_python_base(text))
            if field is not None and info.annotation in (bool, int, float):
                doc = {**skeleton, "rules": {_CODE_OF[model]: {field: value}}}
                requests.append({"config": json.dumps(default), "controls": json.dumps(doc)})
                expected.append(fold_controls(DetectorConfig(), json.dumps(doc)))
    refused = 0
    for request, want, got in zip(requests, expected, _run(requests), strict=True):
        if isinstance(want, str):
            assert got == {"error": want}, request
            refused += 1
        elif isinstance(want, DetectorConfig):
            assert got.get("config") == _canon(want) and got["problems"] == [], request
        else:
            assert got.get("config") == _canon(want[0]) and got["problems"] == want[1], request
            refused += bool(want[1])
    assert len(requests) > 500 and refused > 200, (len(requests), refused)
