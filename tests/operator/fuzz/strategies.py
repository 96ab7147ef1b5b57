"""Hypothesis strategies: FraudPipeline and FraudModel documents, mostly broken, some valid, all reproducible.

Each document starts from a committed sample and gets one to three edits: a field set to a value of another
type, out of range, huge or in another script; a field removed; an unknown field added; a reference to an
object that does not exist; settings that contradict each other; or a plausible valid change (so that a
good share is accepted and must end Ready). Names are unique per document.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml
from hypothesis import strategies as st

__all__ = ["fraud_model", "fraud_pipeline", "paths", "sample"]

SAMPLES = Path(__file__).resolve().parents[3] / "crds" / "samples"
INT64 = 2**63 - 1


def sample(name: str) -> dict[str, Any]:
    doc = yaml.safe_load((SAMPLES / f"{name}.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path below ``node`` (dict keys and list indexes), parents before children."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield (*prefix, key)
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield (*prefix, index)
            yield from paths(value, (*prefix, index))


_HUGE = st.sampled_from([1_000, 20_000, 200_000]).map(lambda n: "x" * n)
_TEXT = st.text(max_size=30)  # any unicode (surrogates excluded by hypothesis' default)
_SCALARS = st.one_of(
    st.integers(min_value=-INT64 - 1, max_value=INT64),
    st.sampled_from([0, -1, 1, 2**31, 2**53 + 1, INT64, -INT64 - 1]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    _TEXT,
    _HUGE,
    st.sampled_from(["", " ", "ümlaut-ß", "名前", "emoji-🙂", "a\nb", "../../etc", "-x", "X_Y"]),
    st.none(),
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=6,
)
_CRON = st.one_of(
    st.sampled_from(
        ["*/15 * * * *", "@daily", "@hourly", "61 * * * *", "* 24 * * *", "@fortnightly", "0 0 0 * *"]
    ),
    st.lists(
        st.sampled_from(["*", "0", "5", "59", "60", "1-5", "*/7", "*/0", "jan", "mon", "7", "?"]),
        min_size=5,
        max_size=5,
    ).map(" ".join),
)
_SCHEDULE = st.fixed_dictionaries(
    {
        "name": st.sampled_from(
            ["silver-to-gold", "bronze-to-silver", "refresh-features-nightly", "check", "vacuum"]
        ),
        "schedule": _CRON,
        "task": st.sampled_from(["transform", "check", "vacuum"]),
    }
)
_CIDR = st.one_of(
    st.sampled_from(
        ["10.0.0.0/8", "0.0.0.0/0", "::/0", "2001:db8::/32", "10.0.0.0/33", "nope", "1.2.3/8", ":::/64"]
    ),
    st.ip_addresses().map(lambda ip: f"{ip}/{16 if ip.version == 4 else 64}"),
)
_LABEL_KEY = st.one_of(
    st.sampled_from(["app", "example.com/team", "bad key!", "-x", "a/b/c", "x" * 64, "release"]),
    st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True),
)
_LABELS = st.dictionaries(
    _LABEL_KEY, st.sampled_from(["", "v1", "bad value!", "x" * 64, "ok_1.2"]), max_size=3
)

# path -> plausible values (valid and just-invalid ones an operator must judge)
PIPELINE_PLAUSIBLE: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("spec", "detector", "parallelism"): st.integers(-1, 300),
    ("spec", "detector", "alertThreshold"): st.floats(-0.5, 1.5),
    ("spec", "detector", "alpha"): st.floats(-0.5, 1.5),
    ("spec", "kafka", "topics", "partitions"): st.integers(0, 20000),
    ("spec", "kafka", "topics", "retentionMs"): st.sampled_from([-2, -1, 0, 59_999, 60_000, 10**12]),
    ("spec", "kafka", "topicPrefix"): st.sampled_from(
        ["fz", "FZ_upper", "a.b-c", "", "x" * 201, "bad prefix"]
    ),
    ("spec", "kafka", "securityProtocol"): st.sampled_from(["PLAINTEXT", "SASL_SSL", "SSL", "TLS"]),
    ("spec", "kafka", "bootstrapServers"): st.sampled_from(["kafka:9092", "a:1,b:2", "nohost", "h:99999"]),
    ("spec", "kafka", "strimziCluster"): st.sampled_from(["streamflow-kafka", "missing-kafka", "Bad_Name"]),
    ("spec", "kafka", "credentialsSecretRef"): st.sampled_from(
        [{"name": "missing-secret"}, {}, {"name": ""}]
    ),
    ("spec", "database", "cnpgCluster"): st.sampled_from(["streamflow-pg", "missing-pg", "9pg", "Pg"]),
    ("spec", "database", "database"): st.sampled_from(["app", "other_db", "Bad-Name", ""]),
    ("spec", "database", "schedules"): st.lists(_SCHEDULE, max_size=3),
    ("spec", "database", "credentialsSecretRef"): st.sampled_from([{"name": "missing-secret"}]),
    ("spec", "modelRef", "name"): st.sampled_from(
        ["iforest-v1", "hgb-v2", "missing-model", "fz-m-1", "fz-m-2"]
    ),
    ("spec", "shadowModelRef"): st.sampled_from(
        [{"name": "hgb-v2"}, {"name": "iforest-v1"}, {"name": "nope"}, None]
    ),
    ("spec", "modelPolicy", "minAuc"): st.floats(-0.1, 1.1),
    ("spec", "modelPolicy", "maxAgeDays"): st.integers(0, 4000),
    ("spec", "modelPolicy", "rollTimeoutSeconds"): st.integers(0, 100000),
    ("spec", "flink", "upgradeMode"): st.sampled_from(["savepoint", "last-state", "stateless", "hot-swap"]),
    ("spec", "flink", "highAvailability"): st.booleans(),
    ("spec", "flink", "image"): st.sampled_from(["streamflow/detector:0.2.0", "bad image", "", "x" * 300]),
    ("spec", "flink", "storageUri"): st.sampled_from(
        ["file:///flink-data/x", "s3://b/f", "hdfs://x/y", "file:///tmp"]
    ),
    ("spec", "flink", "extraConfiguration"): st.sampled_from(
        [{"taskmanager.numberOfTaskSlots": "2"}, {"s3.secret-key": "x"}, {"state.backend.type": "hashmap"}]
    ),
    ("spec", "networkPolicy", "egressCidrs"): st.lists(_CIDR, max_size=3),
    ("spec", "networkPolicy", "prometheusPodLabels"): _LABELS,
    ("spec", "monitoring", "labels"): _LABELS,
    ("spec", "monitoring", "interval"): st.sampled_from(["30s", "1m", "0s", "5x", ""]),
    ("spec", "disruptionBudget", "taskManagerMaxUnavailable"): st.integers(-1, 2000),
    ("spec", "suspend"): st.booleans(),
    ("spec", "topicDeletionPolicy"): st.sampled_from(["Retain", "Delete", "Keep"]),
}
MODEL_PLAUSIBLE: dict[tuple[str, ...], st.SearchStrategy[Any]] = {
    ("spec", "algorithm"): st.sampled_from(["isolation_forest", "hist_gradient_boosting", "random_forest"]),
    ("spec", "metrics", "auc"): st.floats(-0.5, 1.5),
    ("spec", "metrics", "averagePrecision"): st.floats(-0.5, 1.5),
    ("spec", "metrics", "cardPrecisionAt100"): st.floats(-0.5, 1.5),
    ("spec", "artifact", "sha256"): st.sampled_from(["0" * 64, "xyz", "A" * 64]),
    ("spec", "artifact", "uri"): st.sampled_from(
        ["file:///opt/streamflow/models/x/model.npz", "s3://b/m.npz", "http://x/m", "file:///etc/passwd"]
    ),
    ("spec", "trainingWindow", "end"): st.sampled_from(
        ["2099-01-01T00:00:00Z", "2026-03-01T00:00:00Z", "yesterday"]
    ),
    ("spec", "trainingWindow", "start"): st.sampled_from(["2026-04-01T00:00:00Z", "1970-01-01T00:00:00Z"]),
    ("spec", "version"): st.sampled_from(["v2", "", "x" * 100]),
    ("spec", "featureSchemaId"): st.sampled_from(["9b65c7fb4dc2ec40", "other", ""]),
}


def _set(doc: dict[str, Any], path: tuple[Any, ...], value: Any) -> None:
    node: Any = doc
    for key in path[:-1]:
        if isinstance(node, dict):
            node = node.setdefault(key, {})
        elif isinstance(node, list) and isinstance(key, int) and key < len(node):
            node = node[key]
        else:
            return
    if isinstance(node, dict):
        if value is None:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    elif isinstance(node, list) and isinstance(path[-1], int) and path[-1] < len(node):
        node[path[-1]] = value


@st.composite
def _edit(
    draw: st.DrawFn, doc: dict[str, Any], plausible: dict[tuple[str, ...], st.SearchStrategy[Any]]
) -> str:
    """Apply one edit to ``doc``; returns a short description of it."""
    kind = draw(st.sampled_from(["plausible", "plausible", "retype", "remove", "extra"]))
    if kind == "plausible":
        path = draw(st.sampled_from(sorted(plausible)))
        value = draw(plausible[path])
        _set(doc, path, value)
        return f"{'.'.join(path)}={str(value)[:40]!r}"
    spec_paths = [("spec", *p) for p in paths(doc["spec"])]
    path = draw(st.sampled_from(spec_paths))
    if kind == "retype":
        value = draw(_VALUES)
        _set(doc, path, value)
        return f"{'.'.join(map(str, path))}:={str(value)[:40]!r}"
    if kind == "remove":
        _set(doc, path, None)
        return f"-{'.'.join(map(str, path))}"
    key = draw(st.sampled_from(["unknownField", "x-extra", "ßpecial", "spec"]))
    value = draw(_SCALARS)
    _set(doc, (*path, key), value)
    return f"+{'.'.join(map(str, path))}.{key}"


def _document(
    draw: st.DrawFn, name: str, sample_name: str, plausible: dict[Any, Any]
) -> tuple[dict[str, Any], list[str]]:
    doc = copy.deepcopy(sample(sample_name))
    doc["metadata"] = {"name": name, "labels": {"streamflow.io/fuzz": "true"}}
    edits = [draw(_edit(doc, plausible)) for _ in range(draw(st.integers(0, 3)))]
    return doc, edits


@st.composite
def fraud_pipeline(draw: st.DrawFn, name: str) -> tuple[dict[str, Any], list[str]]:
    """A FraudPipeline named ``name`` (sometimes a name only the operator refuses) and its edits."""
    if draw(st.integers(0, 30)) == 0:
        name = f"9{name}"  # valid for the API server, no DNS-1035 label
    return _document(draw, name, "fraudpipeline-payments", PIPELINE_PLAUSIBLE)


@st.composite
def fraud_model(draw: st.DrawFn, name: str) -> tuple[dict[str, Any], list[str]]:
    """A FraudModel named ``name`` and its edits."""
    return _document(draw, name, "fraudmodel-iforest-v1", MODEL_PLAUSIBLE)
