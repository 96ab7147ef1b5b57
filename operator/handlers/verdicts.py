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
"""

from __future__ import annotations

import hashlib
import json
import threading

from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline

__all__ = ["accept", "accepted", "forget_all", "shape"]

# Distinct shapes remembered; past it the memory starts over (one dry run per shape again).
_LIMIT = 1024
_accepted: set[str] = set()
# What of a model no child is rendered from, and which changes all the time (usedBy at a cold start).
_MODEL_NOISE = {"metadata": {"uid", "generation", "labels", "annotations"}, "status": {"used_by"}}
_lock = threading.Lock()


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


def accepted(shape_: str, created: tuple[str, ...]) -> bool:
    """Whether creating children of these kinds (in render order) for this shape was accepted before."""
    if not created:
        return True
    with _lock:
        return _key(shape_, created) in _accepted


def accept(shape_: str, created: tuple[str, ...]) -> None:
    """The API server accepted (dry run) creating these children for this shape."""
    if not created:
        return
    with _lock:
        if len(_accepted) >= _LIMIT:
            _accepted.clear()
        _accepted.add(_key(shape_, created))


def forget_all() -> None:
    """Judge every shape again (tests; a new operator run)."""
    with _lock:
        _accepted.clear()
