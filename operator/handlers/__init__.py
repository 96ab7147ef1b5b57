"""kopf handlers of the operator, registered into kopf's default registry on import.

``kopf run -m fraud_operator`` and ``streamflow operator`` rely on this import side effect; the resync
interval comes from STREAMFLOW_RESYNC_SECONDS at import time (tests build their own registry instead).
"""

from __future__ import annotations

import kopf
from fraud_operator.handlers.context import resync_seconds
from fraud_operator.handlers.registration import register

__all__ = ["register"]

register(kopf.get_default_registry(), resync_seconds=resync_seconds())
