"""The one apply layer between rendered children and the API server.

Every child is adopted (an ownerReference to its pipeline, so the garbage collector deletes it along),
compared with the live object first and only then server-side applied with our field manager. The comparison
makes a reconcile with nothing changed issue zero write requests: the desired object (including an annotation
with the hash of the whole desired object, which catches fields we stopped rendering) must be a subset of the
live one. Writes are counted in ``streamflow_api_writes_total``. API errors are mapped onto kopf's retry
model here, once, instead of in every handler.
"""

from __future__ import annotations

import copy
import functools
import hashlib
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import urlencode

import kopf
from fraud_operator.metrics import API_DRY_RUNS, API_WRITES
from kubernetes.client import ApiClient
from kubernetes.client.exceptions import ApiException
from kubernetes.client.rest import RESTResponse
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import ResourceNotFoundError
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.util import parse_url

__all__ = [
    "APPLIED_HASH_ANNOTATION",
    "FIELD_MANAGER",
    "Applier",
    "ChildRejected",
    "ConflictRetriesExhausted",
    "applied_hash",
    "is_subset",
    "owner_of",
]

FIELD_MANAGER = "streamflow-operator"
APPLIED_HASH_ANNOTATION = "streamflow.io/applied-hash"
_CONFLICT_RETRIES = 5
_LIST_PAGE = 100
_UNSERVED_TTL = 60.0
_TRANSIENT_STATUSES = frozenset({0, 408, 429, 500, 502, 503, 504})
_TYPED_PATCH_REFUSAL = "failed to create typed patch object"
# A list of only the objects' metadata: no specs or statuses to transfer and parse.
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
# The answer to a write whose body is not read: the object's metadata only, which the API server encodes
# and sends instead of the whole object (a FlinkDeployment or a detector ConfigMap is several KB).
_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"

T = TypeVar("T")
logger = logging.getLogger(__name__)


class ChildRejected(Exception):
    """The API server refused a rendered child (4xx other than conflicts): retrying cannot help."""

    def __init__(self, kind: str, name: str, status: int, message: str) -> None:
        super().__init__(f"{kind} {name} refused by the API server ({status}): {message}")
        self.kind = kind
        self.name = name
        self.status = status
        self.reason_message = message


class ConflictRetriesExhausted(kopf.TemporaryError):
    """Still 409 Conflict after several fresh attempts; kopf retries the whole reconcile later."""


def is_subset(desired: Any, live: Any) -> bool:
    """True when every field of ``desired`` has the same value in ``live`` (lists compared item by item).

    The API server adds defaults and metadata to live objects, so equality would never hold; a subset
    does exactly when applying ``desired`` would change nothing.
    """
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            return False
        # None matches an absent field: that is what a merge patch with null leaves behind.
        return all(
            live.get(key) is None if value is None else key in live and is_subset(value, live[key])
            for key, value in desired.items()
        )
    if isinstance(desired, list):
        if not isinstance(live, list) or len(desired) != len(live):
            return False
        return all(is_subset(d, v) for d, v in zip(desired, live, strict=True))
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return float(desired) == float(live)
    return bool(desired == live)


def applied_hash(obj: Mapping[str, Any]) -> str:
    """Digest of a desired object; stored on the child so that dropping a field also counts as a change."""
    return hashlib.sha256(json.dumps(obj, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:16]


def owner_of(body: Mapping[str, Any]) -> dict[str, Any]:
    """The parts of a parent that adoption needs, without its labels.

    ``kopf.adopt`` copies the owner's labels onto children; tracking labels of GitOps tools (e.g. ArgoCD's
    app.kubernetes.io/instance) must not spread to objects those tools did not create.
    """
    metadata = body.get("metadata", {})
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
        },
    }


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, ApiException):
        return int(exc.status or 0) in _TRANSIENT_STATUSES and not _refused_by_schema(exc)
    return isinstance(exc, Urllib3Error | ConnectionError | TimeoutError)


def _refused_by_schema(exc: ApiException) -> bool:
    """A server-side apply of a field the kind's schema does not declare: the API server answers 500
    ("failed to create typed patch object ... field not declared in schema"), which no retry changes."""
    return exc.status == 500 and _TYPED_PATCH_REFUSAL in str(exc.body or "")


def _message(exc: ApiException) -> str:
    try:
        body = json.loads(exc.body or "{}")
    except (TypeError, ValueError):
        return str(exc.reason)
    return str(body.get("message") or exc.reason)


def _decoded(response: Any) -> dict[str, Any]:
    """The JSON body of a raw response: the dynamic client's ResourceInstance, built and then turned back
    into a dict, cost about twice the CPU of the parse for a FraudPipeline."""
    decoded = json.loads(response.data)
    if not isinstance(decoded, dict):
        raise TypeError(f"expected a JSON object from the API server, got {type(decoded).__name__}")
    return decoded


def _release(response: Any) -> None:
    """Read the rest of an unparsed response, which hands its connection back to the pool.

    Left unread, the connection stays checked out and the next request opens a new one: a TLS handshake
    each, on both sides (22,000 in a cold start of 1,000 pipelines, 18% of the API server's CPU).
    """
    drain = getattr(response, "drain_conn", None)
    if drain is not None:
        drain()


class Applier:
    """Reads, applies, deletes and status-patches objects through the dynamic client, counting writes.

    One Applier is shared by kopf's handler threads. The dynamic client's discovery cache is not
    thread-safe (a miss rebuilds it in place, and a concurrent reader then fails with ``KeyError:
    'resources'``), so every discovery goes through one lock, and a resolved resource is kept: after the
    first reconcile, requests never touch the discovery cache again.
    """

    def __init__(self, api_client: ApiClient) -> None:
        self._api_client = api_client
        self._dynamic: DynamicClient | None = None
        self._discovery = threading.Lock()
        self._resources: dict[tuple[str, str], Any] = {}
        self._unserved: dict[tuple[str, str], float] = {}
        self._pool: tuple[Any, str] | None = None  # see _connect

    # ------------------------------------------------------------------ plumbing

    def _resource(self, api_version: str, kind: str) -> Any:
        """The dynamic client's resource of ``kind``; raises ResourceNotFoundError when it is not served."""
        key = (api_version, kind)
        found = self._resources.get(key)
        if found is not None:
            return found
        with self._discovery:
            return self._resources.get(key) or self._resource_locked(api_version, kind)

    def serves(self, api_version: str, kind: str) -> bool:
        """Whether the API server serves ``kind`` (e.g. whether the Strimzi CRDs are installed).

        A miss makes the dynamic client rediscover every API group, so misses are remembered for a minute;
        threads asking at once wait for one rediscovery instead of each starting their own.
        """
        key = (api_version, kind)
        if key in self._resources:
            return True
        if self._unserved.get(key, 0.0) > time.monotonic():
            return False
        with self._discovery:
            if self._unserved.get(key, 0.0) > time.monotonic():
                return False
            if key not in self._resources and not self._group_version_lists(api_version, kind):
                self._unserved[key] = time.monotonic() + _UNSERVED_TTL
                return False
            try:
                self._resource_locked(api_version, kind)
            except ResourceNotFoundError:
                self._unserved[key] = time.monotonic() + _UNSERVED_TTL
                return False
        return True

    def _group_version_lists(self, api_version: str, kind: str) -> bool:
        """Whether the discovery document of ``api_version`` lists ``kind``: one request, where a miss in
        the dynamic client rediscovers every API group."""
        path = f"/api/{api_version}" if "/" not in api_version else f"/apis/{api_version}"
        try:
            document = self._api_client.call_api(
                path,
                "GET",
                response_types_map={200: "object"},
                auth_settings=["BearerToken"],
                _return_http_data_only=True,
                _preload_content=True,
            )
        except ApiException as exc:
            if exc.status == 404:
                return False
            raise
        resources = (document or {}).get("resources") or []
        return any(item.get("kind") == kind for item in resources)

    def _resource_locked(self, api_version: str, kind: str) -> Any:
        if self._dynamic is None:
            self._dynamic = DynamicClient(self._api_client)
        found = self._dynamic.resources.get(api_version=api_version, kind=kind)
        self._resources[(api_version, kind)] = found
        return found

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one API request; transient failures become kopf.TemporaryError with a backoff."""
        try:
            return fn()
        except (ApiException, Urllib3Error, ConnectionError, TimeoutError) as exc:
            if _transient(exc):
                raise kopf.TemporaryError(f"{what}: transient API error: {exc}", delay=5) from exc
            raise

    def _request(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Mapping[str, Any] | None = None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> Any:
        """Send one request on the API client's connection pool; the raw response (its body unread), or
        ApiException for a status outside 2xx.

        The kubernetes client's own path (the dynamic client's request, call_api, its REST client and
        urllib3's PoolManager) copies and re-encodes each body and parses each URL twice: about a quarter
        of the operator's CPU in a cold start went there. The credentials are the client's (a refreshed
        token included), the pool the one its requests use.
        """
        client = self._api_client
        headers = {"Accept": accept, "User-Agent": client.user_agent}
        if body is not None:
            headers["Content-Type"] = content_type
        client.update_params_for_auth(headers, [], ["BearerToken"])
        target = f"{path}?{urlencode(query)}" if query else path
        data = json.dumps(body, separators=(",", ":")).encode() if body is not None else None
        pool, prefix = self._pool or self._connect()
        response = pool.urlopen(method, prefix + target, body=data, headers=headers, preload_content=False)
        if not 200 <= response.status <= 299:
            raise ApiException(http_resp=RESTResponse(response))
        return response

    def _connect(self) -> tuple[Any, str]:
        """The pool requests go on, and the prefix of their URLs: the host's own connection pool and its
        path (an API server behind a path-routing proxy), or, through an HTTP proxy, the client's pool
        manager and the whole URL (a proxy needs absolute URLs)."""
        manager = self._api_client.rest_client.pool_manager
        host = str(self._api_client.configuration.host).rstrip("/")
        if self._api_client.configuration.proxy:
            self._pool = (manager, host)
        else:
            self._pool = (manager.connection_from_url(host), parse_url(host).path or "")
        return self._pool

    # ------------------------------------------------------------------ reads

    def get(self, api_version: str, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        """The live object, or None when it does not exist.

        Not sent by the dynamic client: it formats a traceback into every error it raises, which made each
        404 (every child of a new pipeline) cost more CPU than the request.
        """
        path = self._resource(api_version, kind).path(name=name, namespace=namespace)
        try:
            result = self._call(f"get {kind} {name}", lambda: self._request("GET", path))
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise
        return _decoded(result)

    def list(self, api_version: str, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` matching ``label_selector``."""
        return list(self.each(api_version, kind, namespace, label_selector))

    def each(
        self, api_version: str, kind: str, namespace: str, label_selector: str = ""
    ) -> Iterator[dict[str, Any]]:
        """Objects of ``kind`` in ``namespace`` matching ``label_selector``, listed in pages of
        ``_LIST_PAGE``: a caller that keeps only what it needs of each holds one page at a time (three
        models' listings of 1,000 whole pipelines at once were a restart's memory peak)."""
        resource = self._resource(api_version, kind)
        token: str | None = None
        while True:
            fetch = functools.partial(
                resource.get,
                namespace=namespace,
                label_selector=label_selector,
                limit=_LIST_PAGE,
                _continue=token,
                serialize=False,
            )
            page = _decoded(self._call(f"list {kind}", fetch))
            yield from page.pop("items", None) or []
            token = (page.get("metadata") or {}).get("continue")
            if not token:
                return

    def names(self, api_version: str, kind: str, namespace: str) -> dict[str, str]:
        """Name -> uid of every object of ``kind`` in ``namespace``, from a list of their metadata only."""
        resource = self._resource(api_version, kind)
        result = self._call(
            f"list {kind} metadata",
            lambda: resource.get(
                namespace=namespace, serialize=False, header_params={"Accept": _METADATA_LIST}
            ),
        )
        items = _decoded(result).get("items") or []
        return {str(i["metadata"]["name"]): str(i["metadata"].get("uid") or "") for i in items}

    # ------------------------------------------------------------------ writes

    @staticmethod
    def adopted(desired: Mapping[str, Any], owner: Mapping[str, Any]) -> dict[str, Any]:
        """``desired`` as it is applied: owned by ``owner``, with the hash of the whole desired object.

        Only the metadata is copied (kopf.adopt writes nothing else): the rest is shared with ``desired``,
        which stays as it was. A deep copy of every child was 6% of the operator's time in a cold start.
        """
        obj = dict(desired)
        obj["metadata"] = copy.deepcopy(dict(desired.get("metadata") or {}))
        kopf.adopt(obj, owner=owner_of(owner))  # type: ignore[arg-type]
        annotations = obj.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.pop(APPLIED_HASH_ANNOTATION, None)
        annotations[APPLIED_HASH_ANNOTATION] = applied_hash(obj)
        return obj

    def observe(self, obj: Mapping[str, Any]) -> tuple[str, dict[str, Any] | None]:
        """How the live object stands to an adopted one ("unchanged", "changed" or "absent"), and the live
        object read to tell (None: absent)."""
        meta = obj["metadata"]
        live = self.get(obj["apiVersion"], obj["kind"], meta["namespace"], meta["name"])
        if live is None:
            return "absent", None
        return ("unchanged" if is_subset(obj, live) else "changed"), live

    def send(self, obj: Mapping[str, Any], *, dry_run: bool = False) -> bool:
        """Server-side apply an object :meth:`adopted` by its owner; True: sent.

        ``dry_run`` has the API server validate and admit the object without persisting it (counted apart
        from the writes). A field the kind's schema does not declare is refused either way (the API server
        cannot build the apply's typed patch), as ChildRejected naming it, never silently pruned. A dry run
        also asks for fieldValidation=Strict (duplicate fields); every real apply follows a dry run of the
        object, or of one of the same shape (:mod:`.handlers.verdicts`), and skips it: with it, the API
        server parsed each apply's body twice, 4% of its CPU in a cold start of 1,000 pipelines.
        """
        api_version, kind = obj["apiVersion"], obj["kind"]
        name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
        path = self._resource(api_version, kind).path(name=name, namespace=namespace)
        query = [("fieldManager", FIELD_MANAGER), ("force", "true")]
        query += (
            [("fieldValidation", "Strict"), ("dryRun", "All")] if dry_run else [("fieldValidation", "Ignore")]
        )
        for _attempt in range(_CONFLICT_RETRIES):
            try:
                response = self._call(
                    f"apply {kind} {name}",
                    lambda: self._request(
                        "PATCH",
                        path,
                        query=query,
                        body=obj,
                        content_type="application/apply-patch+yaml",
                        accept=_METADATA,
                    ),
                )
                _release(response)
            except ApiException as exc:
                if exc.status == 409:
                    continue
                raise ChildRejected(kind, name, int(exc.status or 0), _message(exc)) from exc
            finally:
                (API_DRY_RUNS if dry_run else API_WRITES).labels(kind=kind).inc()
            logger.debug("applied %s %s/%s", kind, namespace, name)
            return True
        raise ConflictRetriesExhausted(f"apply {kind} {name}: conflicts persisted", delay=2)

    def delete(self, api_version: str, kind: str, namespace: str, name: str) -> bool:
        """Delete an object; True when a delete request was sent (absent objects need none)."""
        resource = self._resource(api_version, kind)
        try:
            self._call(f"delete {kind} {name}", lambda: resource.delete(name=name, namespace=namespace))
        except ApiException as exc:
            if exc.status == 404:
                return True
            raise
        finally:
            API_WRITES.labels(kind=kind).inc()
        return True

    def _merge_patch(
        self,
        resource: Any,
        what: str,
        name: str,
        namespace: str,
        body: Mapping[str, Any],
        accept: str = "application/json",
    ) -> Any:
        """Send a JSON merge patch of ``resource`` (``body`` carries the resourceVersion it was computed
        from, so a concurrent writer makes it a 409); the raw response."""
        path = resource.path(name=name, namespace=namespace)
        return self._call(
            what,
            lambda: self._request(
                "PATCH",
                path,
                query=[("fieldManager", FIELD_MANAGER)],
                body=body,
                content_type="application/merge-patch+json",
                accept=accept,
            ),
        )

    def create_event(self, event: Mapping[str, Any]) -> None:
        """Create a core/v1 Event (:mod:`.handlers.events`); not counted as a write of a child."""
        namespace = str(event["metadata"]["namespace"])
        path = self._resource("v1", "Event").path(namespace=namespace)
        response = self._call(
            f"post event {event.get('reason')}",
            lambda: self._request("POST", path, body=event, accept=_METADATA),
        )
        _release(response)

    def set_finalizer(self, body: Mapping[str, Any], finalizer: str, present: bool) -> dict[str, Any] | None:
        """Add or remove ``finalizer`` on the object ``body`` (as read); returns the object as patched, or
        None when it no longer exists.

        The patch carries the resourceVersion of ``body``: the list is replaced whole, so a concurrent
        change (another controller's finalizer) makes it a 409, raised as kopf.TemporaryError to be tried
        again on a fresh read.
        """
        meta = body.get("metadata") or {}
        current = list(meta.get("finalizers") or [])
        if (finalizer in current) == present:
            return dict(body)
        wanted = [f for f in current if f != finalizer] + ([finalizer] if present else [])
        api_version, kind = str(body.get("apiVersion")), str(body.get("kind"))
        name, namespace = str(meta.get("name")), str(meta.get("namespace"))
        patch = {"metadata": {"resourceVersion": meta.get("resourceVersion"), "finalizers": wanted or None}}
        resource = self._resource(api_version, kind)
        try:
            response = self._merge_patch(resource, f"patch {kind} {name} finalizers", name, namespace, patch)
        except ApiException as exc:
            if exc.status == 404:
                return None
            if exc.status == 409:
                message = f"{kind} {name} changed meanwhile; its finalizers again"
                raise kopf.TemporaryError(message, delay=1) from exc
            raise
        finally:
            API_WRITES.labels(kind=kind).inc()
        return _decoded(response)

    def update_status(
        self,
        api_version: str,
        kind: str,
        namespace: str,
        name: str,
        compute: Callable[[dict[str, Any]], dict[str, Any] | None],
        *,
        known: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Read the object, let ``compute`` derive status changes from it, and patch them if any.

        ``compute`` gets the fresh object and returns the status fields to merge (None or an empty dict:
        nothing to do). The patch carries the resourceVersion it was computed from, so a concurrent writer
        makes it fail with 409 and it is recomputed on the newer object. Returns the object the changes
        were computed from, or None when it no longer exists. ``known``: the object as the caller read it
        moments ago, used instead of a read for the first attempt (only by a caller that alone writes the
        status meanwhile: a change it cannot see would be taken for no change).
        """
        resource = self._resource(api_version, kind).status
        for attempt in range(_CONFLICT_RETRIES):
            first = known if attempt == 0 else None
            live = first if first is not None else self.get(api_version, kind, namespace, name)
            if live is None:
                return None
            changes = compute(live)
            if not changes or is_subset(changes, live.get("status") or {}):
                return live
            body = {
                "metadata": {"resourceVersion": live["metadata"]["resourceVersion"]},
                "status": changes,
            }
            try:
                response = self._merge_patch(
                    resource, f"patch {kind} {name} status", name, namespace, body, accept=_METADATA
                )
                _release(response)
            except ApiException as exc:
                if exc.status == 409:
                    continue
                if exc.status == 404:
                    return None
                raise
            finally:
                API_WRITES.labels(kind=f"{kind}/status").inc()
            return live
        raise ConflictRetriesExhausted(f"status of {kind} {name}: conflicts persisted", delay=2)
