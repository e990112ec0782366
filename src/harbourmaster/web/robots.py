"""A managed Harbor's robot accounts: the list (names, permissions, generations, expiry; never a secret),
"Sync with Harbor" (and its preview) and "Rotate" for each robot, each answered with what it did or why
it was refused, above the list as it now stands.

The services decide everything: :func:`~harbourmaster.services.robot_listing.managed_robots` reads,
:func:`~harbourmaster.services.harbor_sync.harbor_sync` and
:func:`~harbourmaster.services.robot_rotation.rotate_credential` act (as ``harbourmaster harbor sync`` and
``harbourmaster credentials rotate NAME --robot R`` do).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.errors import BadInput, Error, Forbidden, NotFound, Unauthenticated
from harbourmaster.registry import RegistryError
from harbourmaster.services import harbor_sync, robot_listing, robot_rotation
from harbourmaster.web.access import Acting, acting, core, viewing
from harbourmaster.web.pages import REGISTRIES, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["LIST_PERMISSION", "ROTATE_PERMISSION", "SYNC_PERMISSION", "router"]

#: The robots' names and times are governance data.
LIST_PERMISSION: Final = Permission.GOVERNANCE_READ
#: What ``harbor_sync`` requires (the model's robots and project made real in Harbor).
SYNC_PERMISSION: Final = Permission.GOVERNANCE_WRITE
#: What ``rotate_credential`` requires.
ROTATE_PERMISSION: Final = Permission.GOVERNANCE_WRITE

_PATH = REGISTRIES.path + "/{name}/robots"

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _refused(exc: Error) -> bool:
    """Whether ``exc`` is about the caller or the registry's name (a page of its own), not the action."""
    if isinstance(exc, (Forbidden, Unauthenticated)):
        return True
    return isinstance(exc, NotFound) and not isinstance(exc, RegistryError)


def _page(request: Request, viewer: Viewer, name: str, outcome: dict[str, Any] | None = None) -> Response:
    principal = viewer.principal
    assert principal is not None
    listing = robot_listing.managed_robots(core(request), principal, name)
    return render(request, viewer, "registry_robots.html", {
        "page": REGISTRIES, "name": listing.registry, "listing": listing,
        "sync_permission": SYNC_PERMISSION, "rotate_permission": ROTATE_PERMISSION,
        "outcome": outcome,
    })


async def _run(principal: Principal, action: Callable[[Principal], Any]) -> tuple[Any, Error | None]:
    """``action``'s result, or the error that refused it (errors about the caller are raised)."""
    try:
        return await to_thread.run_sync(action, principal), None
    except Error as exc:
        if _refused(exc):
            raise
        return None, exc


@router.get(_PATH)
def robots_page(request: Request, name: str, viewer: Annotated[Viewer, Depends(viewing(LIST_PERMISSION))]
                ) -> Response:
    return _page(request, viewer, name)


@router.post(_PATH + "/sync")
async def sync(request: Request, name: str, act: Annotated[Acting, Depends(acting(SYNC_PERMISSION))]
               ) -> Response:
    principal = act.viewer.principal
    assert principal is not None
    dry_run = act.form.get("dry_run") == "yes"
    hm = core(request)
    result, failure = await _run(principal, lambda p: harbor_sync.harbor_sync(hm, p, name, dry_run=dry_run))
    outcome = {"kind": "sync", "dry_run": dry_run, "result": result, "failure": failure}
    return await to_thread.run_sync(_page, request, act.viewer, name, outcome)


@router.post(_PATH + "/rotate")
async def rotate(request: Request, name: str, act: Annotated[Acting, Depends(acting(ROTATE_PERMISSION))]
                 ) -> Response:
    principal = act.viewer.principal
    assert principal is not None
    robot = act.form.get("robot").strip()
    refresh = act.form.get("refresh") == "on"
    hm = core(request)
    result: robot_rotation.RotationPublic | None = None
    failure: Error | None = None if robot else BadInput("choose the robot to rotate")
    if robot:
        result, failure = await _run(principal, lambda p: robot_rotation.rotate_credential(
            hm, p, name, robot=robot, refresh=refresh))
    outcome = {"kind": "rotate", "robot": robot, "refresh": refresh, "result": result, "failure": failure}
    return await to_thread.run_sync(_page, request, act.viewer, name, outcome)
