"""The job graph's operator uids: what lets a savepoint restore into a changed job (a model roll)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fraud_jobs.flink.settings import JobSettings
from fraud_jobs.flink.topology import build

from tests.jobs.flink.streams import detector_settings, forest_model

TOPICS = {role: f"uids-{role}" for role in ("transactions", "alerts", "dlq", "labels", "control")}


def _uids(settings: JobSettings, environ: dict[str, str]) -> dict[str, str | None]:
    graph = build(settings, environ)._generate_stream_graph(clear_transformations=True)
    nodes: dict[str, str | None] = {}
    it = graph.getStreamNodes().iterator()
    while it.hasNext():
        node = it.next()
        name = str(node.getOperatorName()).split("[")[0]  # the planner appends its global node id
        uid: Any = node.getTransformationUID()
        nodes[f"{name}#{len([n for n in nodes if n.startswith(name + '#')])}"] = (
            None if uid is None else str(uid)
        )
    return nodes


def test_stateful_operators_keep_their_uids_when_a_shadow_model_is_added(
    flink_jars: str, tmp_path: Path
) -> None:
    plain = detector_settings("127.0.0.1:9", TOPICS, flink_jars, tmp_path)
    model = forest_model(tmp_path / "a.npz", 1, "a", 1.0).model_dump()
    shadowed = JobSettings.model_validate(
        plain.model_dump()
        | {
            "topics": TOPICS | {"scores": "uids-scores"},
            "model": model,
            "shadow_model": model | {"version": "b"},
            "database": {"dsn_env": "UIDS_DSN"},
        }
    )
    before = _uids(plain, {})
    after = _uids(shadowed, {"UIDS_DSN": "host=127.0.0.1 dbname=x"})

    sources = {k: v for k, v in before.items() if k.startswith("Source: ")}
    assert len(sources) == 3 and all(sources.values()), sources  # transactions, labels, control
    stateful = (
        "Source: ",
        "parse-transactions",
        "parse-labels",
        "parse-python",
        "parse-canonical",
        "terminal-stage",
        "customer-stage",
        "decide",
        "control-manager",
        "alerts-kafka",
        "dlq-kafka",
    )
    pinned = {k: v for k, v in before.items() if k.startswith(stateful)}
    assert all(pinned.values()), pinned
    assert {k: after.get(k) for k in pinned} == pinned  # same uid for the same operator after the change
    assert len(after) > len(before)  # the shadow's writer and the scores sink were added
    uids = [v for v in after.values() if v is not None]
    assert len(uids) == len(set(uids))
