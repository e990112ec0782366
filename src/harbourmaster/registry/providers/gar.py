"""Google Artifact Registry (and GCR) with a service-account JSON key.

The key signs a JWT (RS256) asserting the service account; Google's token
endpoint exchanges it (OAuth 2.0 JWT bearer grant, RFC 7523) for an access
token, which the registry accepts as the password of ``oauth2accesstoken``.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput
from harbourmaster.registry.errors import TokenExchangeFailed
from harbourmaster.registry.interface import CredentialProvider, RegistryCredentials
from harbourmaster.registry.providers._exchange import post_for_json

__all__ = ["CLOUD_PLATFORM_SCOPE", "Gar", "ServiceAccountKeyError"]

CLOUD_PLATFORM_SCOPE = "https://www.googleapis.com/auth/cloud-platform"
_GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"


class ServiceAccountKeyError(BadInput):
    """The service-account key is not a usable JSON key (the message never quotes it)."""

    kind = "gar-service-account-key"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Gar(CredentialProvider):
    """Artifact Registry from a service-account key (the JSON file's text, as a Secret)."""

    name = "gar"
    blob_redirect_hosts = frozenset({"storage.googleapis.com", "googleusercontent.com"})

    def __init__(
        self,
        service_account_key: Secret,
        *,
        scope: str = CLOUD_PLATFORM_SCOPE,
        token_uri: str | None = None,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Raises:
        ServiceAccountKeyError: not JSON, not a service-account key, or a bad private key.
        """
        try:
            doc = json.loads(service_account_key.reveal())
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise ServiceAccountKeyError("the service-account key is not valid JSON") from None
        if not isinstance(doc, dict) or doc.get("type") != "service_account":
            raise ServiceAccountKeyError(
                "the key is not a service-account key (type must be 'service_account')"
            )
        missing = [
            f for f in ("client_email", "private_key") if not isinstance(doc.get(f), str) or not doc[f]
        ]
        if missing:
            raise ServiceAccountKeyError(f"the service-account key lacks {', '.join(missing)}")
        try:
            key = serialization.load_pem_private_key(doc["private_key"].encode(), password=None)
        except (ValueError, TypeError):
            raise ServiceAccountKeyError(
                "the service-account key's private_key is not a PEM private key"
            ) from None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ServiceAccountKeyError("the service-account key's private_key is not an RSA key")
        self._key = key
        self.client_email: str = doc["client_email"]
        self._key_id = doc.get("private_key_id") if isinstance(doc.get("private_key_id"), str) else None
        self.token_uri: str = token_uri or doc.get("token_uri") or "https://oauth2.googleapis.com/token"
        self.scope = scope
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._cached: RegistryCredentials | None = None

    def __repr__(self) -> str:
        return f"Gar(client_email={self.client_email!r}, key=<redacted>)"

    def assertion(self) -> str:
        """A signed JWT asserting the service account, valid for one hour."""
        now = int(self._clock())
        header = {"alg": "RS256", "typ": "JWT", **({"kid": self._key_id} if self._key_id else {})}
        claims = {
            "iss": self.client_email,
            "scope": self.scope,
            "aud": self.token_uri,
            "iat": now,
            "exp": now + 3600,
        }
        signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        signature = self._key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{_b64url(signature)}"

    async def credentials(self, *, http: httpx.AsyncClient) -> RegistryCredentials | None:
        """User ``oauth2accesstoken`` with a fresh access token (cached until near expiry).

        Raises:
            TokenExchangeFailed: the token endpoint refused the assertion or answered nonsense.
        """
        cached = self._cached
        if (
            cached is not None
            and cached.expires_at is not None
            and self._clock() < cached.expires_at - self.refresh_margin
        ):
            return cached
        where = f"GAR ({self.client_email})"
        doc = await post_for_json(
            http,
            self.token_uri,
            registry=where,
            what="Google OAuth token endpoint",
            data={"grant_type": _GRANT, "assertion": self.assertion()},
        )
        token, lifetime = doc.get("access_token"), doc.get("expires_in", 3600)
        if not isinstance(token, str) or not token or not isinstance(lifetime, int | float):
            raise TokenExchangeFailed(
                "the Google token endpoint's answer holds no access token", registry=where
            )
        self._cached = RegistryCredentials(
            username="oauth2accesstoken", password=Secret(token), expires_at=self._clock() + float(lifetime)
        )
        return self._cached
