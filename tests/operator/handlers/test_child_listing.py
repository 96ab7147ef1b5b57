"""The children's watches decode one listed chunk at a time (a restart does not hold every kind's chunk
at once), while their requests overlap (a kind answered late holds up no other)."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from fraud_operator.handlers.child_watch import _Watch


class _InFlight:
    """Counts how many run at once, and the most ever."""

    def __init__(self) -> None:
        self.active = 0
        self.most = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.active += 1
            self.most = max(self.most, self.active)

    def __exit__(self, *_: Any) -> None:
        with self._lock:
            self.active -= 1


requests = _InFlight()
decoding = _InFlight()


class _Response:
    def __init__(self, page: dict[str, Any]) -> None:
        self._page = page

    @property
    def data(self) -> bytes:
        with decoding:
            time.sleep(0.02)
            return json.dumps(self._page).encode()


class _Listing:
    """An API client whose list answers two chunks, slowly (the first kind slowest)."""

    def call_api(self, path: str, method: str, *, query_params: list[tuple[str, Any]], **_: Any) -> Any:
        with requests:
            time.sleep(0.5 if path.endswith("kind-0") else 0.1)
        last = any(key == "continue" for key, _ in query_params)
        page = {
            "items": [{"metadata": {"name": f"{path}-{'b' if last else 'a'}"}}],
            "metadata": {"resourceVersion": "7", "continue": "" if last else "next"},
        }
        return _Response(page)


def test_listings_of_many_kinds_overlap_their_requests_and_take_turns_decoding() -> None:
    seen: list[str] = []

    def listed(type_: str | None, obj: Any) -> None:
        with decoding:  # noted under the same turn as its chunk's decoding
            seen.append(obj["metadata"]["name"])

    watches = [
        _Watch(_Listing, ("", "v1", f"kind-{i}", f"Kind{i}"), None, "sel", listed, threading.Event())
        for i in range(4)
    ]
    for watch in watches:
        watch._api = _Listing()
    threads = [threading.Thread(target=watch._list) for watch in watches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(seen) == sorted(f"/api/v1/kind-{i}-{c}" for i in range(4) for c in "ab")  # every chunk
    assert decoding.most == 1
    assert requests.most > 1  # kind-0's slow answer held up no other kind's request
