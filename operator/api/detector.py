"""Detector part of the FraudPipeline API: parallelism, alpha, alert threshold and the rules FR-001 to FR-007.

The rules' part is generated from ``fraud_jobs.rules.RULES``, the one definition of every rule's parameters,
bounds, defaults and descriptions: ``spec.detector.rules.<rule name>`` has the job rule's fields in camelCase,
durations spelled out (``window_s`` is ``windowSeconds``), and a set of ids (the blocklists) as a list with
set semantics of at most 1000 entries (the object's size budget; control messages can grow it at run time).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, Literal, get_args, get_origin

from fraud_jobs.rules import RULES, Rule
from fraud_operator.api.common import ApiModel, cel
from pydantic import Field, create_model, model_validator
from pydantic.fields import FieldInfo

__all__ = [
    "AlertBudgetPolicy",
    "BlocklistRule",
    "DetectorRules",
    "DetectorSpec",
    "HighValueRule",
    "ImpossibleTravelRule",
    "MlAnomalyRule",
    "RuleBase",
    "TerminalRiskRule",
    "UnusualHourRule",
    "VelocityRule",
    "api_field_name",
]

MAX_IDS: Final = 1000
"""Entries of a blocklist in the API (the pipeline object must fit etcd's size limit)."""


class AlertBudgetPolicy(ApiModel):
    """How many alerts a day the investigators can review."""

    alerts_per_day: int = Field(
        ge=1,
        le=1_000_000,
        description="Alerts a day; measured on the model's validation traffic, so a pipeline with more "
        "events a day than spec.alerting.eventsPerDay of its model gets proportionally more.",
    )


class RuleBase(ApiModel):
    """What every generated rule model derives from (the fields come from the job's rule)."""


def api_field_name(job_field: str) -> str:
    """The API name (snake_case, before camelCase) of a job rule field: ``window_s`` -> ``window_seconds``."""
    return job_field[:-2] + "_seconds" if job_field.endswith("_s") else job_field


def _api_field(info: FieldInfo) -> tuple[Any, Any]:
    if get_origin(info.annotation) is frozenset:
        (item,) = get_args(info.annotation)
        listed: Any = Field(
            default_factory=list,
            max_length=MAX_IDS,
            description=info.description,
            json_schema_extra={"x-kubernetes-list-type": "set"},
        )
        return list[item], listed  # type: ignore[valid-type]
    return info.annotation, FieldInfo.merge_field_infos(info)


def _title(rule: type[Rule]) -> str:
    return "".join(part.capitalize() for part in rule.name.split("_")) + "Rule"


def _summary(rule: type[Rule]) -> str:
    """The first paragraph of the job rule's docstring, on one line."""
    return " ".join((rule.__doc__ or rule.code).strip().split("\n\n")[0].split())


def _api_rule(rule: type[Rule]) -> type[RuleBase]:
    fields = {api_field_name(name): _api_field(info) for name, info in rule.model_fields.items()}
    doc = _summary(rule)
    model: type[RuleBase] = create_model(  # type: ignore[call-overload]
        _title(rule), __base__=RuleBase, __doc__=doc, __module__=__name__, **fields
    )
    return model


RULE_MODELS: Final[dict[str, type[RuleBase]]] = {rule.name: _api_rule(rule) for rule in RULES}
"""Rule name (the key under spec.detector.rules) -> its generated API model."""


def _rules_model() -> type[ApiModel]:
    fields: dict[str, Any] = {
        rule.name: (
            RULE_MODELS[rule.name],
            Field(default_factory=RULE_MODELS[rule.name], description=_summary(rule)),
        )
        for rule in RULES
    }
    doc = "Thresholds and weights of the rules FR-001 to FR-007 (the detector's documented defaults)."
    model: type[ApiModel] = create_model(
        "DetectorRules", __base__=ApiModel, __doc__=doc, __module__=__name__, **fields
    )
    return model


if TYPE_CHECKING:
    DetectorRules = ApiModel
    HighValueRule = VelocityRule = ImpossibleTravelRule = UnusualHourRule = RuleBase
    BlocklistRule = MlAnomalyRule = TerminalRiskRule = RuleBase
else:
    DetectorRules = _rules_model()
    HighValueRule = RULE_MODELS["high_value"]
    VelocityRule = RULE_MODELS["velocity"]
    ImpossibleTravelRule = RULE_MODELS["impossible_travel"]
    UnusualHourRule = RULE_MODELS["unusual_hour"]
    BlocklistRule = RULE_MODELS["blocklist"]
    MlAnomalyRule = RULE_MODELS["ml_anomaly"]
    TerminalRiskRule = RULE_MODELS["terminal_risk"]


class DetectorSpec(ApiModel):
    """How the detector job scores transactions and how wide it runs."""

    model_config = ApiModel.model_config | {
        "json_schema_extra": cel(
            (
                "self.parallelism <= self.maxParallelism",
                "parallelism must not exceed maxParallelism (keyed state cannot be rescaled beyond it)",
                ".parallelism",
            ),
        )
    }

    parallelism: int = Field(
        default=1,
        ge=1,
        le=1024,
        description="Parallelism of the Flink job; `kubectl scale fp/<name> --replicas=N` sets this field.",
    )
    max_parallelism: int = Field(
        default=128,
        ge=1,
        le=32768,
        description="Flink max parallelism (key groups); the upper bound for later rescaling with state.",
    )
    alpha: float = Field(
        default=0.2,
        ge=0.0,
        le=1.0,
        description="Share of the ML score: score = (1 - alpha) * ruleScore + alpha * modelScore; only for "
        "models without a learned combiner (streamflow model train --fixed-blend, or older models).",
    )
    alert_threshold: float = Field(
        default=0.4,
        ge=0.0,
        le=1.0,
        description="Combined score at or above which an alert is raised (unless alertBudget is set).",
    )
    alert_budget: AlertBudgetPolicy | None = Field(
        default=None,
        description="Alert by budget instead of by score: the threshold comes from the active model's "
        "spec.alerting (the largest budget there not above this one) and replaces alertThreshold.",
    )
    state_ttl_seconds: int = Field(
        default=7776000,
        ge=3600,
        description="Keyed state of a key inactive this long is dropped.",
    )
    label_delay_seconds: int = Field(
        default=604800,
        ge=0,
        description="How long after a transaction its label becomes known.",
    )
    alert_delivery: Literal["exactly-once", "at-least-once"] = Field(
        default="exactly-once",
        description=(
            "exactly-once: alerts reach read_committed consumers when the checkpoint covering them completes"
            " (up to one checkpoint interval later), never twice. at-least-once: alerts are written at once;"
            " after a failure some are written again with the same alertId, for the consumer to de-duplicate."
        ),
    )
    rules: DetectorRules = Field(default_factory=DetectorRules, description="Rule thresholds and weights.")

    @model_validator(mode="after")
    def _check(self) -> DetectorSpec:
        if self.parallelism > self.max_parallelism:
            raise ValueError(
                f"parallelism: {self.parallelism} exceeds maxParallelism {self.max_parallelism} "
                "(keyed state cannot be rescaled beyond it)"
            )
        return self
