"""The detector's configuration and how control messages change it.

:class:`DetectorConfig` is immutable: :func:`apply_control` returns a new, fully re-validated config, so a bad
control message can never leave the detector half-updated (the caller sends it to the DLQ instead).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import yaml
from fraud_jobs.rules import (
    AnomalyRule,
    BlocklistRule,
    HighValueRule,
    ImpossibleTravelRule,
    Rule,
    TerminalRiskRule,
    UnusualHourRule,
    VelocityRule,
)
from fraud_jobs.schemas import ControlMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError

__all__ = ["RULE_FIELDS", "ControlError", "DetectorConfig", "apply_control", "load_config"]

DAY: Final = 86400.0


class DetectorConfig(BaseModel):
    """Every knob of the detector; the defaults are the documented production defaults."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    high_value: HighValueRule = HighValueRule()
    velocity: VelocityRule = VelocityRule()
    travel: ImpossibleTravelRule = ImpossibleTravelRule()
    unusual_hour: UnusualHourRule = UnusualHourRule()
    blocklist: BlocklistRule = BlocklistRule()
    anomaly: AnomalyRule = AnomalyRule()
    terminal_risk: TerminalRiskRule = TerminalRiskRule()
    alpha: float = Field(default=0.2, ge=0.0, le=1.0)
    """Share of the ML score in the combined score (see fraud_jobs.rules.combine)."""
    alert_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    state_ttl_s: float = Field(default=90 * DAY, gt=0.0)
    """Keyed state of a key inactive this long is dropped (Flink state TTL; replay mirrors it)."""
    ml_features: bool = True
    """Keep the ML feature state (fraud_models.features) per key even without a scorer, so a model can be
    switched on later with warm features. Off, each event skips that state (about half the per-event cost)
    and FR-006 cannot score."""
    label_delay_s: float = Field(default=7 * DAY, ge=0.0)
    """How long after a transaction its label becomes known (replay delivers labels exactly this late)."""


def _rule_fields() -> dict[str, str]:
    fields: dict[str, str] = {}
    for name, info in DetectorConfig.model_fields.items():
        if isinstance(info.annotation, type) and issubclass(info.annotation, Rule):
            fields[info.annotation.code] = name
    return fields


RULE_FIELDS: Final = _rule_fields()
"""Rule code -> DetectorConfig field, the addressing scheme of ControlMessage.rules."""


class ControlError(ValueError):
    """A control message that cannot be applied (unknown rule, invalid value); the config stays unchanged."""


def apply_control(config: DetectorConfig, msg: ControlMessage) -> DetectorConfig:
    """Return ``config`` changed by ``msg``; raises :class:`ControlError` naming the problem."""
    data: dict[str, Any] = config.model_dump()
    for code, patch in msg.rules.items():
        field = RULE_FIELDS.get(code)
        if field is None:
            raise ControlError(
                f"control {msg.message_id}: unknown rule code {code!r} (known: {sorted(RULE_FIELDS)})"
            )
        data[field] = {**data[field], **patch}
    if msg.alpha is not None:
        data["alpha"] = msg.alpha
    if msg.alert_threshold is not None:
        data["alert_threshold"] = msg.alert_threshold
    blocklist = data["blocklist"]
    blocklist["customers"] = (set(blocklist["customers"]) | set(msg.blocklist_add.customers)) - set(
        msg.blocklist_remove.customers
    )
    blocklist["terminals"] = (set(blocklist["terminals"]) | set(msg.blocklist_add.terminals)) - set(
        msg.blocklist_remove.terminals
    )
    try:
        return DetectorConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"])
        raise ControlError(f"control {msg.message_id}: {where}: {first['msg']}") from exc


def load_config(path: str | Path) -> DetectorConfig:
    """Read a DetectorConfig from YAML or JSON; raises ValueError naming the file and the problem."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"cannot read detector config {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"detector config {path}: expected a mapping, got {type(data).__name__}")
    try:
        return DetectorConfig.model_validate(data)
    except ValidationError as exc:
        raise ValueError(f"detector config {path}: {exc}") from exc
