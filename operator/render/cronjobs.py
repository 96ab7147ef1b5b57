"""CronJobs (batch/v1) for ``spec.database.schedules``: the medallion transforms and the data quality checks.

Each schedule runs one ``streamflow db`` command in a Pod that passes Pod Security ``restricted``
(non-root, no privilege escalation, all capabilities dropped, RuntimeDefault seccomp, read-only root
filesystem with an emptyDir on /tmp). ``concurrencyPolicy: Forbid`` keeps a slow run from overlapping the
next one (the transforms also serialise on an advisory lock, so an overlap would only queue).

Credentials never appear in the object: ``PGUSER``/``PGPASSWORD`` come from the credentials Secret (CNPG's
``<cluster>-app`` by default) through ``secretKeyRef`` -- the same keys the Flink job uses -- and
``STREAMFLOW_PG_DSN`` only names the ``-rw`` Service and ``spec.database.database``; libpq takes the user
and password from the environment. (The Secret's ``uri`` key is not used because it always names CNPG's
bootstrap database and would ignore ``spec.database.database`` and ``credentialsSecretRef``.)

The pods carry the pipeline label, so the pipeline's NetworkPolicies (default deny, allow DNS and
PostgreSQL) apply to them as to the Flink pods.
"""

from __future__ import annotations

import hashlib
from typing import Any

from fraud_operator.api.pipeline import DatabaseSchedule, FraudPipeline
from fraud_operator.db.dsn import DSN_ENV
from fraud_operator.db.transforms import TRANSFORMS
from fraud_operator.render.config import ENV_DB_PASSWORD, ENV_DB_USER
from fraud_operator.render.naming import FLINK_UID, common_labels

__all__ = [
    "DB_TASK_COMPONENT",
    "DB_TASK_CONTAINER",
    "MAX_CRONJOB_NAME",
    "SCHEDULE_LABEL",
    "SCHEDULE_TASKS",
    "ScheduleError",
    "cron_problem",
    "cronjob_name",
    "render_transform_cronjobs",
    "schedule_command",
]

# Tasks a schedule may run; each is a `streamflow db` subcommand.
SCHEDULE_TASKS = ("transform", "check")
DB_TASK_CONTAINER = "db-task"
DB_TASK_COMPONENT = "database"
SCHEDULE_LABEL = "streamflow.io/schedule"
# The CronJob controller appends "-<11 digits>" to Job names, which must stay within 63 characters.
MAX_CRONJOB_NAME = 52
_PG_PORT = 5432


class ScheduleError(ValueError):
    """A schedule that cannot be turned into a CronJob; the message names the schedule and the fix."""


def _transform_of(schedule: DatabaseSchedule, where: str) -> str:
    """The transform a ``transform`` schedule runs: its name with '-' for '_', optionally with a suffix.

    ``silver-to-gold`` runs ``silver_to_gold``; ``refresh-features-nightly`` runs ``refresh_features``.
    """
    name = schedule.name.replace("-", "_")
    for transform in sorted(TRANSFORMS, key=len, reverse=True):
        if name == transform or name.startswith(transform + "_"):
            return transform
    known = ", ".join(t.replace("_", "-") for t in sorted(TRANSFORMS))
    raise ScheduleError(
        f"{where}: task transform needs the schedule name to start with the transform to run "
        f"(one of {known}), got {schedule.name!r}"
    )


# robfig/cron v3's ParseStandard, which the CronJob validation of the API server uses: the descriptors it
# knows (@every needs a space, which the CRD pattern already refuses) and the five fields' bounds and names.
_DESCRIPTORS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS: tuple[tuple[str, int, int, dict[str, int]], ...] = (
    ("minute", 0, 59, {}),
    ("hour", 0, 23, {}),
    ("day of month", 1, 31, {}),
    ("month", 1, 12, {name: index + 1 for index, name in enumerate(_MONTHS)}),
    ("day of week", 0, 6, {name: index for index, name in enumerate(_DAYS)}),
)


def _cron_number(text: str, names: dict[str, int]) -> int:
    if text.lower() in names:
        return names[text.lower()]
    digits = text.removeprefix("+")
    if not digits.isascii() or not digits.isdigit():
        raise ValueError(f"{text!r} is not a number" + (f" or one of {', '.join(names)}" if names else ""))
    return int(digits)


def _cron_range(part: str, low: int, high: int, names: dict[str, int]) -> None:
    range_and_step = part.split("/")
    if len(range_and_step) > 2:
        raise ValueError(f"{part!r} has more than one '/'")
    bounds = range_and_step[0].split("-")
    if bounds[0] in ("*", "?"):
        start, end = low, high
    elif len(bounds) > 2:
        raise ValueError(f"{part!r} has more than one '-'")
    else:
        start = _cron_number(bounds[0], names)
        end = _cron_number(bounds[1], names) if len(bounds) == 2 else start
    if len(range_and_step) == 2:
        if _cron_number(range_and_step[1], {}) == 0:
            raise ValueError(f"{part!r}: the step must be positive")
        if len(bounds) == 1 and bounds[0] not in ("*", "?"):
            end = high
    if start < low or end > high:
        raise ValueError(f"{part!r} is outside {low}-{high}")
    if start > end:
        raise ValueError(f"{part!r} starts after it ends")


def cron_problem(expression: str) -> str | None:
    """Why the API server would refuse ``expression`` as a CronJob schedule, or None when it is valid.

    The CRD's pattern only checks the shape (a descriptor or five fields), so a schedule like '61 * * * *'
    reaches the operator; checked here, it is refused before anything is written.
    """
    if expression.startswith("@"):
        known = ", ".join(_DESCRIPTORS)
        return None if expression in _DESCRIPTORS else f"unknown descriptor {expression!r} (one of {known})"
    fields = expression.split()
    if len(fields) != len(_FIELDS):
        return f"expected 5 fields (minute hour day-of-month month day-of-week), got {len(fields)}"
    for text, (what, low, high, names) in zip(fields, _FIELDS, strict=True):
        for part in filter(None, text.split(",")):  # robfig splits with FieldsFunc: empty parts vanish
            try:
                _cron_range(part, low, high, names)
            except ValueError as exc:
                return f"{what} field: {exc}"
    return None


def schedule_command(schedule: DatabaseSchedule, where: str = "schedule") -> list[str]:
    """The container command of ``schedule``: ``streamflow db transform NAME`` or ``streamflow db check``."""
    if schedule.task == "transform":
        return ["streamflow", "db", "transform", _transform_of(schedule, where)]
    if schedule.task == "check":
        return ["streamflow", "db", "check"]
    raise ScheduleError(
        f"{where}: unknown task {schedule.task!r}; a schedule runs one of: {', '.join(SCHEDULE_TASKS)}"
    )


def cronjob_name(pipeline: FraudPipeline, schedule: DatabaseSchedule) -> str:
    """``<pipeline>-<schedule>``, shortened with a hash suffix when longer than a CronJob name may be."""
    full = f"{pipeline.metadata.name}-{schedule.name}"
    if len(full) <= MAX_CRONJOB_NAME:
        return full
    digest = hashlib.sha256(full.encode()).hexdigest()[:8]
    return f"{full[: MAX_CRONJOB_NAME - 9].rstrip('-')}-{digest}"


def _secret_env(name: str, secret: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}


def _pod_spec(pipeline: FraudPipeline, command: list[str], image: str, pull_policy: str) -> dict[str, Any]:
    database = pipeline.spec.database
    secret = (
        database.credentials_secret_ref.name
        if database.credentials_secret_ref is not None
        else f"{database.cnpg_cluster}-app"
    )
    dsn = f"host={database.cnpg_cluster}-rw port={_PG_PORT} dbname={database.database}"
    return {
        "restartPolicy": "Never",
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": FLINK_UID,
            "runAsGroup": FLINK_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": DB_TASK_CONTAINER,
                "image": image,
                "imagePullPolicy": pull_policy,
                "command": command,
                "env": [
                    {"name": DSN_ENV, "value": dsn},
                    _secret_env(ENV_DB_USER, secret, "username"),
                    _secret_env(ENV_DB_PASSWORD, secret, "password"),
                    {"name": "HOME", "value": "/tmp"},
                    {"name": "PYTHONDONTWRITEBYTECODE", "value": "1"},
                ],
                "resources": {
                    "requests": {"cpu": "100m", "memory": "256Mi"},
                    "limits": {"memory": "512Mi"},
                },
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
                "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
            }
        ],
        "volumes": [{"name": "tmp", "emptyDir": {}}],
    }


def render_transform_cronjobs(pipeline: FraudPipeline, *, image: str | None = None) -> list[dict[str, Any]]:
    """One CronJob per ``spec.database.schedules`` entry, in spec order; raises :class:`ScheduleError`.

    ``image`` must contain the ``streamflow`` CLI; it defaults to ``spec.flink.image``, the pipeline's own
    image, which installs the whole StreamFlow distribution. Pass the operator's image to use that instead.
    """
    flink = pipeline.spec.flink
    task_image = image or flink.image
    cronjobs: list[dict[str, Any]] = []
    for index, schedule in enumerate(pipeline.spec.database.schedules):
        where = f"spec.database.schedules[{index}] ({schedule.name})"
        command = schedule_command(schedule, where)
        problem = cron_problem(schedule.schedule)
        if problem is not None:
            raise ScheduleError(
                f"spec.database.schedules[{index}].schedule ({schedule.name}): {schedule.schedule!r} is not "
                f"a valid cron schedule: {problem}"
            )
        labels = {**common_labels(pipeline, DB_TASK_COMPONENT), SCHEDULE_LABEL: schedule.name}
        cronjobs.append(
            {
                "apiVersion": "batch/v1",
                "kind": "CronJob",
                "metadata": {
                    "name": cronjob_name(pipeline, schedule),
                    "namespace": pipeline.metadata.namespace,
                    "labels": labels,
                },
                "spec": {
                    "schedule": schedule.schedule,
                    "timeZone": "Etc/UTC",
                    "concurrencyPolicy": "Forbid",
                    "suspend": schedule.suspend,
                    "startingDeadlineSeconds": 300,
                    "successfulJobsHistoryLimit": 3,
                    "failedJobsHistoryLimit": 3,
                    "jobTemplate": {
                        "metadata": {"labels": dict(labels)},
                        "spec": {
                            "backoffLimit": 2,
                            "activeDeadlineSeconds": 3600,
                            "ttlSecondsAfterFinished": 86400,
                            "template": {
                                "metadata": {"labels": dict(labels)},
                                "spec": _pod_spec(pipeline, command, task_image, flink.image_pull_policy),
                            },
                        },
                    },
                },
            }
        )
    return cronjobs
