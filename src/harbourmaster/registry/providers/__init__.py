"""One credential provider per registry product; each implements
:class:`harbourmaster.registry.interface.CredentialProvider`."""

from __future__ import annotations

from harbourmaster.registry.auth import Anonymous, UsernamePassword
from harbourmaster.registry.providers.acr import Acr
from harbourmaster.registry.providers.dockerhub import DockerHub
from harbourmaster.registry.providers.ecr import Ecr, ecr_region
from harbourmaster.registry.providers.gar import Gar, ServiceAccountKeyError
from harbourmaster.registry.providers.ghcr import Ghcr
from harbourmaster.registry.providers.gitlab import GitLab
from harbourmaster.registry.providers.harbor import Harbor
from harbourmaster.registry.providers.proget import ProGet
from harbourmaster.registry.providers.quay import Quay

__all__ = [
    "Acr",
    "Anonymous",
    "DockerHub",
    "Ecr",
    "Gar",
    "Ghcr",
    "GitLab",
    "Harbor",
    "ProGet",
    "Quay",
    "ServiceAccountKeyError",
    "UsernamePassword",
    "ecr_region",
]
