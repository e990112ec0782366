"""Differential tests with skopeo, an independent distribution client: same digests both ways."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harbourmaster.registry import ImageIndex, ImageManifest, pull_to_layout, push_layout
from harbourmaster.registry.media import DOCKER_MANIFEST, OCI_INDEX

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytest_plugins = ["tests.integration.registry_fixtures"]
pytestmark = pytest.mark.integration


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


def _rf() -> Any:
    # Imported late: pytest_plugins imports the fixtures module first, with assertion rewriting.
    from tests.integration import registry_fixtures

    return registry_fixtures


def _layout_digests(layout: Path) -> set[str]:
    return {f"sha256:{p.name}" for p in (layout / "blobs" / "sha256").iterdir()}


def test_what_skopeo_pushed_reads_back_identically(registry_basic: RunningRegistry, tmp_path: Path) -> None:
    rf = _rf()
    src = tmp_path / "src"
    top = rf.write_image_layout(
        src, tag="v1", architectures=("amd64", "arm64", "ppc64le"), layer_sizes=(3000, 9000)
    )
    ref = f"docker://{registry_basic.host}/peer/skopeo-pushed:v1"
    rf.skopeo(registry_basic, "copy", "--all", "--preserve-digests", f"oci:{src}:v1", ref)
    skopeo_digest = rf.skopeo(registry_basic, "inspect", "--raw", ref).encode()
    skopeo_seen = json.loads(skopeo_digest)
    assert skopeo_seen["mediaType"] == OCI_INDEX

    async def go() -> None:
        async with registry_basic.client() as c:
            assert await c.resolve("peer/skopeo-pushed", "v1") == top
            fetched = await c.get_manifest("peer/skopeo-pushed", "v1")
            assert (
                fetched.raw == skopeo_digest
                and fetched.digest == "sha256:" + hashlib.sha256(skopeo_digest).hexdigest()
            )
            assert isinstance(fetched.parsed, ImageIndex)
            assert [d.digest for d in fetched.parsed.manifests] == [
                m["digest"] for m in skopeo_seen["manifests"]
            ]
            result = await pull_to_layout(c, "peer/skopeo-pushed", "v1", tmp_path / "ours")
            assert result.digest == top

    run(go())
    rf.skopeo(registry_basic, "copy", "--all", ref, f"oci:{tmp_path / 'theirs'}:v1")
    assert _layout_digests(tmp_path / "ours") == _layout_digests(tmp_path / "theirs") == _layout_digests(src)
    # skopeo accepts the layout our client wrote.
    rf.skopeo(None, "copy", "--all", f"oci:{tmp_path / 'ours'}:v1", f"oci:{tmp_path / 'again'}:v1")
    assert _layout_digests(tmp_path / "again") == _layout_digests(src)


def test_docker_media_types_from_skopeo(registry_anonymous: RunningRegistry, tmp_path: Path) -> None:
    rf = _rf()
    src = tmp_path / "src"
    rf.write_image_layout(src, tag="v1", layer_sizes=(2000,))
    ref = f"docker://{registry_anonymous.host}/peer/docker-format:v1"
    rf.skopeo(registry_anonymous, "copy", "--format", "v2s2", f"oci:{src}:v1", ref)
    expected = rf.skopeo(registry_anonymous, "inspect", "--format", "{{.Digest}}", ref).strip()

    async def go() -> None:
        async with registry_anonymous.client() as c:
            head = await c.head_manifest("peer/docker-format", "v1")
            assert head.digest == expected and head.media_type == DOCKER_MANIFEST
            fetched = await c.get_manifest("peer/docker-format", "v1")
            assert fetched.digest == expected and isinstance(fetched.parsed, ImageManifest)
            assert fetched.parsed.config.media_type == "application/vnd.docker.container.image.v1+json"
            for layer in fetched.parsed.layers:
                data = await c.read_blob("peer/docker-format", layer.digest, expected_size=layer.size)
                assert hashlib.sha256(data).hexdigest() == layer.digest.split(":")[1]

    run(go())


def test_what_we_pushed_reads_back_identically_through_skopeo(
    registry_token: RunningRegistry, tmp_path: Path
) -> None:
    rf = _rf()
    src = tmp_path / "src"
    top = rf.write_image_layout(src, tag="v2", architectures=("amd64", "arm64"), layer_sizes=(4000, 100_000))

    async def go() -> str:
        async with registry_token.client() as c:
            return str(await push_layout(c, src, "peer/ours", ref_name="v2", chunk_size=40_000))

    assert run(go()) == top
    ref = f"docker://{registry_token.host}/peer/ours:v2"
    raw = rf.skopeo(registry_token, "inspect", "--raw", ref).encode()
    assert "sha256:" + hashlib.sha256(raw).hexdigest() == top
    for arch in ("amd64", "arm64"):
        digest = rf.skopeo(registry_token, "inspect", "--override-arch", arch, "--format", "{{.Digest}}", ref)
        assert digest.strip() == top  # skopeo reports the index digest for the tag
    rf.skopeo(registry_token, "copy", "--all", ref, f"oci:{tmp_path / 'theirs'}:v2")
    assert _layout_digests(tmp_path / "theirs") == _layout_digests(src)
