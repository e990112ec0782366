"""The registry-backed ImageSource against the real CNCF distribution registry.

Images are written as OCI layouts and pushed with skopeo (the independent
peer); the oracle for what a registry scan must find is the scan of the same
layout on disk, and ``dpkg-query`` for the dpkg database.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import threading
import time
import tracemalloc
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from harbourmaster.registry import NotFoundInRegistry
from harbourmaster.supply.sbom import (
    LayerError,
    Platform,
    ScanLimits,
    SourceError,
    default_catalogers,
    open_source,
    scan_image,
)
from harbourmaster.supply.sbom.sources.registry import RegistrySource
from tests.integration.registry_fixtures import skopeo
from tests.supply._images import compress, file, tar_bytes
from tests.supply._layouts import add_image, add_index, write_index

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

STATUS = Path("/var/lib/dpkg/status").read_text()
OS_RELEASE = Path("/usr/lib/os-release").read_text()
MiB = 1024 * 1024
METADATA = "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"


def _stanza(name: str, version: str, arch: str) -> str:
    return (f"Package: {name}\nStatus: install ok installed\nArchitecture: {arch}\n"
            f"Version: {version}\nMaintainer: tests\nDescription: test\n")


@dataclass
class Pushed:
    layout: Path
    host: str
    single: str  # skopeo's digest of hmsbom/src:v1
    multi: str  # skopeo's digest of hmsbom/multi:v1 (an index)


def _push(registry: RunningRegistry, layout: Path, tag: str, repo: str, *, all_images: bool = False) -> str:
    extra = ["--all"] if all_images else []
    skopeo(registry, "copy", *extra, f"oci:{layout}:{tag}", f"docker://{registry.host}/{repo}:{tag}")
    return skopeo(registry, "inspect", "--format", "{{.Digest}}",
                  f"docker://{registry.host}/{repo}:{tag}").strip()


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory, registry_basic: RunningRegistry) -> Pushed:
    root = tmp_path_factory.mktemp("registry-source")
    base = [file("var/lib/dpkg/status", STATUS), file("etc/os-release", OS_RELEASE)]
    python = [file("usr/lib/python3/dist-packages/hmdemo-1.2.3.dist-info/METADATA",
                   METADATA.format(name="hmdemo", version="1.2.3"))]
    single = root / "single"
    desc = add_image(single, [compress(tar_bytes(base), "gzip"), compress(tar_bytes(python), "zstd")])
    write_index(single, [desc], ["v1"])
    multi = root / "multi"
    per_arch = []
    for arch in ("amd64", "arm64"):
        layer = [file("var/lib/dpkg/status", _stanza(f"only-{arch}", "1.0", arch)),
                 file("etc/os-release", OS_RELEASE)]
        per_arch.append((add_image(multi, [compress(tar_bytes(layer), "gzip")], arch=arch), "linux", arch))
    write_index(multi, [add_index(multi, per_arch)], ["v1"])
    return Pushed(layout=single, host=registry_basic.host,
                  single=_push(registry_basic, single, "v1", "hmsbom/src"),
                  multi=_push(registry_basic, multi, "v1", "hmsbom/multi", all_images=True))


def _source(registry: RunningRegistry, repo: str, reference: str, **kwargs: object) -> RegistrySource:
    provider = registry.provider()
    assert provider is not None
    return RegistrySource(endpoint=registry.endpoint(), provider=provider, repository=repo,
                          reference=reference, name=f"{registry.host}/{repo}:{reference}",
                          development_only=True, **kwargs)  # type: ignore[arg-type]


def _packages(sbom: object) -> set[tuple[str, str, str, str]]:
    return {(p.type.value, p.name, p.version, p.purl) for p in sbom.packages}  # type: ignore[attr-defined]


def test_registry_scan_equals_the_layout_scan(registry_basic: RunningRegistry, pushed: Pushed,
                                              tmp_path: Path) -> None:
    with _source(registry_basic, "hmsbom/src", "v1") as source:
        image = source.image()
        layers = source.layers()
        from_registry = scan_image(source, catalogers=default_catalogers())
    with open_source(f"oci-layout:{pushed.layout}:v1") as local:
        from_layout = scan_image(local, catalogers=default_catalogers())
    assert image.digest == pushed.single  # skopeo's digest of what it pushed
    manifest = json.loads(skopeo(registry_basic, "inspect", "--raw", f"docker://{pushed.host}/hmsbom/src:v1"))
    assert [layer.digest for layer in layers] == [x["digest"] for x in manifest["layers"]]
    assert image.platform == Platform(os="linux", architecture="amd64")
    assert _packages(from_registry) == _packages(from_layout)
    assert from_registry.distro == from_layout.distro and from_registry.distro is not None
    assert ("pypi", "hmdemo", "1.2.3") in {(t, n, v) for t, n, v, _ in _packages(from_registry)}
    # The independent oracle for the dpkg database: dpkg-query on the same status file.
    admin = tmp_path / "admindir"
    (admin / "info").mkdir(parents=True)
    (admin / "status").write_text(STATUS)
    (admin / "available").write_text("")
    out = subprocess.run(["dpkg-query", f"--admindir={admin}", "-W", "-f=${db:Status-Abbrev} ${Package}\\n"],
                         capture_output=True, text=True, check=True).stdout
    installed = {line.split()[1] for line in out.splitlines() if line[:1] in "iUFHWt" and line[1:2] != " "}
    assert {p.name for p in from_registry.packages if p.type.value == "deb"} == installed


def test_a_multi_platform_index_resolves_to_the_platform_asked_for(registry_basic: RunningRegistry,
                                                                   pushed: Pushed) -> None:
    for arch in ("amd64", "arm64"):
        with _source(registry_basic, "hmsbom/multi", "v1",
                     platform=Platform(os="linux", architecture=arch)) as source:
            sbom = scan_image(source, catalogers=default_catalogers())
            assert source.resolved.index_digest == pushed.multi
            assert source.image().digest != pushed.multi
            assert source.image().platform.architecture == arch
        assert [p.name for p in sbom.packages] == [f"only-{arch}"]
    offered = r"no image for platform linux/s390x.*offers: linux/amd64, linux/arm64"
    with pytest.raises(SourceError, match=offered):
        _source(registry_basic, "hmsbom/multi", "v1", platform=Platform(os="linux", architecture="s390x"))
    with pytest.raises(NotFoundInRegistry):
        _source(registry_basic, "hmsbom/multi", "no-such-tag")


def _blob_file(registry: RunningRegistry, digest: str) -> Path:
    hexpart = digest.partition(":")[2]
    return registry.root / "data/docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"


def test_a_layer_that_does_not_match_its_digest_is_refused(registry_basic: RunningRegistry,
                                                           tmp_path: Path) -> None:
    layout = tmp_path / "tampered"
    good = compress(tar_bytes([file("etc/os-release", OS_RELEASE),
                               file("var/lib/dpkg/status", _stanza("tampered", "1", "amd64"))]), "gzip")
    write_index(layout, [add_image(layout, [good])], ["v1"])
    _push(registry_basic, layout, "v1", "hmsbom/tampered")
    digest = "sha256:" + hashlib.sha256(good).hexdigest()
    # The registry serves whatever its storage holds: swap the blob for another valid layer of the same size.
    other = bytearray(good)
    other[-9] ^= 0xFF  # inside the gzip trailer's CRC: still the same length
    _blob_file(registry_basic, digest).write_bytes(bytes(other))
    with _source(registry_basic, "hmsbom/tampered", "v1") as source, \
            pytest.raises(LayerError, match=f"layer {digest}.*does not match its digest"):
        scan_image(source, catalogers=default_catalogers())


def test_memory_stays_bounded_and_threads_stop(registry_basic: RunningRegistry, tmp_path: Path) -> None:
    """A 48 MiB layer streams with a few MiB in flight; closing early stops the producer and the loop."""
    layout = tmp_path / "big"
    big = tar_bytes([file("srv/blob.bin", os.urandom(48 * 1024 * 1024)),
                     file("var/lib/dpkg/status", _stanza("after-the-blob", "2", "amd64"))])
    write_index(layout, [add_image(layout, [big])], ["v1"])
    _push(registry_basic, layout, "v1", "hmsbom/big")
    del big
    before = threading.active_count()
    tracemalloc.start()
    try:
        with _source(registry_basic, "hmsbom/big", "v1", read_ahead=2) as source:
            # Small per-file caps: a cataloger's read(limit) allocates the whole cap up front,
            # which is not what this test measures.
            limits = ScanLimits(max_file_bytes=MiB, max_binary_bytes=MiB)
            sbom = scan_image(source, catalogers=default_catalogers(), limits=limits)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [p.name for p in sbom.packages] == ["after-the-blob"]
    assert peak < 16 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while streaming a 48 MiB layer"
    # Open a layer, read one chunk, walk away: close() cancels the download and stops the thread.
    source = _source(registry_basic, "hmsbom/big", "v1", read_ahead=2)
    stream = source.open_layer(source.layers()[0])
    assert len(stream.read(1000)) == 1000
    source.close()
    deadline = time.monotonic() + 5
    while threading.active_count() > before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert threading.active_count() <= before
