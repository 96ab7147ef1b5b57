"""Live configuration: the detector's file config folded with every control message applied so far.

The control topic's messages are validated once (by the single control-manager operator) and broadcast as
the ordered JSON list of every accepted message. Each keyed stage keeps that list in broadcast state and
folds it over the config from the file, so a restore (or an upgrade with a new file config) rebuilds exactly
the same live config without a restart. No pyflink here.
"""

from __future__ import annotations

import json

from fraud_jobs.config import ControlError, DetectorConfig, apply_control
from fraud_jobs.schemas import ControlMessage

__all__ = ["accept_control", "fold_controls"]


def fold_controls(base: DetectorConfig, controls_json: str | None) -> tuple[DetectorConfig, list[str]]:
    """``base`` with every message of ``controls_json`` applied in order; returns (config, problems).

    A message that no longer applies (the file config changed under it) is skipped and named in problems
    rather than stopping the job.
    """
    cfg = base
    problems: list[str] = []
    for text in json.loads(controls_json) if controls_json else []:
        try:
            cfg = apply_control(cfg, ControlMessage.model_validate_json(text))
        except (ControlError, ValueError) as exc:
            problems.append(str(exc))
    return cfg, problems


def accept_control(base: DetectorConfig, controls_json: str | None, message: ControlMessage) -> str:
    """The new accepted list with ``message`` appended; raises ControlError if it cannot be applied."""
    accepted: list[str] = json.loads(controls_json) if controls_json else []
    cfg, _ = fold_controls(base, controls_json)
    apply_control(cfg, message)  # raises ControlError naming the problem
    if any(ControlMessage.model_validate_json(t).message_id == message.message_id for t in accepted):
        return json.dumps(accepted)  # a redelivered message changes nothing
    accepted.append(message.model_dump_json())
    return json.dumps(accepted)
