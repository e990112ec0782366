"""Azure Container Registry with a service principal, via the ACR token exchange.

1. Microsoft Entra ID (AAD): client-credentials grant -> AAD access token.
2. ``POST https://<registry>/oauth2/exchange`` (``grant_type=access_token``) -> ACR refresh token.
3. ``POST https://<registry>/oauth2/token`` (``grant_type=refresh_token``, ``scope``) -> access token
   for the requested repository scope.

The refresh token also works as the password of the all-zero GUID user for Basic auth.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.challenge import Challenge
from harbourmaster.registry.errors import TokenExchangeFailed
from harbourmaster.registry.interface import BearerToken, CredentialProvider, RegistryCredentials
from harbourmaster.registry.providers._exchange import jwt_expiry, post_for_json

__all__ = ["ACR_REFRESH_USER", "Acr"]

ACR_REFRESH_USER = "00000000-0000-0000-0000-000000000000"
_AAD_SCOPE = "https://containerregistry.azure.net/.default"


class Acr(CredentialProvider):
    """ACR from a service principal (tenant, client id, client secret)."""

    name = "acr"
    blob_redirect_hosts = frozenset({"blob.core.windows.net", "azurecr.io"})

    def __init__(
        self,
        *,
        registry: str,
        tenant_id: str,
        client_id: str,
        client_secret: Secret,
        registry_url: str | None = None,
        authority: str = "https://login.microsoftonline.com",
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self.registry_url = (registry_url or f"https://{registry}").rstrip("/")
        self.authority = authority.rstrip("/")
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._refresh: RegistryCredentials | None = None

    def __repr__(self) -> str:
        return f"Acr(registry={self.registry!r}, client_id={self.client_id!r}, secret=<redacted>)"

    def _fresh(self, expires_at: float | None) -> bool:
        return expires_at is not None and self._clock() < expires_at - self.refresh_margin

    async def credentials(self, *, http: httpx.AsyncClient) -> RegistryCredentials | None:
        """The ACR refresh token (as the all-zero GUID user's password), exchanged from AAD.

        Raises:
            TokenExchangeFailed: AAD or the registry's exchange endpoint refused.
        """
        if self._refresh is not None and self._fresh(self._refresh.expires_at):
            return self._refresh
        aad = await post_for_json(
            http,
            f"{self.authority}/{self.tenant_id}/oauth2/v2.0/token",
            registry=self.registry,
            what="Microsoft Entra ID token endpoint",
            data={
                "grant_type": "client_credentials",
                "client_id": self.client_id,
                "client_secret": self._secret.reveal(),
                "scope": _AAD_SCOPE,
            },
        )
        aad_token = aad.get("access_token")
        if not isinstance(aad_token, str) or not aad_token:
            raise TokenExchangeFailed("the Entra ID answer holds no access token", registry=self.registry)
        exchanged = await post_for_json(
            http,
            f"{self.registry_url}/oauth2/exchange",
            registry=self.registry,
            what="ACR /oauth2/exchange",
            data={
                "grant_type": "access_token",
                "service": self.registry,
                "tenant": self.tenant_id,
                "access_token": aad_token,
            },
        )
        refresh = exchanged.get("refresh_token")
        if not isinstance(refresh, str) or not refresh:
            raise TokenExchangeFailed(
                "ACR /oauth2/exchange answered no refresh token", registry=self.registry
            )
        expires = jwt_expiry(refresh) or self._clock() + 3 * 3600
        self._refresh = RegistryCredentials(
            username=ACR_REFRESH_USER, password=Secret(refresh), expires_at=expires
        )
        return self._refresh

    async def bearer_token(
        self, *, http: httpx.AsyncClient, challenge: Challenge, scopes: tuple[str, ...]
    ) -> BearerToken | None:
        """An ACR access token for ``scopes`` from ``POST /oauth2/token``.

        Raises:
            TokenExchangeFailed: the registry refused the refresh token.
        """
        creds = await self.credentials(http=http)
        assert creds is not None
        realm = challenge.realm or f"{self.registry_url}/oauth2/token"
        doc = await post_for_json(
            http,
            realm,
            registry=self.registry,
            what="ACR /oauth2/token",
            data={
                "grant_type": "refresh_token",
                "service": challenge.service or self.registry,
                "scope": " ".join(scopes),
                "refresh_token": creds.password.reveal(),
            },
        )
        token = doc.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenExchangeFailed("ACR /oauth2/token answered no access token", registry=self.registry)
        return BearerToken(value=Secret(token), expires_at=jwt_expiry(token) or self._clock() + 300)
