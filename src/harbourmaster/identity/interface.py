"""The identity adapter's interface: one HTTP exchange with an OpenID provider, answered as its status
and body.  The service (:mod:`harbourmaster.services.web_oidc`) judges what the provider said."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from harbourmaster.errors import Error

__all__ = ["IdentityHttp", "ProviderUnreachable"]


class ProviderUnreachable(Error):
    """The provider did not answer (refused, TLS failure, timeout), or answered more than allowed."""

    status = 502
    kind = "identity-provider-unreachable"


class IdentityHttp(Protocol):
    def exchange(
        self,
        method: str,
        url: str,
        *,
        data: Mapping[str, str] | None = None,
        auth: tuple[str, str] | None = None,
        max_bytes: int,
    ) -> tuple[int, bytes]:
        """``(status, body)`` of one request (TLS verified, timeouts, no redirects followed).

        Raises:
            ProviderUnreachable: no answer, or a body over ``max_bytes`` (the message names the failure's
                kind only: never what was sent).
        """
        ...
