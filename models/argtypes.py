"""argparse value types shared by every ``streamflow`` command, so a value one command accepts, all accept.

Light to import (the standard library only), like :mod:`fraud_models.durations`.
"""

from __future__ import annotations

import argparse

__all__ = ["positive_int"]


def positive_int(text: str) -> int:
    """A whole number of at least 1; a usage error (exit 2) naming the input otherwise."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value
