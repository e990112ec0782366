"""Deployments: ``POST /environments/{environment}/deployments`` judges the content at once and answers
``202 Accepted`` with the deployment and its job (``Location``: the job); ``GET /deployments[/{id}]``
reads them, ``DELETE /deployments/{id}`` removes what one runs.

Deploying needs ``deployment.write`` (administrators, platform engineers, team members where they
have access and, on Docker and Swarm, as themselves); reading needs ``governance.read``.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.routes.jobs import ACCEPTED, JOB_ROUTE
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.services.deployment_results import DeploymentAccepted, DeploymentPublic
from harbourmaster.services.deployments import (
    list_deployments,
    remove_deployment,
    request_deployment,
    show_deployment,
)

__all__ = ["router"]

router = APIRouter(tags=["deployments"])

Deployer = Annotated[Principal, Depends(RequirePermission(Permission.DEPLOY))]
Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
DeploymentId = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[a-z0-9-]+$")]


class DeploymentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: A compose file (Docker, Swarm) or Kubernetes objects (YAML), as text.
    content: str = Field(min_length=1, max_length=10 * 1024 * 1024)
    namespace: str | None = Field(default=None, max_length=253)
    user: str | None = Field(default=None, max_length=255)
    name: str | None = Field(default=None, max_length=63)
    #: Named in messages and the audit log as the content's source.
    source: str = Field(default="request", min_length=1, max_length=255)
    registry_auth_retention: Literal["keep", "none"] = "keep"


@router.post(
    "/environments/{environment}/deployments",
    response_model=DeploymentAccepted,
    status_code=202,
    responses=ACCEPTED,
)
def deploy(
    environment: Annotated[str, Path(min_length=1, max_length=128)],
    body: DeploymentBody,
    request: Request,
    response: Response,
    hm: CoreDep,
    principal: Deployer,
) -> DeploymentAccepted:
    """Judge every image of the content for the namespace or user (a denied one: 403 with the reasons,
    nothing deployed), pin them to their digests, and queue the deployment's job."""
    accepted = request_deployment(
        hm,
        principal,
        environment=environment,
        text=body.content,
        source=body.source,
        namespace=body.namespace,
        user=body.user,
        name=body.name,
        retention=body.registry_auth_retention,
    )
    response.headers["Location"] = str(request.app.url_path_for(JOB_ROUTE, job_id=accepted.job_id))
    return accepted


@router.get("/deployments", response_model=list[DeploymentPublic])
def listing(
    hm: CoreDep,
    principal: Reader,
    environment: Annotated[str | None, Query(min_length=1, max_length=128)] = None,
) -> list[DeploymentPublic]:
    """Every deployment the caller may see (team members: on their environments)."""
    return list_deployments(hm, principal, environment=environment)


@router.get("/deployments/{deployment}", response_model=DeploymentPublic)
def show(hm: CoreDep, principal: Reader, deployment: DeploymentId) -> DeploymentPublic:
    """One deployment, with what its Docker engine or Swarm runs now."""
    return show_deployment(hm, principal, deployment)


@router.delete("/deployments/{deployment}", response_model=DeploymentPublic)
def remove(hm: CoreDep, principal: Deployer, deployment: DeploymentId) -> DeploymentPublic:
    """Remove what the deployment runs (named volumes are kept)."""
    return remove_deployment(hm, principal, deployment)
