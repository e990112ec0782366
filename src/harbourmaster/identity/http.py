"""The identity adapter over httpx: TLS verified, bounded timeouts, no redirects, bounded bodies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import httpx

from harbourmaster.identity.interface import ProviderUnreachable

__all__ = ["HttpxIdentityHttp"]

_TIMEOUT: Final = httpx.Timeout(10.0, connect=5.0)
_ACCEPT: Final = {"Accept": "application/json"}


class HttpxIdentityHttp:
    """One short-lived httpx client per exchange (sign-ins are rare)."""

    def __repr__(self) -> str:
        return "HttpxIdentityHttp()"

    def exchange(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        max_bytes: int,
    ) -> tuple[int, bytes]:
        try:
            with (
                httpx.Client(timeout=_TIMEOUT, verify=True, follow_redirects=False, trust_env=False) as http,
                http.stream(method, url, headers=_ACCEPT, data=data, auth=auth) as answer,
            ):
                body = b""
                for chunk in answer.iter_bytes():
                    body += chunk
                    if len(body) > max_bytes:
                        raise ProviderUnreachable(f"the answer is larger than {max_bytes} bytes")
                return answer.status_code, body
        except httpx.HTTPError as exc:
            raise ProviderUnreachable(type(exc).__name__) from None
