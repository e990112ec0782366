from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import ChangePublic, EnvironmentCreate, EnvironmentPublic, EnvironmentUpdate
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Environment
from harbourmaster.services import governance, governance_reads

router = APIRouter(prefix="/environments", tags=["environments"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]


@router.get("", response_model=list[EnvironmentPublic])
def list_environments(hm: CoreDep, principal: Reader) -> list[EnvironmentPublic]:
    return governance_reads.list_environments(hm, principal)


@router.get("/{name}", response_model=EnvironmentPublic)
def get_environment(name: str, hm: CoreDep, principal: Reader) -> EnvironmentPublic:
    return governance_reads.environment(hm, principal, name)  # NotFound names the closest environment


@router.post("", response_model=EnvironmentPublic, status_code=201)
def create_environment(body: EnvironmentCreate, hm: CoreDep, principal: Writer) -> EnvironmentPublic:
    env = Environment(
        body.name,
        body.kind,
        body.tier,
        body.group,
        tuple(body.namespaces),
        body.hide_dockerhub_anonymous,
        admission=body.admission,
        failure_policy=body.failure_policy,
    )
    governance.put_environment(hm, principal, env, create=True)
    return governance_reads.environment(hm, principal, body.name)


@router.patch("/{name}", response_model=EnvironmentPublic)
def update_environment(
    name: str, body: EnvironmentUpdate, hm: CoreDep, principal: Writer
) -> EnvironmentPublic:
    governance.update_environment(hm, principal, name, **body.model_dump(exclude_unset=True))
    return governance_reads.environment(hm, principal, name)


@router.delete("/{name}", response_model=ChangePublic)
def delete_environment(name: str, hm: CoreDep, principal: Writer) -> ChangePublic:
    return governance.delete_environment(hm, principal, name)
