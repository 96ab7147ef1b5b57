"""A small validator for Kubernetes structural OpenAPI v3 schemas, for checking objects without an API server.

It mirrors what the API server checks for a custom resource with strict field validation: types, unknown
fields, required fields, enums, bounds, lengths, patterns, list-type uniqueness, int-or-string and
preserve-unknown-fields. It does not evaluate CEL rules or formats; the API server remains the final judge.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

__all__ = ["apply_defaults", "crd_schema", "validate"]


def crd_schema(crd: Mapping[str, Any], version: str | None = None) -> dict[str, Any]:
    """The openAPIV3Schema of ``version`` (default: the storage version) of a CRD document."""
    versions = crd["spec"]["versions"]
    for entry in versions:
        if (version is None and entry.get("storage")) or entry["name"] == version:
            schema: dict[str, Any] = entry["schema"]["openAPIV3Schema"]
            return schema
    raise KeyError(f"CRD {crd['metadata']['name']} has no version {version or '(storage)'}")


def validate(obj: Any, schema: Mapping[str, Any], path: str = "") -> list[str]:
    """Return the problems of ``obj`` against ``schema`` as ``path: message`` strings (empty when valid)."""
    errors: list[str] = []
    if not path and isinstance(obj, dict):
        # The API server owns these root fields whether or not a CRD's schema declares them.
        implicit = {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "metadata": {"type": "object"},
        }
        schema = {**schema, "properties": {**implicit, **schema.get("properties", {})}}
    _check(obj, schema, path or "<root>", errors)
    return errors


def apply_defaults(obj: Any, schema: Mapping[str, Any]) -> Any:
    """Return a copy of ``obj`` with schema defaults filled in, the way the API server defaults on read.

    A defaulted object is itself defaulted further, so ``default: {}`` expands its fields' defaults.
    """
    if isinstance(obj, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        out = {key: value for key, value in obj.items()}
        for name, sub in properties.items():
            if name not in out and "default" in sub:
                out[name] = copy.deepcopy(sub["default"])
        for name, value in out.items():
            if name in properties:
                out[name] = apply_defaults(value, properties[name])
            elif isinstance(schema.get("additionalProperties"), Mapping):
                out[name] = apply_defaults(value, schema["additionalProperties"])
        return out
    if isinstance(obj, list) and isinstance(schema.get("items"), Mapping):
        return [apply_defaults(item, schema["items"]) for item in obj]
    return obj


def _check(value: Any, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if value is None:
        if not schema.get("nullable"):
            errors.append(f"{path}: must not be null")
        return
    if schema.get("x-kubernetes-int-or-string"):
        if isinstance(value, bool) or not isinstance(value, int | str):
            errors.append(f"{path}: must be an integer or a string, got {_kind(value)}")
        elif isinstance(value, str):
            _check_string(value, schema, path, errors)
        return
    if "anyOf" in schema and not any(not validate(value, branch, path) for branch in schema["anyOf"]):
        errors.append(f"{path}: matches none of the allowed alternatives")
        return
    expected = schema.get("type")
    if expected is not None and not _has_type(value, expected):
        errors.append(f"{path}: must be {expected}, got {_kind(value)}")
        return
    if "enum" in schema and value not in schema["enum"]:
        errors.append(f"{path}: {value!r} is not one of {schema['enum']}")
    if isinstance(value, str):
        _check_string(value, schema, path, errors)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        _check_number(value, schema, path, errors)
    elif isinstance(value, list):
        _check_array(value, schema, path, errors)
    elif isinstance(value, dict):
        _check_object(value, schema, path, errors)


def _check_string(value: str, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "maxLength" in schema and len(value) > schema["maxLength"]:
        errors.append(f"{path}: longer than {schema['maxLength']} characters")
    if "minLength" in schema and len(value) < schema["minLength"]:
        errors.append(f"{path}: shorter than {schema['minLength']} characters")
    if "pattern" in schema and not _regex(schema["pattern"]).search(value):
        errors.append(f"{path}: {value!r} does not match {schema['pattern']}")


def _check_number(value: float, schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "minimum" in schema:
        low = schema["minimum"]
        if value < low or (schema.get("exclusiveMinimum") is True and value == low):
            errors.append(f"{path}: {value} is below the minimum {low}")
    if "maximum" in schema:
        high = schema["maximum"]
        if value > high or (schema.get("exclusiveMaximum") is True and value == high):
            errors.append(f"{path}: {value} is above the maximum {high}")


def _check_array(value: list[Any], schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    if "maxItems" in schema and len(value) > schema["maxItems"]:
        errors.append(f"{path}: more than {schema['maxItems']} items")
    if "minItems" in schema and len(value) < schema["minItems"]:
        errors.append(f"{path}: fewer than {schema['minItems']} items")
    items = schema.get("items")
    if isinstance(items, Mapping):
        for index, item in enumerate(value):
            _check(item, items, f"{path}[{index}]", errors)
    list_type = schema.get("x-kubernetes-list-type")
    if list_type == "set":
        seen: list[Any] = []
        for item in value:
            if item in seen:
                errors.append(f"{path}: duplicate entry {item!r}")
            seen.append(item)
    elif list_type == "map":
        keys = schema.get("x-kubernetes-list-map-keys", [])
        seen_keys: list[tuple[Any, ...]] = []
        for item in value:
            if isinstance(item, dict):
                key = tuple(item.get(k) for k in keys)
                if key in seen_keys:
                    errors.append(f"{path}: duplicate entry with {dict(zip(keys, key, strict=True))}")
                seen_keys.append(key)


def _check_object(value: dict[str, Any], schema: Mapping[str, Any], path: str, errors: list[str]) -> None:
    properties: Mapping[str, Any] = schema.get("properties", {})
    for name in schema.get("required", []):
        if name not in value:
            errors.append(f"{_child(path, name)}: required field is missing")
    if "maxProperties" in schema and len(value) > schema["maxProperties"]:
        errors.append(f"{path}: more than {schema['maxProperties']} entries")
    additional = schema.get("additionalProperties")
    preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
    for name, item in value.items():
        child = _child(path, name)
        if name in properties:
            _check(item, properties[name], child, errors)
        elif isinstance(additional, Mapping):
            _check(item, additional, child, errors)
        elif not preserve and (properties or additional is False):
            errors.append(f"{child}: unknown field")


def _child(path: str, name: str) -> str:
    return name if path == "<root>" else f"{path}.{name}"


def _has_type(value: Any, expected: str) -> bool:
    if expected == "object":
        return isinstance(value, dict)
    if expected == "array":
        return isinstance(value, list)
    if expected == "string":
        return isinstance(value, str)
    if expected == "boolean":
        return isinstance(value, bool)
    if expected == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if expected == "number":
        return isinstance(value, int | float) and not isinstance(value, bool)
    return True


def _kind(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "integer",
        float: "number",
    }.get(type(value), type(value).__name__)


@lru_cache(maxsize=512)
def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)
