"""A real Apache Kafka 4 broker in KRaft combined mode, from Maven Central jars.

The log directory is formatted with Kafka's own StorageTool before the first start, and the broker runs with
single-node replication settings so transactions (and therefore exactly-once sinks) work on one node.
``restart_kafka`` starts the broker again on the same log directory and ports (after a crash: the chaos
tests); an extra listener can advertise another address (a fault proxy in front of it) to its clients.
"""

from __future__ import annotations

import base64
import os
import shutil
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .maven import resolve_artifacts
from .procs import ComponentError, ManagedProcess, free_port, pid_alive, start_process, wait_until

__all__ = [
    "KAFKA_ARTIFACTS",
    "KAFKA_VERSION",
    "ExtraListener",
    "KafkaEndpoints",
    "ensure_kafka_jars",
    "new_cluster_id",
    "restart_kafka",
    "start_kafka",
]

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
class ExtraListener:
    """A second PLAINTEXT listener on ``port`` that tells its clients to connect to ``advertised``.

    Kafka clients reconnect to the address the broker advertises, not to their bootstrap address: traffic
    routed through a proxy stays on the proxy only if the broker advertises the proxy's address.
    """

    name: str
    port: int
    advertised: str


@dataclass(frozen=True)
class KafkaEndpoints:
    """How to reach the broker that was started (and what ``restart_kafka`` needs)."""

    bootstrap: str
    log_dir: Path
    node_dir: Path | None = None
    log: Path | None = None
    listeners: dict[str, str] = field(default_factory=dict)
    """Extra listener name -> the address it listens on (``host:port``)."""


def ensure_kafka_jars(*, progress: bool = False) -> Path:
    """The broker's runtime classpath directory (resolved once, then cached)."""
    return resolve_artifacts(f"kafka-{KAFKA_VERSION}", KAFKA_ARTIFACTS, progress=progress)


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java:
        raise ComponentError("kafka", "no `java` on PATH and JAVA_HOME is not set (Java 17 is needed)")
    return java


def _server_properties(
    node_dir: Path, port: int, controller_port: int, extra: Sequence[ExtraListener] = ()
) -> str:
    listeners = [f"PLAINTEXT://127.0.0.1:{port}", *(f"{x.name}://127.0.0.1:{x.port}" for x in extra)]
    advertised = [f"PLAINTEXT://127.0.0.1:{port}", *(f"{x.name}://{x.advertised}" for x in extra)]
    protocols = ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT", *(f"{x.name}:PLAINTEXT" for x in extra)]
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": ",".join([*listeners, f"CONTROLLER://127.0.0.1:{controller_port}"]),
        "advertised.listeners": ",".join(advertised),
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": ",".join(protocols),
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


def _jvm(node_dir: Path) -> list[str]:
    log4j = node_dir / "log4j2.properties"
    return [
        _java(),
        "-Xms256m",
        "-Xmx1g",
        f"-Dlog4j2.configurationFile={log4j}",
        "-cp",
        f"{ensure_kafka_jars()}/*",
    ]


def new_cluster_id() -> str:
    """A KRaft cluster id as Kafka's ``Uuid.randomUuid()`` makes it: url-safe base64 of 16 random bytes.

    Like Kafka's, it never starts with ``-``: StorageTool's argument parser would read it as an option.
    """
    while True:
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cluster_id.startswith("-"):
            return cluster_id


def start_kafka(
    run_dir: Path,
    started: list[ManagedProcess],
    *,
    tied_to_parent: bool = False,
    extra_listeners: Sequence[ExtraListener] = (),
) -> KafkaEndpoints:
    """Format a KRaft log directory and start the broker; append the process to ``started``."""
    node_dir = run_dir / "kafka"
    node_dir.mkdir(parents=True, exist_ok=True)
    port, controller_port = free_port(), free_port()
    props = node_dir / "server.properties"
    props.write_text(_server_properties(node_dir, port, controller_port, extra_listeners))
    (node_dir / "log4j2.properties").write_text(_LOG4J2)
    jvm = _jvm(node_dir)
    cluster_id = new_cluster_id()
    logs = run_dir / "logs"
    fmt = start_process(
        "kafka-storage-format",
        [*jvm, "kafka.tools.StorageTool", "format", f"--cluster-id={cluster_id}", "-c", str(props)],
        logs / "kafka-format.log",
    )
    started.append(fmt)  # so an interrupt during formatting stops it too
    wait_until("kafka-storage-format", lambda: not pid_alive(fmt.pid), timeout=120, what="finished")
    started.remove(fmt)  # a one-shot tool: not a process of the running stack
    if not (node_dir / "data" / "meta.properties").is_file():
        raise ComponentError("kafka", "formatting the KRaft log directory failed", fmt.log)
    endpoints = KafkaEndpoints(
        bootstrap=f"127.0.0.1:{port}",
        log_dir=node_dir / "data",
        node_dir=node_dir,
        log=logs / "kafka.log",
        listeners={x.name: f"127.0.0.1:{x.port}" for x in extra_listeners},
    )
    _start_broker(endpoints, started, tied_to_parent=tied_to_parent)
    return endpoints


def _start_broker(
    endpoints: KafkaEndpoints, started: list[ManagedProcess], *, tied_to_parent: bool
) -> ManagedProcess:
    assert endpoints.node_dir is not None and endpoints.log is not None
    props = endpoints.node_dir / "server.properties"
    broker = start_process(
        "kafka",
        [*_jvm(endpoints.node_dir), "-XX:+UseG1GC", "kafka.Kafka", str(props)],
        endpoints.log,
        tied_to_parent=tied_to_parent,
    )
    started.append(broker)
    wait_until(
        "kafka",
        lambda: _broker_ready(endpoints.bootstrap),
        timeout=120,
        process=broker,
        what="serving metadata",
    )
    return broker


def restart_kafka(
    endpoints: KafkaEndpoints, started: list[ManagedProcess], *, tied_to_parent: bool = False
) -> ManagedProcess:
    """Start the broker of ``endpoints`` again on its log directory and ports (it must not be running):
    Kafka recovers its logs and KRaft metadata as after a crash. Appends the process to ``started``."""
    if endpoints.node_dir is None or not (endpoints.log_dir / "meta.properties").is_file():
        raise ComponentError("kafka", f"no formatted log directory to restart from: {endpoints.log_dir}")
    return _start_broker(endpoints, started, tied_to_parent=tied_to_parent)


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
