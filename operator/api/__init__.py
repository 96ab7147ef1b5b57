"""Typed API of StreamFlow's custom resources (streamflow.io/v1alpha1); crds/ is generated from it."""

from __future__ import annotations

from fraud_operator.api.common import API_VERSION, GROUP, VERSION, Condition, LocalObjectReference, ObjectMeta
from fraud_operator.api.model import FraudModel, FraudModelSpec, FraudModelStatus
from fraud_operator.api.pipeline import FraudPipeline, FraudPipelineSpec, FraudPipelineStatus

__all__ = [
    "API_VERSION",
    "GROUP",
    "VERSION",
    "Condition",
    "FraudModel",
    "FraudModelSpec",
    "FraudModelStatus",
    "FraudPipeline",
    "FraudPipelineSpec",
    "FraudPipelineStatus",
    "LocalObjectReference",
    "ObjectMeta",
]
