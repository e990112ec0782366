from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import ChangePublic, EnvironmentCreate, EnvironmentPublic, EnvironmentUpdate
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Environment
from harbourmaster.services import governance
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.views import environment_view

router = APIRouter(prefix="/environments", tags=["environments"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]


def _get(hm: CoreDep, name: str) -> Environment:
    return named_environment(hm.snapshot(), name)  # NotFound names the closest environment


@router.get("", response_model=list[EnvironmentPublic])
def list_environments(hm: CoreDep, _p: Reader) -> list[dict[str, Any]]:
    return [environment_view(e) for e in hm.state().environments]


@router.get("/{name}", response_model=EnvironmentPublic)
def get_environment(name: str, hm: CoreDep, _p: Reader) -> dict[str, Any]:
    return environment_view(_get(hm, name))


@router.post("", response_model=EnvironmentPublic, status_code=201)
def create_environment(body: EnvironmentCreate, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    env = Environment(
        body.name, body.kind, body.tier, body.group, tuple(body.namespaces), body.hide_dockerhub_anonymous
    )
    governance.put_environment(hm, principal, env, create=True)
    return environment_view(_get(hm, body.name))


@router.patch("/{name}", response_model=EnvironmentPublic)
def update_environment(name: str, body: EnvironmentUpdate, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    current = _get(hm, name)
    changes = body.model_dump(exclude_unset=True)
    if "namespaces" in changes:
        changes["namespaces"] = tuple(changes["namespaces"] or ())
    env = Environment(
        **{
            **environment_view(current),
            **changes,
            "namespaces": changes.get("namespaces", current.namespaces),
            "kind": changes.get("kind", current.kind),
            "tier": changes.get("tier", current.tier),
        }
    )
    governance.put_environment(hm, principal, env, create=False)
    return environment_view(_get(hm, name))


@router.delete("/{name}", response_model=ChangePublic)
def delete_environment(name: str, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    change = governance.delete_environment(hm, principal, name)
    return {"revision": change.revision, "changes": list(change.changes)}
