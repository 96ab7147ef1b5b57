"""Where a pipeline's checkpoints, savepoints and HA metadata live, and what the job image needs for it.

One table, :data:`FILESYSTEM_PLUGINS`, says which Flink filesystem plugins the job image carries and which URI
schemes each serves; the API accepts exactly those schemes (plus ``file``), and tests/shipping/
test_dockerfile.py proves the Dockerfile installs exactly these plugins. A URI whose plugin is not in the
image is refused by the API server instead of failing inside the JobManager.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FILESYSTEM_PLUGINS",
    "OBJECT_STORE_SCHEMES",
    "STATE_MOUNT",
    "STORAGE_SCHEMES",
    "STORAGE_URI_PATTERN",
    "FilesystemPlugin",
    "plugin_for",
    "scheme_of",
]

STATE_MOUNT = "/flink-data"
"""Where ``file://`` state lives in the Flink pods: the claim named by spec.flink.stateVolumeClaim."""


@dataclass(frozen=True)
class FilesystemPlugin:
    """A Flink filesystem plugin installed in the job image under /opt/flink/plugins/<directory>/."""

    artifact: str  # org.apache.flink:<artifact>:<version> on Maven Central
    version: str
    directory: str
    schemes: tuple[str, ...]
    secret_env: tuple[str, ...] = ()  # env vars filled from storageCredentials.secretRef (same key names)
    secret_file: str | None = None  # or: this key of the Secret, mounted as a file (GCS's key file)

    @property
    def coordinate(self) -> str:
        return f"org.apache.flink:{self.artifact}:{self.version}"

    @property
    def jar(self) -> str:
        return f"{self.artifact}-{self.version}.jar"


# Maven Central serves no 2.2.1 build of these plugins: S3 is the 2.2 line's own (2.2.0, same minor as the
# image's Flink 2.2.1); GCS and Azure were last published for 2.0.0 before 2.3.0, and the older one only
# uses filesystem APIs that Flink 2.2 still has. Presto rather than Hadoop for S3: Flink recommends it for
# checkpoints (no HEAD-before-PUT, fewer requests).
FILESYSTEM_PLUGINS: tuple[FilesystemPlugin, ...] = (
    FilesystemPlugin(
        "flink-s3-fs-presto",
        "2.2.0",
        "s3-fs-presto",
        ("s3", "s3p"),
        ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
    ),
    FilesystemPlugin("flink-gs-fs-hadoop", "2.0.0", "gs-fs-hadoop", ("gs",), secret_file="credentials.json"),
    FilesystemPlugin(
        "flink-azure-fs-hadoop",
        "2.0.0",
        "azure-fs-hadoop",
        ("abfs", "abfss", "wasb", "wasbs"),
        ("AZURE_STORAGE_KEY",),
    ),
)

OBJECT_STORE_SCHEMES: tuple[str, ...] = tuple(s for p in FILESYSTEM_PLUGINS for s in p.schemes)
STORAGE_SCHEMES: tuple[str, ...] = ("file", *OBJECT_STORE_SCHEMES)
# Longest scheme first so that "abfss" is not read as "abfs" followed by garbage.
STORAGE_URI_PATTERN = "^(" + "|".join(sorted(STORAGE_SCHEMES, key=lambda s: (-len(s), s))) + r")://\S+$"


def scheme_of(uri: str) -> str:
    """The scheme of a storage URI (``s3`` for ``s3://bucket/x``)."""
    return uri.split("://", 1)[0].lower()


def plugin_for(uri: str) -> FilesystemPlugin | None:
    """The image's plugin serving ``uri``; None for ``file://`` (Flink's own local filesystem)."""
    scheme = scheme_of(uri)
    return next((p for p in FILESYSTEM_PLUGINS if scheme in p.schemes), None)
