"""`streamflow dev build`'s progress: a real Go build's steps and Maven's downloads, read from their logs."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from streamflow_dev.progress import GoBuildSteps, MavenDownloads, run_logged

# Lines as Maven 3.8 writes them in batch mode (mvn -B, no -q).
_CENTRAL = "https://repo.maven.apache.org/maven2"
_POM = f"{_CENTRAL}/org/apache/apache/10/apache-10.pom"
_JAR = f"{_CENTRAL}/org/slf4j/slf4j-api/2.0.16/slf4j-api-2.0.16.jar"
MAVEN_LOG = f"""\x1b[0m\x1b[0m[INFO] Scanning for projects...
[INFO] Downloading from central: {_POM}
[INFO] Downloaded from central: {_POM} (15 kB at 925 kB/s)
[INFO] Downloading from central: {_JAR}
[INFO] Downloaded from central: {_JAR} (69 kB at 1.3 MB/s)
[INFO] BUILD SUCCESS
"""


def test_maven_downloads_are_counted() -> None:
    steps = MavenDownloads()
    for line in MAVEN_LOG.splitlines():
        steps.feed(line)
    assert (steps.jars, steps.files) == (1, 2)
    assert steps.describe() == "1 jars downloaded (2 files)"


def test_a_real_go_build_shows_its_elapsed_time_and_step(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    go = shutil.which("go")
    assert go, "the dev stack builds with Go; `go` must be on PATH"
    (tmp_path / "go.mod").write_text("module example.com/hello\n\ngo 1.24\n")
    (tmp_path / "main.go").write_text('package main\n\nimport "fmt"\n\nfunc main() { fmt.Println("hi") }\n')
    env = {**os.environ, "GOPROXY": "off", "GOFLAGS": "-mod=mod", "CGO_ENABLED": "0"}
    argv = [go, "build", "-v", "-o", str(tmp_path / "hello"), "."]
    steps = GoBuildSteps()
    log = tmp_path / "build.log"
    assert run_logged(argv, log, desc="hello", steps=steps, progress=True, cwd=tmp_path, env=env) == 0
    assert (tmp_path / "hello").is_file()
    assert steps.packages >= 1 and steps.last == "example.com/hello"  # go build -v names each package
    err = capsys.readouterr().err
    assert "hello [00:" in err and "compiling:" in err and "example.com/hello" in err

    # A failing build returns its exit code; its output stays in the log.
    (tmp_path / "main.go").write_text("package main\n\nfunc main() { undefined() }\n")
    assert (
        run_logged(argv, log, desc="broken", steps=GoBuildSteps(), progress=False, cwd=tmp_path, env=env) == 1
    )
    assert "undefined" in log.read_text()
    assert capsys.readouterr().err == ""  # progress off: nothing on stderr
