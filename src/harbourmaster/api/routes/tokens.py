"""API bearer tokens: create (shown once), list (metadata only), revoke."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import TokenCreate, TokenInfoPublic, TokenPublic
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.services.tokens import issue_token, list_tokens, revoke_token

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])

Creator = Annotated[Principal, Depends(RequirePermission(Permission.TOKEN_CREATE))]
TokenAdmin = Annotated[Principal, Depends(RequirePermission(Permission.TOKEN_ADMIN))]


@router.post("", response_model=TokenPublic, status_code=201)
def create(body: TokenCreate, hm: CoreDep, principal: Creator) -> TokenPublic:
    """A bearer token for ``user``: in this response only.  It expires after 90 days by default."""
    lifetime = dt.timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None
    issued = issue_token(hm, principal, user=body.user, name=body.name, lifetime=lifetime)
    return TokenPublic(
        id=issued.id,
        user=issued.user,
        name=issued.name,
        token=issued.token.reveal(),
        expires_at=issued.expires_at,
    )


@router.get("", response_model=list[TokenInfoPublic])
def index(
    hm: CoreDep, principal: TokenAdmin, user: Annotated[str | None, Query(min_length=1)] = None
) -> list[TokenInfoPublic]:
    """Every token (or one user's): id, user, name, created, expires, revoked, last used."""
    return list_tokens(hm, principal, user=user)


@router.delete("/{token_id}", response_model=TokenInfoPublic)
def revoke(
    hm: CoreDep, principal: TokenAdmin, token_id: Annotated[int, Path(ge=1, le=2**62)]
) -> TokenInfoPublic:
    """Revoke a token: every later use is refused (and audited as refused)."""
    return revoke_token(hm, principal, token_id=token_id)
