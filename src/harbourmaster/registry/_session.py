"""Sending one logical request to a registry: auth, redirects, retries, error mapping.

Redirect policy (issue 3, "a redirect to another host"):

* Redirects are followed by hand, at most ``max_redirects`` times, never from
  HTTPS down to HTTP.
* ``Authorization`` is sent only to the registry's own host; it is never
  forwarded to another host.
* A redirect to another host is an error (:class:`RedirectRefused`) except for
  blob downloads to hosts the caller allowed (``blob_redirect_hosts``, host
  suffixes such as a provider's storage CDN).  Real registries hand blobs to
  S3 / Azure Blob / GCS / a CDN this way; the blob's digest is verified
  whatever host served it, so an allowed storage host cannot substitute bytes.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import ssl
import time
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from harbourmaster.registry.auth import RegistryAuth
from harbourmaster.registry.challenge import parse_www_authenticate
from harbourmaster.registry.errors import (
    AuthenticationFailed,
    AuthorizationDenied,
    NotFoundInRegistry,
    RedirectRefused,
    RegistryError,
    RegistryUnavailable,
    UnexpectedResponse,
    translate_transport_error,
)

__all__ = ["ClientOptions", "RegistrySession", "status_error"]

_REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True)
class ClientOptions:
    """Timeouts, retry and redirect limits for a registry client."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    max_retries: int = 3
    backoff_base: float = 0.25
    max_backoff: float = 20.0
    max_redirects: int = 5
    #: Host suffixes blob downloads may be redirected to (besides the registry's own host).
    blob_redirect_hosts: frozenset[str] = frozenset()
    #: How many blobs a pull fetches at once.
    concurrency: int = 6


def _retry_after(value: str | None, *, cap: float) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), cap)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, min(when.timestamp() - time.time(), cap))


def status_error(
    response: httpx.Response, *, registry: str, repository: str | None, what: str
) -> RegistryError:
    """The error for an unexpected status while doing ``what`` (reads the registry's error codes)."""
    details: list[str] = []
    try:
        body = json.loads(response.content[:65536]) if response.content else None
    except (json.JSONDecodeError, UnicodeDecodeError, httpx.ResponseNotRead):
        body = None
    if isinstance(body, dict) and isinstance(body.get("errors"), list):
        for item in body["errors"][:5]:
            if isinstance(item, dict):
                details.append(f"{item.get('code', '?')}: {str(item.get('message', ''))[:200]}")
    code = response.status_code
    if code == 401:
        return AuthenticationFailed(
            f"{what}: authentication required (401)",
            registry=registry,
            repository=repository,
            details=details,
        )
    if code == 403:
        return AuthorizationDenied(
            f"{what}: access denied (403)", registry=registry, repository=repository, details=details
        )
    if code == 404:
        return NotFoundInRegistry(
            f"{what}: not found (404)", registry=registry, repository=repository, details=details
        )
    if code == 429 or code >= 500:
        return RegistryUnavailable(
            f"{what}: the registry answered {code} after the allowed retries",
            registry=registry,
            repository=repository,
            details=details,
        )
    return UnexpectedResponse(
        f"{what}: unexpected status {code}",
        registry=registry,
        repository=repository,
        status_code=code,
        details=details,
    )


class RegistrySession:
    """One registry's HTTP session: base URL, auth, the request loop."""

    def __init__(
        self,
        *,
        http: httpx.AsyncClient,
        base_url: str,
        registry: str,
        auth: RegistryAuth,
        options: ClientOptions,
    ) -> None:
        self.http = http
        self.base_url = base_url.rstrip("/")
        self.registry = registry
        self.auth = auth
        self.options = options
        self._host = urlsplit(self.base_url).netloc.lower()

    def url(self, path: str) -> str:
        return urljoin(self.base_url + "/", path.lstrip("/")) if not path.startswith("http") else path

    def _blob_host_allowed(self, host: str) -> bool:
        bare = host.split(":")[0].lower()
        return any(bare == s or bare.endswith("." + s.lstrip(".")) for s in self.options.blob_redirect_hosts)

    async def _pause(self, attempt: int, response: httpx.Response | None) -> None:
        wait = _retry_after(
            response.headers.get("Retry-After") if response is not None else None,
            cap=self.options.max_backoff,
        )
        if wait is None:
            wait = min(self.options.backoff_base * (2**attempt), self.options.max_backoff)
            wait *= 0.5 + random.random() / 2
        await asyncio.sleep(wait)

    async def send(
        self,
        method: str,
        path: str,
        *,
        repository: str | None,
        scopes: Iterable[str] = (),
        headers: dict[str, str] | None = None,
        params: dict[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] | None = None,
        blob_download: bool = False,
        stream: bool = False,
    ) -> httpx.Response:
        """Send a request, answering one auth challenge, following allowed redirects, retrying.

        Returns the final response (streamed when ``stream``; the caller closes it).  Status
        codes other than auth/redirect/retryable ones are returned for the caller to judge.

        Raises:
            AuthenticationFailed: credentials refused, or a 401 loop.
            RedirectRefused: too many redirects, a downgrade to HTTP, or a disallowed host.
            RegistryUnavailable: 429/5xx persisted through the retries.
            RegistryError: a transport failure (DNS, refused, TLS, timeout) - translated.
        """
        scope_tuple = tuple(scopes)
        url = self.url(path)
        replayable = not isinstance(content, AsyncIterator)
        authorization = await self.auth.preemptive(http=self.http, scopes=scope_tuple)
        answered_challenge = False
        redirects = 0
        attempt = 0
        current_method = method
        while True:
            target_host = urlsplit(url).netloc.lower()
            req_headers = dict(headers or {})
            if authorization and target_host == self._host:
                req_headers["Authorization"] = authorization
            request = self.http.build_request(
                current_method, url, headers=req_headers, params=params, content=content
            )
            try:
                response = await self.http.send(request, stream=True, follow_redirects=False)
            except (httpx.TransportError, ssl.SSLError) as exc:
                if (
                    replayable
                    and attempt < self.options.max_retries
                    and isinstance(exc, httpx.ReadTimeout | httpx.RemoteProtocolError)
                ):
                    await self._pause(attempt, None)
                    attempt += 1
                    continue
                raise translate_transport_error(exc, registry=self.registry, repository=repository) from None
            code = response.status_code
            if code in _REDIRECTS and "location" in response.headers:
                await response.aclose()
                redirects += 1
                if redirects > self.options.max_redirects:
                    raise RedirectRefused(
                        f"more than {self.options.max_redirects} redirects",
                        registry=self.registry,
                        repository=repository,
                    )
                new_url = urljoin(url, response.headers["location"])
                new = urlsplit(new_url)
                if urlsplit(url).scheme == "https" and new.scheme != "https":
                    raise RedirectRefused(
                        "a redirect tried to downgrade HTTPS to plain HTTP",
                        registry=self.registry,
                        repository=repository,
                    )
                if new.netloc.lower() != self._host and not (
                    blob_download and self._blob_host_allowed(new.netloc)
                ):
                    raise RedirectRefused(
                        f"refusing a redirect to another host ({new.netloc})",
                        registry=self.registry,
                        repository=repository,
                        details=["only blob downloads may be redirected, and only to allowed storage hosts"],
                    )
                if code == 303:
                    current_method, content = "GET", None
                url, params = new_url, None
                continue
            if code == 401 and target_host == self._host:
                www = response.headers.get("www-authenticate")
                await response.aread()
                await response.aclose()
                if answered_challenge:
                    try:
                        realm = next((c.realm for c in parse_www_authenticate(www or "") if c.realm), None)
                    except ValueError:
                        realm = None
                    raise AuthenticationFailed(
                        "the registry rejected the credentials (401 after authenticating)",
                        registry=self.registry,
                        repository=repository,
                        realm=realm,
                    )
                if not replayable:
                    raise AuthenticationFailed(
                        "authentication was required in the middle of a streamed upload",
                        registry=self.registry,
                        repository=repository,
                    )
                authorization = await self.auth.respond(
                    http=self.http, www_authenticate=www, scopes=scope_tuple, repository=repository
                )
                answered_challenge = True
                continue
            if (code == 429 or code >= 500) and replayable and attempt < self.options.max_retries:
                await response.aread()
                await response.aclose()
                await self._pause(attempt, response)
                attempt += 1
                continue
            if not stream:
                try:
                    await response.aread()
                except (httpx.TransportError, ssl.SSLError) as exc:
                    raise translate_transport_error(
                        exc, registry=self.registry, repository=repository
                    ) from None
                finally:
                    await response.aclose()
            return response
