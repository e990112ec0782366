from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import AccessBody, ChangePublic, GrantBody, GrantPublic, TierPublic, TierUpdate
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import AccessEntry, RegistryGrant, Tier
from harbourmaster.services import governance
from harbourmaster.services.views import access_view, grant_view, tier_view

router = APIRouter(tags=["grants"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
Writer = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_WRITE))]


def _change(change: Any) -> dict[str, Any]:
    return {"revision": change.revision, "changes": list(change.changes)}


@router.get("/grants", response_model=list[GrantPublic])
def list_grants(hm: CoreDep, _p: Reader) -> list[dict[str, Any]]:
    return [grant_view(g) for g in hm.state().grants]


@router.post("/grants", response_model=ChangePublic, status_code=201)
def add_grant(body: GrantBody, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    return _change(governance.add_grant(hm, principal, RegistryGrant(**body.model_dump())))


@router.post("/grants/delete", response_model=ChangePublic)
def remove_grant(body: GrantBody, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    return _change(governance.remove_grant(hm, principal, RegistryGrant(**body.model_dump())))


@router.get("/access", response_model=list[AccessBody])
def list_access(hm: CoreDep, _p: Reader) -> list[dict[str, Any]]:
    return [access_view(a) for a in hm.state().access]


@router.post("/access", response_model=ChangePublic, status_code=201)
def add_access(body: AccessBody, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    return _change(governance.add_access(hm, principal, AccessEntry(**body.model_dump())))


@router.post("/access/delete", response_model=ChangePublic)
def remove_access(body: AccessBody, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    return _change(governance.remove_access(hm, principal, AccessEntry(**body.model_dump())))


@router.get("/tiers", response_model=list[TierPublic])
def list_tiers(hm: CoreDep, _p: Reader) -> list[dict[str, Any]]:
    return [tier_view(p) for _, p in sorted(hm.state().tiers.items())]


@router.patch("/tiers/{tier}", response_model=ChangePublic)
def update_tier(tier: Tier, body: TierUpdate, hm: CoreDep, principal: Writer) -> dict[str, Any]:
    return _change(governance.update_tier(hm, principal, tier, **body.model_dump(exclude_none=True)))
