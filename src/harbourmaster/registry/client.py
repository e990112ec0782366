"""An async client for the OCI distribution spec v1.1 (client side).

Use it as an async context manager::

    async with RegistryClient(RegistryEndpoint("registry.example.com"), provider=provider) as client:
        digest = await client.resolve("team/app", "v1")

Listing lives here, manifests in :mod:`harbourmaster.registry._manifests` and blobs
in :mod:`harbourmaster.registry._blobs`; all share one
:class:`~harbourmaster.registry._session.RegistrySession`.
"""

from __future__ import annotations

import json
import ssl
from dataclasses import dataclass, field
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

import httpx

from harbourmaster.registry._blobs import BlobOperations
from harbourmaster.registry._manifests import (
    FetchedManifest,
    ManifestHead,
    ManifestOperations,
    Referrers,
    repository_scope,
)
from harbourmaster.registry._session import ClientOptions, RegistrySession, status_error
from harbourmaster.registry.auth import Anonymous, RegistryAuth
from harbourmaster.registry.errors import ProtocolError, translate_transport_error
from harbourmaster.registry.interface import CredentialProvider, RegistryCredentials
from harbourmaster.registry.tls import TransportSecurity, check_transport, verify_context

__all__ = ["FetchedManifest", "ManifestHead", "Ping", "Referrers", "RegistryClient", "RegistryEndpoint"]

_MAX_PAGES = 10_000


@dataclass(frozen=True)
class RegistryEndpoint:
    """Where a registry is (``host`` or ``host:port``) and how to reach it securely."""

    host: str
    security: TransportSecurity = field(default_factory=TransportSecurity)

    @property
    def base_url(self) -> str:
        return f"{self.security.scheme}://{self.host}"


@dataclass(frozen=True)
class Ping:
    """The answer to ``GET /v2/`` once authenticated."""

    api_version: str | None
    status_code: int


class RegistryClient(ManifestOperations, BlobOperations):
    """Speaks the distribution protocol to one registry."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        provider: CredentialProvider | None = None,
        options: ClientOptions | None = None,
        development_only: bool = False,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Raises:
        InsecureTransportRefused: plain HTTP / skipped verification without ``development_only``.
        RegistryError: the CA bundle or client certificate cannot be loaded.
        """
        check_transport(endpoint.security, registry=endpoint.host, development_only=development_only)
        self.endpoint = endpoint
        self.provider = provider or Anonymous()
        opts = options or ClientOptions()
        if self.provider.blob_redirect_hosts:
            opts = ClientOptions(
                **{
                    **opts.__dict__,
                    "blob_redirect_hosts": opts.blob_redirect_hosts | self.provider.blob_redirect_hosts,
                }
            )
        self.options = opts
        verify: ssl.SSLContext | bool = verify_context(endpoint.security, registry=endpoint.host)
        timeout = httpx.Timeout(opts.read_timeout, connect=opts.connect_timeout)
        limits = httpx.Limits(
            max_connections=max(10, opts.concurrency * 2),
            max_keepalive_connections=max(10, opts.concurrency * 2),
        )
        self._http = httpx.AsyncClient(
            verify=verify,
            timeout=timeout,
            limits=limits,
            transport=transport,
            trust_env=False,
            headers={"User-Agent": "harbourmaster"},
        )
        auth = RegistryAuth(self.provider, registry=endpoint.host, registry_scheme=endpoint.security.scheme)
        self._session = RegistrySession(
            http=self._http, base_url=endpoint.base_url, registry=endpoint.host, auth=auth, options=opts
        )

    def __repr__(self) -> str:
        return f"RegistryClient({self.endpoint.base_url!r}, provider={self.provider.name!r})"

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def credentials(self) -> RegistryCredentials | None:
        """The provider's credentials for this registry, minted now where the provider mints them
        (ECR, ACR, GAR), through this client's transport; None for an anonymous registry.

        Raises:
            TokenExchangeFailed: the provider's identity endpoint refused or misbehaved.
        """
        return await self.provider.credentials(http=self._http)

    # -- base and listing ---------------------------------------------------------------------

    async def ping(self) -> Ping:
        """``GET /v2/``, authenticating if asked.

        Raises:
            RegistryError: unreachable, refused credentials, or not a distribution registry.
        """
        response = await self._session.send("GET", "/v2/", repository=None)
        if response.status_code != 200:
            raise status_error(response, registry=self.endpoint.host, repository=None, what="ping /v2/")
        return Ping(
            api_version=response.headers.get("Docker-Distribution-API-Version"),
            status_code=response.status_code,
        )

    async def unauthenticated_ping(self) -> httpx.Response:
        """``GET /v2/`` without credentials, for diagnostics: the status, headers and challenge.

        Raises:
            RegistryError: a transport failure (DNS, refused, TLS, timeout), translated.
        """
        try:
            return await self._http.get(f"{self.endpoint.base_url}/v2/", follow_redirects=False)
        except (httpx.TransportError, ssl.SSLError) as exc:
            raise translate_transport_error(exc, registry=self.endpoint.host) from None

    async def _paginate(
        self,
        path: str,
        key: str,
        *,
        repository: str | None,
        page_size: int | None,
        scopes: tuple[str, ...],
        limit: int | None,
    ) -> list[str]:
        out: list[str] = []
        params: dict[str, str] | None = {"n": str(page_size)} if page_size else None
        url = path
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            response = await self._session.send(
                "GET", url, repository=repository, scopes=scopes, params=params
            )
            if response.status_code != 200:
                raise status_error(
                    response, registry=self.endpoint.host, repository=repository, what=f"list {key}"
                )
            try:
                doc = json.loads(response.content)
                items = doc.get(key) or []
                if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                    raise TypeError
            except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, TypeError):
                raise ProtocolError(
                    f"the {key} list is not JSON of the expected shape",
                    registry=self.endpoint.host,
                    repository=repository,
                ) from None
            out.extend(items)
            if limit is not None and len(out) >= limit:
                return out[:limit]
            link = response.headers.get("link")
            if not link or 'rel="next"' not in link.replace("'", '"'):
                return out
            target = link.split(";")[0].strip().strip("<>")
            parts = urlsplit(target)
            if parts.netloc and parts.netloc.lower() != urlsplit(self.endpoint.base_url).netloc.lower():
                raise ProtocolError(
                    f"pagination Link points at another host ({parts.netloc})",
                    registry=self.endpoint.host,
                    repository=repository,
                )
            marker = parse_qs(parts.query).get("last", [""])[0]
            if target in seen or (marker and items and marker not in items):
                raise ProtocolError(
                    "pagination does not advance (repeated or inconsistent Link)",
                    registry=self.endpoint.host,
                    repository=repository,
                )
            seen.add(target)
            url, params = (parts.path + ("?" + parts.query if parts.query else "")), None
        raise ProtocolError(
            f"more than {_MAX_PAGES} pages", registry=self.endpoint.host, repository=repository
        )

    async def catalog(self, *, page_size: int | None = 100, limit: int | None = None) -> list[str]:
        """Every repository the registry lists (``/v2/_catalog``), following pagination.

        Raises:
            NotFoundInRegistry: the registry has no catalog endpoint (GHCR, for one).
            RegistryError: any other failure.
        """
        return await self._paginate(
            "/v2/_catalog",
            "repositories",
            repository=None,
            page_size=page_size,
            scopes=("registry:catalog:*",),
            limit=limit,
        )

    async def tags(
        self, repository: str, *, page_size: int | None = None, limit: int | None = None
    ) -> list[str]:
        """The repository's tags, following ``n``/``last`` pagination and the ``Link`` header.

        Raises:
            NotFoundInRegistry: no such repository.
            RegistryError: any other failure.
        """
        repo = self._repo(repository)
        return await self._paginate(
            f"/v2/{repo}/tags/list",
            "tags",
            repository=repo,
            page_size=page_size,
            scopes=(repository_scope(repo),),
            limit=limit,
        )
