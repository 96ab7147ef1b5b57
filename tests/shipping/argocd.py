"""Run the ArgoCD health Lua scripts with a real Lua 5.1 (lupa): the language version of gopher-lua."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lupa.lua51 as lua51

HEALTH_DIR = Path(__file__).resolve().parents[2] / "docs" / "argocd" / "health"
SCRIPTS = {"FraudPipeline": HEALTH_DIR / "fraudpipeline.lua", "FraudModel": HEALTH_DIR / "fraudmodel.lua"}


def _to_lua(runtime: Any, value: Any) -> Any:
    # ArgoCD hands the object over as decoded JSON: objects and arrays become tables, numbers are floats.
    if isinstance(value, Mapping):
        return runtime.table_from({k: _to_lua(runtime, v) for k, v in value.items() if v is not None})
    if isinstance(value, list):
        return runtime.table_from([_to_lua(runtime, v) for v in value])
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return float(value)
    return value


def health(obj: Mapping[str, Any]) -> tuple[str, str]:
    """(status, message) that ArgoCD would show for ``obj``."""
    runtime = lua51.LuaRuntime(unpack_returned_tuples=True)
    runtime.globals().obj = _to_lua(runtime, obj)
    result = runtime.execute(SCRIPTS[str(obj["kind"])].read_text())
    return str(result["status"]), str(result["message"])
