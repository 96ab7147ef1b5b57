"""Clients shared by the handlers, created once per operator run (settings: :mod:`fraud_operator.settings`).

Kept out of the handler modules so that importing them (which registers the handlers) needs no cluster.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fraud_operator.apply import Applier
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

__all__ = [
    "CONNECTIONS",
    "HANDLER_THREADS",
    "Clients",
    "clients",
    "pipeline_lock",
    "reset_clients",
]


@dataclass(frozen=True)
class Clients:
    """The Kubernetes clients of one operator run."""

    api_client: Any
    applier: Applier
    core: Any


# Workers of the operator's queue, which runs the reconciles (kopf's default thread pool on 2 cores is 6).
# A reconcile mostly waits for the API server, so more of them at once shorten a cold start or a restart
# of many pipelines.
HANDLER_THREADS = 16
CONNECTIONS = HANDLER_THREADS + 8

_clients: Clients | None = None
_clients_lock = threading.Lock()


def _send_bearer_token(configuration: Any) -> None:
    """Make the client really send a loaded token.

    kubernetes==36's kubeconfig and in-cluster loaders store the token under ``api_key["authorization"]``,
    but ``Configuration.auth_settings()`` only sends ``api_key["BearerToken"]``: without this, a
    ServiceAccount token (the operator's identity in a Deployment) is silently dropped and every request is
    anonymous. The in-cluster loader refreshes the token through a hook, so the copy follows it.
    """
    token = configuration.api_key.get("authorization")
    if not token:
        return
    configuration.api_key["BearerToken"] = token
    refresh = configuration.refresh_api_key_hook
    if refresh is not None:

        def refresh_and_copy(conf: Any) -> None:
            refresh(conf)
            if conf.api_key.get("authorization"):
                conf.api_key["BearerToken"] = conf.api_key["authorization"]

        configuration.refresh_api_key_hook = refresh_and_copy


def _load_api_client() -> Any:
    configuration = client.Configuration()
    # One connection per thread that may call the API at once: the queue's workers and kopf's handler threads.
    configuration.connection_pool_maxsize = CONNECTIONS
    try:
        config.load_incluster_config(client_configuration=configuration)
        api_client = client.ApiClient(configuration)
    except ConfigException:
        # The client reads KUBECONFIG when it is imported; read it now so the current environment counts.
        configuration = client.Configuration()
        configuration.connection_pool_maxsize = CONNECTIONS
        api_client = config.new_client_from_config(
            config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
        )
    _send_bearer_token(api_client.configuration)
    return api_client


def reset_clients() -> Clients:
    """(Re)create the clients from the current environment; called at operator startup."""
    global _clients
    with _clients_lock:
        api_client = _load_api_client()
        _clients = Clients(
            api_client=api_client, applier=Applier(api_client), core=client.CoreV1Api(api_client)
        )
        return _clients


def clients() -> Clients:
    """The clients of this run, created on first use."""
    current = _clients
    return current if current is not None else reset_clients()


_locks: dict[tuple[str, str], threading.Lock] = {}
_locks_guard = threading.Lock()


@contextmanager
def pipeline_lock(namespace: str, name: str) -> Iterator[None]:
    """Serialize reconciles of one pipeline (spec handlers, the resync timer and model events overlap)."""
    with _locks_guard:
        lock = _locks.setdefault((namespace, name), threading.Lock())
    with lock:
        yield
