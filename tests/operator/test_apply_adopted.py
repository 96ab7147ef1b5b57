"""What the apply layer sends for a child: adopted by its pipeline, and the rendered child left as it was."""

from __future__ import annotations

import copy

from fraud_operator.apply import APPLIED_HASH_ANNOTATION, Applier

OWNER = {
    "apiVersion": "streamflow.io/v1alpha1",
    "kind": "FraudPipeline",
    "metadata": {"name": "payments", "namespace": "fraud", "uid": "u-1"},
}


def test_adopting_a_child_changes_only_the_copy() -> None:
    desired = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "payments-detector-config", "labels": {"app": "x"}},
        "data": {"config.json": "{}"},
    }
    before = copy.deepcopy(desired)
    adopted = Applier.adopted(desired, OWNER)
    assert desired == before
    meta = adopted["metadata"]
    assert [(r["kind"], r["name"], r["uid"]) for r in meta["ownerReferences"]] == [
        ("FraudPipeline", "payments", "u-1")
    ]
    assert meta["namespace"] == "fraud" and APPLIED_HASH_ANNOTATION in meta["annotations"]
    assert adopted["data"] == desired["data"]
    # the same desired child adopted again hashes the same: a restart's reconcile finds nothing changed
    assert Applier.adopted(desired, OWNER)["metadata"]["annotations"] == meta["annotations"]
