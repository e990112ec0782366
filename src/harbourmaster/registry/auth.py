"""The generic authentication flows: anonymous, basic, and the bearer-token flow.

:class:`RegistryAuth` answers a registry's ``401`` challenge.  For ``Basic`` it
sends the provider's user name and password; for ``Bearer`` it asks the
challenge's ``realm`` for a token (``GET realm?service=..&scope=..``, with the
credentials as Basic auth when there are any), or lets the provider obtain one
its own way, and caches each token per (realm, service, scopes) until shortly
before it expires.  After the first challenge it remembers the scheme, so
later requests carry a token for their scope without another round trip.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.challenge import Challenge, parse_www_authenticate
from harbourmaster.registry.errors import AuthenticationFailed, TokenExchangeFailed, translate_transport_error
from harbourmaster.registry.interface import BearerToken, CredentialProvider, RegistryCredentials

__all__ = ["Anonymous", "RegistryAuth", "UsernamePassword", "basic_header"]

#: The distribution token spec's default lifetime when ``expires_in`` is absent.
DEFAULT_TOKEN_SECONDS = 60


def basic_header(credentials: RegistryCredentials) -> str:
    """The ``Authorization`` value for HTTP Basic auth with ``credentials``."""
    raw = f"{credentials.username}:{credentials.password.reveal()}".encode()
    return "Basic " + base64.b64encode(raw).decode("ascii")


class Anonymous(CredentialProvider):
    """No credentials: public registries, and anonymous bearer tokens."""

    name = "anonymous"

    async def credentials(self, *, http: httpx.AsyncClient) -> RegistryCredentials | None:
        del http
        return None


class UsernamePassword(CredentialProvider):
    """A fixed user name and password (htpasswd, or any provider's PAT/robot token)."""

    name = "basic"

    def __init__(self, username: str, password: Secret) -> None:
        if not username or ":" in username:
            raise ValueError("a registry user name must be non-empty and must not contain ':'")
        self._credentials = RegistryCredentials(username=username, password=password)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(username={self._credentials.username!r}, password=<redacted>)"

    async def credentials(self, *, http: httpx.AsyncClient) -> RegistryCredentials | None:
        del http
        return self._credentials


@dataclass(frozen=True)
class _Remembered:
    scheme: str
    challenge: Challenge


def _parse_issued_at(text: object) -> float | None:
    if not isinstance(text, str):
        return None
    try:
        return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


class RegistryAuth:
    """Answers authentication challenges for one registry, caching bearer tokens per scope."""

    def __init__(
        self,
        provider: CredentialProvider,
        *,
        registry: str,
        registry_scheme: str = "https",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.provider = provider
        self.registry = registry
        self._registry_scheme = registry_scheme
        self._clock = clock
        self._tokens: dict[tuple[str, str, tuple[str, ...]], BearerToken] = {}
        self._remembered: _Remembered | None = None

    def __repr__(self) -> str:
        return f"RegistryAuth(registry={self.registry!r}, provider={self.provider.name!r})"

    async def _creds(self, http: httpx.AsyncClient) -> RegistryCredentials | None:
        # Providers cache (and refresh ahead of expiry) themselves; ask every time.
        return await self.provider.credentials(http=http)

    async def preemptive(self, *, http: httpx.AsyncClient, scopes: tuple[str, ...]) -> str | None:
        """The ``Authorization`` value to send before any challenge, if the scheme is known."""
        remembered = self._remembered
        if remembered is None:
            return None
        if remembered.scheme == "basic":
            creds = await self._creds(http)
            return basic_header(creds) if creds else None
        token = await self._bearer(http=http, challenge=remembered.challenge, scopes=scopes, repository=None)
        return f"Bearer {token.value.reveal()}"

    async def respond(
        self,
        *,
        http: httpx.AsyncClient,
        www_authenticate: str | None,
        scopes: tuple[str, ...],
        repository: str | None,
    ) -> str:
        """The ``Authorization`` value answering a 401's challenge.

        Raises:
            AuthenticationFailed: no usable challenge, or credentials are needed and absent.
            TokenExchangeFailed: the token endpoint refused or answered nonsense.
        """
        if not www_authenticate:
            raise AuthenticationFailed(
                "401 without a WWW-Authenticate challenge", registry=self.registry, repository=repository
            )
        try:
            challenges = parse_www_authenticate(www_authenticate)
        except ValueError as exc:
            raise AuthenticationFailed(
                f"malformed WWW-Authenticate header ({exc})", registry=self.registry, repository=repository
            ) from None
        by_scheme = {c.scheme: c for c in challenges}
        if "bearer" in by_scheme and by_scheme["bearer"].realm:
            challenge = by_scheme["bearer"]
            wanted = tuple(sorted(set(scopes) | set(challenge.scopes)))
            self._remembered = _Remembered("bearer", challenge)
            token = await self._bearer(
                http=http, challenge=challenge, scopes=wanted, repository=repository, fresh=True
            )
            self._tokens[self._key(challenge, scopes)] = token
            return f"Bearer {token.value.reveal()}"
        if "basic" in by_scheme:
            creds = await self._creds(http)
            if creds is None:
                raise AuthenticationFailed(
                    "the registry requires credentials and none are configured",
                    registry=self.registry,
                    repository=repository,
                    realm=by_scheme["basic"].realm,
                )
            self._remembered = _Remembered("basic", by_scheme["basic"])
            return basic_header(creds)
        schemes = ", ".join(sorted(by_scheme)) or "none"
        raise AuthenticationFailed(
            f"unsupported authentication scheme(s): {schemes}", registry=self.registry, repository=repository
        )

    @staticmethod
    def _key(challenge: Challenge, scopes: tuple[str, ...]) -> tuple[str, str, tuple[str, ...]]:
        return (challenge.realm or "", challenge.service or "", tuple(sorted(set(scopes))))

    async def _bearer(
        self,
        *,
        http: httpx.AsyncClient,
        challenge: Challenge,
        scopes: tuple[str, ...],
        repository: str | None,
        fresh: bool = False,
    ) -> BearerToken:
        key = self._key(challenge, scopes)
        cached = self._tokens.get(key)
        if cached is not None and not fresh and cached.usable(now=self._clock()):
            return cached
        token = await self.provider.bearer_token(http=http, challenge=challenge, scopes=key[2])
        if token is None:
            token = await self._fetch_token(
                http=http, challenge=challenge, scopes=key[2], repository=repository
            )
        self._tokens[key] = token
        return token

    async def _fetch_token(
        self,
        *,
        http: httpx.AsyncClient,
        challenge: Challenge,
        scopes: tuple[str, ...],
        repository: str | None,
    ) -> BearerToken:
        realm = challenge.realm or ""
        parts = urlsplit(realm)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise TokenExchangeFailed(
                f"token realm {realm!r} is not an http(s) URL",
                registry=self.registry,
                repository=repository,
                realm=realm,
            )
        creds = await self._creds(http)
        if creds is not None and parts.scheme == "http" and self._registry_scheme == "https":
            raise TokenExchangeFailed(
                "refusing to send credentials to a plain-HTTP token realm of an HTTPS registry",
                registry=self.registry,
                repository=repository,
                realm=realm,
            )
        params: list[tuple[str, str]] = []
        if challenge.service:
            params.append(("service", challenge.service))
        params.extend(("scope", s) for s in scopes)
        headers = {"Authorization": basic_header(creds)} if creds else {}
        try:
            response = await http.get(realm, params=tuple(params), headers=headers, follow_redirects=False)
        except (httpx.TransportError, ssl.SSLError) as exc:
            raise translate_transport_error(exc, registry=self.registry, repository=repository) from None
        if response.status_code in (401, 403):
            raise AuthenticationFailed(
                f"the token service refused the credentials ({response.status_code})",
                registry=self.registry,
                repository=repository,
                realm=realm,
            )
        if response.status_code != 200:
            raise TokenExchangeFailed(
                f"the token service answered {response.status_code}",
                registry=self.registry,
                repository=repository,
                realm=realm,
            )
        try:
            doc = json.loads(response.content)
        except (UnicodeDecodeError, json.JSONDecodeError):
            doc = None
        value = (doc.get("token") or doc.get("access_token")) if isinstance(doc, dict) else None
        if not isinstance(value, str) or not value:
            raise TokenExchangeFailed(
                "the token service's answer holds no token",
                registry=self.registry,
                repository=repository,
                realm=realm,
            )
        assert isinstance(doc, dict)
        lifetime = doc.get("expires_in")
        if not isinstance(lifetime, int | float) or isinstance(lifetime, bool) or lifetime <= 0:
            lifetime = DEFAULT_TOKEN_SECONDS
        issued = _parse_issued_at(doc.get("issued_at"))
        start = min(issued, self._clock()) if issued is not None else self._clock()
        return BearerToken(value=Secret(value), expires_at=start + float(lifetime))
