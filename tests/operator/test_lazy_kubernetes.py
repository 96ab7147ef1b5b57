"""The operator's process imports the kubernetes client's parts it uses, and they work as the library's."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

_PROBE = """
import json, sys
import fraud_operator.operator_cmd  # what `streamflow operator` imports before kopf runs
import kubernetes
from kubernetes import client
from kubernetes.client import rest

class Response:
    data = json.dumps({"metadata": {"name": "db", "labels": {"a": "b"}}, "data": {"k": "dg=="}})

secret = client.ApiClient().deserialize(Response(), "V1Secret")
try:
    client.NoSuchThing
    missing = None
except AttributeError as exc:
    missing = str(exc)
loaded = sorted(m for m in sys.modules if m.startswith("kubernetes.client.models."))
print(json.dumps({
    "lazy": type(sys.modules["kubernetes.client"].__dict__.get("__getattr__")).__name__,
    "models": loaded,
    "apis": sorted(m for m in sys.modules if m.startswith("kubernetes.client.api.")),
    "numpy": "numpy" in sys.modules,
    "version": kubernetes.__version__,
    "secret": [type(secret).__name__, secret.metadata.name, secret.metadata.labels, secret.data],
    "rest": rest.__name__,
    "in_dir": "V1Pod" in dir(client) and "CoreV1Api" in dir(client),
    "missing": missing,
}))
"""


@pytest.fixture(scope="module")
def probe() -> dict[str, object]:
    argv = [sys.executable, "-c", _PROBE]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def test_only_the_models_in_use_are_imported(probe: dict[str, object]) -> None:
    assert probe["lazy"] == "function"
    models = probe["models"]
    assert isinstance(models, list) and "kubernetes.client.models.v1_secret" in models
    assert len(models) <= 10, models  # kopf's two, the secret's, its metadata: not the ~900 of the package
    assert probe["apis"] == []
    assert probe["numpy"] is False


def test_the_lazy_packages_behave_as_the_library(probe: dict[str, object]) -> None:
    import kubernetes

    assert probe["version"] == kubernetes.__version__
    assert probe["secret"] == ["V1Secret", "db", {"a": "b"}, {"k": "dg=="}]
    assert probe["rest"] == "kubernetes.client.rest"
    assert probe["in_dir"] is True
    assert "NoSuchThing" in str(probe["missing"]) and "lazy" in str(probe["missing"])
