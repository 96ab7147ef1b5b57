"""A real Kubernetes control plane as local processes: etcd, kube-apiserver and kube-controller-manager.

Envtest-style, but with the garbage-collector and namespace controllers running, RBAC on and the PodSecurity
admission plugin on, so owner-reference cascades, namespace deletion and Pod Security are the real ones.
"""

from __future__ import annotations

import json
import os
import ssl
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from .certs import ControlPlaneCerts, make_certs
from .kube_build import ensure_kube_binaries
from .procs import ManagedProcess, free_port, start_process, wait_until

PROFILING_ENV = "STREAMFLOW_DEV_APISERVER_PROFILING"

__all__ = ["PROFILING_ENV", "KubeEndpoints", "start_kube", "write_kubeconfig"]


# Log lines of kube-controller-manager once the garbage collector and the namespace controller work.
_KCM_READY_MARKERS = ("Proceeding to collect garbage", 'Caches are synced" controller="namespace"')


@dataclass(frozen=True)
class KubeEndpoints:
    """How to reach the control plane that was started."""

    server: str
    kubeconfig: Path
    bin_dir: Path
    etcd_url: str


def write_kubeconfig(path: Path, server: str, ca: Path, cert: Path, key: Path, user: str) -> Path:
    """Write a client-certificate kubeconfig (JSON is valid YAML) for ``user`` at ``path``."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "streamflow-local", "cluster": {"server": server, "certificate-authority": str(ca)}}
        ],
        "users": [{"name": user, "user": {"client-certificate": str(cert), "client-key": str(key)}}],
        "contexts": [{"name": "streamflow-local", "context": {"cluster": "streamflow-local", "user": user}}],
        "current-context": "streamflow-local",
    }
    path.write_text(json.dumps(config, indent=2) + "\n")
    path.chmod(0o600)
    return path


def _get(url: str, certs: ControlPlaneCerts) -> tuple[int, bytes]:
    ctx = ssl.create_default_context(cafile=str(certs.ca_cert))
    ctx.load_cert_chain(str(certs.admin_cert), str(certs.admin_key))
    try:
        with urllib.request.urlopen(url, context=ctx, timeout=5) as resp:
            return int(resp.status), bytes(resp.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), exc.read()


def start_kube(
    run_dir: Path, started: list[ManagedProcess], *, tied_to_parent: bool = False
) -> KubeEndpoints:
    """Start etcd, the API server and the controller manager, appending each process to ``started``."""
    bins = ensure_kube_binaries()
    kdir = run_dir / "kube"
    certs = make_certs(kdir / "pki")
    logs = run_dir / "logs"

    client_port, peer_port = free_port(), free_port()
    etcd_url = f"http://127.0.0.1:{client_port}"
    etcd = start_process(
        "etcd",
        [
            str(bins / "etcd"),
            "--name=streamflow",
            f"--data-dir={kdir / 'etcd'}",
            f"--listen-client-urls={etcd_url}",
            f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=streamflow=http://127.0.0.1:{peer_port}",
            "--unsafe-no-fsync=true",
            "--quota-backend-bytes=4294967296",
        ],
        logs / "etcd.log",
        tied_to_parent=tied_to_parent,
    )
    started.append(etcd)

    def etcd_ready() -> bool:
        with urllib.request.urlopen(f"{etcd_url}/health", timeout=2) as resp:
            return bool(json.loads(resp.read()).get("health") == "true")

    wait_until("etcd", etcd_ready, timeout=60, process=etcd, what="healthy")

    port = free_port()
    server = f"https://127.0.0.1:{port}"
    apiserver = start_process(
        "kube-apiserver",
        [
            str(bins / "kube-apiserver"),
            f"--etcd-servers={etcd_url}",
            f"--cert-dir={kdir / 'apiserver-certs'}",
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            "--service-cluster-ip-range=10.0.0.0/24",
            "--allow-privileged=true",
            "--authorization-mode=RBAC",
            "--enable-admission-plugins=NamespaceLifecycle,PodSecurity",
            "--disable-admission-plugins=ServiceAccount",
            f"--client-ca-file={certs.ca_cert}",
            f"--tls-cert-file={certs.server_cert}",
            f"--tls-private-key-file={certs.server_key}",
            f"--service-account-issuer={server}",
            f"--service-account-key-file={certs.sa_pub}",
            f"--service-account-signing-key-file={certs.sa_key}",
            "--endpoint-reconciler-type=none",
            # /debug/pprof for a benchmark's CPU profile (benchmarks/operator_scale.py --apiserver-profile).
            f"--profiling={'true' if os.environ.get(PROFILING_ENV) else 'false'}",
        ],
        logs / "kube-apiserver.log",
        tied_to_parent=tied_to_parent,
    )
    started.append(apiserver)

    def api_ready() -> bool:
        status, _ = _get(f"{server}/readyz", certs)
        if status != 200:
            return False
        status, _ = _get(f"{server}/api/v1/namespaces/default", certs)
        return status == 200

    wait_until(
        "kube-apiserver",
        api_ready,
        timeout=120,
        process=apiserver,
        what="ready (/readyz and namespace default)",
    )

    kubeconfig = write_kubeconfig(
        run_dir / "kubeconfig", server, certs.ca_cert, certs.admin_cert, certs.admin_key, "streamflow-admin"
    )
    kcm_config = write_kubeconfig(
        kdir / "kcm.kubeconfig",
        server,
        certs.ca_cert,
        certs.kcm_cert,
        certs.kcm_key,
        "system:kube-controller-manager",
    )
    # Each controller acts as its own service account (system:controller:* roles bootstrapped by the API
    # server), as in a real cluster, instead of one all-powerful identity.
    kcm = start_process(
        "kube-controller-manager",
        [
            str(bins / "kube-controller-manager"),
            f"--kubeconfig={kcm_config}",
            f"--authentication-kubeconfig={kcm_config}",
            f"--authorization-kubeconfig={kcm_config}",
            "--controllers=garbage-collector-controller,namespace-controller",
            "--leader-elect=false",
            "--secure-port=0",
            "--concurrent-gc-syncs=5",
            "--use-service-account-credentials=true",
        ],
        logs / "kube-controller-manager.log",
        tied_to_parent=tied_to_parent,
    )
    started.append(kcm)

    def controllers_running() -> bool:
        text = kcm.log.read_text(errors="replace")
        return all(marker in text for marker in _KCM_READY_MARKERS)

    wait_until(
        "kube-controller-manager", controllers_running, timeout=180, process=kcm, what="collecting garbage"
    )
    return KubeEndpoints(server=server, kubeconfig=kubeconfig, bin_dir=bins, etcd_url=etcd_url)
