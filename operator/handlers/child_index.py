"""What the children's watches last reported of each child: enough to tell that a child is as applied.

A reconcile of a pipeline that has run before compares each child with the live object. Read from the API
server, that is a GET per child: 15,000 at a restart of 1,000 pipelines, each decoded, about half of the
restart's CPU and most of its memory peak. The watches (:mod:`.child_watch`) already see every child's
metadata, which carries the hash of what was last applied (``streamflow.io/applied-hash``) and, in its
managed fields, whether anyone else wrote the object since. A child whose hash equals the desired one and
that nobody else wrote since is as applied: no read. Anything else (not indexed yet, another hash, another
writer) is read and compared as before, so the index only ever saves a read, never decides a write.

For the FlinkDeployment, whose status the pipeline mirrors, the index also keeps what that status said
(:class:`FlinkObservation`) and when its event arrived.

Entries follow the watch events; a watch that lists again (a reconnect after its events expired) drops the
entries its listing no longer holds (:func:`listed`), so a child deleted while the watch was away is read.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fraud_operator.apply import APPLIED_HASH_ANNOTATION, FIELD_MANAGER
from fraud_operator.handlers.status import FlinkObservation, observe_flink

__all__ = [
    "ChildState",
    "changed_by_others",
    "clear",
    "complete",
    "flink_state",
    "listed",
    "note",
    "owned",
    "unchanged",
]

OWNER_KIND = "FraudPipeline"


@dataclass(frozen=True, slots=True)
class ChildState:
    """One child as its latest watch event showed it."""

    owner_uid: str | None  # the uid of the FraudPipeline owning it
    applied_hash: str | None
    by_others: bool  # another field manager wrote its spec or data at or after our latest apply
    seen_at: float  # monotonic arrival of the event
    flink: FlinkObservation | None = None  # a FlinkDeployment's status


_lock = threading.Lock()
# (kind, namespace, name) -> state
_children: dict[tuple[str, str, str], ChildState] = {}
# (kind, namespace, owner uid) -> names of its children: a pipeline's prune finds its own without a scan
# of every child (at a cold start of 1,000 pipelines the scans took seconds, holding the lock)
_by_owner: dict[tuple[str, str, str | None], set[str]] = {}
# (kind, namespace or None for all) whose watch has listed: the index holds every such child
_listed: set[tuple[str, str | None]] = set()


def changed_by_others(body: Mapping[str, Any]) -> bool:
    """Whether another field manager wrote the object's spec or data at or after our last apply.

    Status writes (the subresource) do not count: controllers report there. Our own applies show up as
    events too; they must not count as someone else's change.
    """
    entries = (body.get("metadata") or {}).get("managedFields") or []
    ours = max((str(e.get("time") or "") for e in entries if e.get("manager") == FIELD_MANAGER), default="")
    return any(
        e.get("manager") != FIELD_MANAGER
        and e.get("subresource") != "status"
        and str(e.get("time") or "") >= ours
        for e in entries
    )


def _owner_uid(meta: Mapping[str, Any]) -> str | None:
    for ref in meta.get("ownerReferences") or []:
        if ref.get("kind") == OWNER_KIND:
            return sys.intern(str(ref.get("uid")))  # one string per pipeline, not per child
    return None


def note(kind: str, type_: str | None, body: Mapping[str, Any]) -> None:
    """Record a watch event of a child of ``kind`` (``type_`` None: found by a listing)."""
    meta = body.get("metadata") or {}
    key = (kind, str(meta.get("namespace")), str(meta.get("name")))
    if type_ == "DELETED":
        with _lock:
            _drop(key)
        return
    state = ChildState(
        owner_uid=_owner_uid(meta),
        applied_hash=(meta.get("annotations") or {}).get(APPLIED_HASH_ANNOTATION),
        by_others=changed_by_others(body),
        seen_at=time.monotonic(),
        flink=observe_flink(body) if kind == "FlinkDeployment" else None,
    )
    with _lock:
        before = _children.get(key)
        if before is not None and before.owner_uid != state.owner_uid:
            _unown(key, before.owner_uid)
        _children[key] = state
        _by_owner.setdefault((kind, key[1], state.owner_uid), set()).add(key[2])


def _drop(key: tuple[str, str, str]) -> None:
    """Forget one child (the lock held)."""
    state = _children.pop(key, None)
    if state is not None:
        _unown(key, state.owner_uid)


def _unown(key: tuple[str, str, str], owner_uid: str | None) -> None:
    names = _by_owner.get((key[0], key[1], owner_uid))
    if names is not None:
        names.discard(key[2])
        if not names:
            del _by_owner[(key[0], key[1], owner_uid)]


def listed(kind: str, namespace: str | None, since: float) -> None:
    """A listing of ``kind`` (in ``namespace``, or everywhere) that started at ``since`` has ended (or
    found the kind not served): every entry it did not report (seen before it started) is of a child that
    no longer exists."""
    with _lock:
        _listed.add((kind, namespace))
        stale = [
            key
            for key, state in _children.items()
            if key[0] == kind and (namespace is None or key[1] == namespace) and state.seen_at < since
        ]
        for key in stale:
            _drop(key)


def unchanged(obj: Mapping[str, Any], owner_uid: str | None) -> bool:
    """Whether the child ``obj`` (adopted, with its applied hash) is known to be as applied, owned by
    ``owner_uid``: False means only "not known", to be read and compared."""
    meta = obj["metadata"]
    with _lock:
        state = _children.get((obj["kind"], meta["namespace"], meta["name"]))
    wanted = (meta.get("annotations") or {}).get(APPLIED_HASH_ANNOTATION)
    return (
        state is not None
        and not state.by_others
        and state.owner_uid == owner_uid
        and wanted is not None
        and state.applied_hash == wanted
    )


def complete(kinds: Iterable[str], namespace: str) -> bool:
    """Whether the watches of every kind in ``kinds`` have listed ``namespace`` (or every namespace)."""
    with _lock:
        return all((k, namespace) in _listed or (k, None) in _listed for k in kinds)


def owned(kind: str, namespace: str, owner_uid: str | None) -> list[str] | None:
    """The names of the children of ``kind`` in ``namespace`` owned by ``owner_uid``; None when the kind's
    watch has not listed the namespace yet (the index may lack some)."""
    with _lock:
        if (kind, namespace) not in _listed and (kind, None) not in _listed:
            return None
        return sorted(_by_owner.get((kind, namespace, owner_uid), ()))


def flink_state(namespace: str, name: str) -> ChildState | None:
    """The FlinkDeployment ``name`` as its latest event showed it (None: no event of it)."""
    with _lock:
        return _children.get(("FlinkDeployment", namespace, name))


def clear() -> None:
    """An operator (re)start: the watches' listings refill the index."""
    with _lock:
        _children.clear()
        _by_owner.clear()
        _listed.clear()
