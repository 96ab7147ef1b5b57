"""Subcommands of the operator area: ``streamflow render`` (more land with the reconciler)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from fraud_operator.api.model import FraudModel
from fraud_operator.api.pipeline import FraudPipeline
from fraud_operator.api.structural import validate
from fraud_operator.render import ScheduleError, render_all, topic_specs
from pydantic import ValidationError

__all__ = ["InputError", "Resources", "check_upstream", "load_resources", "register", "render_documents"]


class InputError(ValueError):
    """The input file holds something that cannot be rendered; the message names the document and field."""


@dataclass
class Resources:
    """The custom resources read from one input file."""

    pipelines: list[FraudPipeline] = field(default_factory=list)
    models: list[FraudModel] = field(default_factory=list)


def _loc(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def _describe(error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        message = str(item["msg"]).removeprefix("Value error, ")
        where = _loc(tuple(item["loc"]))
        lines.append(f"{where}: {message}" if where else message)
    return "; ".join(lines)


def load_resources(text: str, source: str = "<input>", namespace: str | None = None) -> Resources:
    """Parse and validate every FraudPipeline and FraudModel in a multi-document YAML string.

    ``namespace`` is used for objects without metadata.namespace (like ``kubectl apply -n``).
    """
    resources = Resources()
    try:
        documents = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise InputError(f"{source}: not valid YAML: {exc}") from exc
    for index, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        if not isinstance(doc, dict):
            raise InputError(f"{source}: document {index}: expected a mapping, got {type(doc).__name__}")
        kind = doc.get("kind")
        metadata = doc.get("metadata")
        name = metadata.get("name", "?") if isinstance(metadata, dict) else "?"
        where = f"{source}: document {index} ({kind} {name})"
        if doc.get("apiVersion") != "streamflow.io/v1alpha1" or kind not in ("FraudPipeline", "FraudModel"):
            raise InputError(
                f"{where}: apiVersion/kind: expected streamflow.io/v1alpha1 FraudPipeline or FraudModel, "
                f"got {doc.get('apiVersion')} {kind}"
            )
        if namespace is not None and isinstance(metadata, dict) and not metadata.get("namespace"):
            doc = {**doc, "metadata": {**metadata, "namespace": namespace}}
        try:
            if kind == "FraudPipeline":
                resources.pipelines.append(FraudPipeline.model_validate(doc))
            else:
                resources.models.append(FraudModel.model_validate(doc))
        except ValidationError as exc:
            raise InputError(f"{where}: {_describe(exc)}") from exc
    _refuse_duplicates(resources, source)
    return resources


def _refuse_duplicates(resources: Resources, source: str) -> None:
    """Two objects with the same kind, namespace and name would silently shadow each other."""
    seen: set[tuple[str, str, str]] = set()
    objects: list[FraudPipeline | FraudModel] = [*resources.pipelines, *resources.models]
    for obj in objects:
        key = (obj.kind, obj.metadata.namespace, obj.metadata.name)
        if key in seen:
            raise InputError(f"{source}: metadata.name: {key[0]} {key[1]}/{key[2]} appears more than once")
        seen.add(key)


def _find_model(resources: Resources, pipeline: FraudPipeline, name: str) -> FraudModel | None:
    for model in resources.models:
        if model.metadata.name == name and model.metadata.namespace == pipeline.metadata.namespace:
            return model
    return None


class _Dumper(yaml.SafeDumper):
    """Safe dumper that prints multi-line strings (the detector.json) as literal blocks."""


def _str_representer(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str_representer)


def _header(kind: str, pipeline: FraudPipeline) -> str:
    return f"# Source: FraudPipeline {pipeline.metadata.namespace}/{pipeline.metadata.name} -> {kind}\n"


def render_documents(resources: Resources, *, allow_missing_models: bool = False) -> str:
    """Every child of every pipeline as multi-document YAML, like ``helm template``."""
    chunks: list[str] = []
    for pipeline in resources.pipelines:
        where = f"FraudPipeline {pipeline.metadata.namespace}/{pipeline.metadata.name}"
        model = _find_model(resources, pipeline, pipeline.spec.model_ref.name)
        if model is None and not allow_missing_models:
            raise InputError(
                f"{where}: spec.modelRef.name: FraudModel {pipeline.spec.model_ref.name!r} is not in the "
                "input (add it, or pass --allow-missing-models to render a rules-only config)"
            )
        shadow = None
        if pipeline.spec.shadow_model_ref is not None:
            shadow = _find_model(resources, pipeline, pipeline.spec.shadow_model_ref.name)
            if shadow is None and not allow_missing_models:
                raise InputError(
                    f"{where}: spec.shadowModelRef.name: FraudModel {pipeline.spec.shadow_model_ref.name!r} "
                    "is not in the input"
                )
        try:
            children: list[dict[str, Any]] = render_all(pipeline, model, shadow)
        except ScheduleError as exc:
            raise InputError(f"{where}: {exc}") from exc
        if pipeline.spec.kafka.strimzi_cluster is None:
            lines = [
                f"# {where}: no strimziCluster, so these topics are managed through the Kafka admin API:"
            ]
            for topic in topic_specs(pipeline):
                replicas = "broker default" if topic.replicas is None else topic.replicas
                lines.append(
                    f"#   {topic.name}: partitions={topic.partitions} replicas={replicas} "
                    f"config={topic.config}"
                )
            chunks.append("\n".join(lines) + "\n")
        for child in children:
            chunks.append(
                "---\n" + _header(child["kind"], pipeline) + yaml.dump(child, Dumper=_Dumper, sort_keys=False)
            )
    return "".join(chunks)


def _read_inputs(paths: list[Path]) -> list[tuple[str, str]]:
    """(source, text) of every input: files, directories (*.yaml/*.yml, sorted) or '-' for stdin."""
    inputs: list[tuple[str, str]] = []
    for path in paths:
        if str(path) == "-":
            inputs.append(("<stdin>", sys.stdin.read()))
        elif path.is_dir():
            files = sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            inputs.extend((str(p), p.read_text(encoding="utf-8")) for p in files)
        else:
            inputs.append((str(path), path.read_text(encoding="utf-8")))
    return inputs


def _upstream_schemas(directory: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> openAPIV3Schema of every served version of the CRDs in ``directory``."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    for path in sorted(directory.iterdir()):
        if path.suffix not in (".yaml", ".yml"):
            continue
        for doc in yaml.load_all(path.read_text(encoding="utf-8"), Loader=loader):
            if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                continue
            group, kind = doc["spec"]["group"], doc["spec"]["names"]["kind"]
            for version in doc["spec"]["versions"]:
                if version.get("served"):
                    schemas[(f"{group}/{version['name']}", kind)] = version["schema"]["openAPIV3Schema"]
    return schemas


def check_upstream(children: list[dict[str, Any]], directory: Path) -> list[str]:
    """Problems of rendered children under the upstream CRDs in ``directory`` (other kinds pass)."""
    schemas = _upstream_schemas(directory)
    problems: list[str] = []
    for child in children:
        schema = schemas.get((child["apiVersion"], child["kind"]))
        if schema is not None:
            where = f"{child['kind']} {child['metadata']['namespace']}/{child['metadata']['name']}"
            problems.extend(f"{where}: {error}" for error in validate(child, schema))
    return problems


def _cmd_render(args: argparse.Namespace) -> int:
    try:
        inputs = _read_inputs(args.files)
    except OSError as exc:
        print(f"streamflow render: cannot read {exc.filename}: {exc.strerror}", file=sys.stderr)
        return 1
    try:
        resources = Resources()
        for source, text in inputs:
            loaded = load_resources(text, source, args.namespace)
            resources.pipelines.extend(loaded.pipelines)
            resources.models.extend(loaded.models)
        _refuse_duplicates(resources, "input")
        if not resources.pipelines:
            raise InputError("no FraudPipeline in the input; nothing to render")
        output = render_documents(resources, allow_missing_models=args.allow_missing_models)
    except InputError as exc:
        print(f"streamflow render: {exc}", file=sys.stderr)
        return 1
    if args.check_upstream is not None:
        children = [d for d in yaml.safe_load_all(output) if isinstance(d, dict)]
        problems = check_upstream(children, args.check_upstream)
        if problems:
            for problem in problems:
                print(f"streamflow render: {problem}", file=sys.stderr)
            return 1
    sys.stdout.write(output)
    return 0


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add this area's subcommands to the `streamflow` parser."""
    render = subparsers.add_parser(
        "render",
        help="print the children the operator would create for the CRs in FILE (no cluster needed)",
        description=(
            "Read FraudPipeline and FraudModel objects from multi-document YAML files or directories "
            "('-' for stdin) and print every child object (ConfigMap, KafkaTopics, FlinkDeployment, "
            "NetworkPolicies, PDBs) as multi-document YAML, like `helm template`. Invalid specs exit 1 "
            "with the offending field named."
        ),
    )
    render.add_argument(
        "files", type=Path, nargs="+", metavar="FILE", help="YAML file or directory with the CRs, or '-'"
    )
    render.add_argument(
        "-n", "--namespace", default=None, help="namespace for CRs without one (default: 'default')"
    )
    render.add_argument(
        "--allow-missing-models",
        action="store_true",
        help="render even when a referenced FraudModel is not in the input (the config then has no model)",
    )
    render.add_argument(
        "--check-upstream",
        type=Path,
        metavar="DIR",
        default=None,
        help=(
            "validate the output against the upstream CRDs in DIR (`streamflow dev fetch` puts them in "
            "~/.cache/streamflow/upstream/crds); exit 1 on a mismatch"
        ),
    )
    render.set_defaults(func=_cmd_render)
