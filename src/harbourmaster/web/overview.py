"""The overview: what there is, and what needs attention."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from starlette.responses import RedirectResponse, Response

from harbourmaster.errors import NotFound
from harbourmaster.services import governance_reads
from harbourmaster.services.credentials import expiring_credentials
from harbourmaster.web.access import core, viewing
from harbourmaster.web.pages import OVERVIEW, UI_PREFIX, Viewer, render
from harbourmaster.web.registries import EXPIRY_NOTICE
from harbourmaster.web.route import UiRoute

__all__ = ["not_found_router", "router"]

router = APIRouter(route_class=UiRoute, include_in_schema=False)
#: Mounted last: any other path under /ui is a 404 page.
not_found_router = APIRouter(route_class=UiRoute, include_in_schema=False)


@router.get(UI_PREFIX, include_in_schema=False)
def ui_root() -> Response:
    return RedirectResponse(OVERVIEW.path, status_code=307)


@router.get(OVERVIEW.path)
def overview_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(OVERVIEW.permission))]
                  ) -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    names = governance_reads.model_names(hm, principal)
    attention = expiring_credentials(hm, principal, within=EXPIRY_NOTICE)
    return render(request, viewer, "overview.html", {
        "page": OVERVIEW, "registries": len(names.registries), "environments": len(names.environments),
        "attention": attention, "notice_days": EXPIRY_NOTICE.days,
    })


@not_found_router.api_route(UI_PREFIX + "/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def not_found(rest: str) -> Response:
    raise NotFound("there is no such page in the web UI")
