"""``streamflow job run --config FILE``: the detector job on the local Flink mini-cluster.

The same graph as in the cluster (:func:`fraud_jobs.flink.topology.build`), with local defaults filled in:
the local stack's Kafka (``$STREAMFLOW_KAFKA_BOOTSTRAP``) and connector jars, a local checkpoint directory,
and optionally the topics created first.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from fraud_jobs.env_settings import FLINK_JARS, KAFKA_BOOTSTRAP
from fraud_models.argtypes import positive_int

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add ``job run`` to the `streamflow` parser."""
    job = subparsers.add_parser("job", help="run the detector Flink job locally")
    job_sub = job.add_subparsers(dest="job_command", metavar="SUBCOMMAND", required=True)
    run = job_sub.add_parser("run", help="run the detector job on the local Flink mini-cluster")
    run.add_argument("--config", type=Path, required=True, help="detector config JSON (detector.json)")
    run.add_argument(
        "--bootstrap",
        default=KAFKA_BOOTSTRAP.read(),
        help="Kafka bootstrap servers (default: $STREAMFLOW_KAFKA_BOOTSTRAP, else the config's)",
    )
    run.add_argument(
        "--database-dsn-env",
        help="environment variable with the PostgreSQL DSN for the alert table (e.g. STREAMFLOW_PG_DSN)",
    )
    run.add_argument("--no-database", action="store_true", help="do not write alerts to PostgreSQL")
    run.add_argument("--checkpoint-dir", help="checkpoint directory URI (default: a local directory)")
    run.add_argument("--restore-from", help="savepoint or retained checkpoint to start from")
    run.add_argument("--parallelism", type=positive_int, help="job parallelism")
    run.add_argument("--state-backend", choices=("hashmap", "rocksdb"), help="state.backend.type")
    run.add_argument(
        "--changelog",
        action=argparse.BooleanOptionalAction,
        help="Flink's changelog state backend (checkpoints upload only the changes)",
    )
    run.add_argument("--bounded", action="store_true", help="stop at the offsets latest when the job starts")
    run.add_argument("--create-topics", action="store_true", help="create missing topics first")
    run.set_defaults(func=_run)


def _fail(message: str) -> int:
    """An unusable config, missing jars or an unreachable broker: a failure, exit 1."""
    print(f"streamflow job run: {message}", file=sys.stderr)
    return 1


def local_settings(args: argparse.Namespace) -> Any:
    """The config file's settings with the local overrides of ``args`` applied."""
    from fraud_jobs.flink.settings import JobSettings, load_settings

    settings: JobSettings = load_settings(args.config)
    update: dict[str, Any] = {}
    if args.bootstrap:
        update["kafka"] = settings.kafka.model_copy(update={"bootstrap_servers": args.bootstrap})
    if args.no_database:
        update["database"] = None
    elif args.database_dsn_env:
        from fraud_jobs.flink.settings import DatabaseSettings

        table = settings.database.table if settings.database else "gold.fact_fraud_alerts"
        update["database"] = DatabaseSettings(dsn_env=args.database_dsn_env, table=table)
    settings = settings.model_copy(update=update)
    jars = settings.flink.jars or FLINK_JARS.read()
    if not jars:
        from fraud_jobs.flink.settings import SettingsError

        raise SettingsError(
            f"no connector jars: set flink.jars in the config or {FLINK_JARS.name} "
            '(`eval "$(streamflow dev env)"` sets it for the local stack)'
        )
    checkpoint_dir = args.checkpoint_dir or settings.flink.checkpoint_dir
    if checkpoint_dir is None:
        checkpoint_dir = (Path("/tmp/streamflow-runs/job-checkpoints") / settings.job_name).resolve().as_uri()
    changes: dict[str, Any] = {"jars": jars, "checkpoint_dir": checkpoint_dir}
    for key in ("restore_from", "parallelism", "state_backend", "changelog"):
        if getattr(args, key) is not None:
            changes[key] = getattr(args, key)
    if args.bounded:
        changes["bounded"] = True
    return settings.with_flink(**changes)


def create_topics(bootstrap: str, names: list[str], partitions: int = 1) -> list[str]:
    """Create the topics that do not exist yet; returns the created names."""
    from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

    admin = AdminClient({"bootstrap.servers": bootstrap})
    existing = set(admin.list_topics(timeout=30).topics)
    missing = [n for n in names if n not in existing]
    if missing:
        for future in admin.create_topics([NewTopic(n, partitions, 1) for n in missing]).values():
            future.result(timeout=30)
    return missing


def _run(args: argparse.Namespace) -> int:
    from fraud_jobs.flink.settings import SettingsError

    try:
        settings = local_settings(args)
        if args.create_topics:
            from confluent_kafka import KafkaException

            names = [t for t in settings.topics.model_dump().values() if t]
            try:
                created = create_topics(settings.kafka.bootstrap_servers, names)
            except KafkaException as exc:
                return _fail(f"kafka {settings.kafka.bootstrap_servers}: cannot create topics: {exc}")
            if created:
                print(f"created topics: {', '.join(created)}")
        from fraud_jobs.flink.topology import build

        env = build(settings)
    except (SettingsError, OSError) as exc:
        return _fail(str(exc))
    print(f"running {settings.job_name} (checkpoints: {settings.flink.checkpoint_dir})", flush=True)
    env.execute(settings.job_name)
    return 0
