"""What the deployment service answers: :class:`DeploymentPublic` and :class:`DeploymentAccepted`."""

from __future__ import annotations

import datetime as dt
from typing import Any

from pydantic import BaseModel, ConfigDict

from harbourmaster.store.deployment_interface import DeploymentState, StoredDeployment

__all__ = ["DeployedImagePublic", "DeploymentAccepted", "DeploymentPublic"]


class DeployedImagePublic(BaseModel):
    """One image of a deployment: where it is named, what it was pinned to, and how it was pulled."""

    model_config = ConfigDict(frozen=True)

    #: The compose service or ``Kind/name`` of the workload.
    workload: str
    field_path: str
    image: str
    digest: str
    pinned: str
    registry: str
    #: The registry credential's user name, or None when pulled anonymously (never the secret).
    credential: str | None


class DeploymentPublic(BaseModel):
    """A deployment as kept: where, for whom, its images, its verdict, and how it went."""

    id: str
    name: str
    environment: str
    kind: str
    namespace: str | None
    user: str | None
    state: DeploymentState
    source: str
    content_sha256: str
    images: list[DeployedImagePublic]
    verdict_id: str
    options: dict[str, Any]
    result: Any = None
    error: str | None = None
    job_id: int | None = None
    created_by: str
    created_at: dt.datetime
    updated_at: dt.datetime
    #: ``show``: what the engine reports now (containers or services and their state); None when not asked.
    live: list[dict[str, Any]] | None = None
    #: ``show``: why the engine could not be asked.
    live_error: str | None = None

    @classmethod
    def of(cls, stored: StoredDeployment) -> DeploymentPublic:
        kubernetes = stored.kind == "kubernetes"
        return cls(
            id=stored.id,
            name=stored.name,
            environment=stored.environment,
            kind=stored.kind,
            namespace=stored.tenant if kubernetes else None,
            user=None if kubernetes else stored.tenant,
            state=stored.state,
            source=stored.source,
            content_sha256=stored.content_sha256,
            images=[DeployedImagePublic.model_validate(i) for i in stored.images],
            verdict_id=stored.verdict_id,
            options=stored.options,
            result=stored.result,
            error=stored.error,
            job_id=stored.job_id,
            created_by=stored.created_by,
            created_at=stored.created_at,
            updated_at=stored.updated_at,
        )


class DeploymentAccepted(BaseModel):
    """A deployment accepted for its background job (``POST .../deployments``: 202)."""

    deployment: DeploymentPublic
    job_id: int
