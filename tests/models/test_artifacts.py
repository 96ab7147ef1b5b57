"""The shared artifact fetcher: local files, https:// on a real TLS server, its cache, limits and errors."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fraud_models.artifacts import (
    ArtifactDigestMismatch,
    ArtifactNotAFile,
    ArtifactNotFound,
    ArtifactTooLarge,
    ArtifactUnreachable,
    UnsupportedArtifactURI,
    cache_name,
    fetch,
    redact,
)

from tests.support.https_server import ArtifactServer, serve_https

PAYLOAD = b"compiled model bytes " * 100
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactServer]:
    with serve_https(tmp_path_factory.mktemp("https")) as https:
        https.files["model.npz"] = PAYLOAD
        https.files["other.npz"] = b"tampered"
        yield https


def test_file_uri_and_plain_path_are_verified(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(PAYLOAD)
    assert fetch(path.as_uri(), expected_sha256=DIGEST) == path
    assert fetch(str(path), expected_sha256=None) == path
    with pytest.raises(ArtifactDigestMismatch, match="sha256 mismatch") as mismatch:
        fetch(path.as_uri(), expected_sha256="0" * 64)
    assert (mismatch.value.expected, mismatch.value.actual) == ("0" * 64, DIGEST)
    with pytest.raises(ArtifactNotFound, match="not found"):
        fetch((tmp_path / "absent.npz").as_uri(), expected_sha256=None)
    with pytest.raises(ArtifactNotAFile, match="not a regular file"):
        fetch(tmp_path.as_uri(), expected_sha256=None)
    with pytest.raises(UnsupportedArtifactURI, match="unsupported artifact URI scheme 's3'"):
        fetch("s3://bucket/model.npz", expected_sha256=DIGEST)


def test_https_requires_a_digest() -> None:
    with pytest.raises(UnsupportedArtifactURI, match="without an expected sha256"):
        fetch("https://models.example/model.npz", expected_sha256=None)


def test_https_download_is_verified_and_cached_per_url(server: ArtifactServer, tmp_path: Path) -> None:
    cache, ctx = tmp_path / "cache", server.client_context()
    url = server.url("model.npz")
    before = server.requests.get("model.npz", 0)
    path = fetch(url, expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx)
    assert path.read_bytes() == PAYLOAD
    assert path == cache / f"{DIGEST}-{hashlib.sha256(url.encode()).hexdigest()[:16]}.bin"
    assert path.name == cache_name(url, DIGEST.upper())
    # A restart fetches again: served from the cache, no second request.
    assert fetch(url, expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx) == path
    assert server.requests["model.npz"] == before + 1
    # A corrupted cache entry is never used: it is refetched and verified.
    path.write_bytes(b"bit rot")
    assert fetch(url, expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx).read_bytes() == PAYLOAD
    assert server.requests["model.npz"] == before + 2
    # The same content at another URL is fetched from there: the cache vouches for one URL only.
    server.files["mirror/model.npz"] = PAYLOAD
    mirror = fetch(server.url("mirror/model.npz"), expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx)
    assert mirror != path and server.requests["mirror/model.npz"] == 1
    assert sorted(p.name.split("-")[0] for p in cache.iterdir()) == [DIGEST, DIGEST]


def test_https_digest_mismatch_is_refused_and_not_cached(server: ArtifactServer, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactDigestMismatch, match="sha256 mismatch") as mismatch:
        fetch(
            server.url("other.npz"),
            expected_sha256=DIGEST,
            cache_dir=cache,
            ssl_context=server.client_context(),
        )
    assert mismatch.value.actual == hashlib.sha256(b"tampered").hexdigest()
    assert list(cache.iterdir()) == []


def test_https_with_an_untrusted_certificate_is_unreachable(server: ArtifactServer, tmp_path: Path) -> None:
    with pytest.raises(ArtifactUnreachable, match=r"cannot download .*CERTIFICATE_VERIFY_FAILED"):
        fetch(server.url("model.npz"), expected_sha256=DIGEST, cache_dir=tmp_path)


def test_http_errors_carry_the_status_and_no_token(server: ArtifactServer, tmp_path: Path) -> None:
    url = server.url("absent.npz") + "?X-Amz-Signature=s3cr3t-token"
    with pytest.raises(ArtifactUnreachable) as error:
        fetch(url, expected_sha256=DIGEST, cache_dir=tmp_path, ssl_context=server.client_context())
    assert error.value.http_status == 404
    assert "HTTP 404" in str(error.value)
    assert "s3cr3t" not in str(error.value) and "s3cr3t" not in error.value.uri
    assert server.requests["absent.npz"] >= 1, "the real URL, token included, was requested"


def test_redact_drops_credentials_query_and_fragment_only() -> None:
    assert redact("https://user:pw@models.example:8443/a/model.npz?sig=x#f") == (
        "https://models.example:8443/a/model.npz?<redacted>"
    )
    assert redact("https://models.example/a/model.npz") == "https://models.example/a/model.npz"
    assert redact("file:///opt/models/model.npz") == "file:///opt/models/model.npz"


def test_size_limit_covers_files_declared_and_streamed_bytes_and_cache_hits(
    server: ArtifactServer, tmp_path: Path
) -> None:
    cache, ctx, limit = tmp_path / "cache", server.client_context(), len(PAYLOAD) - 1
    local = tmp_path / "model.npz"
    local.write_bytes(PAYLOAD)
    with pytest.raises(ArtifactTooLarge) as on_disk:
        fetch(local.as_uri(), expected_sha256=DIGEST, max_bytes=limit)
    assert (on_disk.value.size, on_disk.value.limit) == (len(PAYLOAD), limit)
    with pytest.raises(ArtifactTooLarge) as declared:
        fetch(
            server.url("model.npz"), expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx, max_bytes=limit
        )
    assert declared.value.size == len(PAYLOAD), "refused on the Content-Length, before the body"
    server.files["unsized/model.npz"] = PAYLOAD
    server.unsized.add("unsized/model.npz")
    unsized = server.url("unsized/model.npz")
    with pytest.raises(ArtifactTooLarge, match=f"more than {limit} bytes") as streamed:
        fetch(unsized, expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx, max_bytes=limit)
    assert streamed.value.size is None
    assert not list(cache.iterdir()), "nothing too large is cached"
    # Within the limit the unsized body arrives whole; a lower limit later refuses the cached copy too.
    assert fetch(unsized, expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx).read_bytes() == PAYLOAD
    with pytest.raises(ArtifactTooLarge):
        fetch(unsized, expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx, max_bytes=limit)


def test_a_stalled_server_times_out(server: ArtifactServer, tmp_path: Path) -> None:
    server.stalled.add("stalled.npz")
    with pytest.raises(ArtifactUnreachable, match="timed out"):
        fetch(
            server.url("stalled.npz"),
            expected_sha256=DIGEST,
            cache_dir=tmp_path,
            ssl_context=server.client_context(),
            timeout=1.0,
        )


def test_cache_is_trimmed_to_its_budget_least_recently_used_first(
    server: ArtifactServer, tmp_path: Path
) -> None:
    cache, ctx = tmp_path / "cache", server.client_context()
    bodies = {name: name.encode() * 100 for name in ("a", "b", "c")}
    paths = {}
    for age, (name, body) in enumerate(bodies.items()):
        server.files[f"trim/{name}"] = body
        paths[name] = fetch(
            server.url(f"trim/{name}"),
            expected_sha256=hashlib.sha256(body).hexdigest(),
            cache_dir=cache,
            ssl_context=ctx,
            cache_budget_bytes=250,
        )
        if name == "b":  # "a" stays within the budget of two entries until "c" arrives
            assert paths["a"].exists()
        os.utime(paths[name], (1_000_000 + age, 1_000_000 + age))  # the write order, whatever the clock
    assert {p.name for p in cache.iterdir()} == {paths["b"].name, paths["c"].name}
    # Using "b" makes "c" the least recently used entry, so "a" coming back pushes "c" out.
    fetch(
        server.url("trim/b"),
        expected_sha256=hashlib.sha256(bodies["b"]).hexdigest(),
        cache_dir=cache,
        ssl_context=ctx,
    )
    fetch(
        server.url("trim/a"),
        expected_sha256=hashlib.sha256(bodies["a"]).hexdigest(),
        cache_dir=cache,
        ssl_context=ctx,
        cache_budget_bytes=250,
    )
    assert {p.name for p in cache.iterdir()} == {paths["a"].name, paths["b"].name}
