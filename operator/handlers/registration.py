"""The kopf handlers, thin by design: each one only routes its trigger to a reconcile function.

They are registered by :func:`register` into a given registry, so a test can build a registry with a short
level-check interval while ``kopf run -m fraud_operator`` gets the default registry at import time.

Watch events drive every reconcile: a pipeline's own events (created, a new generation of its spec, found
by a listing at start-up), its children's (deleted, or changed by another field manager; watched by
:mod:`.child_watch`, not kopf; the FlinkDeployment's status is also mirrored), its models' (a change
that matters to it). All of them queue the pipeline's name on :class:`Background`'s queue, whose workers
reconcile the live object and retry with a growing delay; so do the topic cleanup of a deleted pipeline
(:mod:`.cleanup`, behind our own finalizer). Only the models have kopf change handlers: kopf neither
diffs nor annotates pipelines. Nothing
re-reconciles every pipeline on a timer; what no watch reports is checked by :mod:`.resync`, spread over
the interval.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Hashable, Iterable, Mapping
from typing import Any, cast

import kopf
from fraud_operator.api.common import API_VERSION, GROUP, VERSION
from fraud_operator.database import reconcile_database
from fraud_operator.handlers import child_index, model_cache, verdicts
from fraud_operator.handlers.child_watch import ChildWatches
from fraud_operator.handlers.cleanup import delete_topics_of, pending_cleanup
from fraud_operator.handlers.context import HANDLER_THREADS, clients, pipeline_lock, reset_clients
from fraud_operator.handlers.models import KIND as MODEL_KIND
from fraud_operator.handlers.models import reconcile_model
from fraud_operator.handlers.pipeline import (
    KIND,
    announce,
    forget_reconciled,
    mirrored,
    mirrored_since,
    reconcile,
    reconciled_since,
    roll_just_failed,
    write_pipeline_status,
)
from fraud_operator.handlers.resolve import parse_pipeline
from fraud_operator.handlers.resync import Scheduler, Tracked, tracked_from
from fraud_operator.handlers.shadow import compare_pipeline
from fraud_operator.handlers.status import FlinkObservation, observe_flink
from fraud_operator.malloc import trim
from fraud_operator.metrics import LEVEL_CHECKS, forget_pipeline
from fraud_operator.render.naming import MANAGED_BY, PIPELINE_LABEL
from fraud_operator.settings import SHADOW_COMPARE_SECONDS

__all__ = ["CHILD_KINDS", "Background", "register"]

# kopf's own finalizer: no handler of ours needs it, so kopf adds it to nothing. It must not be
# cleanup.FINALIZER, which kopf would remove from every pipeline as needed by none of its handlers.
KOPF_FINALIZER = f"kopf.{GROUP}/finalizer"
PIPELINES = "fraudpipelines"
MODELS = "fraudmodels"
logger = logging.getLogger(__name__)
# (group, version, plural, kind) of the child kinds the reconcile renders, watched for their metadata (the
# FlinkDeployment, FLINK_DEPLOYMENTS, is watched whole: its status is mirrored): a child deleted or changed
# by someone else brings its pipeline back.
CHILD_KINDS = (
    ("", "v1", "configmaps", "ConfigMap"),
    ("", "v1", "serviceaccounts", "ServiceAccount"),
    ("rbac.authorization.k8s.io", "v1", "roles", "Role"),
    ("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding"),
    ("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy"),
    ("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget"),
    ("kafka.strimzi.io", "v1", "kafkatopics", "KafkaTopic"),
    ("batch", "v1", "cronjobs", "CronJob"),
    ("monitoring.coreos.com", "v1", "podmonitors", "PodMonitor"),
)
FLINK_DEPLOYMENTS = ("flink.apache.org", "v1beta1", "flinkdeployments", "FlinkDeployment")
_INDEXED_KINDS = tuple(kind for *_, kind in (*CHILD_KINDS, FLINK_DEPLOYMENTS))
# After a start, a pipeline's reconcile waits (at most this long) for its namespace's children to be
# listed, so that it compares them with the index rather than reading each one (:mod:`.child_index`).
_LISTINGS_WAIT = 30.0
_LISTINGS_POLL = 0.5
# The children carry both labels; their watches (outside kopf) ask the API server for these only.
CHILD_SELECTOR = f"app.kubernetes.io/managed-by={MANAGED_BY},{PIPELINE_LABEL}"
# kopf's per-object workers (per watched kind) and the chunk of its listings: see configure().
_WORKERS_PER_KIND = 256
_LIST_CHUNK = 100
# kopf's threads for sync handlers: the models' change handlers; reconciles run on the queue's
# HANDLER_THREADS workers.
_KOPF_THREADS = 4
# Coalescing: triggers arriving within this window reconcile a pipeline (or refresh a model) once.
_KICK_DELAY = 0.5
_USED_BY_DELAY = 2.0
# A FlinkDeployment found by the watch's listing at a start is mirrored this late: the pipeline's own
# reconcile after the start, which observes it too, usually comes first and leaves nothing to do. A listing
# later on (the watch's events expired) reports changes no event brought: mirrored at once.
_LISTED_FLINK_DELAY = 30.0
# A roll's start is recorded to the second: its timeout check runs this long after the deadline.
_ROLL_MARGIN = 1.5
# A reconcile failing for an unexpected reason (a bug, an API error kopf would retry) comes back this late.
_ERROR_RETRY_SECONDS = 30.0
_TRIM = ("trim", "", "")
# After a watch (re)lists, the index is compared with the API server's objects this soon, and at most this
# often; also every _SWEEP_INTERVALS intervals, for a namespace whose objects were all deleted while its
# watch was away (its listing sends nothing). Not every interval: a sweep lists the metadata of every
# pipeline, 6% of the operator's CPU in a cold start of 1,000 when it ran every 30 s.
_SWEEP = ("sweep", "", "")
_SWEEP_DELAY = 2.0
_SWEEP_GAP = 10.0
_SWEEP_INTERVALS = 10


class ModelsDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf's diff base, built only for the kind that has change handlers (the FraudModel).

    kopf builds it for every event of every watched kind, a deep copy of the body each, whether or not a
    change handler could use it: for the pipelines (event handlers only) that was 7% of the operator's
    CPU in a cold start of 1,000. Other kinds get an empty one, as nothing compares it.
    """

    def build(
        self, *, body: kopf.Body, extra_fields: Iterable[kopf.FieldSpec] | None = None
    ) -> kopf.BodyEssence:
        if body.get("kind") != MODEL_KIND:
            return cast(kopf.BodyEssence, {})
        return super().build(body=body, extra_fields=extra_fields)


class _QuietEventHandlers(logging.Filter):
    """Drops kopf's "Handler 'pipeline-event' succeeded." lines: one per watch event of every pipeline and
    model (thousands in a start-up of 1,000 pipelines), saying nothing an SRE can use. Their failures
    are still logged."""

    _SPENT = frozenset(f"Handler '{handler}' succeeded." for handler in ("pipeline-event", "model-event"))

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() not in self._SPENT


_QUIET = _QuietEventHandlers()


def configure(settings: kopf.OperatorSettings, **_: Any) -> None:
    """Keep kopf's bookkeeping under our prefix and post only the events we choose.

    Posting every log line as an Event would write to the API server on each resync; our handlers post
    Events themselves, on transitions only.
    """
    settings.persistence.finalizer = KOPF_FINALIZER
    logging.getLogger("kopf.objects").addFilter(_QUIET)  # the same filter object: added once
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = ModelsDiffBase(prefix=GROUP, key="last-handled-configuration")
    settings.posting.loggers = False
    # A resync running while its pipeline is deleted delays the finalizer's release until the next poll
    # (kopf's default: 60 s); a reconcile takes about a second, so poll often.
    settings.background.cancellation_polling = 1.0
    settings.posting.level = logging.INFO
    settings.execution.max_workers = _KOPF_THREADS
    # A restart lists every watched object at once (23,000 at 1,000 pipelines), and kopf gave each its
    # own worker holding its body, all alive together: the restart's resident peak was 610-640 MB at
    # 1,000. Listed in chunks, with a bounded number of workers per kind, each exiting soon after its last
    # event, the listing waits for the workers instead of piling up in memory. A chunk is kept until its
    # last object has a worker: 100 pipelines (44 KB each decoded, traced at idle) rather than 500.
    settings.watching.chunk_size = _LIST_CHUNK
    settings.queueing.worker_limit = _WORKERS_PER_KIND
    settings.queueing.idle_timeout = 1.0


def login(settings: kopf.OperatorSettings, **_: Any) -> kopf.ConnectionInfo:
    """kopf connects with the same credentials as our client (in-cluster, else KUBECONFIG read now)."""
    config = reset_clients().api_client.configuration
    header = config.get_api_key_with_prefix("BearerToken") or config.get_api_key_with_prefix("authorization")
    parts = header.split(" ", 1) if header else []
    scheme, token = (
        (None, None) if not parts else (None, parts[0]) if len(parts) == 1 else (parts[0], parts[1])
    )
    return kopf.ConnectionInfo(
        server=config.host,
        ca_path=config.ssl_ca_cert,
        insecure=not config.verify_ssl,
        username=config.username or None,
        password=config.password or None,
        scheme=scheme,
        token=token,
        certificate_path=config.cert_file,
        private_key_path=config.key_file,
        trust_env=settings.networking.trust_env,
    )


def model_changed(body: kopf.Body, **_: Any) -> None:
    """Create, update, resume and resync of a FraudModel."""
    reconcile_model(body)


def _pipeline_owner(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for ref in (body.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("apiVersion") == API_VERSION and ref.get("kind") == KIND:
            return dict(ref)
    return None


def mirror_flink(
    namespace: str, name: str, deployment_name: str, uid: str, seen: FlinkObservation, arrived: float
) -> None:
    """Mirror lifecycleState and jobStatus.state of pipeline ``name``'s FlinkDeployment into its status.

    ``seen`` is what the FlinkDeployment's latest watch event said, ``arrived`` when (time.monotonic()).
    The queue keeps only the latest event's observation per pipeline, and a newer event replaces it and
    queues the mirror again, so ``seen`` is as current as a read (one GET fewer per status change of every
    FlinkDeployment). A reconcile that read the FlinkDeployment after the event arrived has written the
    same state or a newer one: the event is not mirrored then, which would put the older state back
    (seen at cold starts: a job reported RUNNING and then shown as pending, until the next listing).
    A model roll the Flink operator reports as failed is followed at once by a reconcile, which rolls back
    (modelPolicy.autoRollback) instead of waiting for the next resync.
    """
    applier = clients().applier
    logger.debug("pipeline %s/%s: mirroring FlinkDeployment %s", namespace, name, deployment_name)
    with pipeline_lock(namespace, name):  # a reconcile in progress writes its roll bookkeeping first
        if mirrored(namespace, name) == seen or mirrored_since(namespace, name, arrived):
            # The reconcile that held the lock observed the same or newer (a new pipeline's, usually):
            # its status write said it already, so the pipeline is not read again.
            return
        old, new = write_pipeline_status(
            applier, namespace, name, facts=None, flink=seen, flink_seen_at=arrived, only_uid=uid
        )
    pipeline_ref = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }
    announce(pipeline_ref, old, new)
    if roll_just_failed(old, new):
        try:
            reconcile(pipeline_ref)  # reads the live pipeline; a deleted one is left alone
        except (kopf.TemporaryError, kopf.PermanentError) as exc:
            logger.info("pipeline %s/%s after a failed model roll: %s", namespace, name, exc)


def _owner_key(body: Mapping[str, Any]) -> tuple[str, str] | None:
    owner = _pipeline_owner(body)
    if owner is None:
        return None
    return str((body.get("metadata") or {}).get("namespace")), str(owner["name"])


def _identity(body: Mapping[str, Any]) -> tuple[str, str]:
    """(namespace, name) of an object's body."""
    meta = body.get("metadata") or {}
    return str(meta.get("namespace")), str(meta.get("name"))


def _model_digest(body: Mapping[str, Any]) -> str:
    """What of a model a pipeline's reconcile reads; usedBy (written for the pipelines) is left out."""
    status = body.get("status") or {}
    meta = body.get("metadata") or {}
    relevant = {
        "spec": body.get("spec"),
        "generation": meta.get("generation"),
        "deleting": bool(meta.get("deletionTimestamp")),
        **{key: status.get(key) for key in ("phase", "reason", "message", "observedGeneration")},
    }
    return json.dumps(relevant, sort_keys=True, default=str)


class Background:
    """The state of one operator run behind the event handlers: what each pipeline is, and the queue.

    Keys of the queue: ``("reconcile", ns, name)`` reconciles the live pipeline once;
    ``("roll", ns, name)`` does the same when the model roll in flight runs out of time (a key of its own,
    so that an earlier reconcile does not take the deadline's place); ``("flink", ns, name)`` mirrors the
    pipeline's FlinkDeployment into its status; ``("check", ns, name)`` is the
    pipeline's level check; ``("model", ns, name)`` validates a model and refreshes its usedBy (also its
    periodic check: a model may age past maxAgeDays); ``("shadow", ns, name)`` compares a pipeline's active
    and shadow model every ``shadow_interval`` while it has one; ``("delete", ns, name)`` deletes the topics
    of a pipeline being deleted and releases its finalizer (:mod:`.cleanup`); ``("trim", "", "")`` hands
    freed memory back to the system once per interval; ``("sweep", "", "")`` drops what the index holds
    of objects deleted while a watch was disconnected (no DELETED event reports them; the new listing
    lacks them).
    """

    def __init__(
        self, interval: float, workers: int = HANDLER_THREADS, shadow_interval: float | None = None
    ) -> None:
        self.interval = interval
        self.shadow_interval = interval if shadow_interval is None else shadow_interval
        self.scheduler = Scheduler(self._run, workers=workers)
        self._lock = threading.Lock()
        self._pipelines: dict[tuple[str, str], Tracked] = {}
        self._models: dict[tuple[str, str], str] = {}
        # (kind, namespace, name) -> monotonic time of its latest event (a sweep keeps the newer ones)
        self._seen: dict[tuple[str, str, str], float] = {}
        self._last_sweep = float("-inf")
        self._kicked: dict[tuple[str, str], float] = {}  # (namespace, name) -> latest unserved kick
        # (namespace, name) -> reconciles of its current generation that failed in a row (the backoff)
        self._attempts: dict[tuple[str, str], int] = {}
        # (namespace, pipeline) -> (FlinkDeployment, pipeline uid, its latest observation, the monotonic time
        # its event arrived) not yet mirrored
        self._flink: dict[tuple[str, str], tuple[str, str, FlinkObservation, float]] = {}
        # (namespace, model) -> {pipeline: references it now} not yet written into the model's usedBy
        self._uses: dict[tuple[str, str], dict[str, bool]] = {}
        # (namespace, cluster, database) -> (monotonic time of the check, schema version or None)
        self._databases: dict[tuple[str, str, str], tuple[float, int | None]] = {}
        self._listings_due = float("-inf")  # until then, reconciles wait for the children's listings
        # (namespace, name) -> the latest event of a pipeline without a status yet, its reconcile queued
        self._unreconciled: dict[tuple[str, str], Mapping[str, Any]] = {}
        self.children = ChildWatches(
            CHILD_KINDS,
            CHILD_SELECTOR,
            self.child_changed,
            lambda: clients().api_client,
            whole={FLINK_DEPLOYMENTS: self.flink_event},
            on_listed=child_index.listed,
        )

    # ------------------------------------------------------------------ lifecycle

    def reset(self, **_: Any) -> None:
        """kopf startup: forget what an earlier run of this registry knew; the watches' listings refill it."""
        with self._lock:
            self._pipelines.clear()
            self._models.clear()
            self._seen.clear()
            self._kicked.clear()
            self._attempts.clear()
            self._unreconciled.clear()
            self._flink.clear()
            self._uses.clear()
            self._databases.clear()
        verdicts.forget_all()
        model_cache.clear()
        child_index.clear()
        self._listings_due = time.monotonic() + _LISTINGS_WAIT
        self.scheduler.rearm()
        self.children.restart()

    def stop(self, **_: Any) -> None:
        """kopf cleanup: the watches of the children end, the workers finish their current job and end."""
        self.children.stop()
        self.scheduler.stop()

    def _next_check(self) -> float:
        return self.interval * random.uniform(0.9, 1.1)

    def kick(self, namespace: str, name: str, delay: float = _KICK_DELAY) -> None:
        """Reconcile pipeline ``name`` from its live object soon (coalesced with other kicks).

        The time of the latest kick not yet served is kept: a reconcile that started after it (the
        pipeline's own, say, at a cold start when the models turn Ready) has seen what every kick so far
        is about. One that started between two kicks has not seen the second one's cause.
        """
        with self._lock:
            self._kicked[(namespace, name)] = time.monotonic()
        self.scheduler.at(("reconcile", namespace, name), delay)

    def users(self, namespace: str, model: str) -> list[str]:
        """Pipelines known to reference ``model`` (modelRef or shadowModelRef)."""
        with self._lock:
            return sorted(
                n for (ns, n), t in self._pipelines.items() if ns == namespace and model in t.models
            )

    # ------------------------------------------------------------------ event handlers
    # Coroutines: they only update the index and the queue, so they run on kopf's event loop; the
    # reconciles run on the queue's workers.

    def _start(self) -> None:
        if self.scheduler.start():
            self.scheduler.at(_TRIM, self.interval)
            self.scheduler.at(_SWEEP, self.interval * _SWEEP_INTERVALS)

    def _sweep_soon(self) -> None:
        """A watch is listing (kopf's events without a type): compare the index with the server soon."""
        gap = self._last_sweep + _SWEEP_GAP - time.monotonic()
        self.scheduler.at(_SWEEP, max(_SWEEP_DELAY, gap))

    async def pipeline_event(self, type: str | None, body: kopf.Body, **_: Any) -> None:
        """Reconcile a pipeline created, with a new generation, or listed (a start-up, a watch's reconnect);
        track it for its level check; on deletion forget it and refresh its models' usedBy.

        Our own status writes, and metadata changes, keep the generation: they reconcile nothing.
        """
        self._start()
        key = namespace, name = _identity(body)
        if type == "DELETED":
            with self._lock:
                gone = self._pipelines.pop(key, None)
            models = gone.models if gone is not None else tracked_from(body).models
            self._forget_pipeline(namespace, name, models)
            return
        self.children.ensure(namespace)
        if pending_cleanup(body):
            self.scheduler.at(("delete", namespace, name), 0.0)
        tracked = tracked_from(body)
        with self._lock:
            before = self._pipelines.get(key)
            self._pipelines[key] = tracked
            self._seen[(KIND, namespace, name)] = time.monotonic()
            renewed = before is None or (before.uid, before.generation) != (tracked.uid, tracked.generation)
            if renewed:
                self._attempts.pop(key, None)  # a new spec starts its backoff afresh
        kicked = (renewed or type is None) and not (body.get("metadata") or {}).get("deletionTimestamp")
        with self._lock:
            if body.get("status") or not (kicked or key in self._unreconciled):
                self._unreconciled.pop(key, None)
            else:
                self._unreconciled[key] = dict(body)  # a new pipeline: reconciled from this event
        if kicked:
            self.kick(namespace, name, 0.0)
        self.scheduler.spread(("check", namespace, name), self.interval)
        if tracked.shadow:
            # Spread like the level checks (a restart does not query every database at once); the
            # comparison reads the live pipeline, so nothing of its body is kept until then.
            self.scheduler.spread(("shadow", namespace, name), self.shadow_interval)
        else:
            self.scheduler.forget(("shadow", namespace, name))
        if tracked.roll_deadline is not None:
            # Only while a roll is in flight: one reconcile just after its timeout, which fails the roll
            # (and rolls it back) unless Flink confirmed it meanwhile.
            self.scheduler.at(("roll", namespace, name), tracked.roll_deadline - time.time() + _ROLL_MARGIN)
        if type is None:
            self._sweep_soon()
            if before is None:
                return  # a first listing: the models' resume handlers list the pipelines themselves
        old = before.models if before is not None else frozenset()
        self._note_uses(namespace, name, tracked.models - old, old - tracked.models)

    def _forget_pipeline(self, namespace: str, name: str, models: frozenset[str]) -> None:
        """A pipeline deleted (and out of the index): drop its queued work, and it from its models' usedBy."""
        for what in ("check", "reconcile", "roll", "shadow", "delete"):
            self.scheduler.forget((what, namespace, name))
        forget_pipeline(namespace, name)
        forget_reconciled(namespace, name)
        self.scheduler.forget(("flink", namespace, name))
        with self._lock:
            self._kicked.pop((namespace, name), None)
            self._attempts.pop((namespace, name), None)
            self._unreconciled.pop((namespace, name), None)
            self._flink.pop((namespace, name), None)
            self._seen.pop((KIND, namespace, name), None)
        self._note_uses(namespace, name, frozenset(), models)

    def _note_uses(
        self, namespace: str, pipeline: str, added: frozenset[str], removed: frozenset[str]
    ) -> None:
        """Queue the usedBy change of each model that ``pipeline`` started or stopped referencing.

        Changes, not the index's whole list: at a start-up the index fills while the first refreshes run,
        and a list computed from it then would drop pipelines from usedBy and write them back later.
        """
        with self._lock:
            for model, uses in [(m, True) for m in added] + [(m, False) for m in removed]:
                self._uses.setdefault((namespace, model), {})[pipeline] = uses
        for model in added | removed:
            self.scheduler.at(("model", namespace, model), _USED_BY_DELAY)

    async def model_event(self, type: str | None, body: kopf.Body, **_: Any) -> None:
        """A model changed in a way its pipelines read: reconcile each of them from its live object.

        Only names are queued, never the pipelines as listed now: a pipeline edited meanwhile must get its
        new spec applied, not its old one again.
        """
        self._start()
        key = namespace, name = _identity(body)
        if type == "DELETED":
            model_cache.forget(namespace, name)
            with self._lock:
                self._models.pop(key, None)
                self._seen.pop((MODEL_KIND, namespace, name), None)
            self.scheduler.forget(("model", namespace, name))
            changed = True
        else:
            model_cache.remember(body)
            digest = _model_digest(body)
            with self._lock:
                before = self._models.get(key)
                self._models[key] = digest
                self._seen[(MODEL_KIND, namespace, name)] = time.monotonic()
            self.scheduler.spread(("model", namespace, name), self.interval)
            if type is None:
                self._sweep_soon()
            # The initial listing changes nothing: the pipelines' own listing reconciles them anyway.
            changed = type is not None and before != digest
        if changed:
            for pipeline in self.users(namespace, name):
                self.kick(namespace, pipeline)

    def child_changed(self, type: str | None, body: Mapping[str, Any]) -> None:
        """A child was deleted or changed by someone else: its pipeline puts the spec's version back.

        Called from the children's watches (:mod:`.child_watch`) and for FlinkDeployments. A watch's
        listing (``type`` None: a start, or a reconnect) counts too: an edit made while the watch was away
        arrives only that way, and the level check does not read children.
        """
        child_index.note(str(body.get("kind")), type, body)
        if type != "DELETED" and not child_index.changed_by_others(body):
            return
        owner = _owner_key(body)
        known = owner if owner is not None and owner in self._pipelines else None
        logger.debug("%s %s %s/%s: kicks %s", type, body.get("kind"), *_identity(body), known)
        if known is not None:
            self.kick(*known)

    def flink_event(self, type: str | None, body: Mapping[str, Any]) -> None:
        """A FlinkDeployment changed: mirror what its status says into the pipeline's, unless the pipeline's
        latest status write already observed exactly that (the reconcile that applied it, usually).

        Called from the FlinkDeployments' watch (:mod:`.child_watch`, outside kopf: kopf's per-event
        processing of them was a tenth of the operator's CPU in a cold start). The mirror is queued: at a
        cold start of N pipelines, N such writes would otherwise wait in line before a spec change's.
        """
        # No self._start(): the pipeline event that started this watch (ChildWatches.ensure) started the
        # workers, in kopf's context.
        self.child_changed(type, body)
        owner = _pipeline_owner(body)
        if owner is None:
            return
        namespace, deployment = _identity(body)
        name = str(owner["name"])
        if type == "DELETED":
            with self._lock:  # its deletion reconciles the pipeline (a child); nothing left to mirror
                self._flink.pop((namespace, name), None)
            return
        # The index noted this event just now (child_changed, on this watch's thread): its observation.
        noted = child_index.flink_state(namespace, deployment)
        if noted is not None and noted.flink is not None:
            seen, arrived = noted.flink, noted.seen_at
        else:
            seen, arrived = observe_flink(body), time.monotonic()
        if mirrored(namespace, name) == seen:
            return
        starting = type is None and time.monotonic() < self._listings_due
        pending = (deployment, str(owner["uid"]), seen, arrived)
        self._queue_mirror(namespace, name, pending, _LISTED_FLINK_DELAY if starting else 0.0)

    def _queue_mirror(
        self,
        namespace: str,
        name: str,
        pending: tuple[str, str, FlinkObservation, float],
        delay: float,
        *,
        replace: bool = True,
    ) -> bool:
        """Queue the mirror of ``pending`` (deployment, pipeline uid, observation, arrival) into pipeline
        ``name``'s status; ``replace`` False keeps a mirror already queued (False returned)."""
        with self._lock:
            if not replace and (namespace, name) in self._flink:
                return False
            self._flink[(namespace, name)] = pending
        self.scheduler.at(("flink", namespace, name), delay)
        return True

    # ------------------------------------------------------------------ queued work

    def _run(self, key: Hashable) -> float | None:
        what, namespace, name = str(key[0]), str(key[1]), str(key[2])  # type: ignore[index]
        if what == "reconcile":
            with self._lock:
                kicked = self._kicked.pop((namespace, name), None)
            if kicked is not None and reconciled_since(namespace, name, kicked):
                logger.debug("pipeline %s/%s: reconciled since its kick, not again", namespace, name)
                return None
            return self._reconcile(namespace, name)
        if what == "roll":
            return self._reconcile(namespace, name)
        if what == "flink":
            return self._mirror(namespace, name)
        if what == "check":
            return self._check(namespace, name)
        if what == "model":
            return self._model(namespace, name)
        if what == "shadow":
            return self._shadow(namespace, name)
        if what == "delete":
            return self._cleanup(namespace, name)
        if what == "trim":
            trim()  # after a burst (a start-up, a restart's reconciles) the memory it took goes back
            return self.interval
        if what == "sweep":
            self._sweep()
            return self.interval * _SWEEP_INTERVALS
        return None

    def _sweep(self) -> None:
        """Forget the pipelines and models the API server no longer has, and take the pipelines out of
        their models' usedBy.

        Each namespace is listed (metadata only); an entry whose latest event came after the list was sent
        is kept, whatever the list says: that event is newer than the list. A name listed with another uid
        (recreated) is kept too: the new object's event replaces the entry and notes its models.
        """
        self._last_sweep = time.monotonic()
        with self._lock:
            namespaces = sorted({ns for ns, _ in self._pipelines} | {ns for ns, _ in self._models})
        applier = clients().applier
        for namespace in namespaces:
            listed_at = time.monotonic()
            pipelines = applier.names(API_VERSION, KIND, namespace)
            models = applier.names(API_VERSION, MODEL_KIND, namespace)
            with self._lock:
                gone = {
                    key: tracked
                    for key, tracked in self._pipelines.items()
                    if key[0] == namespace
                    and key[1] not in pipelines
                    and self._seen.get((KIND, *key), 0.0) < listed_at
                }
                for key in gone:
                    del self._pipelines[key]
                for key in [k for k in self._models if k[0] == namespace and k[1] not in models]:
                    if self._seen.get((MODEL_KIND, *key), 0.0) < listed_at:
                        del self._models[key]
                        self._seen.pop((MODEL_KIND, *key), None)
            for (_, name), tracked in gone.items():
                logger.info("pipeline %s/%s was deleted while unwatched: forgotten", namespace, name)
                self._forget_pipeline(namespace, name, tracked.models)

    def _mirror(self, namespace: str, name: str) -> float | None:
        """Mirror the FlinkDeployment's status, unless a status write observed it meanwhile."""
        with self._lock:
            pending = self._flink.pop((namespace, name), None)
        if pending is None or mirrored(namespace, name) == pending[2]:
            return None
        try:
            mirror_flink(namespace, name, *pending)
        except Exception:
            with self._lock:  # kept for the retry unless a newer event replaced it
                self._flink.setdefault((namespace, name), pending)
            raise
        return None

    def _reconcile(self, namespace: str, name: str) -> float | None:
        """Reconcile the live pipeline; a failure comes back after its delay.

        A temporary one (Kafka or the database not there yet) asks for its delay, which grows with the
        number of failures in a row of this generation (the database step's backoff); an invalid spec
        waits for its next generation; anything else is retried after _ERROR_RETRY_SECONDS. Until its
        namespace's children are listed after a start (_LISTINGS_WAIT at most), it waits for them, and
        for the first judgement of each model it references that has none yet.
        """
        key = (namespace, name)
        tracked = self._pipelines.get(key)
        if tracked is None:
            return None
        if time.monotonic() < self._listings_due:
            if not child_index.complete(_INDEXED_KINDS, namespace):
                return _LISTINGS_POLL  # a start-up: the children's watches are still listing
            if any(model_cache.unjudged(namespace, model) for model in tracked.models):
                # A start-up with a model never judged yet (kopf's create handler judges it now): a
                # reconcile before that applies the pipeline twice, without its model and then with it.
                return _LISTINGS_POLL
        with self._lock:
            attempt = self._attempts.get(key, 0)
            new = self._unreconciled.pop(key, None)
        try:
            # reconcile() reads the live pipeline (unless it is new: its latest event); the uid keeps a
            # pipeline recreated with this name apart.
            reconcile(
                {"metadata": {"namespace": namespace, "name": name, "uid": tracked.uid}},
                attempt=attempt,
                new=new,
            )
        except kopf.TemporaryError as exc:
            delay = float(exc.delay or 10.0)
            logger.info(
                "pipeline %s/%s: %s (attempt %d); again in %.0f s", namespace, name, exc, attempt, delay
            )
            self._failed(key, tracked)
            return delay
        except kopf.PermanentError as exc:
            logger.info("pipeline %s/%s: %s", namespace, name, exc)
        except Exception:
            logger.exception(
                "pipeline %s/%s: reconcile failed; again in %.0f s", namespace, name, _ERROR_RETRY_SECONDS
            )
            self._failed(key, tracked)
            return _ERROR_RETRY_SECONDS
        with self._lock:
            self._attempts.pop(key, None)
        return None

    def _failed(self, key: tuple[str, str], tracked: Tracked) -> None:
        """Count a failed reconcile, unless the pipeline was replaced or changed its generation meanwhile."""
        with self._lock:
            current = self._pipelines.get(key)
            if current is not None and (current.uid, current.generation) == (tracked.uid, tracked.generation):
                self._attempts[key] = self._attempts.get(key, 0) + 1

    def _check(self, namespace: str, name: str) -> float | None:
        """The level check of one pipeline: what its watches cannot report.

        Admin-API topics live on the broker: a full reconcile. The database schema is checked once per
        interval per database (migrate() with nothing pending writes nothing), and a pipeline whose status
        disagrees with it is reconciled. (A roll in flight has its own deadline: the "roll" key.)
        """
        tracked = self._pipelines.get((namespace, name))
        if tracked is None:
            return None
        self._mirror_if_behind(namespace, name, tracked.uid)
        if not tracked.observed:
            # A generation not reconciled yet has its own reconcile queued (which retries); checking it
            # now would only reconcile it twice, e.g. every pipeline at a cold start.
            return self._next_check()
        if not tracked.strimzi or tracked.database is None:
            LEVEL_CHECKS.labels(what="reconcile").inc()
            self.kick(namespace, name, 0.0)
            return self._next_check()
        db_key = (namespace, *tracked.database)
        now = time.monotonic()
        with self._lock:
            last = self._databases.get(db_key)
        if last is None or now - last[0] >= self.interval * 0.9:
            version = self._schema_version(namespace, name)
            with self._lock:
                self._databases[db_key] = last = (now, version)
            LEVEL_CHECKS.labels(what="database").inc()
        if last[1] is None or last[1] != tracked.schema_version:
            self.kick(namespace, name, 0.0)
        return self._next_check()

    def _mirror_if_behind(self, namespace: str, name: str, uid: str) -> None:
        """Queue a mirror when the status says other than the FlinkDeployment's latest event.

        Every such event queues its own mirror, and a status write takes the newest observation it knows
        (:func:`.pipeline._flink_deployment`): this never fires unless one of them missed a case. Then the
        status stays behind the job's state until something else changes, so the level check compares the
        two, which costs no request (the index and what this process wrote last).
        """
        written = mirrored(namespace, name)
        known = child_index.flink_state(namespace, name)  # the FlinkDeployment has the pipeline's name
        if written is None or known is None or known.flink is None or known.owner_uid != uid:
            return
        if known.flink == written or mirrored_since(namespace, name, known.seen_at):
            return
        # A mirror already queued is its event's (at a cold start, behind the reconciles due before it).
        if self._queue_mirror(namespace, name, (name, uid, known.flink, known.seen_at), 0.0, replace=False):
            logger.warning(
                "pipeline %s/%s: status behind its FlinkDeployment's latest event; mirroring", namespace, name
            )

    def _schema_version(self, namespace: str, name: str) -> int | None:
        """The database step as the reconcile runs it; the schema version when it is complete, else None."""
        ctx = clients()
        body = ctx.applier.get(API_VERSION, KIND, namespace, name)
        if body is None:
            return None
        try:
            pipeline = parse_pipeline(body)
        except Exception:
            return None
        outcome = reconcile_database(ctx.api_client, namespace, pipeline, attempt=0)
        if not outcome.migrated or outcome.applied:
            return None  # migrations were missing: every pipeline of this database reports it again
        return None if outcome.schema_version is None else int(outcome.schema_version)

    def _cleanup(self, namespace: str, name: str) -> float | None:
        """The topics of a pipeline being deleted (:mod:`.cleanup`); again after a delay while Kafka is
        unreachable, until the timeout releases the finalizer anyway."""
        ctx = clients()
        body = ctx.applier.get(API_VERSION, KIND, namespace, name)
        if body is None or not pending_cleanup(body):
            return None
        try:
            delete_topics_of(ctx.applier, ctx.core, body)
        except kopf.TemporaryError as exc:
            logger.info("pipeline %s/%s: %s", namespace, name, exc)
            return float(exc.delay or 5.0)
        return None

    def _shadow(self, namespace: str, name: str) -> float | None:
        """One shadow comparison of the live pipeline; the next one an interval later while it has one."""
        tracked = self._pipelines.get((namespace, name))
        if tracked is None or not tracked.shadow:
            return None
        body = clients().applier.get(API_VERSION, KIND, namespace, name)
        if body is None or (body.get("metadata") or {}).get("uid") != tracked.uid:
            return None  # deleted, or replaced: the new object's event schedules its own
        compare_pipeline(body)
        return self.shadow_interval

    def _model(self, namespace: str, name: str) -> float | None:
        """Validate one model (it may have aged past maxAgeDays); apply the usedBy changes queued for it."""
        body = clients().applier.get(API_VERSION, "FraudModel", namespace, name)
        with self._lock:
            uses = self._uses.pop((namespace, name), {})
        if body is None:
            return None  # its create handler lists the pipelines that reference it
        try:
            reconcile_model(body, uses=uses)
        except Exception:
            with self._lock:  # kept for the retry, behind any newer change of the same pipeline
                self._uses[(namespace, name)] = {**uses, **self._uses.get((namespace, name), {})}
            raise
        return self._next_check()


def register(
    registry: kopf.OperatorRegistry, *, resync_seconds: float, compare_seconds: float | None = None
) -> Background:
    """Register every handler of the operator into ``registry``; returns the run's background state.

    ``resync_seconds`` is the interval of the level checks (each pipeline and model at its own offset).
    ``compare_seconds`` is the shadow comparison's interval (default: STREAMFLOW_SHADOW_COMPARE_SECONDS
    or 300 s); the first comparison of a pipeline runs 0.5 to 1.5 intervals after the operator starts or
    the pipeline gets a shadow model, so a restart storm does not query every database at once.
    """
    compare = SHADOW_COMPARE_SECONDS.value() if compare_seconds is None else compare_seconds
    background = Background(resync_seconds, shadow_interval=compare)
    on = kopf.on
    on.startup(registry=registry, id="configure")(configure)
    on.startup(registry=registry, id="background-reset")(background.reset)
    on.cleanup(registry=registry, id="background")(background.stop)
    on.login(registry=registry, id="login")(login)
    on.event(GROUP, VERSION, PIPELINES, registry=registry, id="pipeline-event")(background.pipeline_event)

    # A model's every spec: created, changed, found at a restart.
    on.create(GROUP, VERSION, MODELS, registry=registry, id="model-create")(model_changed)
    on.update(GROUP, VERSION, MODELS, registry=registry, id="model-update", field="spec")(model_changed)
    on.resume(GROUP, VERSION, MODELS, registry=registry, id="model-resume")(model_changed)
    on.event(GROUP, VERSION, MODELS, registry=registry, id="model-event")(background.model_event)

    return background
