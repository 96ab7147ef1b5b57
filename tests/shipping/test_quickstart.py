"""docs/quickstart.md, walked on the local stack as far as it goes.

Every shell block of the quickstart is marked: ``walked`` blocks run here, in order and as written, in one
bash session against the real API server (with the chart, our CRDs and the upstream ones); ``needs a real
cluster`` blocks are left out and the page says why. The sample FraudModels must be what the walk trains:
same sha256, same metrics.
"""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from streamflow_dev.tools import ensure_helm

from tests.conftest import KubeCluster

REPO = Path(__file__).resolve().parents[2]
QUICKSTART = REPO / "docs" / "quickstart.md"
_BLOCK = re.compile(r"<!-- quickstart: (walked|needs a real cluster) -->\n```bash\n(.*?)```", re.S)


def _blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in _BLOCK.finditer(QUICKSTART.read_text(encoding="utf-8"))]


def test_every_shell_block_says_whether_it_is_walked() -> None:
    text = QUICKSTART.read_text(encoding="utf-8")
    assert text.count("```bash") == len(_blocks()) > 0, "a ```bash block without a quickstart marker"
    assert [kind for kind, _ in _blocks()].count("walked") >= 4


@pytest.mark.cluster
def test_the_quickstart_walks_on_the_local_stack(kube: KubeCluster, tmp_path: Path) -> None:
    helm = ensure_helm(quiet=True)
    for name in ("crds", "charts", "docs"):
        (tmp_path / name).symlink_to(REPO / name, target_is_directory=True)
    script = "set -euxo pipefail\n" + "\n".join(body for kind, body in _blocks() if kind == "walked")
    kubectl_dir = Path(kube.kubectl_path).resolve().parent
    env = os.environ | {
        "KUBECONFIG": str(kube.kubeconfig),
        "REGISTRY": "registry.example.com/fraud",
        "PATH": os.pathsep.join([str(helm.parent), str(kubectl_dir), os.environ["PATH"]]),
    }
    try:
        result = subprocess.run(
            ["bash", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900
        )
        assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-6000:]
        # the models the walk trained are the samples, byte for byte
        for name in ("iforest-v1", "hgb-v2"):
            sample = yaml.safe_load((REPO / "crds" / "samples" / f"fraudmodel-{name}.yaml").read_text())
            trained = yaml.safe_load((tmp_path / "sample-models" / name / "fraudmodel.yaml").read_text())
            digest = hashlib.sha256(
                (tmp_path / "sample-models" / name / "model.npz").read_bytes()
            ).hexdigest()
            assert sample["spec"]["artifact"]["sha256"] == digest
            assert sample["spec"] == trained["spec"], name
        # what the walk applied is stored as written
        stored = kube.kubectl("get", "fp,fm,pvc,pod", "-n", "fraud", "-o", "name").stdout.split()
        assert sorted(stored) == sorted(
            [
                "fraudpipeline.streamflow.io/payments",
                "fraudmodel.streamflow.io/iforest-v1",
                "fraudmodel.streamflow.io/hgb-v2",
                "persistentvolumeclaim/flink-state",
                "persistentvolumeclaim/streamflow-models",
                "pod/model-loader",
            ]
        )
        image = kube.kubectl("get", "fp", "payments", "-n", "fraud", "-o", "jsonpath={.spec.flink.image}")
        assert image.stdout == "registry.example.com/fraud/streamflow-job:0.1.0"
    finally:
        subprocess.run(
            [str(helm), "uninstall", "streamflow", "-n", "streamflow-system"], env=env, check=False
        )
        kube.kubectl("delete", "namespace", "fraud", "streamflow-system", "--timeout=90s", check=False)
