"""A real HTTPS server on 127.0.0.1 for the artifact tests (job and operator), with a CA from the dev stack.

Clients trust it either through ``SSL_CERT_FILE`` (OpenSSL reads it whenever a default context is created,
the way an operator pod trusts a mounted CA bundle) or through ``client_context()``.
"""

from __future__ import annotations

import http.server
import ssl
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from streamflow_dev.certs import make_certs

__all__ = ["ArtifactServer", "serve_https"]

_STALL_LIMIT_S = 60.0


@dataclass
class ArtifactServer:
    """Files served by path (the query is ignored); ``requests`` counts GETs per path (what a cache saves).

    Paths in ``unsized`` are sent without Content-Length (the body ends when the connection closes), so
    only the bytes streamed can show their size; paths in ``stalled`` send nothing until the server stops.
    """

    base_url: str
    ca_file: Path
    files: dict[str, bytes] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    unsized: set[str] = field(default_factory=set)
    stalled: set[str] = field(default_factory=set)
    stopping: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"{self.base_url}/{path.lstrip('/')}"

    def client_context(self) -> ssl.SSLContext:
        """A client TLS context that trusts this server's CA and nothing else."""
        return ssl.create_default_context(cafile=str(self.ca_file))


@contextmanager
def serve_https(directory: Path) -> Iterator[ArtifactServer]:
    """Serve ``ArtifactServer.files`` over HTTPS until the context ends."""
    certs = make_certs(directory)
    state = ArtifactServer(base_url="", ca_file=certs.ca_cert)

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = urllib.parse.urlsplit(self.path).path.lstrip("/")
            state.requests[path] = state.requests.get(path, 0) + 1
            if path in state.stalled:
                state.stopping.wait(_STALL_LIMIT_S)
                return
            body = state.files.get(path)
            if body is None:
                self.send_error(404, "Not Found")
                return
            self.send_response(200)
            if path not in state.unsized:
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
        state.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
