"""A real HTTPS server on 127.0.0.1 for artifact tests, with a certificate from the dev stack's own CA.

Clients trust it through ``SSL_CERT_FILE`` (OpenSSL reads it whenever a default context is created), the
same way an operator pod trusts a private CA bundle.
"""

from __future__ import annotations

import http.server
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from fraud_operator.devstack.certs import make_certs

__all__ = ["ArtifactServer", "serve_https"]


@dataclass
class ArtifactServer:
    """Files served by path; ``requests`` counts GETs per path (proves what the cache saves)."""

    base_url: str
    ca_file: Path
    files: dict[str, bytes] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"


@contextmanager
def serve_https(directory: Path) -> Iterator[ArtifactServer]:
    """Serve ``ArtifactServer.files`` over HTTPS until the context ends."""
    certs = make_certs(directory)
    state = ArtifactServer(base_url="", ca_file=certs.ca_cert)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.lstrip("/")
            state.requests[path] = state.requests.get(path, 0) + 1
            body = state.files.get(path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            return

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    state.base_url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, name="artifact-https", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
