"""The API server's verdict on creating a pipeline's children, remembered per shape.

A new pipeline's children are dry-run before any of them is written, so that a spec the API server would
refuse writes nothing. N pipelines of one spec differ only in their name and its derivatives (child names,
labels, selectors, topic names), and those the operator checks itself (a DNS-1035 label short enough for
every derived name, ``metadata.name``). So creating the children of a spec the API server has already
accepted in a namespace, with the same models, is not judged again: at a cold start of 1,000 pipelines on
3 models that is a few dozen dry runs instead of 18,000. What a reuse does not re-check is what depends on
the name alone, or on the cluster's state rather than the objects: an admission policy keyed on names, a
ResourceQuota running out. Such a refusal comes from the real apply instead (Reconciled=False,
ApplyRejected, with the children applied before it written). Updates of existing children are always
dry-run: their verdict depends on the live object (immutable fields, transition rules).

One reconcile at a time judges a shape (:func:`claim`, :func:`release`): at a cold start every worker
reconciles a new pipeline of the same shape at once, and each would otherwise dry-run all of its children
before the first verdict is in (224 dry runs for 14 kinds and 16 workers instead of 14).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time

from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline

__all__ = ["accept", "claim", "forget_all", "release", "shape"]

# Distinct shapes remembered; past it the memory starts over (one dry run per shape again).
_LIMIT = 1024
_accepted: set[str] = set()
# What of a model no child is rendered from, and which changes all the time (usedBy at a cold start).
_MODEL_NOISE = {"metadata": {"uid", "generation", "labels", "annotations"}, "status": {"used_by"}}
_lock = threading.Lock()
# key -> set when the reconcile judging it is done (accepted or not)
_judging: dict[str, threading.Event] = {}
# How long a reconcile waits for another one's verdict before it judges the shape itself.
_WAIT_SECONDS = 30.0


def shape(pipeline: FraudPipeline, model: FraudModel | None, shadow: FraudModel | None) -> str:
    """What the children's content depends on besides the pipeline's name: namespace, spec, models."""
    parts = [
        pipeline.metadata.namespace,
        pipeline.spec.model_dump(mode="json"),
        *(None if m is None else m.model_dump(mode="json", exclude=_MODEL_NOISE) for m in (model, shadow)),
    ]
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def _key(shape_: str, created: tuple[str, ...]) -> str:
    return shape_ + ":" + ",".join(created)


def accept(shape_: str, created: tuple[str, ...]) -> None:
    """The API server accepted (dry run) creating these children for this shape."""
    if not created:
        return
    with _lock:
        if len(_accepted) >= _LIMIT:
            _accepted.clear()
        _accepted.add(_key(shape_, created))


def claim(shape_: str, created: tuple[str, ...]) -> bool:
    """True when creating these children for this shape is accepted, after waiting for the reconcile that is
    judging it, if any; False when the caller is to judge it: it must then call :func:`release` when done.

    A judgment that ends without acceptance (a refusal, an error) hands the turn to one of the waiters.
    """
    if not created:
        return True
    key = _key(shape_, created)
    deadline = time.monotonic() + _WAIT_SECONDS
    while True:
        with _lock:
            if key in _accepted:
                return True
            judge = _judging.get(key)
            if judge is None or time.monotonic() >= deadline:
                _judging.setdefault(key, threading.Event())
                return False
        judge.wait(max(0.0, deadline - time.monotonic()))


def release(shape_: str, created: tuple[str, ...]) -> None:
    """The judgment claimed by :func:`claim` is over (accepted or not): the waiters look again."""
    if not created:
        return
    with _lock:
        judge = _judging.pop(_key(shape_, created), None)
    if judge is not None:
        judge.set()


def forget_all() -> None:
    """Judge every shape again (tests; a new operator run)."""
    with _lock:
        _accepted.clear()
