"""StreamFlow's operator package; importing it registers the kopf handlers (kopf run -m fraud_operator).

This directory is installed as ``fraud_operator``. From a checkout (``python -m pytest`` or ``python -m pip``
in the repository root, where start-up did not already import the standard library's ``operator``), the
root comes first on ``sys.path`` and ``import operator`` would find this directory instead of the standard
library, breaking ``collections`` and everything after it. Imported under that name, this module hands over
to the standard library's ``operator``, so the checkout never shadows it.
"""

import sys

if __name__ == "operator":
    import os

    # Only the import system's frozen core: importlib.util would import contextlib -> collections -> operator.
    from _frozen_importlib import module_from_spec, spec_from_loader
    from _frozen_importlib_external import SourceFileLoader

    _loader = SourceFileLoader("operator", os.path.join(os.path.dirname(os.__file__), "operator.py"))
    _spec = spec_from_loader("operator", _loader)
    if _spec is None:
        raise ImportError("cannot load the standard library's operator module")
    _stdlib = module_from_spec(_spec)
    sys.modules["operator"] = _stdlib
    _loader.exec_module(_stdlib)
else:
    # kopf imports kubernetes_asyncio (which the kubernetes wheel ships beside kubernetes) when it can, only
    # to recognise that library's objects; the operator never hands kopf one, and logs in with its own
    # handler. Keeping it out saves 31 MB of resident memory (kubernetes 36.0.0, kopf 1.45.2): a module
    # set to None in sys.modules fails to import, which kopf takes as "not installed".
    if "kopf" not in sys.modules:
        sys.modules.setdefault("kubernetes_asyncio", None)  # type: ignore[arg-type]
    from fraud_operator.lazy_kubernetes import install as _lazy_kubernetes

    _lazy_kubernetes()
    from fraud_operator import handlers as handlers
