"""Turn pydantic models into structural OpenAPI v3 schemas that the Kubernetes API server accepts.

pydantic emits JSON Schema 2020-12 ($ref/$defs, anyOf-with-null, titles, numeric exclusive bounds); a CRD
needs a structural OpenAPI v3 subset: every node typed, no $ref, no anyOf for nullability, and defaults that
the API server applies on read. This module bridges the two so the pydantic models stay the single source of
truth.
"""

from __future__ import annotations

import copy
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue
from pydantic_core import core_schema

__all__ = ["SchemaError", "openapi_schema"]

_CEL = "x-kubernetes-validations"
_DROPPED_KEYS = frozenset({"title", "$defs", "examples"})


class SchemaError(ValueError):
    """The pydantic model cannot be expressed as a structural schema (a bug in the API models)."""


class _WithFactoryDefaults(GenerateJsonSchema):
    """Emit defaults produced by ``default_factory`` too, so the API server can apply them."""

    def default_schema(self, schema: core_schema.WithDefaultSchema) -> JsonSchemaValue:
        factory = schema.get("default_factory")
        if factory is not None and not schema.get("default_factory_takes_data"):
            value = factory()  # type: ignore[call-arg]
            if isinstance(value, BaseModel):
                # The full object, not {}: the API server checks a default against the CEL rules as is.
                value = value.model_dump(by_alias=True, mode="json", exclude_none=True)
            patched: Any = {k: v for k, v in schema.items() if k != "default_factory"}
            patched["default"] = value
            return super().default_schema(patched)
        return super().default_schema(schema)


def openapi_schema(model: type[BaseModel], *, with_defaults: bool = True) -> dict[str, Any]:
    """Return the structural OpenAPI v3 schema of ``model`` (camelCase names, every $ref inlined)."""
    raw = model.model_json_schema(by_alias=True, mode="validation", schema_generator=_WithFactoryDefaults)
    defs: dict[str, Any] = raw.get("$defs", {})
    return _convert(raw, defs, with_defaults=with_defaults, path=model.__name__)


def _convert(node: dict[str, Any], defs: dict[str, Any], *, with_defaults: bool, path: str) -> dict[str, Any]:
    node = _inline(node, defs)
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DROPPED_KEYS:
            continue
        if key == "properties":
            out[key] = {
                name: _convert(sub, defs, with_defaults=with_defaults, path=f"{path}.{name}")
                for name, sub in value.items()
            }
        elif key == "items":
            out[key] = _convert(value, defs, with_defaults=with_defaults, path=f"{path}[]")
        elif key == "additionalProperties":
            if value is True:
                out["x-kubernetes-preserve-unknown-fields"] = True
            elif isinstance(value, dict):
                if value:
                    out[key] = _convert(value, defs, with_defaults=with_defaults, path=f"{path}{{}}")
                else:
                    out["x-kubernetes-preserve-unknown-fields"] = True
            # additionalProperties: false is the structural default (unknown fields are pruned or refused).
        elif key == "patternProperties":
            # A map whose keys have a pattern (pydantic's dict[Annotated[str, pattern], V]): structural
            # schemas have no patternProperties, so the values' schema becomes additionalProperties and the
            # key pattern a CEL rule on the map.
            if len(value) != 1:
                raise SchemaError(f"{path}: patternProperties with {len(value)} patterns")
            ((pattern, sub),) = value.items()
            out["additionalProperties"] = _convert(sub, defs, with_defaults=with_defaults, path=f"{path}{{}}")
            out.setdefault(_CEL, []).extend(_key_rules({"pattern": pattern}, path))
        elif key == "propertyNames":
            # Structural schemas have no propertyNames: the key constraints become CEL rules on the map.
            out.setdefault(_CEL, []).extend(_key_rules(value, path))
        elif key in ("exclusiveMinimum", "exclusiveMaximum"):
            bound = "minimum" if key == "exclusiveMinimum" else "maximum"
            out[bound] = value
            out[key] = True
        elif key == "const":
            out["enum"] = [value]
        elif key == "default":
            if with_defaults and value is not None:
                out[key] = value
        elif key in ("anyOf", "oneOf", "allOf"):
            raise SchemaError(f"{path}: {key} is not structural; simplify the model type")
        else:
            out[key] = value
    if out.get("type") == "object" and "properties" not in out and "additionalProperties" not in out:
        out.setdefault("x-kubernetes-preserve-unknown-fields", True)
    if "type" not in out:
        raise SchemaError(f"{path}: no type in schema {node!r}")
    return out


def _key_rules(names: dict[str, Any], path: str) -> list[dict[str, str]]:
    """CEL rules for a map's key constraints (maxLength, minLength, pattern)."""
    rules = []
    for key, value in names.items():
        if key == "maxLength":
            rules.append(
                {
                    "rule": f"self.all(k, size(k) <= {int(value)})",
                    "message": f"keys are at most {value} characters",
                }
            )
        elif key == "minLength":
            rules.append(
                {
                    "rule": f"self.all(k, size(k) >= {int(value)})",
                    "message": f"keys are at least {value} characters",
                }
            )
        elif key == "pattern":
            quoted = str(value).replace("\\", "\\\\").replace("'", "\\'")
            rules.append(
                {"rule": f"self.all(k, k.matches('{quoted}'))", "message": f"keys must match {value}"}
            )
        elif key not in _DROPPED_KEYS and key != "type":
            raise SchemaError(f"{path}: propertyNames.{key} has no CEL equivalent here")
    return rules


def _inline(node: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Resolve $ref and collapse Optional (anyOf with null) into the non-null branch."""
    node = dict(node)
    if "$ref" in node:
        target = _lookup(node.pop("$ref"), defs)
        node = _merge(_inline(target, defs), node)
    any_of = node.get("anyOf")
    if isinstance(any_of, list):
        branches = [b for b in any_of if b.get("type") != "null"]
        if len(branches) == 1 and len(branches) < len(any_of):
            node.pop("anyOf")
            node = _merge(_inline(branches[0], defs), node)
    return node


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Field-level keys win over the referenced model's, except CEL rules, which accumulate."""
    merged = {**base, **override}
    rules = [*base.get(_CEL, []), *override.get(_CEL, [])]
    if rules:
        merged[_CEL] = rules
    return merged


def _lookup(ref: str, defs: dict[str, Any]) -> dict[str, Any]:
    prefix = "#/$defs/"
    if not ref.startswith(prefix) or ref[len(prefix) :] not in defs:
        raise SchemaError(f"unresolvable $ref {ref}")
    return copy.deepcopy(defs[ref[len(prefix) :]])
