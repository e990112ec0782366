"""A streaming pass-through to one registry's distribution API, for a proxy in front of it.

Unlike :class:`~harbourmaster.registry.client.RegistryClient`, which speaks for harbourmaster with
its own credential, an :class:`Upstream` forwards a client's request as it came (its own
``Authorization`` header included) and hands the response back unread, so bodies stream through
without being held in memory.  Only when the caller supplies a credential provider for anonymous
clients (:meth:`Upstream.answer_challenge`) does it authenticate itself, with the same challenge
handling (Basic, or a bearer token from the realm) as the client.

:class:`ContentDigest` checks that bytes passing through hash to the digest they were asked by.
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Iterable, Mapping

import httpcore
import httpx

from harbourmaster.domain.digest import Digest
from harbourmaster.registry.auth import RegistryAuth
from harbourmaster.registry.client import RegistryEndpoint
from harbourmaster.registry.errors import translate_transport_error
from harbourmaster.registry.interface import CredentialProvider
from harbourmaster.registry.tls import check_transport, verify_context

__all__ = ["FORWARDED_REQUEST_HEADERS", "UPSTREAM_READ_BYTES", "ContentDigest", "Upstream"]

#: The request headers a pull needs upstream; everything else (Host, Connection, X-Forwarded-*) stays.
FORWARDED_REQUEST_HEADERS = frozenset({"accept", "authorization", "range", "if-none-match", "user-agent"})

#: The most an HTTP/1.1 response body is read in one go. httpcore asks for 64 KiB per read, while the
#: event loop (asyncio and uvloop alike) takes up to 256 KiB from the socket per read and anyio slices that
#: into 64 KiB pieces, copying the rest each time; asking for 256 KiB takes each socket read whole: four
#: times fewer reads (timeouts, awaits, h11 events) and no slicing copies per blob byte. It is an upper
#: bound, not a buffer: small answers are unaffected. httpcore has no per-client setting for it, so it is
#: raised (never lowered) on its HTTP/1.1 connection class, for every async client of the process — the
#: pull gate's own process.
UPSTREAM_READ_BYTES = 256 * 1024
if getattr(httpcore.AsyncHTTP11Connection, "READ_NUM_BYTES", 0) < UPSTREAM_READ_BYTES:
    httpcore.AsyncHTTP11Connection.READ_NUM_BYTES = UPSTREAM_READ_BYTES


class ContentDigest:
    """The running hash of a body that must match ``expected``."""

    def __init__(self, expected: Digest) -> None:
        self.expected = expected
        self._hash = hashlib.new(expected.algorithm)

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)

    def matches(self) -> bool:
        return self._hash.hexdigest() == self.expected.hex


class Upstream:
    """One registry's API, for forwarding requests (use as an async context manager)."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        development_only: bool,
        anonymous_provider: CredentialProvider | None = None,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Raises:
        InsecureTransportRefused: plain HTTP / unverified TLS without ``development_only``, or the CA
            bundle or client certificate cannot be loaded.
        """
        check_transport(endpoint.security, registry=endpoint.host, development_only=development_only)
        verify: ssl.SSLContext | bool = verify_context(endpoint.security, registry=endpoint.host)
        self.endpoint = endpoint
        self._http = httpx.AsyncClient(
            base_url=endpoint.base_url,
            verify=verify,
            timeout=httpx.Timeout(read_timeout, connect=connect_timeout),
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
            transport=transport,
            trust_env=False,
        )
        self._auth = (
            RegistryAuth(anonymous_provider, registry=endpoint.host, registry_scheme=endpoint.security.scheme)
            if anonymous_provider is not None
            else None
        )

    @property
    def authenticates_anonymous(self) -> bool:
        """Whether anonymous clients are answered with the stored credential."""
        return self._auth is not None

    async def __aenter__(self) -> Upstream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] = (),
        follow_redirects: bool = False,
    ) -> httpx.Response:
        """Send a request upstream; the response's body is not read (iterate it, then close it).

        Raises:
            RegistryError: the registry cannot be reached (named, with the reason).
        """
        url = path + (f"?{query}" if query else "")
        request = self._http.build_request(method, url, headers=list(headers))
        try:
            return await self._http.send(request, stream=True, follow_redirects=follow_redirects)
        except (httpx.TransportError, ssl.SSLError) as exc:
            raise translate_transport_error(exc, registry=self.endpoint.host, repository=None) from None

    async def preemptive_authorization(self, *, repository: str | None) -> str | None:
        """The stored credential's ``Authorization`` for a pull of ``repository``, when the scheme is
        already known from an earlier challenge; None otherwise (or without a stored credential)."""
        if self._auth is None:
            return None
        return await self._auth.preemptive(http=self._http, scopes=_scopes(repository))

    async def answer_challenge(self, response_headers: Mapping[str, str], *, repository: str | None) -> str:
        """The stored credential's ``Authorization`` answering a 401's challenge (pull scope).

        Raises:
            AuthenticationFailed, TokenExchangeFailed: the credential or token service refused.
        """
        assert self._auth is not None, "answer_challenge needs a stored credential provider"
        return await self._auth.respond(
            http=self._http,
            www_authenticate=response_headers.get("www-authenticate"),
            scopes=_scopes(repository),
            repository=repository,
        )


def _scopes(repository: str | None) -> tuple[str, ...]:
    return (f"repository:{repository}:pull",) if repository else ()
