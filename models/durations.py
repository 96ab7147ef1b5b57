"""Durations as people type them on the command line (``7d``, ``12h``, ``30m``, ``45s``, plain seconds).

Its own small module so that `streamflow replay` can parse ``--label-delay`` without importing the
training stack (scikit-learn takes seconds to import).
"""

from __future__ import annotations

import re

__all__ = ["parse_duration"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s`` or plain seconds -> seconds; a ValueError naming the input if not."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 7d, 12h, 30m, 45s)")
    return float(match.group(1)) * _UNITS[match.group(2)]
