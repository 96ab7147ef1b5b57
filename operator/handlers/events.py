"""Kubernetes Events about the operator's objects, sent by the thread that has something to report.

kopf's ``kopf.info``/``kopf.warn`` queue each Event for a poster task on kopf's event loop, which sends it
with its own HTTP client: at a cold start of 1,000 pipelines (three Events each) that was about a quarter
of the CPU of the thread that also reads kopf's watch streams, and it worked from the operator's workers
only while they carried a copy of kopf's context. Here an Event is one request on the connection pool of
the caller's other requests (:meth:`fraud_operator.apply.Applier.create_event`). As with kopf, a post that
fails is logged and dropped: an Event reports, it is never the reason a reconcile fails.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fraud_operator.handlers.context import clients

__all__ = ["REPORTING_COMPONENT", "event_for", "info", "post", "warn"]

logger = logging.getLogger(__name__)

# The "From" column of `kubectl describe`, and the events.k8s.io reportingController.
REPORTING_COMPONENT = "streamflow-operator"
_MAX_MESSAGE = 1024
_ELLIPSIS = "..."
_INSTANCE = socket.gethostname()[:128]  # the pod's name in a Deployment


def _reference(body: Mapping[str, Any]) -> dict[str, Any]:
    meta = body.get("metadata") or {}
    ref = {"apiVersion": body.get("apiVersion"), "kind": body.get("kind")}
    ref.update({key: meta[key] for key in ("name", "namespace", "uid") if meta.get(key)})
    return ref


def _shortened(message: str) -> str:
    """At most the API server's 1 KiB of message, its start and its end kept."""
    if len(message) <= _MAX_MESSAGE:
        return message
    keep = _MAX_MESSAGE - len(_ELLIPSIS)
    return message[: keep // 2] + _ELLIPSIS + message[-(keep - keep // 2) :]


def event_for(
    body: Mapping[str, Any], type_: str, reason: str, message: str, now: datetime | None = None
) -> dict[str, Any]:
    """A core/v1 Event about object ``body`` (its apiVersion, kind and metadata are enough)."""
    now = now or datetime.now(UTC)
    ref = _reference(body)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"namespace": ref.get("namespace") or "default", "generateName": f"{ref.get('name')}."},
        "involvedObject": ref,
        "type": type_,
        "reason": reason,
        "message": _shortened(message),
        "action": reason,
        "count": 1,
        "firstTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "lastTimestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventTime": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "reportingComponent": REPORTING_COMPONENT,
        "reportingInstance": _INSTANCE,
        "source": {"component": REPORTING_COMPONENT},
    }


def post(body: Mapping[str, Any], type_: str, reason: str, message: str) -> bool:
    """Post an Event of ``type_`` ("Normal" or "Warning") about ``body``; False (logged) when it failed."""
    event = event_for(body, type_, reason, message)
    try:
        clients().applier.create_event(event)
    except Exception as exc:  # the API server, the network: whatever it is, the report is lost, not the work
        logger.warning("event %s %s about %s not posted: %s", type_, reason, event["involvedObject"], exc)
        return False
    return True


def info(body: Mapping[str, Any], *, reason: str, message: str) -> bool:
    """A Normal Event about ``body``."""
    return post(body, "Normal", reason, message)


def warn(body: Mapping[str, Any], *, reason: str, message: str) -> bool:
    """A Warning Event about ``body``."""
    return post(body, "Warning", reason, message)
