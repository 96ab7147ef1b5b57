"""A model artifact loaded in a child process, exactly as the job loads it, and the outcome as JSON.

The operator verifies every FraudModel's artifact before a pipeline may roll to it. Loading one imports
numpy (14 MB resident) and decodes arrays up to the artifact size limit; in the operator's own process both
would stay for its lifetime (glibc keeps freed memory at its peak). :func:`check` runs
``python -m fraud_models.model_check`` instead, so the operator imports neither, and what the load costs is
returned to the system when the child exits. This module imports nothing heavy itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["SUPPORTED_ALGORITHMS", "CheckOutcome", "check", "main"]

SUPPORTED_ALGORITHMS = ("isolation_forest", "logistic_regression", "hist_gradient_boosting")


@dataclass(frozen=True)
class CheckOutcome:
    """``algorithm`` when the model loads; else ``error`` and whether ``load_model`` refused it by name
    (``refused``: a wrong digest, schema or algorithm) or it was no loadable model at all."""

    algorithm: str | None = None
    error: str | None = None
    refused: bool = False


def check(path: str, *, sha256: str, schema_id: str, timeout_s: float) -> CheckOutcome:
    """Load ``path`` in a child interpreter; raises TimeoutError or RuntimeError when the child does not
    answer (killed, out of memory, or slower than ``timeout_s``)."""
    argv = [sys.executable, "-m", __name__, path, "--sha256", sha256, "--schema-id", schema_id]
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, check=False)
    except subprocess.TimeoutExpired as exc:
        raise TimeoutError(f"loading the model took longer than {timeout_s:g} s") from exc
    try:
        answer = json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        tail = " ".join((done.stderr or "").strip().splitlines()[-1:]) or "no output"
        raise RuntimeError(f"the model check exited {done.returncode}: {tail}") from None
    return CheckOutcome(answer.get("algorithm"), answer.get("error"), bool(answer.get("refused")))


def _load(path: str, sha256: str, schema_id: str) -> dict[str, object]:
    from fraud_models.scorer import ModelLoadError, load_model

    try:
        return {"algorithm": load_model(path, expected_sha256=sha256, expected_schema_id=schema_id).algorithm}
    except ModelLoadError as exc:
        return {"error": str(exc), "refused": True}
    except (ValueError, KeyError, OSError, zipfile.BadZipFile) as exc:
        return {"error": str(exc) or type(exc).__name__, "refused": False}


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fraud_models.model_check", description=__doc__)
    parser.add_argument("path")
    parser.add_argument("--sha256", required=True)
    parser.add_argument("--schema-id", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(_load(args.path, args.sha256, args.schema_id)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
