"""Live configuration: the detector's file config folded with the control messages accepted so far.

The control topic's messages are validated once (by the single control-manager operator) and broadcast to
every keyed stage, which folds them over the config from the file, so a restore (or an upgrade with a new
file config) rebuilds the same live config without a restart.

What is broadcast and kept in state is a *compacted* document, not the history: the effective overrides
(latest value per rule field, ``alpha``, ``alert_threshold``, the blocklist additions and removals with
later messages winning) plus the most recent message ids for redelivery dedupe. Its size follows the live
config, not the number of messages ever sent, because every change of it is re-sent to every keyed stage
and written to every checkpoint. Folding it gives the same config as folding the history it replaces.

Two deliberate limits, both stated rather than silent:

* a blocklist removal is kept only while the id is on the file config's blocklist (elsewhere it removes
  nothing); if a later file config adds that id, the file config wins;
* only the last :data:`RECENT_IDS` message ids are remembered; a message not among them but issued before
  the newest forgotten one could be a late redelivery, so it is refused with that reason (to be
  re-issued with a new ``issued_at``) instead of possibly undoing newer changes.

State written before compaction (a JSON list of message JSON strings, e.g. in a savepoint taken by an older
job) is still read. No pyflink here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from fraud_jobs.config import ControlError, DetectorConfig, apply_control
from fraud_jobs.schemas import BlocklistPatch, ControlMessage

__all__ = ["COMPACT_FORMAT", "RECENT_IDS", "accept_control", "fold_controls"]

COMPACT_FORMAT: Final = 2
"""``format`` of the compacted document (the uncompacted list of earlier jobs is format 1)."""
RECENT_IDS: Final = 128
"""Message ids remembered for redelivery dedupe."""
_EPOCH: Final = datetime(2000, 1, 1, tzinfo=UTC)
_KINDS: Final = ("customers", "terminals")


@dataclass(slots=True)
class _Overrides:
    """The effective result of every accepted message, relative to the file config."""

    rules: dict[str, dict[str, float | int | bool]] = field(default_factory=dict)
    alpha: float | None = None
    alert_threshold: float | None = None
    added: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in _KINDS})
    removed: dict[str, set[str]] = field(default_factory=lambda: {k: set() for k in _KINDS})
    recent: dict[str, float] = field(default_factory=dict)
    """message_id -> issued_at (epoch s) of the last RECENT_IDS accepted messages, oldest first."""
    horizon: float | None = None
    """The newest issued_at among the ids already dropped from ``recent``."""

    def absorb(self, msg: ControlMessage, base: DetectorConfig) -> None:
        """Record ``msg`` (already known to apply) as later messages would see it."""
        for code, patch in msg.rules.items():
            self.rules.setdefault(code, {}).update(patch)
        if msg.alpha is not None:
            self.alpha = msg.alpha
        if msg.alert_threshold is not None:
            self.alert_threshold = msg.alert_threshold
        on_file = {"customers": base.blocklist.customers, "terminals": base.blocklist.terminals}
        for kind in _KINDS:
            for entry in getattr(msg.blocklist_add, kind):
                self.added[kind].add(entry)
                self.removed[kind].discard(entry)
            for entry in getattr(msg.blocklist_remove, kind):  # within one message removal wins
                self.added[kind].discard(entry)
                if entry in on_file[kind]:
                    self.removed[kind].add(entry)
        self.recent[msg.message_id] = msg.issued_at.timestamp()
        while len(self.recent) > RECENT_IDS:
            issued = self.recent.pop(next(iter(self.recent)))
            if self.horizon is None or issued > self.horizon:
                self.horizon = issued

    def too_old(self, msg: ControlMessage) -> bool:
        return self.horizon is not None and msg.issued_at.timestamp() < self.horizon

    def patches(self) -> list[ControlMessage]:
        """The overrides as messages to fold, one per independent part, so a part that no longer applies
        to a changed file config is skipped alone."""
        parts: list[ControlMessage] = [
            _part(f"rules {code}", rules={code: patch}) for code, patch in sorted(self.rules.items())
        ]
        if self.alpha is not None:
            parts.append(_part("alpha", alpha=self.alpha))
        if self.alert_threshold is not None:
            parts.append(_part("alert_threshold", alert_threshold=self.alert_threshold))
        if any(self.added.values()) or any(self.removed.values()):
            parts.append(
                _part(
                    "blocklist",
                    blocklist_add=BlocklistPatch(**{k: tuple(sorted(v)) for k, v in self.added.items()}),
                    blocklist_remove=BlocklistPatch(**{k: tuple(sorted(v)) for k, v in self.removed.items()}),
                )
            )
        return parts

    def whole(self) -> ControlMessage:
        """All overrides as one message (what folding every part in turn gives, when each applies)."""
        return _part(
            "overrides",
            rules=self.rules,
            alpha=self.alpha,
            alert_threshold=self.alert_threshold,
            blocklist_add=BlocklistPatch(**{k: tuple(sorted(v)) for k, v in self.added.items()}),
            blocklist_remove=BlocklistPatch(**{k: tuple(sorted(v)) for k, v in self.removed.items()}),
        )

    def to_json(self) -> str:
        doc = {
            "format": COMPACT_FORMAT,
            "rules": self.rules,
            "alpha": self.alpha,
            "alert_threshold": self.alert_threshold,
            "blocklist_add": {k: sorted(v) for k, v in self.added.items()},
            "blocklist_remove": {k: sorted(v) for k, v in self.removed.items()},
            "recent": self.recent,
            "horizon": self.horizon,
        }
        return json.dumps(doc, separators=(",", ":"))

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> _Overrides:
        return cls(
            rules={code: dict(patch) for code, patch in doc["rules"].items()},
            alpha=doc["alpha"],
            alert_threshold=doc["alert_threshold"],
            added={k: set(doc["blocklist_add"][k]) for k in _KINDS},
            removed={k: set(doc["blocklist_remove"][k]) for k in _KINDS},
            recent=dict(doc["recent"]),
            horizon=doc["horizon"],
        )


def _part(name: str, **fields: Any) -> ControlMessage:
    return ControlMessage(message_id=f"compacted {name}", issued_at=_EPOCH, **fields)


def _load(base: DetectorConfig, controls_json: str | None) -> tuple[_Overrides, list[str]]:
    """The accepted state in compacted form, whichever format it was stored in; (overrides, problems).

    Raises ControlError if the text is neither format (state this module did not write).
    """
    if not controls_json:
        return _Overrides(), []
    try:
        doc = json.loads(controls_json)
    except ValueError as exc:
        raise ControlError(f"accepted control state is not JSON: {exc}") from exc
    if isinstance(doc, list):  # format 1: every accepted message in order
        return _from_history(base, doc)
    if isinstance(doc, dict) and doc.get("format") == COMPACT_FORMAT:
        try:
            return _Overrides.from_doc(doc), []
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ControlError(f"accepted control state (format 2) is damaged: {exc!r}") from exc
    found = doc.get("format") if isinstance(doc, dict) else type(doc).__name__
    raise ControlError(f"accepted control state has unknown format {found!r} (known: list, 2)")


def _from_history(base: DetectorConfig, history: list[Any]) -> tuple[_Overrides, list[str]]:
    """Replay a format-1 list: messages that do not apply to ``base`` are skipped and named, as before."""
    overrides = _Overrides()
    cfg = base
    problems: list[str] = []
    for text in history:
        try:
            msg = ControlMessage.model_validate_json(text)
            cfg = apply_control(cfg, msg)
        except (ControlError, ValueError, TypeError) as exc:
            problems.append(str(exc))
            continue
        overrides.absorb(msg, base)
    return overrides, problems


def _fold(base: DetectorConfig, overrides: _Overrides) -> tuple[DetectorConfig, list[str]]:
    try:  # the parts are independent: all at once is the same config, one validation instead of several
        return apply_control(base, overrides.whole()), []
    except ControlError:
        pass
    cfg = base
    problems: list[str] = []
    for part in overrides.patches():  # something no longer applies: find and name it, keep the rest
        try:
            cfg = apply_control(cfg, part)
        except ControlError as exc:
            problems.append(str(exc))
    return cfg, problems


def fold_controls(base: DetectorConfig, controls_json: str | None) -> tuple[DetectorConfig, list[str]]:
    """``base`` with the accepted controls applied; returns (config, problems).

    A part that no longer applies (the file config changed under it) is skipped and named in problems
    rather than stopping the job; so is unreadable state (the file config alone is then live).
    """
    try:
        overrides, problems = _load(base, controls_json)
    except ControlError as exc:
        return base, [str(exc)]
    cfg, more = _fold(base, overrides)
    return cfg, problems + more


def accept_control(base: DetectorConfig, controls_json: str | None, message: ControlMessage) -> str:
    """The accepted state (compacted document) with ``message`` applied; a redelivered message changes
    nothing. Raises ControlError if ``message`` cannot be applied or may be a late redelivery."""
    overrides, _ = _load(base, controls_json)
    if message.message_id in overrides.recent:
        if controls_json and not controls_json.lstrip().startswith("["):
            return controls_json
        return overrides.to_json()
    if overrides.too_old(message):
        newest = datetime.fromtimestamp(overrides.horizon or 0.0, UTC).isoformat()
        raise ControlError(
            f"control {message.message_id}: issued at {message.issued_at.isoformat()}, before {newest}, the"
            " newest of the messages too old to recognise a redelivery of; re-issue it with a current"
            " issued_at"
        )
    cfg, _ = _fold(base, overrides)
    apply_control(cfg, message)  # raises ControlError naming the problem
    overrides.absorb(message, base)
    return overrides.to_json()
