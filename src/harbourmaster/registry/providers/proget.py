"""Inedo ProGet with an API key."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.providers._static import StaticTokenProvider

__all__ = ["ProGet"]


class ProGet(StaticTokenProvider):
    """ProGet: an API key, presented as the password of the user ``api``."""

    name = "proget"

    def __init__(self, api_key: Secret) -> None:
        super().__init__("api", api_key)
