"""Amazon ECR: an IAM access key exchanged for a 12-hour registry password, per region.

``GetAuthorizationToken`` is called with a SigV4-signed request.  The signer
is our own (:mod:`._sigv4`, from the AWS specification) even when botocore is
installed: botocore's signer reads the wall clock (ours is injectable, so the
refresh schedule is testable) and DEBUG-logs the canonical request, which holds
the session token.  Tests use botocore as the oracle for our signer.  The
token is refreshed ``refresh_margin`` seconds before it expires (default one
hour of its twelve), not when a pull first fails; :meth:`Ecr.refresh_due_at`
tells a scheduler when to refresh ahead of use.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
import time
from collections.abc import Callable

import httpx

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.errors import TokenExchangeFailed
from harbourmaster.registry.interface import CredentialProvider, RegistryCredentials
from harbourmaster.registry.providers._exchange import post_for_json
from harbourmaster.registry.providers._sigv4 import sign_v4

__all__ = ["Ecr", "ecr_region"]

_HOST_RE = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")
_REGION_RE = re.compile(r"^[a-z]{2}(?:-[a-z]+)+-\d$")
_TARGET = "AmazonEC2ContainerRegistry_V20150921.GetAuthorizationToken"


def ecr_region(host: str) -> str:
    """The AWS region of an ECR registry host (``<account>.dkr.ecr.<region>.amazonaws.com``).

    Raises:
        ValueError: the host is not an ECR registry host.
    """
    match = _HOST_RE.match(host.lower())
    if not match:
        raise ValueError(f"{host!r} is not an ECR registry host (<account>.dkr.ecr.<region>.amazonaws.com)")
    return match.group(1)


def _sign(
    *,
    url: str,
    headers: dict[str, str],
    body: bytes,
    key_id: str,
    secret: str,
    region: str,
    token: str | None,
    now: float,
) -> dict[str, str]:
    amz_date = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return sign_v4(
        method="POST",
        url=url,
        headers=headers,
        body=body,
        access_key_id=key_id,
        secret_access_key=secret,
        region=region,
        service="ecr",
        amz_date=amz_date,
        session_token=token,
    )


class Ecr(CredentialProvider):
    """ECR for one region, from an access key (and optional session token)."""

    name = "ecr"
    blob_redirect_hosts = frozenset({"amazonaws.com"})

    def __init__(
        self,
        *,
        access_key_id: str,
        secret_access_key: Secret,
        region: str,
        session_token: Secret | None = None,
        endpoint_url: str | None = None,
        refresh_margin: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Raises:
        ValueError: a malformed region or access key id.
        """
        if not _REGION_RE.match(region):
            raise ValueError(f"{region!r} is not an AWS region name")
        if not re.fullmatch(r"[A-Z0-9]{16,128}", access_key_id):
            raise ValueError("the AWS access key id must be 16-128 upper-case letters and digits")
        self.region = region
        self._key_id = access_key_id
        self._secret = secret_access_key
        self._token = session_token
        self.endpoint_url = endpoint_url or f"https://api.ecr.{region}.amazonaws.com/"
        self.refresh_margin = refresh_margin
        self._clock = clock
        self._cached: RegistryCredentials | None = None

    def __repr__(self) -> str:
        return f"Ecr(region={self.region!r}, access_key_id={self._key_id!r}, secret=<redacted>)"

    def refresh_due_at(self) -> float | None:
        """When the cached token should be replaced (epoch seconds), or ``None`` if none is cached."""
        if self._cached is None or self._cached.expires_at is None:
            return None
        return self._cached.expires_at - self.refresh_margin

    async def credentials(self, *, http: httpx.AsyncClient) -> RegistryCredentials | None:
        """User ``AWS`` and the registry password from ``GetAuthorizationToken``, refreshed early.

        Raises:
            TokenExchangeFailed: AWS refused the key or answered an unexpected shape.
        """
        due = self.refresh_due_at()
        if self._cached is not None and due is not None and self._clock() < due:
            return self._cached
        self._cached = await self._fetch(http)
        return self._cached

    async def _fetch(self, http: httpx.AsyncClient) -> RegistryCredentials:
        where = f"ECR {self.region}"
        body = b"{}"
        headers = {"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": _TARGET}
        signed = _sign(
            url=self.endpoint_url,
            headers=headers,
            body=body,
            key_id=self._key_id,
            secret=self._secret.reveal(),
            region=self.region,
            token=self._token.reveal() if self._token else None,
            now=self._clock(),
        )
        doc = await post_for_json(
            http,
            self.endpoint_url,
            registry=where,
            what="ECR GetAuthorizationToken",
            content=body,
            headers=signed,
        )
        try:
            data = doc["authorizationData"][0]
            decoded = base64.b64decode(data["authorizationToken"], validate=True).decode()
            expires_at = float(data["expiresAt"])
        except (KeyError, IndexError, TypeError, ValueError):
            raise TokenExchangeFailed(
                "ECR GetAuthorizationToken answered an unexpected shape", registry=where
            ) from None
        user, sep, password = decoded.partition(":")
        if not sep or not password:
            raise TokenExchangeFailed("ECR authorization token is not 'user:password'", registry=where)
        return RegistryCredentials(username=user, password=Secret(password), expires_at=expires_at)
