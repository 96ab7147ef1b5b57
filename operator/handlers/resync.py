"""Work the watches cannot trigger, queued by name and spread over time.

Watch events drive the operator; this module holds the work they queue: reconciles (asked for by the
pipeline's own events, a model's, a drifted child's), each run from the live pipeline and coalesced by
name, and the level checks of what no watch reports (a pipeline's topics on the broker in
admin-API mode, its database schema, the timeout of a model roll in flight, a model's age), each at its
own offset within the interval so that
N pipelines cost N/interval checks per second instead of N checks at once. A database shared by several
pipelines is checked once per interval. Memory per pipeline: one small :class:`Tracked` record.
"""

from __future__ import annotations

import contextvars
import heapq
import itertools
import logging
import random
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from fraud_operator.handlers.rolls import in_flight, roll_deadline

__all__ = ["Scheduler", "Tracked", "tracked_from"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Tracked:
    """What the level check of one pipeline needs to know about it, from its latest watch event."""

    strimzi: bool
    database: tuple[str, str] | None  # (cnpgCluster, database)
    schema_version: int | None
    models: frozenset[str]
    uid: str = ""
    generation: int | None = None  # metadata.generation: a new one (a spec change) is reconciled at once
    shadow: bool = False  # spec.shadowModelRef names a model: the shadow comparison runs periodically
    observed: bool = True  # status.observedGeneration is the current generation
    # A model roll in flight times out by the clock, not by an event: the wall-clock time (epoch seconds)
    # past which its rollTimeoutSeconds has run out; None when no roll is in flight.
    roll_deadline: float | None = None

    @property
    def rolling(self) -> bool:
        """A model roll is in flight."""
        return self.roll_deadline is not None


def tracked_from(body: Mapping[str, Any]) -> Tracked:
    """The :class:`Tracked` record of a pipeline body (tolerant: the spec may be invalid)."""
    spec = body.get("spec") or {}
    kafka = spec.get("kafka") or {}
    db = spec.get("database") or {}
    refs = (spec.get("modelRef") or {}, spec.get("shadowModelRef") or {})
    status = body.get("status") or {}
    version = status.get("schemaVersion")
    meta = body.get("metadata") or {}
    flying = in_flight(status.get("modelHistory") or [])
    return Tracked(
        uid=str(meta.get("uid") or ""),
        generation=meta.get("generation") if isinstance(meta.get("generation"), int) else None,
        observed=status.get("observedGeneration") == meta.get("generation"),
        roll_deadline=None if flying is None else roll_deadline(flying, spec),
        strimzi=bool(kafka.get("strimziCluster")),
        database=(str(db.get("cnpgCluster")), str(db.get("database"))) if db.get("cnpgCluster") else None,
        schema_version=int(version) if isinstance(version, int) else None,
        models=frozenset(str(r["name"]) for r in refs if r.get("name")),
        shadow=bool(refs[1].get("name")),
    )


class Scheduler:
    """Keys due at a time, run by a few worker threads; a key is queued at most once and never runs twice
    at the same time. ``run(key)`` returns the delay until the key's next run, or None to drop it."""

    def __init__(self, run: Callable[[Hashable], float | None], *, workers: int = 2) -> None:
        self._run = run
        self._workers = workers
        self._cond = threading.Condition()
        self._heap: list[tuple[float, int, Hashable]] = []
        self._due: dict[Hashable, float] = {}
        self._running: set[Hashable] = set()
        self._seq = itertools.count()
        self._threads: list[threading.Thread] = []
        self._stopped = False
        self._context = contextvars.copy_context()

    def start(self) -> bool:
        """Start the workers (idempotent), each job running in a copy of the first caller's context;
        True when this call started them.

        Called from a kopf resource handler: the jobs see kopf's context variables as a handler does
        (Events are posted without them, :mod:`.events`).
        """
        with self._cond:
            if self._threads or self._stopped:
                return False
            self._context = contextvars.copy_context()
            for number in range(self._workers):
                thread = threading.Thread(target=self._work, name=f"streamflow-resync-{number}", daemon=True)
                thread.start()
                self._threads.append(thread)
            return True

    def rearm(self) -> None:
        """Let a stopped scheduler start again (the next operator run of the same registry)."""
        with self._cond:
            self._stopped = False

    def stop(self) -> None:
        """Stop the workers after their current key; the queue is dropped."""
        with self._cond:
            self._stopped = True
            self._heap.clear()
            self._due.clear()
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=30)
        self._threads.clear()

    def at(self, key: Hashable, delay: float) -> None:
        """Run ``key`` in ``delay`` seconds, or earlier if it is already due earlier."""
        due = time.monotonic() + max(0.0, delay)
        with self._cond:
            if key in self._due and self._due[key] <= due:
                return
            self._due[key] = due
            heapq.heappush(self._heap, (due, next(self._seq), key))
            self._cond.notify()

    def spread(self, key: Hashable, interval: float) -> None:
        """Run ``key`` at a random point between 0.5 and 1.5 ``interval`` from now unless it is queued.

        Not earlier: a key spread at start-up would otherwise run while the first reconciles still do.
        """
        with self._cond:
            queued = key in self._due or key in self._running
        if not queued:
            self.at(key, random.uniform(0.5 * interval, 1.5 * interval))

    def forget(self, key: Hashable) -> None:
        """Drop ``key`` from the queue (a run in progress finishes)."""
        with self._cond:
            self._due.pop(key, None)

    def queued(self) -> int:
        """Number of keys waiting."""
        with self._cond:
            return len(self._due)

    def _next(self) -> Hashable | None:
        with self._cond:
            while not self._stopped:
                now = time.monotonic()
                while self._heap:
                    due, _seq, key = self._heap[0]
                    if self._due.get(key) != due:
                        heapq.heappop(self._heap)  # forgotten or moved earlier
                        continue
                    if key in self._running:
                        # Another worker runs it; push it back a little behind the others.
                        later = max(now, due) + 0.05
                        heapq.heapreplace(self._heap, (later, next(self._seq), key))
                        self._due[key] = later
                        continue
                    break
                if self._heap and self._heap[0][0] <= now:
                    _due, _seq, key = heapq.heappop(self._heap)
                    del self._due[key]
                    self._running.add(key)
                    return key
                timeout = self._heap[0][0] - now if self._heap else None
                self._cond.wait(timeout)
            return None

    def _work(self) -> None:
        while True:
            key = self._next()
            if key is None:
                return
            try:
                delay = self._context.copy().run(self._run, key)
            except Exception:
                logger.exception("scheduled work %s failed; retrying in 30 s", key)
                delay = 30.0
            finally:
                with self._cond:
                    self._running.discard(key)
            if delay is not None:
                self.at(key, delay)
