"""GitLab container registry with a deploy token or personal access token."""

from __future__ import annotations

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.providers._static import StaticTokenProvider

__all__ = ["GitLab"]


class GitLab(StaticTokenProvider):
    """GitLab: a deploy token (user ``gitlab+deploy-token-N``) or a user's PAT, exchanged at
    the instance's ``/jwt/auth`` realm.  Self-managed instances may redirect blobs to their
    object storage: list its host in ``blob_redirect_hosts``.
    """

    name = "gitlab"

    def __init__(
        self, username: str, token: Secret, *, blob_redirect_hosts: frozenset[str] = frozenset()
    ) -> None:
        super().__init__(username, token, blob_redirect_hosts=blob_redirect_hosts)
