"""A real Apache Kafka 4 broker in KRaft combined mode, from Maven Central jars.

The log directory is formatted with Kafka's own StorageTool before the first start, and the broker runs with
single-node replication settings so transactions (and therefore exactly-once sinks) work on one node.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .maven import resolve_artifacts
from .procs import ComponentError, ManagedProcess, free_port, pid_alive, start_process, wait_until

__all__ = ["KAFKA_ARTIFACTS", "KAFKA_VERSION", "KafkaEndpoints", "ensure_kafka_jars", "start_kafka"]

KAFKA_VERSION = "4.1.1"
KAFKA_ARTIFACTS = (
    "org.slf4j:slf4j-api:2.0.17",
    f"org.apache.kafka:kafka_2.13:{KAFKA_VERSION}",
    "org.apache.logging.log4j:log4j-slf4j2-impl:2.24.3",
    "org.apache.logging.log4j:log4j-core:2.24.3",
)

_LOG4J2 = """\
status = warn
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.stdout.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
"""


@dataclass(frozen=True)
class KafkaEndpoints:
    """How to reach the broker that was started."""

    bootstrap: str
    log_dir: Path


def ensure_kafka_jars(*, progress: bool = False) -> Path:
    """The broker's runtime classpath directory (resolved once, then cached)."""
    return resolve_artifacts(f"kafka-{KAFKA_VERSION}", KAFKA_ARTIFACTS, progress=progress)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        raise ComponentError("kafka", "no `java` on PATH and JAVA_HOME is not set (Java 17 is needed)")
    return java


def _server_properties(node_dir: Path, port: int, controller_port: int) -> str:
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(node_dir / "data"),
        "num.partitions": "1",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "transaction.max.timeout.ms": "900000",
        "auto.create.topics.enable": "false",
        "log.flush.interval.messages": "9223372036854775807",
    }
    return "".join(f"{k}={v}\n" for k, v in props.items())


def start_kafka(
    run_dir: Path, started: list[ManagedProcess], *, tied_to_parent: bool = False
) -> KafkaEndpoints:
    """Format a KRaft log directory and start the broker; append the process to ``started``."""
    lib = ensure_kafka_jars()
    node_dir = run_dir / "kafka"
    node_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    props = node_dir / "server.properties"
    props.write_text(_server_properties(node_dir, port, controller_port))
    log4j = node_dir / "log4j2.properties"
    log4j.write_text(_LOG4J2)
    classpath = f"{lib}/*"
    jvm = [_java(), "-Xms256m", "-Xmx1g", f"-Dlog4j2.configurationFile={log4j}", "-cp", classpath]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    logs = run_dir / "logs"
    fmt = start_process(
        "kafka-storage-format",
        [*jvm, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
        logs / "kafka-format.log",
    )
    started.append(fmt)  # so an interrupt during formatting stops it too
    wait_until("kafka-storage-format", lambda: not pid_alive(fmt.pid), timeout=120, what="finished")
    started.remove(fmt)  # a one-shot tool: not a process of the running stack
    if not (node_dir / "data" / "meta.properties").is_file():
        raise ComponentError("kafka", "formatting the KRaft log directory failed", fmt.log)
    broker = start_process(
        "kafka",
        [*jvm, "-XX:+UseG1GC", "kafka.Kafka", str(props)],
        logs / "kafka.log",
        tied_to_parent=tied_to_parent,
    )
    started.append(broker)
    bootstrap = f"127.0.0.1:{port}"
    wait_until(
        "kafka", lambda: _broker_ready(bootstrap), timeout=120, process=broker, what="serving metadata"
    )
    return KafkaEndpoints(bootstrap=bootstrap, log_dir=node_dir / "data")


def _broker_ready(bootstrap: str) -> bool:
    """A TCP connect first (quiet), then a metadata request that proves the broker serves requests."""
    import logging
    import socket

    from confluent_kafka.admin import AdminClient

    host, port = bootstrap.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=1):
        pass
    quiet = logging.getLogger("streamflow.devstack.kafka-probe")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    conf: dict[str, Any] = {"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "logger": quiet}
    admin = AdminClient(conf)
    metadata = admin.list_topics(timeout=5)
    return bool(metadata.brokers)
