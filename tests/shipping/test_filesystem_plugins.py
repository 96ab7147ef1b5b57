"""The job image's Flink filesystem plugins are exactly fraud_operator.api.storage's table.

The Dockerfile pins each plugin jar by sha256; the jar Maven Central serves must match the pin, and loaded
by Flink 2.2.1 itself (PyFlink's JVM, the image's Flink version) each plugin must register exactly the URI
schemes the FraudPipeline API accepts for it: a storage URI the API accepts always has its plugin in the
image, and one whose plugin is missing is refused at the API server.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fraud_operator.api.storage import FILESYSTEM_PLUGINS, OBJECT_STORE_SCHEMES
from streamflow_dev.paths import cache_dir

from tests.shipping.test_dockerfile import STAGES

_ENTRY = re.compile(r"([\w-]+)/([\w.-]+:[\w.-]+:[\w.-]+)=([0-9a-f]{64})")


def _dockerfile_plugins() -> dict[str, tuple[str, str]]:
    """plugin directory -> (coordinate, sha256) for every plugin the job image installs."""
    return {d: (coord, digest) for d, coord, digest in _ENTRY.findall(STAGES["jars"].text)}


def test_dockerfile_installs_exactly_the_plugin_table() -> None:
    plugins = _dockerfile_plugins()
    assert plugins.keys() == {p.directory for p in FILESYSTEM_PLUGINS}
    for plugin in FILESYSTEM_PLUGINS:
        assert plugins[plugin.directory][0] == plugin.coordinate
    # one directory per plugin under /opt/flink/plugins, as Flink's plugin loader expects
    assert "COPY --from=jars /plugins/ /opt/flink/plugins/" in STAGES["job"].text
    assert '-DoutputDirectory="/plugins/${dir}"' in STAGES["jars"].text
    assert "sha256sum -c -" in STAGES["jars"].text


@pytest.fixture(scope="module")
def plugin_root() -> Path:
    """The pinned plugin jars from Maven Central, laid out like /opt/flink/plugins (cached)."""
    root = cache_dir() / "jars" / "flink-filesystem-plugins"
    for plugin in FILESYSTEM_PLUGINS:
        target = root / plugin.directory / plugin.jar
        if target.is_file():
            continue
        subprocess.run(
            [
                "mvn",
                "-B",
                "-q",
                f"-Dmaven.repo.local={cache_dir() / 'm2'}",
                "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
                f"-Dartifact={plugin.coordinate}:jar",
                f"-DoutputDirectory={target.parent}",
            ],
            check=True,
            timeout=1200,
        )
    return root


def test_served_jars_match_the_dockerfile_pins(plugin_root: Path) -> None:
    pins = _dockerfile_plugins()
    for plugin in FILESYSTEM_PLUGINS:
        jar = plugin_root / plugin.directory / plugin.jar
        actual = hashlib.sha256(jar.read_bytes()).hexdigest()
        assert actual == pins[plugin.directory][1], f"{plugin.jar}: Maven Central served sha256 {actual}"


_PROBE = """
import json, sys
from pyflink.java_gateway import get_gateway
gateway = get_gateway()
jvm = gateway.jvm
conf = jvm.org.apache.flink.configuration.Configuration()
root = jvm.java.nio.file.Paths.get(sys.argv[1], gateway.new_array(jvm.java.lang.String, 0))
plugins = jvm.org.apache.flink.core.plugin.DirectoryBasedPluginFinder(root).findPlugins()
patterns = jvm.org.apache.flink.configuration.CoreOptions.getPluginParentFirstLoaderPatterns(conf)
manager = jvm.org.apache.flink.core.plugin.DefaultPluginManager(plugins, patterns)
factories = manager.load(jvm.java.lang.Class.forName("org.apache.flink.core.fs.FileSystemFactory"))
schemes = {}
while factories.hasNext():
    factory = factories.next()
    schemes[factory.getScheme()] = factory.getClass().getName()
jvm.org.apache.flink.core.fs.FileSystem.initialize(conf, manager)
s3 = jvm.org.apache.flink.core.fs.FileSystem.getUnguardedFileSystem(jvm.java.net.URI("s3://bucket/flink"))
version = jvm.org.apache.flink.runtime.util.EnvironmentInformation.getVersion()
print(json.dumps({"schemes": schemes, "s3": s3.getClass().getName(), "flink": version}))
"""


def test_flink_2_2_loads_each_plugin_with_exactly_the_accepted_schemes(plugin_root: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, str(plugin_root)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-3000:]
    found = json.loads(result.stdout.strip().splitlines()[-1])
    assert found["flink"] == "2.2.1"
    assert set(found["schemes"]) == set(OBJECT_STORE_SCHEMES)
    package = {"s3-fs-presto": "s3presto", "gs-fs-hadoop": "gs", "azure-fs-hadoop": "azurefs"}
    for plugin in FILESYSTEM_PLUGINS:
        for scheme in plugin.schemes:
            assert found["schemes"][scheme].startswith(f"org.apache.flink.fs.{package[plugin.directory]}.")
    # the S3 filesystem is instantiated by Flink 2.2.1 through the plugin's class loader
    assert found["s3"].endswith("ClassLoaderFixingFileSystem")
