"""Certificates for the local control plane, made with the openssl command line.

One CA signs the API server's serving certificate and the client certificates (admin in system:masters,
the controller manager as itself); a separate RSA key signs service-account tokens.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from .procs import ComponentError

__all__ = ["ControlPlaneCerts", "make_certs"]


@dataclass(frozen=True)
class ControlPlaneCerts:
    """Paths of every key and certificate the control plane needs."""

    dir: Path
    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    admin_cert: Path
    admin_key: Path
    kcm_cert: Path
    kcm_key: Path
    sa_key: Path
    sa_pub: Path


def _openssl(args: list[str], log: Path) -> None:
    with log.open("a") as fh:
        result = subprocess.run(["openssl", *args], stdout=fh, stderr=subprocess.STDOUT, check=False)
    if result.returncode != 0:
        raise ComponentError("certificates", f"openssl {args[0]} failed", log)


def _client_or_server(
    d: Path, name: str, subject: str, ca: tuple[Path, Path], log: Path, san: str | None = None
) -> tuple[Path, Path]:
    key, csr, crt, ext = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.crt", d / f"{name}.ext"
    usage = "serverAuth" if san else "clientAuth"
    lines = [
        "basicConstraints=CA:FALSE",
        "keyUsage=critical,digitalSignature,keyEncipherment",
        f"extendedKeyUsage={usage}",
    ]
    if san:
        lines.append(f"subjectAltName={san}")
    ext.write_text("\n".join(lines) + "\n")
    _openssl(["genrsa", "-out", str(key), "2048"], log)
    _openssl(["req", "-new", "-key", str(key), "-subj", subject, "-out", str(csr)], log)
    _openssl(
        [
            "x509",
            "-req",
            "-in",
            str(csr),
            "-CA",
            str(ca[0]),
            "-CAkey",
            str(ca[1]),
            "-CAcreateserial",
            "-out",
            str(crt),
            "-days",
            "365",
            "-sha256",
            "-extfile",
            str(ext),
        ],
        log,
    )
    return crt, key


def make_certs(directory: Path) -> ControlPlaneCerts:
    """Create a fresh CA, serving, client and service-account keys in ``directory``."""
    if shutil.which("openssl") is None:
        raise ComponentError("certificates", "the `openssl` command is not on PATH")
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "openssl.log"
    ca_key, ca_cert = directory / "ca.key", directory / "ca.crt"
    _openssl(["genrsa", "-out", str(ca_key), "2048"], log)
    _openssl(
        [
            "req",
            "-x509",
            "-new",
            "-key",
            str(ca_key),
            "-subj",
            "/CN=streamflow-local-ca",
            "-days",
            "365",
            "-sha256",
            "-out",
            str(ca_cert),
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
        ],
        log,
    )
    ca = (ca_cert, ca_key)
    server = _client_or_server(
        directory,
        "apiserver",
        "/CN=kube-apiserver",
        ca,
        log,
        san="IP:127.0.0.1,DNS:localhost,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc",
    )
    admin = _client_or_server(directory, "admin", "/O=system:masters/CN=streamflow-admin", ca, log)
    kcm = _client_or_server(directory, "kcm", "/CN=system:kube-controller-manager", ca, log)
    sa_key, sa_pub = directory / "sa.key", directory / "sa.pub"
    _openssl(["genrsa", "-out", str(sa_key), "2048"], log)
    _openssl(["rsa", "-in", str(sa_key), "-pubout", "-out", str(sa_pub)], log)
    return ControlPlaneCerts(
        directory, ca_cert, ca_key, server[0], server[1], admin[0], admin[1], kcm[0], kcm[1], sa_key, sa_pub
    )
