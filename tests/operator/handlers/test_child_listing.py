"""The children's watches list one at a time: a restart does not hold every kind's chunk at once."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from fraud_operator.handlers.child_watch import _Watch


class _Listing:
    """An API client whose list answers two chunks, slowly, and counts the listings in flight."""

    active = 0
    most = 0
    lock = threading.Lock()

    def call_api(self, path: str, method: str, *, query_params: list[tuple[str, Any]], **_: Any) -> Any:
        with _Listing.lock:
            _Listing.active += 1
            _Listing.most = max(_Listing.most, _Listing.active)
        time.sleep(0.05)
        with _Listing.lock:
            _Listing.active -= 1
        last = any(key == "continue" for key, _ in query_params)
        page = {
            "items": [{"metadata": {"name": f"{path}-{'b' if last else 'a'}"}}],
            "metadata": {"resourceVersion": "7", "continue": "" if last else "next"},
        }
        return type("Response", (), {"data": json.dumps(page).encode()})()


def test_listings_of_many_kinds_take_turns() -> None:
    seen: list[str] = []

    def listed(type_: str | None, obj: Any) -> None:
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
    assert _Listing.most == 1
