"""Resolve Java artifacts (Kafka broker, Flink connectors) from Maven Central into a cached lib directory.

Maven does the transitive resolution; we only generate a throwaway POM and copy the runtime classpath.
"""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from .paths import cache_dir
from .procs import ComponentError
from .progress import MavenDownloads, run_logged

__all__ = ["resolve_artifacts"]


def _pom(name: str, coordinates: Sequence[str]) -> str:
    deps = []
    for coord in coordinates:
        group, artifact, version = coord.split(":")
        deps.append(
            "    <dependency>"
            f"<groupId>{escape(group)}</groupId><artifactId>{escape(artifact)}</artifactId>"
            f"<version>{escape(version)}</version></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        f"  <groupId>io.streamflow.devstack</groupId><artifactId>{escape(name)}</artifactId>"
        "<version>1</version><packaging>pom</packaging>\n"
        "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def resolve_artifacts(
    name: str,
    coordinates: Sequence[str],
    *,
    exclude: Sequence[str] = (),
    quiet: bool = False,
    progress: bool = False,
) -> Path:
    """Directory with the jars of ``coordinates`` (``group:artifact:version``) and their runtime deps.

    ``exclude`` names artifact ids the runtime already provides (copies would only shadow or clash);
    ``progress``: a bar with the elapsed time and the jars downloaded so far.
    """
    if not coordinates:
        raise ValueError("no artifacts to resolve")
    digest = hashlib.sha256("\n".join([*coordinates, "exclude:", *exclude]).encode()).hexdigest()[:12]
    root = cache_dir()
    lib = root / "jars" / f"{name}-{digest}"
    if (lib / ".complete").is_file():
        return lib
    if shutil.which("mvn") is None:
        raise ComponentError(name, "the `mvn` command is not on PATH (Maven is needed to fetch jars)")
    work = root / "build" / f"maven-{name}-{digest}"
    work.mkdir(parents=True, exist_ok=True)
    (work / "pom.xml").write_text(_pom(name, coordinates))
    log = root / "logs" / f"maven-{name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    staging = lib.with_name(lib.name + ".partial")
    if staging.exists():
        shutil.rmtree(staging)
    # Batch mode without -q: one "Downloaded from" line per file, which the progress bar counts.
    argv = [
        "mvn",
        "-B",
        f"-Dmaven.repo.local={root / 'm2'}",
        "dependency:copy-dependencies",
        f"-DoutputDirectory={staging}",
        "-DincludeScope=runtime",
    ]
    if exclude:
        argv.append(f"-DexcludeArtifactIds={','.join(exclude)}")
    if not quiet:
        print(f"resolving {name} jars from Maven Central; log: {log}")
    code = run_logged(argv, log, desc=f"{name} jars", steps=MavenDownloads(), progress=progress, cwd=work)
    if code != 0 or not any(staging.glob("*.jar")):
        raise ComponentError(name, f"Maven could not resolve {', '.join(coordinates)}", log)
    (staging / ".complete").write_text("\n".join(coordinates) + "\n")
    if lib.exists():
        shutil.rmtree(lib)
    staging.rename(lib)
    return lib
