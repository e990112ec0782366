"""The client against the real CNCF distribution registry (anonymous, htpasswd, token auth)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from harbourmaster.registry import (
    AuthenticationFailed,
    NotFoundInRegistry,
    RegistryClient,
    describe_image,
    pull_to_layout,
    push_layout,
)
from harbourmaster.registry.media import OCI_EMPTY, OCI_MANIFEST, compute_digest

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytest_plugins = ["tests.integration.registry_fixtures"]
pytestmark = pytest.mark.integration


def write_image_layout(layout: Path, **kwargs: Any) -> str:
    # Imported late: pytest_plugins imports the fixtures module first, with assertion rewriting.
    from tests.integration.registry_fixtures import write_image_layout as write

    return write(layout, **kwargs)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


@pytest.fixture(params=["registry_anonymous", "registry_basic", "registry_token"])
def reg(request: pytest.FixtureRequest) -> RunningRegistry:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


def _unique(name: str) -> str:
    return f"{name}-{os.urandom(4).hex()}"


def test_push_and_read_back_blobs_monolithic_chunked_and_mount(reg: RunningRegistry) -> None:
    repo = f"hm/{_unique('blobs')}"
    data = os.urandom(300_000)

    async def go() -> None:
        async with reg.client() as c:
            assert (await c.ping()).api_version == "registry/2.0"
            d1 = await c.upload_blob(repo, data)
            assert d1 == "sha256:" + hashlib.sha256(data).hexdigest()
            chunked = os.urandom(250_001)
            d2 = await c.upload_blob(repo, chunked, chunk_size=64 * 1024)
            assert await c.blob_size(repo, d2) == len(chunked)
            assert await c.read_blob(repo, d1) == data
            assert await c.read_blob(repo, d2, expected_size=len(chunked)) == chunked
            other = f"hm/{_unique('mounted')}"
            assert await c.mount_blob(other, d1, from_repository=repo) is True
            assert await c.read_blob(other, d1) == data
            with pytest.raises(NotFoundInRegistry) as info:
                await c.read_blob(repo, "sha256:" + "0" * 64)
            assert repo in str(info.value) and reg.host in str(info.value)

    run(go())


def test_manifests_tags_pagination_catalog_delete(reg: RunningRegistry, tmp_path: Path) -> None:
    repo = f"hm/{_unique('app')}"
    layout = tmp_path / "layout"
    digests = [write_image_layout(layout, tag=f"t{i}", seed=f"s{i}", layer_sizes=(1000,)) for i in range(5)]

    async def go() -> None:
        async with reg.client() as c:
            for i, expected in enumerate(digests):
                assert await push_layout(c, layout, repo, ref_name=f"t{i}") == expected
            assert sorted(await c.tags(repo)) == [f"t{i}" for i in range(5)]
            assert sorted(await c.tags(repo, page_size=2)) == [f"t{i}" for i in range(5)]  # Link pagination
            assert len(set(await c.tags(repo, page_size=2, limit=3))) == 3
            catalog = await c.catalog(page_size=1)
            assert repo in catalog and len(catalog) == len(set(catalog))
            head = await c.head_manifest(repo, "t3")
            assert head.digest == digests[3] and head.media_type == OCI_MANIFEST
            by_digest = await c.get_manifest(repo, digests[3])
            assert by_digest.digest == compute_digest(by_digest.raw) == digests[3]
            assert await c.resolve(repo, "t4") == digests[4]
            await c.delete_manifest(repo, digests[0])
            with pytest.raises(NotFoundInRegistry):
                await c.get_manifest(repo, digests[0])

    run(go())


def test_multi_arch_pull_describe_and_referrers_fallback(reg: RunningRegistry, tmp_path: Path) -> None:
    repo = f"hm/{_unique('multi')}"
    layout = tmp_path / "src"
    top = write_image_layout(layout, tag="v1", architectures=("amd64", "arm64"), layer_sizes=(5000, 70000))

    async def go() -> None:
        async with reg.client() as c:
            assert await push_layout(c, layout, repo, ref_name="v1", chunk_size=32 * 1024) == top
            summary = await describe_image(c, repo, "v1")
            assert summary.digest == top and summary.media_type.endswith("index.v1+json")
            assert sorted(str(p.platform) for p in summary.platforms) == ["linux/amd64", "linux/arm64"]
            assert summary.created is not None and summary.created.year == 2024
            index = json.loads((layout / "blobs" / "sha256" / top.split(":")[1]).read_bytes())
            expected = 0
            for m in index["manifests"]:
                doc = json.loads((layout / "blobs" / "sha256" / m["digest"].split(":")[1]).read_bytes())
                expected += doc["config"]["size"] + sum(layer["size"] for layer in doc["layers"])
            assert summary.total_size == expected

            result = await pull_to_layout(c, repo, "v1", tmp_path / "pulled")
            assert result.digest == top and result.blobs == 6
            for child in index["manifests"]:
                assert (tmp_path / "pulled" / "blobs" / "sha256" / child["digest"].split(":")[1]).exists()

            # An artifact referring to the index: no referrers API here, so the tag schema is kept.
            empty = b"{}"
            await c.upload_blob(repo, empty)
            artifact = json.dumps(
                {
                    "schemaVersion": 2,
                    "mediaType": OCI_MANIFEST,
                    "artifactType": "application/vnd.example.sbom",
                    "config": {"mediaType": OCI_EMPTY, "digest": compute_digest(empty), "size": 2},
                    "layers": [],
                    "subject": {
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "digest": top,
                        "size": len((layout / "blobs" / "sha256" / top.split(":")[1]).read_bytes()),
                    },
                }
            ).encode()
            art_digest = await c.put_manifest(
                repo, compute_digest(artifact), artifact, media_type=OCI_MANIFEST
            )
            refs = await c.referrers(repo, top)
            assert refs.via == "tag-schema"
            assert [d.digest for d in refs.descriptors] == [art_digest]
            assert refs.descriptors[0].artifact_type == "application/vnd.example.sbom"
            assert (await c.referrers(repo, top, artifact_type="application/other")).descriptors == ()
            assert await c.referrers_supported(repo) is False

    run(go())


def test_wrong_credentials_are_refused(
    registry_basic: RunningRegistry, registry_token: RunningRegistry
) -> None:
    async def go(reg: RunningRegistry) -> AuthenticationFailed:
        async with RegistryClient(
            reg.endpoint(), provider=reg.provider(password="wrong"), development_only=True
        ) as c:
            with pytest.raises(AuthenticationFailed) as info:
                await c.tags("hm/anything")
            return info.value

    basic = run(go(registry_basic))
    assert basic.realm == "harbourmaster-basic-realm" and registry_basic.host in str(basic)
    token = run(go(registry_token))
    assert token.realm is not None and token.realm.endswith("/token")


def test_token_auth_caches_tokens_per_scope(registry_token: RunningRegistry) -> None:
    issuer = registry_token.token_issuer
    assert issuer is not None
    repo = f"hm/{_unique('cache')}"

    async def go() -> None:
        async with registry_token.client() as c:
            digest = await c.upload_blob(repo, b"cached")
            before = len(issuer.requests)
            for _ in range(5):
                assert await c.read_blob(repo, digest) == b"cached"
            assert await c.blob_size(repo, digest) == 6
            # One new token at most for the pull scope; the rest come from the cache.
            assert len(issuer.requests) - before <= 1
            scopes = [s for _, ss in issuer.requests for s in ss]
            assert f"repository:{repo}:pull,push" in scopes

    run(go())


def test_ecr_provider_credentials_reach_the_real_registry(registry_basic: RunningRegistry) -> None:
    """ECR's GetAuthorizationToken (a local stand-in) hands out the htpasswd password; the real
    registry accepts it, and the token is renewed before it lapses, not after a failure."""
    import base64

    from harbourmaster.domain.secret import Secret
    from harbourmaster.registry.providers import Ecr
    from tests.registry.standin import Reply, Seen, stand_in

    now = [1_700_000_000.0]
    issued: list[float] = []

    def route(seen: Seen) -> Reply:
        issued.append(now[0])
        token = base64.b64encode(f"{registry_basic.username}:{registry_basic.password}".encode()).decode()
        body = {"authorizationData": [{"authorizationToken": token, "expiresAt": now[0] + 12 * 3600}]}
        return Reply(200, {"Content-Type": "application/x-amz-json-1.1"}, json.dumps(body).encode())

    repo = f"hm/{_unique('ecr')}"

    async def go(url: str) -> None:
        ecr = Ecr(
            access_key_id="AKIAIOSFODNN7EXAMPLE",
            secret_access_key=Secret("s"),
            region="eu-west-1",
            endpoint_url=f"{url}/",
            refresh_margin=3600,
            clock=lambda: now[0],
        )
        async with RegistryClient(registry_basic.endpoint(), provider=ecr, development_only=True) as c:
            digest = await c.upload_blob(repo, b"via ecr")
            assert len(issued) == 1
            now[0] += 10 * 3600  # still valid, outside the margin
            assert await c.read_blob(repo, digest) == b"via ecr"
            assert len(issued) == 1
            now[0] += 1.5 * 3600  # 30 minutes before expiry: renewed ahead of time
            assert await c.read_blob(repo, digest) == b"via ecr"
            assert len(issued) == 2

    with stand_in(route) as s:
        run(go(s.url))
