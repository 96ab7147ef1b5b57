"""The kubernetes client's packages imported lazily: a name is loaded when first used.

``kubernetes/__init__.py`` imports every subpackage, and ``kubernetes.client`` imports every generated API
class and ~900 model classes: 43 MB of resident memory (kubernetes 36.0.0), a fifth of the operator's, of
which it uses an ``ApiClient``, its ``Configuration``, two API classes and the models those deserialize.
:func:`install` puts a module in ``sys.modules`` for each of those four packages before anything imports
them (the technique of SPEC 1, ``lazy_loader``): the package's own ``__init__.py`` is read, not run, and
each ``from M import N`` in it becomes "load M when N is first asked for". Submodules (``rest``,
``api_client``) import as usual. Everything outside the four ``__init__`` files is the library's own code,
unchanged; a name the ``__init__`` defines in any other way is an AttributeError that names this module.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
import types
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any

__all__ = ["LAZY_PACKAGES", "install"]

LAZY_PACKAGES = ("kubernetes", "kubernetes.client", "kubernetes.client.api", "kubernetes.client.models")


def _resolve(package: str, node: ast.ImportFrom) -> str:
    if not node.level:
        return node.module or ""
    base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
    return f"{base}.{node.module}" if node.module else base


def _lazy_package(name: str, spec: ModuleSpec) -> types.ModuleType:
    """A module for package ``name`` that reads its ``__init__.py`` and imports on attribute access."""
    origin = Path(str(spec.origin))
    tree = ast.parse(origin.read_text(encoding="utf-8"), str(origin))
    sources: dict[str, tuple[str, str | None]] = {}  # name -> (module, attribute or None for the module)
    constants: dict[str, Any] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            source = _resolve(name, node)
            for alias in node.names:
                if alias.name == "*":
                    raise ImportError(f"{origin}: 'from {source} import *' cannot be loaded lazily")
                shown = alias.asname or alias.name
                # ``from . import client`` names a submodule; ``from .x import Y`` an attribute of one.
                sources[shown] = (f"{source}.{alias.name}", None) if source == name else (source, alias.name)
        elif isinstance(node, ast.Assign) and isinstance(target := node.targets[0], ast.Name):
            try:
                constants[target.id] = ast.literal_eval(node.value)
            except ValueError:
                continue
    module = importlib.util.module_from_spec(spec)
    module.__dict__.update(constants)

    def __getattr__(attribute: str) -> Any:
        where = sources.get(attribute)
        if where is None:
            raise AttributeError(f"module {name!r} has no attribute {attribute!r} (lazy: {__name__})")
        loaded = importlib.import_module(where[0])
        value = loaded if where[1] is None else getattr(loaded, where[1])
        setattr(module, attribute, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(module.__dict__) | set(sources))

    module.__dict__.update(__getattr__=__getattr__, __dir__=__dir__)  # PEP 562
    return module


def install() -> bool:
    """Make the four packages lazy; True when done. A no-op (False) when any of them is already imported
    or the library is not installed: the library then stays as its own ``__init__`` files build it."""
    if any(name in sys.modules for name in LAZY_PACKAGES):
        return False
    installed: list[str] = []
    for name in LAZY_PACKAGES:
        spec = importlib.util.find_spec(name)  # a subpackage's is found on its lazy parent's __path__
        if spec is None or spec.origin is None:
            for done in installed:
                sys.modules.pop(done, None)
            return False
        module = _lazy_package(name, spec)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
        installed.append(name)
    return True
