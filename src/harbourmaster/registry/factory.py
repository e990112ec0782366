"""The registry-client factory over httpx: the one place a :class:`RegistryClient` is made for the core.

Each client's TLS comes from its endpoint's
:class:`~harbourmaster.registry.tls.TransportSecurity` (CA bundle, client
certificate; plain HTTP and unverified TLS refused unless the registry is
development-only), checked by the client itself, so nothing injected here can
loosen it.  ``transport`` is httpx's seam: with an ``httpx.MockTransport``
every request goes to the test's handler and nothing touches the network.
"""

from __future__ import annotations

import asyncio

import httpx

from harbourmaster.domain.secret import Secret
from harbourmaster.registry._session import ClientOptions
from harbourmaster.registry.client import RegistryClient, RegistryEndpoint
from harbourmaster.registry.harbor_api import HarborApi
from harbourmaster.registry.interface import CredentialProvider, RegistryClientFactory

__all__ = ["HttpxClientFactory"]


class HttpxClientFactory(RegistryClientFactory):
    """Registry clients over httpx, all with ``transport`` (None: httpx's own, over the network)."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self._transport = transport

    def __repr__(self) -> str:
        via = "network" if self._transport is None else type(self._transport).__name__
        return f"HttpxClientFactory(transport={via})"

    def client(
        self,
        endpoint: RegistryEndpoint,
        *,
        provider: CredentialProvider | None = None,
        options: ClientOptions | None = None,
        development_only: bool = False,
    ) -> RegistryClient:
        return RegistryClient(
            endpoint,
            provider=provider,
            options=options,
            development_only=development_only,
            transport=self._transport,
        )

    def harbor_api(
        self, endpoint: RegistryEndpoint, *, username: str, password: Secret, development_only: bool = False
    ) -> HarborApi:
        return HarborApi(endpoint, username=username, password=password, development_only=development_only,
                         transport=self._transport)  # fmt: skip

    async def resolve_host(self, host: str, port: int) -> None:
        if self._transport is not None:
            return  # the transport decides where requests go: there is no name to look up
        await asyncio.get_running_loop().getaddrinfo(host, port)
