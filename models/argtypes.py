"""argparse value types shared by every ``streamflow`` command, so a value one command accepts, all accept.

Light to import (the standard library only), like :mod:`fraud_models.durations`.
"""

from __future__ import annotations

import argparse

__all__ = ["positive_int", "share"]


def positive_int(text: str) -> int:
    """A whole number of at least 1; a usage error (exit 2) naming the input otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def share(text: str) -> float:
    """A share (rate, fraction) between 0 and 1 inclusive; a usage error naming the input otherwise."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share between 0 and 1")
    return value
