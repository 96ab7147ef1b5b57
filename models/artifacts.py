"""The one fetcher of model artifacts: the job's ``load_model`` and the operator's ArtifactVerified check.

A mounted file (``file://`` or a plain path) is used in place. ``https://`` needs the expected sha256 (the
FraudModel's ``spec.artifact.sha256``) and goes through a cache named ``{sha256}-{sha256(url)[:16]}.bin``:
the digest names the content, the URL part proves that *this* URL served it, so the operator's check vouches
for exactly what the job will fetch. A cached file is re-verified before use and a corrupt entry is
refetched. Failures are typed, so a caller can tell a wrong artifact (too large, digest mismatch, not a
file) from one that is only out of reach; messages show URLs without credentials or query, where presigned
URLs carry their tokens.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import ssl
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from fraud_models.env_settings import MODEL_CACHE

__all__ = [
    "DEFAULT_TIMEOUT_S",
    "ArtifactDigestMismatch",
    "ArtifactError",
    "ArtifactNotAFile",
    "ArtifactNotFound",
    "ArtifactTooLarge",
    "ArtifactUnreachable",
    "ArtifactUnreadable",
    "LocalArtifactError",
    "UnsupportedArtifactURI",
    "cache_name",
    "default_cache_dir",
    "fetch",
    "redact",
]

DEFAULT_TIMEOUT_S = 60.0
_BLOCK = 1 << 20


class ArtifactError(Exception):
    """The artifact cannot be made available locally; ``uri`` is the redacted URI for messages."""

    def __init__(self, uri: str, message: str) -> None:
        super().__init__(message)
        self.uri = uri


class LocalArtifactError(ArtifactError):
    """A local artifact that cannot be used; ``path`` is where it was looked for."""

    def __init__(self, uri: str, path: Path, problem: str) -> None:
        super().__init__(uri, f"model artifact {uri} {problem}")
        self.path = path


class ArtifactNotFound(LocalArtifactError):
    """A local artifact path that does not exist."""

    def __init__(self, uri: str, path: Path) -> None:
        super().__init__(uri, path, "not found")


class ArtifactUnreadable(LocalArtifactError):
    """A local artifact this process may not read."""

    def __init__(self, uri: str, path: Path, why: str) -> None:
        super().__init__(uri, path, f"is not readable: {why}")


class ArtifactNotAFile(LocalArtifactError):
    """A local artifact path that is a directory or another non-regular file."""

    def __init__(self, uri: str, path: Path) -> None:
        super().__init__(uri, path, "is not a regular file")


class ArtifactTooLarge(ArtifactError):
    """More bytes than the caller's limit; ``size`` is None when only known to exceed it (streamed)."""

    def __init__(self, uri: str, size: int | None, limit: int) -> None:
        has = f"{size} bytes" if size is not None else f"more than {limit} bytes"
        super().__init__(uri, f"model artifact {uri} has {has}, more than the limit of {limit}")
        self.size = size
        self.limit = limit


class ArtifactDigestMismatch(ArtifactError):
    """The content's sha256 is not the expected one."""

    def __init__(self, uri: str, expected: str, actual: str) -> None:
        super().__init__(
            uri, f"sha256 mismatch for {uri}: expected {expected}, got {actual} (tampered or stale)"
        )
        self.expected = expected
        self.actual = actual


class ArtifactUnreachable(ArtifactError):
    """The download failed (network, TLS, timeout, HTTP status); ``http_status`` is set for the latter."""

    def __init__(self, uri: str, detail: str, http_status: int | None = None) -> None:
        super().__init__(uri, f"cannot download {uri}: {detail}")
        self.detail = detail
        self.http_status = http_status


class UnsupportedArtifactURI(ArtifactError):
    """A URI this fetcher refuses: an unknown scheme, or https:// without a digest to check."""


def default_cache_dir() -> Path:
    """``$STREAMFLOW_MODEL_CACHE`` (:mod:`fraud_models.env_settings`), else ``~/.cache/streamflow/models``."""
    configured = MODEL_CACHE.read()
    return configured if configured is not None else Path.home() / ".cache" / "streamflow" / "models"


def redact(uri: str) -> str:
    """``uri`` fit for messages and logs: no user info, query or fragment (where tokens travel)."""
    try:
        parts = urllib.parse.urlsplit(uri)
    except ValueError:
        return "<unparseable URI>"
    if parts.scheme in ("", "file"):
        return uri
    netloc = parts.netloc.rpartition("@")[2]
    query = "<redacted>" if parts.query else ""
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


def cache_name(uri: str, sha256: str) -> str:
    """The cache file of ``uri``'s content: the digest names the content, the URL hash its source."""
    return f"{sha256.lower()}-{hashlib.sha256(uri.encode()).hexdigest()[:16]}.bin"


def _digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _local(shown: str, path: Path, expected: str | None, max_bytes: int | None) -> Path:
    try:
        if not path.exists():
            raise ArtifactNotFound(shown, path)
        if not path.is_file():
            raise ArtifactNotAFile(shown, path)
        with path.open("rb"):
            pass
        size = path.stat().st_size
        if max_bytes is not None and size > max_bytes:
            raise ArtifactTooLarge(shown, size, max_bytes)
        if expected is not None:
            actual = _digest(path)
            if actual != expected:
                raise ArtifactDigestMismatch(shown, expected, actual)
    except OSError as exc:  # permission denied, I/O error: the file is there but cannot be read here
        raise ArtifactUnreadable(shown, path, exc.strerror or type(exc).__name__) from None
    return path


def _cached(shown: str, cached: Path, expected: str, max_bytes: int | None) -> bool:
    """Whether the cache entry holds the expected content; a corrupt one is removed (refetched)."""
    if not cached.is_file():
        return False
    size = cached.stat().st_size
    if max_bytes is not None and size > max_bytes:
        raise ArtifactTooLarge(shown, size, max_bytes)
    if _digest(cached) == expected:
        with contextlib.suppress(OSError):
            os.utime(cached)  # trimming keeps the most recently used entries
        return True
    cached.unlink(missing_ok=True)
    return False


def _trim_cache(directory: Path, keep: Path, budget: int) -> None:
    """Remove the least recently used entries beyond ``budget`` bytes (never ``keep``)."""
    entries = sorted(
        (p for p in directory.glob("*.bin") if p != keep), key=lambda p: p.stat().st_mtime, reverse=True
    )
    total = keep.stat().st_size
    for entry in entries:
        total += entry.stat().st_size
        if total > budget:
            entry.unlink(missing_ok=True)


def _download(
    uri: str,
    shown: str,
    target: Path,
    expected: str,
    *,
    max_bytes: int | None,
    timeout: float,
    ssl_context: ssl.SSLContext | None,
) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".download-")
    except OSError as exc:
        raise ArtifactError(shown, f"cannot write the artifact cache {target.parent}: {exc}") from exc
    tmp = Path(tmp_name)
    try:
        with (
            os.fdopen(fd, "wb") as out,
            urllib.request.urlopen(uri, timeout=timeout, context=ssl_context) as response,
        ):
            declared = response.headers.get("Content-Length")
            if (
                max_bytes is not None
                and declared is not None
                and declared.isdigit()
                and int(declared) > max_bytes
            ):
                raise ArtifactTooLarge(shown, int(declared), max_bytes)
            size = 0
            digest = hashlib.sha256()
            for block in iter(lambda: response.read(_BLOCK), b""):
                size += len(block)
                if max_bytes is not None and size > max_bytes:
                    raise ArtifactTooLarge(shown, None, max_bytes)
                digest.update(block)
                out.write(block)
        actual = digest.hexdigest()
        if actual != expected:
            raise ArtifactDigestMismatch(shown, expected, actual)
        tmp.replace(target)
    except urllib.error.HTTPError as exc:
        raise ArtifactUnreachable(shown, f"HTTP {exc.code} {exc.reason}", exc.code) from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
        why = exc.reason if isinstance(exc, urllib.error.URLError) else exc
        raise ArtifactUnreachable(shown, str(why) or type(why).__name__) from exc
    finally:
        tmp.unlink(missing_ok=True)


def fetch(
    uri: str,
    *,
    expected_sha256: str | None,
    cache_dir: str | Path | None = None,
    ssl_context: ssl.SSLContext | None = None,
    max_bytes: int | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
    cache_budget_bytes: int | None = None,
) -> Path:
    """A local path holding the artifact at ``uri``, verified against ``expected_sha256`` when given.

    ``max_bytes`` bounds local files, cache entries, the declared Content-Length and the bytes streamed;
    ``timeout`` bounds each network operation; after a download, ``cache_budget_bytes`` trims the cache
    to that many bytes, least recently used first. Raises an ``ArtifactError`` subclass naming the problem.
    """
    shown = redact(uri)
    expected = expected_sha256.lower() if expected_sha256 else None
    try:
        parsed = urllib.parse.urlsplit(uri)
    except ValueError as exc:
        raise UnsupportedArtifactURI(shown, f"malformed artifact URI {shown}: {exc}") from None
    if parsed.scheme in ("", "file"):
        path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else uri)
        return _local(shown, path, expected, max_bytes)
    if parsed.scheme != "https":
        raise UnsupportedArtifactURI(
            shown, f"unsupported artifact URI scheme {parsed.scheme!r} in {shown} (file:// or https://)"
        )
    if expected is None:
        raise UnsupportedArtifactURI(shown, f"refusing to download {shown} without an expected sha256")
    directory = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cached = directory / cache_name(uri, expected)
    if not _cached(shown, cached, expected, max_bytes):
        _download(uri, shown, cached, expected, max_bytes=max_bytes, timeout=timeout, ssl_context=ssl_context)
        if cache_budget_bytes is not None:
            with contextlib.suppress(FileNotFoundError):  # a concurrent fetch trimmed it first
                _trim_cache(directory, cached, cache_budget_bytes)
    return cached
