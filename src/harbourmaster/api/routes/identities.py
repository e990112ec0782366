from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from harbourmaster.api.deps import CoreDep, CurrentPrincipal, RequirePermission
from harbourmaster.api.schemas import ChangePublic, TeamCreate, TeamPublic, UserCreate, UserPublic
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Team, User
from harbourmaster.services import governance
from harbourmaster.services.views import team_view, user_view

router = APIRouter(tags=["identities"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Admin = Annotated[Principal, Depends(RequirePermission(Permission.IDENTITY_WRITE))]


@router.get("/me", response_model=UserPublic)
def me(principal: CurrentPrincipal) -> dict[str, Any]:
    return {"name": principal.name, "role": principal.role.value}


@router.get("/users", response_model=list[UserPublic])
def list_users(hm: CoreDep, _p: Reader) -> list[dict[str, Any]]:
    return [user_view(u) for u in hm.state().users]


@router.put("/users/{name}", response_model=ChangePublic)
def put_user(name: str, body: UserCreate, hm: CoreDep, principal: Admin) -> dict[str, Any]:
    exists = any(u.name == name for u in hm.state().users)
    change = governance.put_user(hm, principal, User(name, body.role), create=not exists)
    return {"revision": change.revision, "changes": list(change.changes)}


@router.delete("/users/{name}", response_model=ChangePublic)
def delete_user(name: str, hm: CoreDep, principal: Admin) -> dict[str, Any]:
    change = governance.delete_user(hm, principal, name)
    return {"revision": change.revision, "changes": list(change.changes)}


@router.get("/teams", response_model=list[TeamPublic])
def list_teams(hm: CoreDep, _p: Reader) -> list[dict[str, Any]]:
    return [team_view(t) for t in hm.state().teams]


@router.put("/teams/{name}", response_model=ChangePublic)
def put_team(name: str, body: TeamCreate, hm: CoreDep, principal: Admin) -> dict[str, Any]:
    exists = any(t.name == name for t in hm.state().teams)
    change = governance.put_team(hm, principal, Team(name, tuple(body.members)), create=not exists)
    return {"revision": change.revision, "changes": list(change.changes)}


@router.delete("/teams/{name}", response_model=ChangePublic)
def delete_team(name: str, hm: CoreDep, principal: Admin) -> dict[str, Any]:
    change = governance.delete_team(hm, principal, name)
    return {"revision": change.revision, "changes": list(change.changes)}
