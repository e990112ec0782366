"""Environments: the list (tier, kind, namespaces, access) and one environment with its grants (the
forms that change its grants and access: :mod:`harbourmaster.web.grants`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from harbourmaster.services import governance_reads
from harbourmaster.web.access import core, viewing
from harbourmaster.web.grants import environment_context
from harbourmaster.web.pages import ENVIRONMENTS, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["router"]

router = APIRouter(route_class=UiRoute, include_in_schema=False)


@router.get(ENVIRONMENTS.path)
def environments_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(ENVIRONMENTS.permission))]
                      ) -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    environments = governance_reads.list_environments(hm, principal)
    access = governance_reads.list_access(hm, principal)
    rows = [(env, [a for a in access if a.environment == env.name]) for env in environments]
    return render(request, viewer, "environments.html", {"page": ENVIRONMENTS, "rows": rows})


@router.get(ENVIRONMENTS.path + "/{name}")
def environment_page(request: Request, name: str,
                     viewer: Annotated[Viewer, Depends(viewing(ENVIRONMENTS.permission))],
                     changed: str = "") -> Response:
    # The page with its grant and access forms (shown only to a viewer who may use them).
    return render(request, viewer, "environment.html",
                  environment_context(core(request), viewer, name, changed=changed or None))
