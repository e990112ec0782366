"""GitHub Container Registry with a personal access token (``read:packages``)."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.providers._static import StaticTokenProvider

__all__ = ["GHCR_HOST", "Ghcr"]

GHCR_HOST = "ghcr.io"


class Ghcr(StaticTokenProvider):
    """GHCR: GitHub user name and PAT.  GHCR has no catalog endpoint (``catalog`` raises
    :class:`~harbourmaster.registry.errors.NotFoundInRegistry`); browse by repository instead.
    Blobs come from ``pkg-containers.githubusercontent.com``.
    """

    name = "ghcr"
    blob_redirect_hosts = frozenset({"githubusercontent.com"})

    def __init__(self, username: str, token: Secret) -> None:
        super().__init__(username, token)
