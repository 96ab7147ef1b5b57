"""The FraudModel manifest `streamflow model train` writes is accepted by the real API server under our CRD.

The unit tests parse the manifest; only the API server with the installed CRD (``kube`` fixture,
tests/conftest.py) proves that its fields, types, formats and bounds match the schema the operator reads.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest
import yaml
from streamflow_cli import main

from tests.models.synth import generate, write_handbook_parquet

pytestmark = pytest.mark.cluster

ALGORITHMS = ("logistic_regression", "isolation_forest", "hist_gradient_boosting")


@pytest.fixture(scope="module")
def manifests(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    root = tmp_path_factory.mktemp("manifests")
    data = write_handbook_parquet(
        root / "tx.parquet", generate(days=40, customers=150, terminals=60, seed=11)
    )
    docs = []
    for algorithm in ALGORITHMS:
        out = root / algorithm
        args = ["model", "train", "--data", str(data), "--algorithm", algorithm, "--no-progress"]
        args += [
            "--train-window",
            "2018-04-20..2018-05-10",
            "--out",
            str(out),
            "--version",
            f"{algorithm}_V1",
        ]
        assert main(args) == 0
        docs.append(yaml.safe_load((out / "fraudmodel.yaml").read_text(encoding="utf-8")))
    return docs


def _apply(kube: Any, namespace: str, docs: list[dict[str, Any]], *, dry_run: bool) -> Any:
    args = ["apply", "--server-side", "--field-manager=streamflow-tests", "-n", namespace, "-f", "-"]
    if dry_run:
        args.append("--dry-run=server")
    return kube.kubectl(*args, check=False, input=yaml.safe_dump_all(docs))


def _contains(stored: Any, written: Any, path: str = "spec") -> None:
    """Every field we wrote comes back unchanged (the server may add defaults, never alter ours)."""
    if isinstance(written, dict):
        assert isinstance(stored, dict), path
        for key, value in written.items():
            assert key in stored, f"{path}.{key} was pruned by the API server (not in the CRD schema)"
            _contains(stored[key], value, f"{path}.{key}")
    else:
        assert stored == written, f"{path}: wrote {written!r}, stored {stored!r}"


def test_trained_manifests_apply_and_read_back_unchanged(
    kube: Any, namespace: str, manifests: list[dict[str, Any]]
) -> None:
    result = _apply(kube, namespace, manifests, dry_run=False)
    assert result.returncode == 0, result.stderr
    for doc in manifests:
        name = doc["metadata"]["name"]
        stored = json.loads(kube.kubectl("get", "fraudmodel", name, "-n", namespace, "-o", "json").stdout)
        _contains(stored["spec"], doc["spec"])
        assert stored["metadata"]["labels"] == doc["metadata"]["labels"]
    # `kubectl get fm` shows the offline metrics a data scientist compares models by.
    table = kube.kubectl("get", "fraudmodels", "-n", namespace).stdout.splitlines()
    header = table[0].split()
    assert header[:5] == ["NAME", "VERSION", "ALGORITHM", "AUC", "AP"] and header[5] == "CP@100", table[0]
    for doc in manifests:
        row = next(line.split() for line in table[1:] if line.split()[0] == doc["metadata"]["name"])
        metrics = doc["spec"]["metrics"]
        assert [float(v) for v in row[3:6]] == [
            metrics["auc"],
            metrics["averagePrecision"],
            metrics["cardPrecisionAt100"],
        ]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("algorithm", "xgboost", "spec.algorithm"),
        ("version", "v1/beta", "spec.version"),
        ("featureSchemaId", "", "spec.featureSchemaId"),
    ],
)
def test_the_schema_is_enforced_on_the_same_manifest(
    kube: Any, namespace: str, manifests: list[dict[str, Any]], field: str, value: Any, message: str
) -> None:
    # A control: the same manifest with one field broken is refused, so acceptance above means a match.
    doc = copy.deepcopy(manifests[0])
    doc["spec"][field] = value
    result = _apply(kube, namespace, [doc], dry_run=True)
    assert result.returncode != 0
    assert message in result.stderr, result.stderr


@pytest.mark.parametrize("metric", ["auc", "cardPrecisionAt100"])
def test_metrics_out_of_range_are_refused(
    kube: Any, namespace: str, manifests: list[dict[str, Any]], metric: str
) -> None:
    doc = copy.deepcopy(manifests[-1])
    doc["spec"]["metrics"][metric] = 1.5
    result = _apply(kube, namespace, [doc], dry_run=True)
    assert result.returncode != 0
    assert f"spec.metrics.{metric}" in result.stderr, result.stderr


def test_manifests_name_their_algorithm_and_a_valid_object_name(manifests: list[dict[str, Any]]) -> None:
    for doc, algorithm in zip(manifests, ALGORITHMS, strict=True):
        assert doc["kind"] == "FraudModel" and doc["spec"]["algorithm"] == algorithm
        assert doc["metadata"]["name"] == f"{algorithm}-v1".replace("_", "-")
