"""Kubernetes condition bookkeeping for status.conditions (kopf has no conditions API).

Pure functions over plain condition dicts so a handler can compute the whole status and patch it once;
``lastTransitionTime`` moves only when a condition's status changes, as ``kubectl wait`` and ArgoCD expect.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from fraud_operator.api.common import ConditionStatus

__all__ = ["condition_status", "set_condition"]


def _timestamp(now: datetime) -> str:
    return now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def set_condition(
    conditions: Iterable[Mapping[str, Any]],
    type_: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    *,
    observed_generation: int | None,
    now: datetime,
) -> list[dict[str, Any]]:
    """Return ``conditions`` with ``type_`` set; other conditions keep their order and content."""
    if status not in ("True", "False", "Unknown"):
        raise ValueError(f"condition {type_}: status must be True, False or Unknown, got {status!r}")
    if not reason or not reason[0].isalpha() or not reason.replace("_", "").isalnum():
        raise ValueError(f"condition {type_}: reason must be a CamelCase word, got {reason!r}")
    result: list[dict[str, Any]] = []
    found = False
    for existing in conditions:
        if existing.get("type") != type_:
            result.append(dict(existing))
            continue
        found = True
        unchanged = existing.get("status") == status and existing.get("lastTransitionTime")
        result.append(
            {
                "type": type_,
                "status": status,
                "reason": reason,
                "message": message,
                "lastTransitionTime": existing["lastTransitionTime"] if unchanged else _timestamp(now),
                **({"observedGeneration": observed_generation} if observed_generation is not None else {}),
            }
        )
    if not found:
        entry: dict[str, Any] = {
            "type": type_,
            "status": status,
            "reason": reason,
            "message": message,
            "lastTransitionTime": _timestamp(now),
        }
        if observed_generation is not None:
            entry["observedGeneration"] = observed_generation
        result.append(entry)
    return result


def condition_status(conditions: Iterable[Mapping[str, Any]], type_: str) -> str | None:
    """Status of condition ``type_`` ("True", "False", "Unknown"), or None when absent."""
    for condition in conditions:
        if condition.get("type") == type_:
            value = condition.get("status")
            return str(value) if value is not None else None
    return None
