"""The registry layer's pluggable interface: how a provider supplies credentials.

A :class:`CredentialProvider` turns what the vault holds for a registry (a PAT,
a robot token, a service principal, an access key, a service-account key)
into what the distribution protocol speaks: a user name and password for
``Basic`` auth and for the bearer-token endpoint, or, for providers with their
own token exchange (ACR), the bearer token itself.  One module per provider
lives in :mod:`harbourmaster.registry.providers`.

Secrets arrive as :class:`harbourmaster.domain.secret.Secret` and are revealed
only at the moment a header or form field is built.

A :class:`RegistryClientFactory` makes every
:class:`~harbourmaster.registry.client.RegistryClient` the core opens
(:class:`~harbourmaster.registry.factory.HttpxClientFactory`, whose ``transport``
is httpx's seam: tests pass an ``httpx.MockTransport``).
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import httpx

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.challenge import Challenge

if TYPE_CHECKING:
    from harbourmaster.registry._session import ClientOptions
    from harbourmaster.registry.client import RegistryClient, RegistryEndpoint
    from harbourmaster.registry.harbor_api import HarborApi

__all__ = [
    "BearerToken",
    "CredentialProvider",
    "RegistryClientFactory",
    "RegistryCredentials",
]


@dataclass(frozen=True)
class RegistryCredentials:
    """A user name and secret password, valid until ``expires_at`` (epoch seconds) if known."""

    username: str
    password: Secret = field(repr=False)
    expires_at: float | None = None

    def __repr__(self) -> str:
        return f"RegistryCredentials(username={self.username!r}, password=<redacted>)"


@dataclass(frozen=True)
class BearerToken:
    """A registry bearer token and when it stops being usable (epoch seconds)."""

    value: Secret = field(repr=False)
    expires_at: float

    def __repr__(self) -> str:
        return f"BearerToken(<redacted>, expires_at={self.expires_at:.0f})"

    def usable(self, *, now: float | None = None, margin: float = 10.0) -> bool:
        return (now if now is not None else time.time()) + margin < self.expires_at


class CredentialProvider(abc.ABC):
    """Supplies credentials for one registry.

    Subclasses implement :meth:`credentials`; providers that have their own
    token exchange also override :meth:`bearer_token`.
    """

    #: A short provider name for messages ("ecr", "ghcr", ...).
    name: str = "static"
    #: Host suffixes a blob download may be redirected to (the provider's storage backend).
    blob_redirect_hosts: frozenset[str] = frozenset()

    @abc.abstractmethod
    async def credentials(self, *, http: httpx.AsyncClient) -> RegistryCredentials | None:
        """Credentials for ``Basic`` auth and the token endpoint, or ``None`` for anonymous.

        Raises:
            TokenExchangeFailed: the provider's identity endpoint refused or misbehaved.
        """

    async def bearer_token(
        self, *, http: httpx.AsyncClient, challenge: Challenge, scopes: tuple[str, ...]
    ) -> BearerToken | None:
        """A bearer token for ``scopes`` obtained the provider's own way, or ``None``
        to use the generic token flow with :meth:`credentials`.

        Raises:
            TokenExchangeFailed: the provider's token endpoint refused or misbehaved.
        """
        del http, challenge, scopes
        return None


class RegistryClientFactory(Protocol):
    """Makes the registry clients the core opens, and looks up registry hosts for diagnostics.

    A protocol rather than an abstract class: the composition root hands the core a
    stand-in that loads the client (and httpx) at first use, without importing this
    package, so commands that never talk to a registry do not pay for it.
    """

    def client(
        self,
        endpoint: RegistryEndpoint,
        *,
        provider: CredentialProvider | None = None,
        options: ClientOptions | None = None,
        development_only: bool = False,
    ) -> RegistryClient:
        """A client for ``endpoint`` (use it as an async context manager).

        Raises:
            InsecureTransportRefused: plain HTTP / unverified TLS without ``development_only``, or
                the CA bundle or client certificate cannot be loaded.
        """
        ...

    def harbor_api(
        self, endpoint: RegistryEndpoint, *, username: str, password: Secret, development_only: bool = False
    ) -> HarborApi:
        """A client of the Harbor management API (``/api/v2.0``) at ``endpoint``.

        Raises:
            InsecureTransportRefused: as :meth:`client`.
        """
        ...

    async def resolve_host(self, host: str, port: int) -> None:
        """Look ``host`` up as the client's connections would.

        Raises:
            OSError: the name does not resolve.
        """
        ...
