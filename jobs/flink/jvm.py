"""The detector's JVM half: Java sources shipped in this package, compiled into one jar on first use.

The per-event work (parsing, keyed state, features, rules, the model's score) runs in Java functions;
Python keeps the graph, the control plane, the fallback parser and the PostgreSQL writers. The sources are
compiled with ``javac`` against the Flink jars PyFlink itself ships, so the jar is built for exactly the
Flink it runs on and needs no download. The jar is cached under ``$STREAMFLOW_DETECTOR_JAR_CACHE/<digest>/``
(digest of the sources, the javac options and the Flink jars); ``$STREAMFLOW_DETECTOR_JAR`` names a prebuilt
jar instead (the job image builds it at image build time, where the root filesystem is still writable).
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Final

from fraud_jobs.env_settings import DETECTOR_JAR, DETECTOR_JAR_CACHE

__all__ = [
    "JAVAC_OPTIONS",
    "JAVA_RELEASE",
    "JAVA_SOURCES",
    "JarBuildError",
    "detector_jar",
    "flink_classpath",
    "java_main",
]

JAVA_SOURCES: Final = Path(__file__).parent / "java"
"""Root of the Java sources (``io/streamflow/detector/*.java``), package data of fraud_jobs."""
JAVA_RELEASE: Final = "17"
JAVAC_OPTIONS: Final = (
    "--release",
    JAVA_RELEASE,
    "-encoding",
    "UTF-8",
    "-Xlint:all,-serial,-processing",
    "-Werror",
)
"""How the sources are compiled, here and in the job image's ``detector-jar`` stage (a test holds the
Dockerfile to this): every lint warning is an error."""
_JAR_NAME: Final = "streamflow-detector.jar"


class JarBuildError(RuntimeError):
    """The Java sources could not be compiled (no JDK, or a compile error, quoted)."""


def _pyflink_dir() -> Path:
    spec = importlib.util.find_spec("pyflink")
    if spec is None or spec.origin is None:
        raise JarBuildError("PyFlink is not installed: the detector's Java half compiles against its jars")
    return Path(spec.origin).parent


def flink_classpath() -> list[Path]:
    """The Flink jars PyFlink ships (``lib/`` and ``opt/flink-python``): what the job's JVM has."""
    root = _pyflink_dir()
    jars = sorted((root / "lib").glob("*.jar")) + sorted((root / "opt").glob("flink-python*.jar"))
    if not jars:
        raise JarBuildError(f"no Flink jars under {root}/lib")
    return jars


def _sources() -> list[Path]:
    return sorted(JAVA_SOURCES.rglob("*.java"))


def _digest(sources: list[Path], classpath: list[Path]) -> str:
    h = hashlib.sha256(" ".join(JAVAC_OPTIONS).encode())
    for path in sources:
        h.update(path.relative_to(JAVA_SOURCES).as_posix().encode())
        h.update(path.read_bytes())
    for jar in classpath:
        h.update(jar.name.encode())
    return h.hexdigest()[:16]


def _cache_root() -> Path:
    configured = DETECTOR_JAR_CACHE.read()
    return (configured or Path("~/.cache/streamflow/jvm")).expanduser()


def detector_jar(cache: Path | None = None) -> Path:
    """The compiled jar: ``$STREAMFLOW_DETECTOR_JAR`` if set, else built (once per source digest)."""
    prebuilt = DETECTOR_JAR.read()
    if prebuilt is not None:
        if not prebuilt.is_file():
            raise JarBuildError(f"{DETECTOR_JAR.name}={prebuilt} is not a file")
        return prebuilt
    sources, classpath = _sources(), flink_classpath()
    target = (cache or _cache_root()) / _digest(sources, classpath) / _JAR_NAME
    if target.is_file():
        return target
    javac, jar_tool = shutil.which("javac"), shutil.which("jar")
    if javac is None or jar_tool is None:
        raise JarBuildError(
            "javac and jar (a JDK 17) are needed to build the detector's Java half; "
            f"or set {DETECTOR_JAR.name} to a prebuilt jar"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as work:
        classes = Path(work) / "classes"
        classes.mkdir()
        compiled = subprocess.run(
            [javac, *JAVAC_OPTIONS, "-d", str(classes), "-cp", os.pathsep.join(map(str, classpath)),
             *map(str, sources)],
            capture_output=True, text=True, timeout=600, check=False,
        )  # fmt: skip
        if compiled.returncode != 0:
            raise JarBuildError(f"javac failed:\n{compiled.stdout}{compiled.stderr}")
        tmp_jar = Path(work) / _JAR_NAME
        subprocess.run([jar_tool, "cf", str(tmp_jar), "-C", str(classes), "."], check=True, timeout=120)
        os.replace(tmp_jar, target)  # atomic: a concurrent build never sees half a jar
    return target


def java_main(main_class: str, *args: str, stdin: bytes | None = None, timeout: float = 600) -> bytes:
    """Run ``main_class`` of the detector jar in a fresh JVM (tools and the equality tests); its stdout."""
    java = shutil.which("java")
    if java is None:
        raise JarBuildError("java is not on PATH")
    classpath = os.pathsep.join(map(str, [detector_jar(), *flink_classpath()]))
    done = subprocess.run(
        [java, "-cp", classpath, main_class, *args], input=stdin, capture_output=True, timeout=timeout,
        check=False,
    )  # fmt: skip
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")[-4000:]
        raise RuntimeError(f"{main_class} exited {done.returncode}: {stderr}")
    return done.stdout
