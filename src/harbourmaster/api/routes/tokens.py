"""API bearer tokens: create (shown once), list (metadata only), revoke."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.api.schemas import TokenCreate, TokenInfoPublic, TokenPublic
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.errors import BadInput
from harbourmaster.services.tokens import issue_node_token, issue_token, list_tokens, revoke_token

__all__ = ["router"]

router = APIRouter(prefix="/tokens", tags=["tokens"])

Creator = Annotated[Principal, Depends(RequirePermission(Permission.TOKEN_CREATE))]
TokenAdmin = Annotated[Principal, Depends(RequirePermission(Permission.TOKEN_ADMIN))]


@router.post("", response_model=TokenPublic, status_code=201)
def create(body: TokenCreate, hm: CoreDep, principal: Creator) -> TokenPublic:
    """A bearer token for ``user``, or for Kubernetes ``node`` of ``environment`` (it may only ask for
    that environment's pull credentials): in this response only.  It expires after 90 days by default."""
    lifetime = dt.timedelta(days=body.expires_in_days) if body.expires_in_days is not None else None
    if body.node is not None or body.environment is not None:
        if body.user is not None or body.node is None or body.environment is None:
            raise BadInput("a node token names node and environment, and no user")
        issued = issue_node_token(
            hm, principal, node=body.node, environment=body.environment, name=body.name, lifetime=lifetime
        )
    elif body.user is None:
        raise BadInput("name the user the token acts as (user), or a node and its environment")
    else:
        issued = issue_token(hm, principal, user=body.user, name=body.name or "api", lifetime=lifetime)
    return TokenPublic(
        id=issued.id,
        user=issued.user,
        name=issued.name,
        token=issued.token.reveal(),
        expires_at=issued.expires_at,
        node=issued.node,
        environment=issued.environment,
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
