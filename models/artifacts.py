"""Fetch model artifacts for the job: a mounted file (``file://`` or a path) or ``https://``.

Remote artifacts must come with their sha256 (the FraudModel's ``spec.artifact.sha256``); they are
cached under that digest, so a restarted job finds its model locally and never downloads it twice,
and a cached file is re-verified before use.
"""

from __future__ import annotations

import hashlib
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

__all__ = ["ArtifactError", "default_cache_dir", "fetch"]

_TIMEOUT_S = 60.0


class ArtifactError(Exception):
    """The artifact cannot be fetched or does not match its digest."""


def default_cache_dir() -> Path:
    """``$STREAMFLOW_MODEL_CACHE`` or ``~/.cache/streamflow/models``."""
    env = os.environ.get("STREAMFLOW_MODEL_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "streamflow" / "models"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check(path: Path, expected_sha256: str | None, uri: str) -> Path:
    if expected_sha256 is not None:
        actual = _digest(path)
        if actual != expected_sha256.lower():
            raise ArtifactError(
                f"sha256 mismatch for {uri}: expected {expected_sha256}, got {actual} (tampered or stale)"
            )
    return path


def fetch(
    uri: str,
    *,
    expected_sha256: str | None,
    cache_dir: str | Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
) -> Path:
    """A local path holding the artifact at ``uri``, verified against ``expected_sha256`` when given."""
    parsed = urllib.parse.urlparse(uri)
    if parsed.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else uri)
        if not path.is_file():
            raise ArtifactError(f"model artifact {uri} not found")
        return _check(path, expected_sha256, uri)
    if parsed.scheme != "https":
        raise ArtifactError(
            f"unsupported artifact URI scheme {parsed.scheme!r} in {uri} (file:// or https://)"
        )
    if not expected_sha256:
        raise ArtifactError(f"refusing to download {uri} without an expected sha256")
    cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = cache / f"{expected_sha256.lower()}.bin"
    if cached.is_file():
        try:
            return _check(cached, expected_sha256, str(cached))
        except ArtifactError:
            cached.unlink()  # a corrupt cache entry is refetched, never used
    cache.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=cache, prefix=".download-")
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(uri, timeout=_TIMEOUT_S, context=ssl_context) as resp,
        ):
            for block in iter(lambda: resp.read(1 << 20), b""):
                out.write(block)
        _check(tmp, expected_sha256, uri)
        tmp.replace(cached)
    except (urllib.error.URLError, OSError) as exc:
        raise ArtifactError(f"cannot download {uri}: {exc}") from exc
    finally:
        if tmp.exists():
            tmp.unlink()
    return cached
