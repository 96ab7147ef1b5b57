"""`streamflow render FILE`: every child as multi-document YAML; bad input exits 1 naming the field."""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from fraud_operator.commands import check_upstream, register
from streamflow_dev.crds import upstream_crd_dir

SAMPLES = Path(__file__).resolve().parents[2] / "crds" / "samples"
SHARED_CRDS = upstream_crd_dir()


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="streamflow")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    code = int(args.func(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _samples_file(tmp_path: Path, edit: Any = None) -> Path:
    docs = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(SAMPLES.glob("*.yaml"))]
    if edit is not None:
        edit(docs)
    path = tmp_path / "crs.yaml"
    path.write_text(yaml.safe_dump_all(docs), encoding="utf-8")
    return path


def test_renders_every_child(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["render", str(_samples_file(tmp_path))], capsys)
    assert code == 0, err
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    kinds = Counter(d["kind"] for d in docs)
    assert kinds == {
        "ConfigMap": 1,
        "KafkaTopic": 5,
        "FlinkDeployment": 1,
        "NetworkPolicy": 1,
        "PodDisruptionBudget": 2,
        "CronJob": 1,  # one per spec.database.schedules entry
        "ServiceAccount": 1,  # the Flink pods' account, Role and RoleBinding (render/rbac.py)
        "Role": 1,
        "RoleBinding": 1,
        "PodMonitor": 1,  # spec.monitoring.enabled defaults to true
    }
    for doc in docs:
        assert doc["metadata"]["namespace"] == "default"
        assert doc["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "streamflow-operator"
        assert doc["metadata"]["labels"]["app.kubernetes.io/instance"] == "payments"
    assert "# Source: FraudPipeline default/payments -> FlinkDeployment" in out


def test_same_input_same_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _samples_file(tmp_path)
    first = _run(["render", str(path)], capsys)[1]
    assert _run(["render", str(path)], capsys)[1] == first


def test_invalid_spec_names_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def edit(docs: list[dict[str, Any]]) -> None:
        pipeline = next(d for d in docs if d["kind"] == "FraudPipeline")
        pipeline["spec"]["detector"]["alpha"] = 1.5

    code, out, err = _run(["render", str(_samples_file(tmp_path, edit))], capsys)
    assert code == 1
    assert out == ""
    assert "(FraudPipeline payments): spec.detector.alpha: Input should be less than or equal to 1" in err


def test_missing_model_is_an_error_unless_allowed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def edit(docs: list[dict[str, Any]]) -> None:
        docs[:] = [d for d in docs if d["metadata"]["name"] != "iforest-v1"]

    path = _samples_file(tmp_path, edit)
    code, _, err = _run(["render", str(path)], capsys)
    assert code == 1
    assert "spec.modelRef.name: FraudModel 'iforest-v1' is not in the input" in err
    code, out, _ = _run(["render", "--allow-missing-models", str(path)], capsys)
    assert code == 0
    config_map = next(d for d in yaml.safe_load_all(out) if d and d["kind"] == "ConfigMap")
    assert '"model": null' in config_map["data"]["detector.json"]


def test_admin_mode_lists_topics_as_comments(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def edit(docs: list[dict[str, Any]]) -> None:
        pipeline = next(d for d in docs if d["kind"] == "FraudPipeline")
        pipeline["spec"]["kafka"] = {"bootstrapServers": "localhost:9092"}

    code, out, _ = _run(["render", str(_samples_file(tmp_path, edit))], capsys)
    assert code == 0
    assert "#   payments.transactions: partitions=3 replicas=broker default" in out
    assert not any(d and d["kind"] == "KafkaTopic" for d in yaml.safe_load_all(out))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n", "expected streamflow.io/v1alpha1"),
        ("a: [unclosed\n", "not valid YAML"),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "no FraudPipeline in the input"),
    ],
)
def test_bad_files(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    code, _, err = _run(["render", str(path)], capsys)
    assert code == 1
    assert message in err


def test_unreadable_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["render", str(tmp_path / "missing.yaml")], capsys)
    assert code == 1
    assert "cannot read" in err


def test_directory_input_and_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["render", "-n", "fraud", str(SAMPLES)], capsys)
    assert code == 0, err
    docs = [d for d in yaml.safe_load_all(out) if d is not None]
    assert {d["metadata"]["namespace"] for d in docs} == {"fraud"}
    flink = next(d for d in docs if d["kind"] == "FlinkDeployment")
    assert flink["spec"]["flinkConfiguration"]["execution.checkpointing.dir"].endswith(
        "/fraud/payments/checkpoints"
    )


def test_check_upstream_accepts_our_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["render", "--check-upstream", str(SHARED_CRDS), str(SAMPLES)], capsys)
    assert code == 0, err
    assert "kind: FlinkDeployment" in out


def test_check_upstream_reports_mismatches() -> None:
    children: list[dict[str, Any]] = [
        {
            "apiVersion": "kafka.strimzi.io/v1",
            "kind": "KafkaTopic",
            "metadata": {"name": "t", "namespace": "ns"},
            "spec": {"partitions": 0},
        },
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "ns"}, "bogus": 1},
    ]
    assert check_upstream(children, SHARED_CRDS) == [
        "KafkaTopic ns/t: spec.partitions: 0 is below the minimum 1"
    ]


def test_duplicate_objects_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = _run(["render", str(SAMPLES), str(SAMPLES / "fraudmodel-hgb-v2.yaml")], capsys)
    assert code == 1
    assert "metadata.name: FraudModel default/hgb-v2 appears more than once" in err
