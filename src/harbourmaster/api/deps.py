"""Dependencies shared by every route: the core, the caller, and role checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from harbourmaster.api.gate import PRINCIPAL_SCOPE_KEY
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.errors import Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import authenticate

__all__ = ["CoreDep", "CurrentPrincipal", "RequirePermission"]

_bearer = HTTPBearer(auto_error=False)


def _core(request: Request) -> Harbourmaster:
    hm: Harbourmaster = request.app.state.hm
    return hm


CoreDep = Annotated[Harbourmaster, Depends(_core)]


def _principal(
    request: Request,
    hm: CoreDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    # The request gate authenticated (and audited) this request already: once per request.
    gated = request.scope.get("state", {}).get(PRINCIPAL_SCOPE_KEY)
    if isinstance(gated, Principal):
        return gated
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
    # The route template, never the raw path: paths carry names chosen by users.
    route = getattr(request.scope.get("route"), "path", None)
    return authenticate(hm, credentials.credentials, method=request.method, route=route)


CurrentPrincipal = Annotated[Principal, Depends(_principal)]


def RequirePermission(permission: Permission) -> Callable[[Principal], Principal]:
    """A dependency that admits only callers whose role carries ``permission``."""

    def check(principal: CurrentPrincipal) -> Principal:
        require(principal, permission)
        return principal

    check.permission = permission  # type: ignore[attr-defined]
    return check
