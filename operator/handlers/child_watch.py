"""Watches of the pipelines' children outside kopf: list + watch by our labels, no per-object state.

A pipeline owns about twenty children. Handed to kopf, each of their events gets a per-object worker, a
per-object memory kept while the object lives, a handler invocation and a log line: at a cold start of
1,000 pipelines that is 22,000 objects and more events, for handlers that only ask "did someone else
change this?". Here a thread per watched kind and namespace reads the event stream and calls ``on_event``
with the event's type (None for an object found by a listing: a start, or a reconnect that had to list
again) and the object's metadata as a dict, its ``apiVersion`` and ``kind`` set to the watched kind's (the
API server sends a PartialObjectMetadata, named so). The server filters by label, so other objects of the
kind never arrive. ``on_listed`` hears of each finished listing, with the time it started. A kind whose
status the operator reads (the FlinkDeployment) is watched whole instead, with its own callback.

The scope follows the pipelines: :meth:`ChildWatches.ensure` starts the watches of a namespace when its
first pipeline is seen (so kopf's ``--namespace`` patterns need no second parsing), or of the whole
cluster once when the operator runs cluster-wide.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from kubernetes.watch.watch import iter_resp_lines

__all__ = ["ChildWatches", "path_of", "watch_cluster_wide"]

logger = logging.getLogger(__name__)

OnEvent = Callable[[str | None, Mapping[str, Any]], None]
# (kind, namespace or None for all, monotonic start of the listing)
OnListed = Callable[[str, str | None, float], None]
Kind = tuple[str, str, str, str]  # group, version, plural, kind

# A watch request ends after this long (server side) and is resumed from its last resourceVersion: a
# stopped watcher notices its stop flag at the latest then.
_WATCH_SECONDS = 60
_LIST_CHUNK = 500
# Whole objects are larger (a FlinkDeployment decodes to tens of KB): listed in smaller chunks.
_WHOLE_CHUNK = 100
_RETRY_SECONDS = 5.0
# A kind the API server does not serve (its CRD not installed): asked again this often.
_UNSERVED_SECONDS = 30.0
# One listed chunk decoded at a time across every watch. A chunk of 500 children is ~10 MB of decoded
# objects, and at a restart every watch lists at once: with 12 kinds that alone was most of the operator's
# resident peak. The requests themselves overlap: the API server may answer a kind's first list late (a
# custom resource's storage is created at its first request, and a 429 asks to come back in a second),
# and the other kinds' listings need not wait for that.
_LISTING = threading.Lock()


def path_of(group: str, version: str, plural: str, namespace: str | None) -> str:
    """The collection's URL path, in one namespace or (``namespace`` None) across all of them."""
    base = f"/api/{version}" if not group else f"/apis/{group}/{version}"
    return f"{base}/namespaces/{namespace}/{plural}" if namespace else f"{base}/{plural}"


_cluster_wide = False


def watch_cluster_wide(enabled: bool = True) -> None:
    """The operator runs cluster-wide (``--all-namespaces``): one watch per kind for every namespace,
    instead of one per kind and namespace (its RBAC then allows listing them cluster-wide)."""
    global _cluster_wide
    _cluster_wide = enabled


_METADATA = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
_METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"


class _Expired(Exception):
    """The watch's resourceVersion is too old (410): list again."""


class _Watch:
    """One kind in one namespace (or all): list, then watch from the list's resourceVersion, forever."""

    def __init__(
        self,
        api_client: Callable[[], Any],
        kind: Kind,
        scope: str | None,
        selector: str,
        on_event: OnEvent,
        stopped: threading.Event,
        *,
        whole: bool = False,
        on_listed: OnListed | None = None,
    ) -> None:
        group, version, plural, self._kind = kind
        self._api_version = f"{group}/{version}" if group else version
        self._scope = scope
        self._on_listed = on_listed
        self._new_client = api_client
        self._api: Any = None
        path = path_of(group, version, plural, scope)
        self._path = path
        self._selector = selector
        self._on_event = on_event
        self._stopped = stopped
        self._whole = whole
        self._response: Any = None
        self.thread = threading.Thread(target=self._run, name=f"streamflow-watch {path}", daemon=True)

    def _get(self, query: list[tuple[str, Any]], *, stream: bool) -> Any:
        # Metadata only (the owner, and managedFields to tell who changed it): the API server sends no
        # spec or data, and the operator decodes none (a ConfigMap's detector config, a CronJob's template).
        metadata = _METADATA if stream else _METADATA_LIST
        accept = "application/json" if self._whole else metadata
        return self._api.call_api(
            self._path,
            "GET",
            query_params=[("labelSelector", self._selector), *query],
            header_params={"Accept": accept},
            auth_settings=["BearerToken"],
            _return_http_data_only=True,
            _preload_content=False,
            _request_timeout=(10, _WATCH_SECONDS + 15) if stream else 60,
        )

    def _list(self) -> str:
        """Every object (``on_event(None, ...)``), in chunks; returns the list's resourceVersion."""
        started = time.monotonic()
        version = self._list_chunks()
        if self._on_listed is not None:
            self._on_listed(self._kind, self._scope, started)
        return version

    def _named(self, obj: dict[str, Any]) -> dict[str, Any]:
        """``obj`` with the watched kind's apiVersion and kind (a metadata watch's say PartialObjectMetadata;
        a listing's items say nothing)."""
        obj["apiVersion"], obj["kind"] = self._api_version, self._kind
        return obj

    def _list_chunks(self) -> str:
        token: str | None = None
        while True:
            query: list[tuple[str, Any]] = [("limit", _WHOLE_CHUNK if self._whole else _LIST_CHUNK)]
            if token:
                query.append(("continue", token))
            response = self._get(query, stream=False)
            with _LISTING:  # the chunk is read, decoded and noted; only its metadata outlives the lock
                page = json.loads(response.data)
                for item in page.pop("items", None) or []:
                    self._on_event(None, self._named(item))
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                return str(meta.get("resourceVersion") or "")

    def _events(self, version: str) -> Iterator[tuple[str, dict[str, Any]]]:
        query = [
            ("watch", "true"),
            ("resourceVersion", version),
            ("allowWatchBookmarks", "true"),
            ("timeoutSeconds", _WATCH_SECONDS),
        ]
        self._response = response = self._get(query, stream=True)
        try:
            for line in iter_resp_lines(response):
                event = json.loads(line)
                kind, obj = str(event.get("type")), event.get("object") or {}
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise _Expired()
                    raise ApiException(status=obj.get("code"), reason=obj.get("message"))
                yield kind, obj
        finally:
            self._response = None
            response.release_conn()

    def _run(self) -> None:
        version: str | None = None
        while not self._stopped.is_set():
            try:
                if self._api is None:
                    self._api = self._new_client()
                if version is None:
                    version = self._list()
                for kind, obj in self._events(version):
                    version = (obj.get("metadata") or {}).get("resourceVersion") or version
                    if kind != "BOOKMARK":
                        self._on_event(kind, self._named(obj))
            except _Expired:
                logger.info("watch %s: its events expired; listing again", self._path)
                version = None  # the events since are gone: the new listing reports the objects as they are
            except ApiException as exc:
                if exc.status == 404:
                    logger.debug("%s is not served; asking again in %.0f s", self._path, _UNSERVED_SECONDS)
                    if version is None and self._on_listed is not None:
                        self._on_listed(self._kind, self._scope, time.monotonic())  # none to list
                    version = None
                    self._stopped.wait(_UNSERVED_SECONDS)
                else:
                    logger.warning("watch %s: %s; again in %.0f s", self._path, exc, _RETRY_SECONDS)
                    self._stopped.wait(_RETRY_SECONDS)
            except Exception as exc:  # a dropped connection, a timeout: resume from the last version
                if not self._stopped.is_set():
                    logger.info("watch %s interrupted (%s); resuming", self._path, exc)
                    self._stopped.wait(1.0)

    def interrupt(self) -> None:
        """Close the stream being read, so the thread sees its stop flag now."""
        response = self._response
        if response is not None:
            with contextlib.suppress(Exception):  # already closed
                response.shutdown()


class ChildWatches:
    """The watches of the children's kinds, per namespace (or cluster-wide), started on demand."""

    def __init__(
        self,
        kinds: Iterable[Kind],
        selector: str,
        on_event: OnEvent,
        api_client: Callable[[], Any],
        whole: Mapping[Kind, OnEvent] | None = None,
        on_listed: OnListed | None = None,
    ) -> None:
        """``kinds`` are watched for their metadata, calling ``on_event``; ``whole`` maps further kinds,
        watched with spec and status, to their own callbacks."""
        self._kinds = tuple(kinds)
        self._whole = dict(whole or {})
        self._on_listed = on_listed
        self._selector = selector
        self._on_event = on_event
        self._api_client = api_client
        self._lock = threading.Lock()
        self._scopes: dict[str | None, list[_Watch]] = {}
        self._stopped = threading.Event()

    def ensure(self, namespace: str) -> None:
        """Watch ``namespace``'s children (or, cluster-wide, everyone's) from now on; idempotent."""
        scope = None if _cluster_wide else namespace
        if scope in self._scopes:
            return
        with self._lock:
            if scope in self._scopes or self._stopped.is_set():
                return
            callbacks = [(k, self._on_event, False) for k in self._kinds]
            callbacks += [(k, on, True) for k, on in self._whole.items()]
            watches = [
                _Watch(
                    self._client,
                    kind,
                    scope,
                    self._selector,
                    on,
                    self._stopped,
                    whole=whole,
                    on_listed=self._on_listed,
                )
                for kind, on, whole in callbacks
            ]
            self._scopes[scope] = watches
        for watch in watches:
            watch.thread.start()
        logger.info("watching %d child kinds in %s", len(watches), scope or "all namespaces")

    def _client(self) -> Any:
        """A client of each watch's own: the handlers' connection pool is not held by streams."""
        configuration = copy.deepcopy(self._api_client().configuration)
        configuration.connection_pool_maxsize = 1
        return client.ApiClient(configuration)

    def stop(self, timeout: float = 5.0) -> None:
        """End every watch (their threads exit within ``timeout`` or at their stream's end)."""
        self._stopped.set()
        with self._lock:
            watches = [w for ws in self._scopes.values() for w in ws]
            self._scopes.clear()
        for watch in watches:
            watch.interrupt()
        deadline = time.monotonic() + timeout
        for watch in watches:
            watch.thread.join(max(0.0, deadline - time.monotonic()))

    def restart(self) -> None:
        """Allow watches again after :meth:`stop` (the next run of the same operator registry)."""
        self._stopped = threading.Event()
