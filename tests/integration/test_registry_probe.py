"""``registry test`` diagnostics against real registries and real failure modes."""

from __future__ import annotations

import asyncio
import socket
import threading
from typing import TYPE_CHECKING, Any

import pytest

from harbourmaster.registry import ClientOptions, RegistryEndpoint, TransportSecurity, probe
from tests.components import free_port

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytest_plugins = ["tests.integration.registry_fixtures"]
pytestmark = pytest.mark.integration
PLAIN = TransportSecurity(plain_http=True)


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


def test_anonymous_registry(registry_anonymous: RunningRegistry) -> None:
    report = run(probe(registry_anonymous.endpoint(), repository="hm/none", development_only=True))
    assert report.reachable and report.authentication == "anonymous" and report.tls == "plain-http"
    assert report.api_version == "registry/2.0" and report.latency_ms is not None and report.latency_ms > 0
    # hm/none has no tags: the tag listing's 404 is reported, not raised.
    assert [f.kind for f in report.failures] == ["registry-not-found"]


def test_basic_and_token_registries(registry_basic: RunningRegistry, registry_token: RunningRegistry) -> None:
    ok = run(probe(registry_basic.endpoint(), provider=registry_basic.provider(), development_only=True))
    assert ok.ok and ok.authentication == "basic" and ok.auth_realm == "harbourmaster-basic-realm"
    ok = run(probe(registry_token.endpoint(), provider=registry_token.provider(), development_only=True))
    assert ok.ok and ok.authentication == "bearer" and ok.auth_realm and ok.auth_realm.endswith("/token")


def test_referrers_support_is_reported(registry_anonymous: RunningRegistry) -> None:
    async def seed() -> None:
        async with registry_anonymous.client() as c:
            from harbourmaster.registry.media import OCI_EMPTY, OCI_MANIFEST, compute_digest

            await c.upload_blob("hm/probe-ref", b"{}")
            raw = (
                b'{"schemaVersion":2,"mediaType":"'
                + OCI_MANIFEST.encode()
                + b'","config":{"mediaType":"'
                + OCI_EMPTY.encode()
                + b'","digest":"'
                + compute_digest(b"{}").encode()
                + b'","size":2},"layers":[]}'
            )
            await c.put_manifest("hm/probe-ref", "v1", raw, media_type=OCI_MANIFEST)

    run(seed())
    report = run(probe(registry_anonymous.endpoint(), repository="hm/probe-ref", development_only=True))
    assert report.ok and report.referrers_api is False


def test_401_with_realm(registry_basic: RunningRegistry) -> None:
    report = run(
        probe(
            registry_basic.endpoint(),
            provider=registry_basic.provider(password="nope"),
            development_only=True,
        )
    )
    assert report.reachable and report.authentication == "failed"
    assert report.auth_realm == "harbourmaster-basic-realm"
    assert report.failures[0].kind == "registry-unauthenticated" and "401" in report.failures[0].message


def test_403_is_explained(registry_token: RunningRegistry) -> None:
    # Anonymous callers get tokens without access: the registry then answers 401 (insufficient scope).
    report = run(probe(registry_token.endpoint(), repository="hm/x", development_only=True))
    assert not report.ok and report.failures[0].kind in {"registry-unauthenticated", "registry-forbidden"}


def test_connection_refused_dns_and_timeout() -> None:
    refused = run(probe(RegistryEndpoint(f"127.0.0.1:{free_port()}", PLAIN), development_only=True))
    assert not refused.reachable and refused.failures[0].kind == "registry-connection-refused"
    dns = run(probe(RegistryEndpoint("registry.does-not-exist.invalid", PLAIN), development_only=True))
    assert not dns.reachable and dns.failures[0].kind == "registry-dns"
    # A server that accepts connections but never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        silent.settimeout(0.1)
        while not stop.is_set():
            try:
                accepted.append(silent.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        opts = ClientOptions(connect_timeout=1, read_timeout=0.5, max_retries=0)
        slow = run(
            probe(
                RegistryEndpoint(f"127.0.0.1:{silent.getsockname()[1]}", PLAIN),
                development_only=True,
                options=opts,
            )
        )
    finally:
        stop.set()
        thread.join()
        for conn in accepted:
            conn.close()
        silent.close()
    assert not slow.reachable and slow.failures[0].kind == "registry-timeout"
