from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from harbourmaster.api.deps import CoreDep, CurrentPrincipal, RequirePermission
from harbourmaster.api.schemas import ChangePublic, TeamCreate, TeamPublic, UserCreate, UserPublic
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Team, User
from harbourmaster.services import governance, governance_reads

router = APIRouter(tags=["identities"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Admin = Annotated[Principal, Depends(RequirePermission(Permission.IDENTITY_WRITE))]


@router.get("/me", response_model=UserPublic)
def me(principal: CurrentPrincipal) -> UserPublic:
    return UserPublic(name=principal.name, role=principal.role.value)


@router.get("/users", response_model=list[UserPublic])
def list_users(hm: CoreDep, principal: Reader) -> list[UserPublic]:
    return governance_reads.list_users(hm, principal)


@router.put("/users/{name}", response_model=ChangePublic)
def put_user(name: str, body: UserCreate, hm: CoreDep, principal: Admin) -> ChangePublic:
    """Create the user, or change its role (decided in the write's transaction)."""
    return governance.put_user(hm, principal, User(name, body.role))


@router.delete("/users/{name}", response_model=ChangePublic)
def delete_user(name: str, hm: CoreDep, principal: Admin) -> ChangePublic:
    return governance.delete_user(hm, principal, name)


@router.get("/teams", response_model=list[TeamPublic])
def list_teams(hm: CoreDep, principal: Reader) -> list[TeamPublic]:
    return governance_reads.list_teams(hm, principal)


@router.put("/teams/{name}", response_model=ChangePublic)
def put_team(name: str, body: TeamCreate, hm: CoreDep, principal: Admin) -> ChangePublic:
    """Create the team, or replace its members (decided in the write's transaction)."""
    return governance.put_team(hm, principal, Team(name, tuple(body.members)))


@router.delete("/teams/{name}", response_model=ChangePublic)
def delete_team(name: str, hm: CoreDep, principal: Admin) -> ChangePublic:
    return governance.delete_team(hm, principal, name)
