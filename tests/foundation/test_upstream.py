"""The resolver of pinned third-party files: cache, offline mirror, upstream over real HTTPS, and refusals.

The upstream is the local TLS server (tests/support/https_server.py), reached through the resolver's own
``base_url`` and ``ssl_context`` arguments; the table is either the real one or a small one made of real
files written here.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
import yaml
from streamflow_dev import handbook
from streamflow_dev.upstream import CRD_NAMES, TABLE, Assembly, Part, Pinned, Resolver, UpstreamError, resolve

from tests.support.https_server import ArtifactServer, serve_https

CONTENT = b"apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n# a pinned file\n"
DIGEST = hashlib.sha256(CONTENT).hexdigest()
SOURCE = "example/project/v1.0.0/crds/widgets.yaml"
ENTRY = Pinned("crds/widgets.yaml", DIGEST, (Part(SOURCE, DIGEST),))


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ArtifactServer]:
    with serve_https(tmp_path_factory.mktemp("https")) as https:
        yield https


def _resolver(
    server: ArtifactServer, root: Path, table: dict[str, Pinned] | None = None, **kwargs: object
) -> tuple[Resolver, list[str]]:
    messages: list[str] = []
    resolver = Resolver(
        table=table or {"widgets": ENTRY},
        cache=root / "cache",
        mirror=root / "mirror",
        base_url=server.base_url,
        ssl_context=server.client_context(),
        retry_delay=0,
        log=messages.append,
        **kwargs,
    )
    return resolver, messages


def _leftovers(root: Path) -> list[str]:
    """Temporary files a resolution left behind in the cache (none, whatever happened)."""
    cache = root / "cache"
    return (
        [p.name for p in cache.rglob("*") if p.is_file() and p.name.startswith(".")] if cache.exists() else []
    )


def test_mirror_hit_is_verified_and_cached_then_the_cache_is_used(
    server: ArtifactServer, tmp_path: Path
) -> None:
    resolver, messages = _resolver(server, tmp_path)
    (tmp_path / "mirror" / "crds").mkdir(parents=True)
    (tmp_path / "mirror" / "crds" / "widgets.yaml").write_bytes(CONTENT)
    path = resolver.resolve("widgets")
    assert path == tmp_path / "cache" / "crds" / "widgets.yaml"
    assert path.read_bytes() == CONTENT and messages == []
    assert server.requests.get(SOURCE, 0) == 0, "the mirror answered: no download"
    # Cache hit: the mirror is gone and the server is not asked either.
    (tmp_path / "mirror" / "crds" / "widgets.yaml").unlink()
    assert resolver.resolve("widgets") == path and path.read_bytes() == CONTENT
    assert server.requests.get(SOURCE, 0) == 0 and messages == []


def test_download_when_the_mirror_lacks_the_file(server: ArtifactServer, tmp_path: Path) -> None:
    server.files[SOURCE] = CONTENT
    before = server.requests.get(SOURCE, 0)
    resolver, messages = _resolver(server, tmp_path)
    path = resolver.resolve("widgets")
    assert path.read_bytes() == CONTENT and oct(path.stat().st_mode & 0o777) == "0o644"
    assert server.requests[SOURCE] == before + 1
    assert messages == [f"crds/widgets.yaml: downloading {server.url(SOURCE)}"]
    assert resolver.resolve("widgets") == path and server.requests[SOURCE] == before + 1
    assert _leftovers(tmp_path) == []


def test_a_corrupt_cached_copy_is_discarded_and_resolved_again(
    server: ArtifactServer, tmp_path: Path
) -> None:
    server.files[SOURCE] = CONTENT
    resolver, messages = _resolver(server, tmp_path)
    path = resolver.resolve("widgets")
    path.write_bytes(CONTENT[:-5] + b"oops\n")
    bad = hashlib.sha256(path.read_bytes()).hexdigest()
    before = server.requests[SOURCE]
    assert resolver.resolve("widgets") == path and path.read_bytes() == CONTENT
    assert server.requests[SOURCE] == before + 1
    assert any(
        "crds/widgets.yaml: the cached copy" in m and "corrupt" in m and bad in m and DIGEST in m
        for m in messages
    ), messages


def test_a_checksum_mismatch_upstream_is_refused_and_nothing_is_cached(
    server: ArtifactServer, tmp_path: Path
) -> None:
    source = "example/project/v1.0.0/crds/tampered.yaml"
    server.files[source] = CONTENT + b"# changed upstream\n"
    actual = hashlib.sha256(server.files[source]).hexdigest()
    table = {"tampered": Pinned("crds/tampered.yaml", DIGEST, (Part(source, DIGEST),))}
    resolver, _ = _resolver(server, tmp_path, table)
    with pytest.raises(UpstreamError) as refused:
        resolver.resolve("tampered")
    message = str(refused.value)
    assert "crds/tampered.yaml: checksum mismatch, refused" in message
    assert server.url(source) in message and actual in message and DIGEST in message
    assert not (tmp_path / "cache" / "crds" / "tampered.yaml").exists()
    assert _leftovers(tmp_path) == []


def test_a_wrong_mirror_copy_is_refused_and_upstream_used(server: ArtifactServer, tmp_path: Path) -> None:
    server.files[SOURCE] = CONTENT
    resolver, messages = _resolver(server, tmp_path)
    (tmp_path / "mirror" / "crds").mkdir(parents=True)
    (tmp_path / "mirror" / "crds" / "widgets.yaml").write_bytes(b"stale\n")
    assert resolver.resolve("widgets").read_bytes() == CONTENT
    stale = hashlib.sha256(b"stale\n").hexdigest()
    assert any("offline mirror's copy is wrong" in m and stale in m and "refused" in m for m in messages)


def test_unreachable_names_the_mirror_and_the_url_with_its_error(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    messages: list[str] = []
    resolver = Resolver(
        table={"widgets": ENTRY},
        cache=tmp_path / "cache",
        mirror=tmp_path / "no-mirror",
        base_url=f"https://127.0.0.1:{port}",
        retries=1,
        retry_delay=0,
        log=messages.append,
    )
    with pytest.raises(UpstreamError) as failed:
        resolver.resolve("widgets")
    message = str(failed.value)
    assert f"offline mirror {tmp_path / 'no-mirror' / 'crds' / 'widgets.yaml'}: no such file" in message
    assert f"upstream https://127.0.0.1:{port}/{SOURCE}: ConnectionRefusedError" in message
    assert "STREAMFLOW_SHARED_DIR" in message and DIGEST in message
    assert any("retry 1/1" in m for m in messages), "the download was retried"
    assert not (tmp_path / "cache" / "crds" / "widgets.yaml").exists()


def test_a_stalled_download_times_out_and_a_404_is_not_retried(
    server: ArtifactServer, tmp_path: Path
) -> None:
    stalled = "example/project/v1.0.0/crds/stalled.yaml"
    server.stalled.add(stalled)
    table = {
        "stalled": Pinned("crds/stalled.yaml", DIGEST, (Part(stalled, DIGEST),)),
        "absent": Pinned("crds/absent.yaml", DIGEST, (Part("example/absent.yaml", DIGEST),)),
    }
    resolver, _ = _resolver(server, tmp_path, table, timeout=0.5, retries=1)
    with pytest.raises(UpstreamError, match=r"stalled\.yaml: TimeoutError: .*timed out"):
        resolver.resolve("stalled")
    assert server.requests[stalled] == 2
    with pytest.raises(UpstreamError, match=r"example/absent\.yaml: HTTP 404"):
        resolver.resolve("absent")
    assert server.requests["example/absent.yaml"] == 1


def test_an_unknown_name_lists_the_known_ones() -> None:
    with pytest.raises(
        UpstreamError, match="no pinned file named 'nope'; known: flinkdeployments, kafkatopics"
    ):
        Resolver(log=lambda _m: None).resolve("nope")


class _Marker:
    """Unpickling this creates a directory: the proof that a refused part was never loaded."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.mkdir, (str(self.path),))


def test_an_assembled_dataset_is_built_from_verified_parts_only(
    server: ArtifactServer, tmp_path: Path
) -> None:
    """The handbook's download path on two small days: parts checked before unpickling, then the result."""
    frames = []
    for day in range(2):
        frame = pd.DataFrame(
            {name: [day * 10 + i for i in range(3)] for name in handbook.COLUMNS},
        )
        frame["TX_DATETIME"] = pd.to_datetime(["2018-04-01 00:00:31"] * 3) + pd.to_timedelta(day, unit="D")
        frame["TX_AMOUNT"] = [12.5, 99.0, 250.25]
        frame["CUSTOMER_ID"] = frame["CUSTOMER_ID"].astype(object)  # as in the upstream pickles
        frames.append(frame)
    parts = []
    for day, frame in enumerate(frames):
        body = pickle.dumps(frame)
        source = f"handbook/data/day{day}.pkl"
        server.files[source] = body
        parts.append(Part(source, hashlib.sha256(body).hexdigest()))
    expected = tmp_path / "expected.parquet"
    pd.concat(frames, ignore_index=True).astype({"CUSTOMER_ID": "int64"}).to_parquet(expected, index=False)
    content = handbook.table_sha256(expected)
    assembly = Assembly(handbook.assemble, handbook.table_sha256, content, "two days")
    entry = Pinned("datasets/small/tx.parquet", "0" * 64, tuple(parts), assembly)
    resolver, messages = _resolver(server, tmp_path, {"small": entry})
    path = resolver.resolve("small")
    assert handbook.table_sha256(path) == content
    assert pd.read_parquet(path)["TX_AMOUNT"].tolist() == [12.5, 99.0, 250.25] * 2
    # The cached copy's bytes are not the mirror's: it is checked by its content, on every use.
    assert resolver.resolve("small") == path and not any("corrupt" in m for m in messages)

    # A part whose bytes differ from its pin is refused before anything is unpickled.
    marker = tmp_path / "unpickled"
    evil = pickle.dumps(_Marker(marker))
    server.files["handbook/data/evil.pkl"] = evil
    bad_parts = (parts[0], Part("handbook/data/evil.pkl", parts[1].sha256))
    bad = Pinned("datasets/bad/tx.parquet", "0" * 64, bad_parts, assembly)
    resolver, _ = _resolver(server, tmp_path / "second", {"bad": bad})
    with pytest.raises(
        UpstreamError, match="handbook/data/evil.pkl has sha256 " + hashlib.sha256(evil).hexdigest()
    ):
        resolver.resolve("bad")
    assert not marker.exists(), "a refused part was unpickled"
    assert not (tmp_path / "second" / "cache" / "datasets" / "bad" / "tx.parquet").exists()

    # Right parts, wrong content pin: the assembled file is refused and not cached.
    wrong = Pinned("datasets/wrong/tx.parquet", "0" * 64, tuple(parts), Assembly(
        handbook.assemble, handbook.table_sha256, "f" * 64, "two days"
    ))  # fmt: skip
    resolver, _ = _resolver(server, tmp_path / "third", {"wrong": wrong})
    with pytest.raises(UpstreamError, match=f"content digest {content}, expected {'f' * 64}"):
        resolver.resolve("wrong")
    assert _leftovers(tmp_path / "third") == []
    assert not (tmp_path / "third" / "cache" / "datasets" / "wrong" / "tx.parquet").exists()


def test_the_real_table_downloads_through_a_base_url_override(server: ArtifactServer, tmp_path: Path) -> None:
    """The seven upstream CRDs, served at their pinned paths, resolve with no mirror and an empty cache."""
    for name in CRD_NAMES:
        (part,) = TABLE[name].parts
        server.files[part.source] = resolve(name).read_bytes()
    resolver, messages = _resolver(server, tmp_path, dict(TABLE))
    paths = resolver.resolve_all(CRD_NAMES)
    assert len(messages) == len(CRD_NAMES) and all("downloading https://127.0.0.1:" in m for m in messages)
    kinds = {yaml.safe_load(path.read_text())["spec"]["names"]["kind"] for path in paths.values()}
    assert kinds == {
        "FlinkDeployment",
        "KafkaTopic",
        "Cluster",
        "Database",
        "PodMonitor",
        "ServiceMonitor",
        "PrometheusRule",
    }


def test_the_handbook_pins_agree(handbook_data: Path) -> None:
    """The resolved dataset carries both pins: the file's sha256 (mirror copy) or its content digest."""
    entry = TABLE["handbook"]
    assert entry.assembly is not None and len(entry.parts) == 153  # 2018-04-01 .. 2018-08-31
    assert handbook.table_sha256(handbook_data) == entry.assembly.sha256
    assert entry.parts[0].source.endswith("/data/2018-04-01.pkl")
    assert entry.parts[-1].source.endswith("/data/2018-08-31.pkl")
