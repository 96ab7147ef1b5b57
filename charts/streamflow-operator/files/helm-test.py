"""`helm test`: the operator answers on its health and metrics ports through the chart's Service.

Runs in the operator's own image (python3, standard library only). HEALTH_URL and METRICS_URL name the
Service's ports; the operator may still be starting, so each check is retried for up to DEADLINE seconds.
Exit 0 when both answered, 1 otherwise, with what was seen.
"""

import os
import sys
import time
import urllib.error
import urllib.request

DEADLINE = float(os.environ.get("DEADLINE_SECONDS", "60"))


def fetch(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.status, response.read().decode("utf-8", "replace")


def check(name: str, url: str, expect: str) -> str | None:
    """None once ``url`` answers 200 with ``expect`` in the body (before the deadline), else the problem."""
    end = time.monotonic() + DEADLINE
    problem = "not tried"
    while True:
        try:
            status, body = fetch(url)
        except (urllib.error.URLError, OSError) as exc:
            problem = f"{url}: {exc}"
        else:
            if status == 200 and expect in body:
                print(f"ok: {name} {url} answered {status}")
                return None
            problem = f"{url}: HTTP {status}, {expect!r} not in the body: {body[:200]!r}"
        if time.monotonic() >= end:
            return f"{name}: {problem}"
        time.sleep(2)


def main() -> int:
    problems = [
        p
        for p in (
            check("health", os.environ["HEALTH_URL"], ""),
            check("metrics", os.environ["METRICS_URL"], "streamflow_reconciles"),
        )
        if p is not None
    ]
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
