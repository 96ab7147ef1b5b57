"""The checkout must never shadow the standard library, whatever the interpreter imported at start-up."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _fresh(code: str) -> subprocess.CompletedProcess[str]:
    # -S: no site, so nothing (no .pth file) has imported the standard library's `operator` yet, as in a
    # fresh venv; -c puts the working directory (the repository root) first on sys.path.
    return subprocess.run(
        [sys.executable, "-S", "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
    )


def test_import_operator_from_the_repository_root_is_the_standard_library() -> None:
    assert "operator" not in _fresh("import sys; print(sorted(sys.modules))").stdout  # the premise holds
    result = _fresh(
        "import operator, collections; print(operator.__file__); print(operator.itemgetter(1)('ab'))"
    )
    assert result.returncode == 0, result.stderr
    path, item = result.stdout.split()
    assert Path(path).parent == Path(subprocess.__file__).parent  # the stdlib directory
    assert item == "b"


def test_python_dash_m_works_from_the_repository_root() -> None:
    result = subprocess.run(
        [sys.executable, "-S", "-m", "json.tool"],
        input='{"a": 1}',
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert '"a": 1' in result.stdout
