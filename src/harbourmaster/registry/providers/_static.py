"""Providers whose credential is a fixed user name and token (PATs, robots, API keys)."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.auth import UsernamePassword

__all__ = ["StaticTokenProvider"]


class StaticTokenProvider(UsernamePassword):
    """A user name and token, used for Basic auth and at the registry's token endpoint."""

    def __init__(
        self, username: str, token: Secret, *, blob_redirect_hosts: frozenset[str] | None = None
    ) -> None:
        super().__init__(username, token)
        if blob_redirect_hosts is not None:
            self.blob_redirect_hosts = frozenset(blob_redirect_hosts)
