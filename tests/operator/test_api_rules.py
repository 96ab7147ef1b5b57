"""The rules' parameters are defined once (fraud_jobs.rules.RULES); the API and the rendered config follow."""

from __future__ import annotations

from typing import Any

import annotated_types
import pytest
from fraud_jobs.config import RULE_FIELDS, DetectorConfig
from fraud_jobs.rules import RULES, Rule
from fraud_operator.api.detector import RULE_MODELS, DetectorSpec, api_field_name
from fraud_operator.render.config import detector_section
from pydantic import ValidationError
from pydantic.fields import FieldInfo

BOUNDS = {
    annotated_types.Ge: "ge",
    annotated_types.Gt: "gt",
    annotated_types.Le: "le",
    annotated_types.Lt: "lt",
}


def _bounds(info: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in info.metadata:
        attribute = BOUNDS.get(type(item))
        if attribute is not None:
            found[type(item).__name__] = getattr(item, attribute)
    return found


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.code)
def test_every_job_parameter_is_in_the_api_with_its_bounds_default_and_description(rule: type[Rule]) -> None:
    api = RULE_MODELS[rule.name].model_fields
    assert set(api) == {api_field_name(name) for name in rule.model_fields}
    for name, info in rule.model_fields.items():
        mirrored = api[api_field_name(name)]
        assert _bounds(mirrored) == _bounds(info), name
        assert mirrored.description == info.description and info.description, name
        default = mirrored.get_default(call_default_factory=True)
        assert default == (sorted(info.default) if isinstance(info.default, frozenset) else info.default), (
            name
        )


def test_the_api_names_durations_in_seconds() -> None:
    assert api_field_name("window_s") == "window_seconds"
    assert "windowSeconds" in RULE_MODELS["velocity"].model_json_schema()["properties"]


def _extreme(rule: type[Rule], pick: str) -> dict[str, Any]:
    """Every bounded number of ``rule`` at its upper (``le``) or lower (``ge``) bound, in API names."""
    values: dict[str, Any] = {}
    for name, info in rule.model_fields.items():
        bounds = _bounds(info)
        if pick in bounds:
            values[api_field_name(name)] = bounds[pick]
    return values


@pytest.mark.parametrize("pick", ["Le", "Ge"])
def test_whatever_the_api_accepts_the_job_accepts(pick: str) -> None:
    rules = {rule.name: _extreme(rule, pick) for rule in RULES}
    spec = DetectorSpec.model_validate({"rules": rules}, by_name=True)
    config = DetectorConfig.model_validate(detector_section(spec))
    for rule in RULES:
        loaded = getattr(config, RULE_FIELDS[rule.code])
        for name in rule.model_fields:
            expected = rules[rule.name].get(api_field_name(name))
            if expected is not None:
                assert getattr(loaded, name) == expected, (rule.code, name)


def test_a_value_out_of_the_one_bound_is_refused_by_both() -> None:
    with pytest.raises(ValidationError, match=r"zThreshold|z_threshold"):
        DetectorSpec.model_validate({"rules": {"highValue": {"zThreshold": 1000.5}}})
    with pytest.raises(ValidationError, match="z_threshold"):
        DetectorConfig.model_validate({"high_value": {"z_threshold": 1000.5}})
