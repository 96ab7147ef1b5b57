"""Durations as people type them on the command line (``7d``, ``12h``, ``30m``, ``45s``, plain seconds).

The one parser every ``streamflow`` command uses (``--label-delay``, ``db check --window`` …), so a value
that one command accepts, every command accepts. Its own small module so that commands can parse durations
without importing the training stack (scikit-learn takes seconds to import).
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import timedelta

__all__ = ["DURATION_HELP", "duration_arg", "format_duration", "parse_duration", "timedelta_arg"]

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*$")
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86_400.0}
# timedelta's own ceiling (999999999 days) in seconds: beyond it no command could use the value.
_MAX_SECONDS = timedelta.max.total_seconds()

#: How a duration is written, for help texts.
DURATION_HELP = "plain seconds or with a unit: 45s, 30m, 12h, 7d"


def parse_duration(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``45s`` or plain seconds -> seconds; a ValueError naming the input if not."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"invalid duration {text!r} (expected e.g. 604800, 45s, 30m, 12h or 7d)")
    seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if not math.isfinite(seconds) or seconds >= _MAX_SECONDS:
        raise ValueError(f"invalid duration {text!r} (too long)")
    return seconds


def duration_arg(text: str) -> float:
    """:func:`parse_duration` as an argparse ``type``: a bad value is a usage error naming the argument."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def timedelta_arg(text: str) -> timedelta:
    """:func:`duration_arg` as a :class:`~datetime.timedelta`, for the commands that compute with one."""
    return timedelta(seconds=duration_arg(text))


def format_duration(seconds: float) -> str:
    """The shortest exact spelling :func:`parse_duration` reads back (``7d``, ``90m``, ``45s``)."""
    for unit in ("d", "h", "m"):
        count = seconds / _UNITS[unit]
        if count >= 1 and count == int(count):
            return f"{int(count)}{unit}"
    return f"{seconds:g}s"
