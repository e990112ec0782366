"""Docker Hub with a personal access token."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.providers._static import StaticTokenProvider

__all__ = ["DOCKER_HUB_HOST", "DockerHub"]

#: The registry host behind ``docker.io`` references.
DOCKER_HUB_HOST = "registry-1.docker.io"


class DockerHub(StaticTokenProvider):
    """Docker Hub: the account's user name and a PAT, exchanged at ``auth.docker.io`` for tokens.

    Blobs are served from Docker's CDN (``*.docker.com``), to which redirects are allowed.
    """

    name = "dockerhub"
    blob_redirect_hosts = frozenset({"docker.com", "docker.io"})

    def __init__(self, username: str, token: Secret) -> None:
        super().__init__(username, token)
