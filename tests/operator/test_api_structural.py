"""The offline structural validator and defaulter behave like the API server for the features we rely on."""

from __future__ import annotations

from typing import Any

from fraud_operator.api.structural import apply_defaults, validate

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "ratio": {"type": "number", "minimum": 0, "maximum": 1, "exclusiveMaximum": True},
                "name": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 5},
                "mode": {"type": "string", "enum": ["a", "b"], "default": "a"},
                "port": {
                    "x-kubernetes-int-or-string": True,
                    "anyOf": [{"type": "integer"}, {"type": "string"}],
                },
                "tags": {"type": "array", "items": {"type": "string"}, "x-kubernetes-list-type": "set"},
                "items": {
                    "type": "array",
                    "x-kubernetes-list-type": "map",
                    "x-kubernetes-list-map-keys": ["key"],
                    "items": {
                        "type": "object",
                        "required": ["key"],
                        "properties": {"key": {"type": "string"}},
                    },
                },
                "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "nested": {
                    "type": "object",
                    "default": {},
                    "properties": {"flag": {"type": "boolean", "default": True}},
                },
            },
        }
    },
}


def test_valid_object() -> None:
    obj = {
        "apiVersion": "x/v1",
        "kind": "X",
        "metadata": {"name": "x"},
        "spec": {
            "size": 3,
            "ratio": 0.5,
            "name": "abc",
            "port": "http",
            "tags": ["a", "b"],
            "items": [{"key": "a"}, {"key": "b"}],
            "free": {"anything": [1, {"goes": True}]},
            "labels": {"a": "b"},
        },
    }
    assert validate(obj, SCHEMA) == []


def test_every_kind_of_problem_is_named() -> None:
    obj = {
        "spec": {
            "ratio": 1,
            "name": "ABCDEF",
            "mode": "c",
            "port": 1.5,
            "tags": ["a", "a"],
            "items": [{"key": "a"}, {"key": "a"}],
            "labels": {"a": 1},
            "extra": True,
            "nested": None,
        }
    }
    assert sorted(validate(obj, SCHEMA)) == sorted(
        [
            "spec.size: required field is missing",
            "spec.ratio: 1 is above the maximum 1",
            "spec.name: longer than 5 characters",
            "spec.name: 'ABCDEF' does not match ^[a-z]+$",
            "spec.mode: 'c' is not one of ['a', 'b']",
            "spec.port: must be an integer or a string, got number",
            "spec.tags: duplicate entry 'a'",
            "spec.items: duplicate entry with {'key': 'a'}",
            "spec.labels.a: must be string, got integer",
            "spec.extra: unknown field",
            "spec.nested: must not be null",
        ]
    )


def test_booleans_are_not_integers() -> None:
    assert validate({"spec": {"size": True}}, SCHEMA) == ["spec.size: must be integer, got boolean"]


def test_defaults_cascade_into_defaulted_objects() -> None:
    defaulted = apply_defaults({"spec": {"size": 2}}, SCHEMA)
    assert defaulted == {"spec": {"size": 2, "mode": "a", "nested": {"flag": True}}}
    assert apply_defaults({"spec": {"size": 2, "nested": {"flag": False}}}, SCHEMA)["spec"]["nested"] == {
        "flag": False
    }
