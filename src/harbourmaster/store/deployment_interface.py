"""The deployment repository's interface: what harbourmaster deployed (implemented by
:mod:`harbourmaster.store.deployments`; the service is :mod:`harbourmaster.services.deployments`)."""

from __future__ import annotations

import datetime as dt
import enum
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

__all__ = ["DeploymentRepository", "DeploymentState", "StoredDeployment"]


class DeploymentState(enum.StrEnum):
    """Where a deployment is: queued for its job, being deployed, deployed, failed, or removed."""

    QUEUED = "queued"
    DEPLOYING = "deploying"
    DEPLOYED = "deployed"
    FAILED = "failed"
    REMOVED = "removed"


@dataclass(frozen=True, kw_only=True)
class StoredDeployment:
    """One deployment: a name within an environment and tenant (namespace or user), the content as
    deployed, each image pinned with the registry and credential name it was pulled with (never a
    secret), the verdict it went out under, and how it went."""

    id: str
    name: str
    environment: str
    kind: str
    tenant: str
    state: DeploymentState
    source: str
    content: str = field(repr=False)
    content_sha256: str
    images: list[dict[str, Any]]
    verdict_id: str
    options: dict[str, Any]
    result: Any
    error: str | None
    job_id: int | None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime


class DeploymentRepository(ABC):
    """Deployments, one row each, unique by (environment, tenant, name)."""

    @abstractmethod
    def save(self, deployment: StoredDeployment) -> None:
        """Keep ``deployment``, replacing the row with its id."""

    @abstractmethod
    def get(self, deployment_id: str) -> StoredDeployment | None:
        """The deployment with that id."""

    @abstractmethod
    def find(self, *, environment: str, tenant: str, name: str) -> StoredDeployment | None:
        """The deployment named ``name`` in ``environment`` for ``tenant``."""

    @abstractmethod
    def list(self, *, environment: str | None = None) -> list[StoredDeployment]:
        """Every deployment (in ``environment``), oldest first."""
