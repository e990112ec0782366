"""Misbehaving registries (local stand-ins): every case is a clear error naming registry and repository."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import (
    AuthenticationFailed,
    BlobIntegrityError,
    ClientOptions,
    ManifestError,
    ProtocolError,
    RedirectRefused,
    RegistryClient,
    RegistryEndpoint,
    RegistryError,
    RegistryTimeout,
    RegistryUnavailable,
    TransportSecurity,
    UsernamePassword,
)
from tests.registry.standin import Reply, Seen, stand_in

REPO = "team/app"
PLAIN = TransportSecurity(plain_http=True)
FAST = ClientOptions(connect_timeout=2, read_timeout=1.5, max_retries=2, backoff_base=0.01, max_backoff=0.5)
BLOB = b"layer bytes " * 100
BLOB_DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": BLOB_DIGEST,
            "size": len(BLOB),
        },
        "layers": [],
    }
).encode()
OCI = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


async def _call(
    host: str,
    op: str,
    *args: object,
    provider=None,
    options: ClientOptions = FAST,  # type: ignore[no-untyped-def]
    **kwargs: object,
):
    async with RegistryClient(
        RegistryEndpoint(host, PLAIN), provider=provider, options=options, development_only=True
    ) as client:
        return await getattr(client, op)(*args, **kwargs)


def _assert_names(err: RegistryError, host: str) -> None:
    assert host in str(err) and REPO in str(err), str(err)


def test_malformed_manifest() -> None:
    with (
        stand_in(lambda r: Reply(200, OCI, b'{"schemaVersion": 2, "layers": "nope"')) as s,
        pytest.raises(ManifestError, match="not valid JSON") as info,
    ):
        run(_call(s.host, "get_manifest", REPO, "v1"))
    _assert_names(info.value, s.host)


def test_wrong_content_type() -> None:
    with (
        stand_in(lambda r: Reply(200, {"Content-Type": "text/html"}, MANIFEST)) as s,
        pytest.raises(ManifestError, match="text/html") as info,
    ):
        run(_call(s.host, "get_manifest", REPO, "v1"))
    _assert_names(info.value, s.host)


def test_manifest_not_matching_requested_digest() -> None:
    wrong = "sha256:" + "b" * 64
    with (
        stand_in(lambda r: Reply(200, OCI, MANIFEST)) as s,
        pytest.raises(ManifestError, match="does not match its digest") as info,
    ):
        run(_call(s.host, "get_manifest", REPO, wrong))
    _assert_names(info.value, s.host)


def test_manifest_over_four_mib_is_refused() -> None:
    big = b" " * (4 * 1024 * 1024 + 10)
    with stand_in(lambda r: Reply(200, OCI, big)) as s, pytest.raises(ManifestError, match="4 MiB"):
        run(_call(s.host, "get_manifest", REPO, "v1"))


def test_blob_with_wrong_bytes_is_never_kept(tmp_path: Path) -> None:
    tampered = BLOB[:-1] + b"X"
    with stand_in(lambda r: Reply(200, {}, tampered)) as s:
        with pytest.raises(BlobIntegrityError, match="does not match its digest") as info:
            run(_call(s.host, "download_blob", REPO, BLOB_DIGEST, tmp_path / "blob"))
        with pytest.raises(BlobIntegrityError):
            run(_call(s.host, "read_blob", REPO, BLOB_DIGEST))
    _assert_names(info.value, s.host)
    assert list(tmp_path.iterdir()) == []


def test_truncated_stream(tmp_path: Path) -> None:
    with (
        stand_in(lambda r: Reply(200, {}, BLOB[:500], announce_length=len(BLOB))) as s,
        pytest.raises(BlobIntegrityError, match="ended") as info,
    ):
        run(_call(s.host, "download_blob", REPO, BLOB_DIGEST, tmp_path / "blob"))
    _assert_names(info.value, s.host)
    assert list(tmp_path.iterdir()) == []


def test_blob_longer_than_descriptor(tmp_path: Path) -> None:
    with stand_in(lambda r: Reply(200, {}, BLOB + b"extra")) as s, pytest.raises(BlobIntegrityError):
        run(_call(s.host, "download_blob", REPO, BLOB_DIGEST, tmp_path / "blob", expected_size=len(BLOB)))
    assert list(tmp_path.iterdir()) == []


def test_401_loop_is_an_error_not_a_hang() -> None:
    challenge = {"WWW-Authenticate": 'Basic realm="loop-realm"'}
    with stand_in(lambda r: Reply(401, challenge, b"")) as s:
        provider = UsernamePassword("u", Secret("p"))
        with pytest.raises(AuthenticationFailed) as info:
            run(_call(s.host, "get_manifest", REPO, "v1", provider=provider))
    _assert_names(info.value, s.host)
    assert info.value.realm == "loop-realm" and "loop-realm" in info.value.diagnostics()
    assert len(s.seen) == 2  # one challenge, one answer, then stop


def test_bearer_401_loop() -> None:
    def route(r: Seen) -> Reply:
        if r.path == "/token":
            return Reply(200, {"Content-Type": "application/json"}, b'{"token": "t1", "expires_in": 300}')
        return Reply(
            401, {"WWW-Authenticate": f'Bearer realm="http://{r.headers["host"]}/token",service="svc"'}
        )

    with stand_in(route) as s, pytest.raises(AuthenticationFailed, match="rejected"):
        run(_call(s.host, "tags", REPO))


def test_redirect_to_another_host_is_refused_and_auth_never_forwarded() -> None:
    with stand_in(lambda r: Reply(200, {}, BLOB)) as other:
        other_host = f"localhost:{other.port}"

        def route(r: Seen) -> Reply:
            if "authorization" not in r.headers:
                return Reply(401, {"WWW-Authenticate": 'Basic realm="r"'})
            return Reply(307, {"Location": f"http://{other_host}/storage/blob"})

        with stand_in(route) as s:
            provider = UsernamePassword("u", Secret("p"))
            with pytest.raises(RedirectRefused, match="another host") as info:
                run(_call(s.host, "get_manifest", REPO, "v1", provider=provider))
            _assert_names(info.value, s.host)
            # Blob downloads may go to an allowed storage host, but without our Authorization.
            allowed = ClientOptions(blob_redirect_hosts=frozenset({"localhost"}), max_retries=0)
            data = run(_call(s.host, "read_blob", REPO, BLOB_DIGEST, provider=provider, options=allowed))
            assert data == BLOB
            assert other.seen and all("authorization" not in seen.headers for seen in other.seen)
            with pytest.raises(RedirectRefused):
                run(_call(s.host, "read_blob", REPO, BLOB_DIGEST, provider=provider))


def test_redirect_limit() -> None:
    with (
        stand_in(lambda r: Reply(302, {"Location": "/v2/again" + str(len(r.path))})) as s,
        pytest.raises(RedirectRefused, match="more than 5 redirects"),
    ):
        run(_call(s.host, "ping"))


def test_retries_honour_retry_after_then_succeed() -> None:
    calls: list[int] = []

    def route(r: Seen) -> Reply:
        calls.append(1)
        if len(calls) < 3:
            return Reply(429 if len(calls) == 1 else 503, {"Retry-After": "0"})
        return Reply(200, {"Content-Type": "application/json"}, b'{"name": "team/app", "tags": ["v1"]}')

    with stand_in(route) as s:
        assert run(_call(s.host, "tags", REPO)) == ["v1"]
    assert len(calls) == 3


def test_persistent_5xx_is_bounded() -> None:
    with (
        stand_in(lambda r: Reply(503, {"Retry-After": "0"}, b"")) as s,
        pytest.raises(RegistryUnavailable, match="503") as info,
    ):
        run(_call(s.host, "tags", REPO))
    _assert_names(info.value, s.host)
    assert len(s.seen) == FAST.max_retries + 1


def test_read_timeout() -> None:
    opts = ClientOptions(read_timeout=0.3, max_retries=0)
    with (
        stand_in(lambda r: Reply(200, OCI, MANIFEST, delay=1.5)) as s,
        pytest.raises(RegistryTimeout) as info,
    ):
        run(_call(s.host, "get_manifest", REPO, "v1", options=opts))
    _assert_names(info.value, s.host)


def test_pagination_that_does_not_advance() -> None:
    page = {"Content-Type": "application/json", "Link": f'</v2/{REPO}/tags/list?n=1&last=a>; rel="next"'}
    with (
        stand_in(lambda r: Reply(200, page, b'{"name": "team/app", "tags": ["a"]}')) as s,
        pytest.raises(ProtocolError, match="does not advance"),
    ):
        run(_call(s.host, "tags", REPO))


def test_bad_references_are_rejected_before_any_request() -> None:
    with stand_in(lambda r: Reply(200)) as s:
        with pytest.raises(ManifestError, match="repository name"):
            run(_call(s.host, "get_manifest", "Bad/Repo", "v1"))
        with pytest.raises(ManifestError, match="bad reference"):
            run(_call(s.host, "get_manifest", REPO, "sha256:nothex"))
        assert s.seen == []
