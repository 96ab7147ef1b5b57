"""Artifact fetch: file:// with sha256, https:// through a real TLS server, and a cache restarts reuse."""

from __future__ import annotations

import hashlib
import http.server
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fraud_models.artifacts import ArtifactError, fetch

PAYLOAD = b"compiled model bytes " * 100
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def test_file_uri_and_plain_path_are_verified(tmp_path: Path) -> None:
    path = tmp_path / "model.npz"
    path.write_bytes(PAYLOAD)
    assert fetch(path.as_uri(), expected_sha256=DIGEST) == path
    assert fetch(str(path), expected_sha256=None) == path
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        fetch(path.as_uri(), expected_sha256="0" * 64)
    with pytest.raises(ArtifactError, match="not found"):
        fetch((tmp_path / "absent.npz").as_uri(), expected_sha256=None)
    with pytest.raises(ArtifactError, match="unsupported artifact URI scheme 's3'"):
        fetch("s3://bucket/model.npz", expected_sha256=DIGEST)


def test_https_requires_a_digest() -> None:
    with pytest.raises(ArtifactError, match="without an expected sha256"):
        fetch("https://models.example/model.npz", expected_sha256=None)


class _Handler(http.server.BaseHTTPRequestHandler):
    requests = 0

    def do_GET(self) -> None:
        type(self).requests += 1
        body = PAYLOAD if self.path == "/model.npz" else b"tampered"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture(scope="module")
def https_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, ssl.SSLContext]]:
    """A real HTTPS server on 127.0.0.1 with a throwaway self-signed certificate (openssl)."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.load_cert_chain(cert, key)
    server.socket = server_ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_ctx = ssl.create_default_context(cafile=str(cert))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", client_ctx
    finally:
        server.shutdown()
        server.server_close()


def test_https_download_is_verified_and_cached(
    https_server: tuple[str, ssl.SSLContext], tmp_path: Path
) -> None:
    base, ctx = https_server
    cache = tmp_path / "cache"
    before = _Handler.requests
    path = fetch(f"{base}/model.npz", expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx)
    assert path.read_bytes() == PAYLOAD and path.parent == cache
    # A restart fetches again: served from the cache, no second request.
    again = fetch(f"{base}/model.npz", expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx)
    assert again == path and _Handler.requests == before + 1
    # A corrupted cache entry is never used: it is refetched and verified.
    path.write_bytes(b"bit rot")
    assert (
        fetch(f"{base}/model.npz", expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx).read_bytes()
        == PAYLOAD
    )
    assert _Handler.requests == before + 2


def test_https_digest_mismatch_is_refused_and_not_cached(
    https_server: tuple[str, ssl.SSLContext], tmp_path: Path
) -> None:
    base, ctx = https_server
    cache = tmp_path / "cache"
    with pytest.raises(ArtifactError, match="sha256 mismatch"):
        fetch(f"{base}/other.npz", expected_sha256=DIGEST, cache_dir=cache, ssl_context=ctx)
    assert list(cache.iterdir()) == []


def test_https_with_an_untrusted_certificate_is_refused(
    https_server: tuple[str, ssl.SSLContext], tmp_path: Path
) -> None:
    base, _ = https_server
    with pytest.raises(ArtifactError, match="cannot download"):
        fetch(
            f"{base}/model.npz",
            expected_sha256=DIGEST,
            cache_dir=tmp_path,
            ssl_context=ssl.create_default_context(),
        )
