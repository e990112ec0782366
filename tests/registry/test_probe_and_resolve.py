"""probe() and resolve() against stand-ins for behaviours the real registry does not show."""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import json
import time
from typing import Any

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import (
    RegistryClient,
    RegistryEndpoint,
    TransportSecurity,
    UsernamePassword,
    probe,
)
from harbourmaster.registry._session import _retry_after
from tests.registry.standin import Reply, Seen, stand_in

PLAIN = TransportSecurity(plain_http=True)
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": "sha256:" + "a" * 64,
            "size": 1,
        },
        "layers": [],
    }
).encode()


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=30))


def test_probe_explains_403() -> None:
    def route(r: Seen) -> Reply:
        if "authorization" not in r.headers:
            return Reply(
                401,
                {
                    "WWW-Authenticate": 'Basic realm="corp-registry"',
                    "Docker-Distribution-API-Version": "registry/2.0",
                },
            )
        return Reply(
            403,
            {"Content-Type": "application/json"},
            b'{"errors": [{"code": "DENIED", "message": "account locked"}]}',
        )

    with stand_in(route) as s:
        report = run(
            probe(
                RegistryEndpoint(s.host, PLAIN),
                provider=UsernamePassword("u", Secret("p")),
                development_only=True,
            )
        )
    assert report.reachable and report.authentication == "failed" and report.auth_realm == "corp-registry"
    assert report.failures[0].kind == "registry-forbidden" and "403" in report.failures[0].message
    assert "DENIED: account locked" in report.failures[0].details


def test_probe_flags_a_non_registry() -> None:
    with stand_in(lambda r: Reply(200 if r.path == "/" else 404, {}, b"<html>")) as s:
        report = run(probe(RegistryEndpoint(s.host, PLAIN), development_only=True))
    assert report.reachable and not report.ok
    assert "is this a distribution registry" in report.failures[0].message


def test_resolve_falls_back_to_get_when_head_has_no_digest() -> None:
    def route(r: Seen) -> Reply:
        headers = {"Content-Type": "application/vnd.oci.image.manifest.v1+json"}
        return Reply(200, headers, b"" if r.method == "HEAD" else MANIFEST)

    async def go(host: str) -> str:
        async with RegistryClient(RegistryEndpoint(host, PLAIN), development_only=True) as c:
            return str(await c.resolve("team/app", "v1"))

    with stand_in(route) as s:
        assert run(go(s.host)) == "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
        assert [r.method for r in s.seen] == ["HEAD", "GET"]


def test_retry_after_forms() -> None:
    assert _retry_after("3", cap=20) == 3.0
    assert _retry_after("999", cap=20) == 20.0
    future = email.utils.formatdate(time.time() + 5, usegmt=True)
    wait = _retry_after(future, cap=20)
    assert wait is not None and 3 <= wait <= 5.5
    assert _retry_after("soon", cap=20) is None
    assert _retry_after(None, cap=20) is None


def test_referrers_api_when_the_registry_has_one() -> None:
    subject = "sha256:" + "c" * 64
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + "d" * 64,
                    "size": 9,
                    "artifactType": "application/spdx+json",
                },
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": "sha256:" + "e" * 64,
                    "size": 9,
                    "artifactType": "application/vnd.dev.cosign.artifact.sig.v1+json",
                },
            ],
        }
    ).encode()

    def route(r: Seen) -> Reply:
        if not r.path.startswith("/v2/team/app/referrers/sha256:"):
            return Reply(404)
        return Reply(200, {"Content-Type": "application/vnd.oci.image.index.v1+json"}, index)

    async def go(host: str) -> Any:
        async with RegistryClient(RegistryEndpoint(host, PLAIN), development_only=True) as c:
            return (
                await c.referrers("team/app", subject),
                await c.referrers("team/app", subject, artifact_type="application/spdx+json"),
                await c.referrers_supported("team/app"),
            )

    with stand_in(route) as s:
        everything, sboms, supported = run(go(s.host))
    assert everything.via == "api" and len(everything.descriptors) == 2
    assert [d.digest for d in sboms.descriptors] == ["sha256:" + "d" * 64]  # filtered client-side
    assert s.seen[0].path == f"/v2/team/app/referrers/{subject}"
    assert s.seen[1].query == {"artifactType": ["application/spdx+json"]}
    assert supported is True
