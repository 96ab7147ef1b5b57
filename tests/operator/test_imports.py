"""What the operator loads at start-up: libraries only some setups use stay unloaded until used."""

from __future__ import annotations

import subprocess
import sys


def test_the_operator_starts_without_the_kafka_client_or_kubernetes_asyncio() -> None:
    """The Kafka client (librdkafka, 13 MB resident) serves admin-API topic mode only; Strimzi mode never
    loads it. kubernetes_asyncio only tells kopf about objects the operator never hands it."""
    check = (
        "import sys, fraud_operator, fraud_operator.operator_cmd, fraud_operator.handlers.registration;"
        "loaded = sorted(m for m in ('confluent_kafka', 'kubernetes_asyncio') if sys.modules.get(m));"
        "assert not loaded, loaded"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
