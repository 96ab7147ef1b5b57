"""Building blocks shared by the FraudPipeline and FraudModel APIs.

Every spec model derives from :class:`ApiModel` so that Python code uses snake_case while the
Kubernetes objects use camelCase, and so that unknown fields are refused instead of silently dropped.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

__all__ = [
    "API_VERSION",
    "DNS1035_LABEL",
    "DNS1123_SUBDOMAIN",
    "GROUP",
    "VERSION",
    "ApiModel",
    "Condition",
    "ConditionStatus",
    "K8sName",
    "LabelKey",
    "LabelValue",
    "LocalObjectReference",
    "ObjectMeta",
    "StatusModel",
    "cel",
]

GROUP: Final = "streamflow.io"
VERSION: Final = "v1alpha1"
API_VERSION: Final = "streamflow.io/v1alpha1"

DNS1123_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
DNS1035_LABEL = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

K8sName = Annotated[str, StringConstraints(pattern=DNS1123_SUBDOMAIN, min_length=1, max_length=253)]
# Label keys and values as the API server validates them on the children that carry them (an optional
# DNS-1123 prefix and a name of at most 63 characters; a value of at most 63, possibly empty), so a bad label
# is refused on the pipeline naming its field instead of failing a child's apply.
LabelKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?(\.[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)*/)?"
        r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$",
        min_length=1,
        max_length=253,
    ),
]
LabelValue = Annotated[
    str,
    StringConstraints(pattern=r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$", max_length=63),
]

ConditionStatus = Literal["True", "False", "Unknown"]


def cel(*rules: tuple[str, str] | tuple[str, str, str]) -> dict[str, Any]:
    """Return ``json_schema_extra`` carrying CEL rules as ``(rule, message[, fieldPath])`` tuples.

    Kept next to the model it guards so the Python validator and the API server's rule are reviewed together.
    """
    validations: list[dict[str, str]] = []
    for item in rules:
        entry = {"rule": item[0], "message": item[1]}
        if len(item) == 3:
            entry["fieldPath"] = item[2]
        validations.append(entry)
    return {"x-kubernetes-validations": validations}


class ApiModel(BaseModel):
    """Base of all API models: camelCase on the wire, unknown fields refused."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
    )


class StatusModel(ApiModel):
    """Base of status models: read leniently (the API server prunes unknown status fields anyway)."""

    model_config = ApiModel.model_config | {"extra": "ignore"}


class LocalObjectReference(ApiModel):
    """Reference to another object by name in the same namespace."""

    name: K8sName = Field(description="Name of the referenced object in the same namespace.")


class Condition(StatusModel):
    """One observation of the object's state, following the Kubernetes condition conventions."""

    type: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9]*$", max_length=316)] = Field(
        description="Type of condition in CamelCase, e.g. Ready, Progressing, Degraded, TopicsReady."
    )
    status: ConditionStatus = Field(description="Status of the condition: True, False or Unknown.")
    reason: Annotated[str, StringConstraints(max_length=1024)] = Field(
        default="",
        description="Machine-readable CamelCase reason of the last transition, e.g. JobRunning.",
    )
    message: Annotated[str, StringConstraints(max_length=32768)] = Field(
        default="", description="Human-readable explanation of the last transition."
    )
    last_transition_time: datetime | None = Field(
        default=None, description="When the condition last changed from one status to another (RFC 3339)."
    )
    observed_generation: int | None = Field(
        default=None,
        ge=0,
        description="metadata.generation of the object that this condition was computed from.",
    )


class ObjectMeta(BaseModel):
    """The parts of Kubernetes object metadata that rendering needs; the rest is ignored."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)

    name: K8sName = Field(description="Name of the object.")
    namespace: K8sName = Field(default="default", description="Namespace of the object.")
    labels: dict[str, str] = Field(default_factory=dict, description="Labels of the object.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations of the object.")
    generation: int | None = Field(default=None, description="Generation of the object's spec.")
    uid: str | None = Field(default=None, description="Unique id assigned by the API server.")
