"""kopf handlers of the operator, registered into kopf's default registry on import.

``kopf run -m fraud_operator`` and ``streamflow operator`` rely on this import side effect. The operator's
settings are validated here, but importing never fails (every command imports this package): with a bad
``STREAMFLOW_*`` value, only a start-up handler is registered, and it stops the operator with one message
naming each bad variable. Tests build their own registry instead.
"""

from __future__ import annotations

from typing import Any

import kopf
from fraud_operator.handlers.registration import register
from fraud_operator.settings import RESYNC_SECONDS, SHADOW_COMPARE_SECONDS, SettingsError, load

__all__ = ["register"]


def _register_default() -> None:
    registry = kopf.get_default_registry()
    try:
        settings = load()
    except SettingsError as exc:
        message = str(exc)

        def refuse_to_start(**_: Any) -> None:
            raise kopf.PermanentError(message)

        kopf.on.startup(registry=registry, id="settings")(refuse_to_start)
        return
    register(
        registry,
        resync_seconds=settings[RESYNC_SECONDS.name],
        compare_seconds=settings[SHADOW_COMPARE_SECONDS.name],
    )


_register_default()
