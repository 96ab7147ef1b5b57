"""The progress switch every long-running ``streamflow`` command shares.

Bars go to stderr so stdout stays what scripts parse. By default a bar shows only when stderr is a
terminal; ``--progress`` forces it (e.g. into a log file), ``--no-progress`` turns it off. Its own small
module, like :mod:`fraud_models.durations`, so that any layer's command can use it.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from tqdm import tqdm

__all__ = ["PROGRESS_HELP", "add_progress_switch", "progress_bar", "progress_wanted"]

PROGRESS_HELP = "progress bars on stderr (default: only when stderr is a terminal)"


def add_progress_switch(parser: argparse.ArgumentParser) -> None:
    """Add ``--progress``/``--no-progress`` (``args.progress``: True, False or None for automatic)."""
    parser.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None, help=PROGRESS_HELP)


def progress_wanted(switch: bool | None) -> bool:
    """The switch's answer, or whether stderr is a terminal when it was not given."""
    if switch is not None:
        return switch
    return sys.stderr.isatty()


def progress_bar(enabled: bool, **kwargs: Any) -> tqdm[Any]:
    """A tqdm bar on stderr, refreshed at most once a second, or a silent one when not ``enabled``."""
    kwargs.setdefault("mininterval", 1.0)
    return tqdm(file=sys.stderr, disable=not enabled, dynamic_ncols=True, **kwargs)
