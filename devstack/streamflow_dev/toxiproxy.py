"""A real fault proxy (Toxiproxy, built from the Go module proxy) for network-partition tests.

The server listens for its HTTP API on a loopback port; each proxy forwards a loopback listen address to an
upstream one, and toxics (here: ``timeout`` with 0 ms, which drops every byte and keeps the connections
open, as a partition does) cut its traffic until removed. ``-proxy-metrics`` exposes per-proxy byte
counters on ``/metrics``, so a test can show that a client's traffic really went through the proxy; they
count a connection's bytes when it closes (measured: 0 while a connection is open, all of it after).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .procs import ComponentError, ManagedProcess, free_port, start_process, wait_until
from .tools import ensure_toxiproxy

__all__ = ["Toxiproxy", "start_toxiproxy"]


@dataclass(frozen=True)
class Toxiproxy:
    """A running Toxiproxy server: its API address and process."""

    api: str
    process: ManagedProcess

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """One API call; the parsed JSON answer (None when empty). Refusals raise with Toxiproxy's reason."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            f"http://{self.api}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(req, timeout=10) as response:
                raw = response.read()
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            raise ComponentError("toxiproxy", f"{method} {path}: HTTP {exc.code}: {detail}") from exc
        return json.loads(raw) if raw.strip() else None

    def create_proxy(self, name: str, listen: str, upstream: str) -> None:
        """Forward ``listen`` (``host:port``) to ``upstream``."""
        self.request(
            "POST", "/proxies", {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        )

    def cut(self, name: str) -> None:
        """Drop every byte in both directions, connections left open (a partition, not a refusal)."""
        for stream in ("upstream", "downstream"):
            toxic = {
                "name": f"cut-{stream}",
                "type": "timeout",
                "stream": stream,
                "attributes": {"timeout": 0},
            }
            self.request("POST", f"/proxies/{name}/toxics", toxic)

    def restore(self, name: str) -> None:
        """Remove the cut: traffic flows again (connections dropped meanwhile stay dropped)."""
        for stream in ("upstream", "downstream"):
            self.request("DELETE", f"/proxies/{name}/toxics/cut-{stream}")

    def bytes_through(self, name: str) -> dict[str, float]:
        """``{"received": n, "sent": n}``: bytes the proxy read from and wrote to either side over the
        connections that have closed, per its Prometheus counters (toxiproxy_proxy_*_bytes_total)."""
        with urllib.request.urlopen(f"http://{self.api}/metrics", timeout=10) as response:
            text = response.read().decode()
        totals = {"received": 0.0, "sent": 0.0}
        pattern = re.compile(r"^toxiproxy_proxy_(received|sent)_bytes_total\{([^}]*)\} (\S+)$", re.M)
        for kind, labels, value in pattern.findall(text):
            if f'proxy="{name}"' in labels:
                totals[kind] += float(value)
        return totals


def start_toxiproxy(
    run_dir: Path, started: list[ManagedProcess], *, tied_to_parent: bool = False
) -> Toxiproxy:
    """Start ``toxiproxy-server`` on a free loopback port with its proxy metrics; append it to ``started``."""
    binary = ensure_toxiproxy(quiet=True)
    port = free_port()
    process = start_process(
        "toxiproxy",
        [str(binary), "-host", "127.0.0.1", "-port", str(port), "-proxy-metrics"],
        run_dir / "logs" / "toxiproxy.log",
        tied_to_parent=tied_to_parent,
    )
    started.append(process)
    proxy = Toxiproxy(f"127.0.0.1:{port}", process)
    wait_until("toxiproxy", lambda: proxy.request("GET", "/version") is not None, timeout=30, process=process)
    return proxy
