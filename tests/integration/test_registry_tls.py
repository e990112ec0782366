"""TLS against the real registry: a test CA, an untrusted certificate, and client certificates."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import pytest

from harbourmaster.registry import (
    RegistryClient,
    RegistryEndpoint,
    TlsUntrusted,
    TransportSecurity,
    probe,
)

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytest_plugins = ["tests.integration.registry_fixtures"]
pytestmark = pytest.mark.integration


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


async def _ping(endpoint: RegistryEndpoint, **kwargs: Any) -> Any:
    async with RegistryClient(endpoint, **kwargs) as c:
        return await c.ping()


def test_ca_bundle_makes_the_registry_trusted(registry_tls: RunningRegistry) -> None:
    assert run(_ping(registry_tls.endpoint())).api_version == "registry/2.0"
    report = run(probe(registry_tls.endpoint()))
    assert report.ok and report.tls == "verified" and report.reachable


def test_without_the_ca_the_certificate_is_untrusted(registry_tls: RunningRegistry) -> None:
    with pytest.raises(TlsUntrusted) as info:
        run(_ping(registry_tls.endpoint(trust_ca=False)))
    assert registry_tls.host in str(info.value) and "certificate" in str(info.value).lower()
    report = run(probe(registry_tls.endpoint(trust_ca=False)))
    assert not report.ok and report.tls == "untrusted"
    assert report.tls_issuer is not None and "harbourmaster test CA" in report.tls_issuer
    assert report.tls_subject is not None and "127.0.0.1" in report.tls_subject
    assert report.failures[0].kind == "registry-tls"
    assert any("issuer" in d for d in report.failures[0].details)


def test_skip_verify_only_for_development(registry_tls: RunningRegistry) -> None:
    insecure = RegistryEndpoint(registry_tls.host, TransportSecurity(skip_verify=True))
    assert run(_ping(insecure, development_only=True)).status_code == 200
    report = run(probe(insecure, development_only=True))
    assert report.ok and report.tls == "unverified"


def test_client_certificate(registry_mtls: RunningRegistry) -> None:
    assert run(_ping(registry_mtls.endpoint())).status_code == 200
    with pytest.raises(TlsUntrusted):  # the registry rejects a handshake without a client certificate
        run(_ping(registry_mtls.endpoint(client_certificate=False)))
