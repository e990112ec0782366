"""Browse a registry: its repositories, a repository's tags, then an image, with what harbourmaster holds
about its digest (kept scan, cached signature verifications, stored SBOMs).

A registry that cannot be browsed (unreachable, refusing the credential, no catalog, no such repository)
is an answer of its own, explained on the page like a failed connection test: the page worked, the
registry did not.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Request
from starlette.responses import Response

from harbourmaster.domain.authz import Permission
from harbourmaster.errors import Error, Forbidden, NotFound, Unauthenticated
from harbourmaster.registry import RegistryError
from harbourmaster.services import registry_browse
from harbourmaster.services.digest_status import digest_status
from harbourmaster.services.registry_browse import CatalogUnavailable
from harbourmaster.web.access import core, viewing
from harbourmaster.web.pages import REGISTRIES, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["BROWSE_PERMISSION", "STATUS_PERMISSION", "router"]

#: Browsing asks the registry with its stored credential: what the API's browse requires.
BROWSE_PERMISSION: Final = Permission.REGISTRY_PROBE
#: A digest's kept scan, signatures and SBOMs are governance data.
STATUS_PERMISSION: Final = Permission.GOVERNANCE_READ

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _refused(exc: Error) -> bool:
    """Whether ``exc`` is about the caller or the registry's name (a page of its own), not the browse."""
    if isinstance(exc, (Forbidden, Unauthenticated)):
        return True
    return isinstance(exc, NotFound) and not isinstance(exc, RegistryError)


@router.get(REGISTRIES.path + "/{name}/browse")
def browse_page(request: Request, name: str, viewer: Annotated[Viewer, Depends(viewing(BROWSE_PERMISSION))],
                repository: str = "", reference: str = "") -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    repository, reference = repository.strip(), reference.strip()
    result = status = None
    failure: Error | None = None
    no_catalog = False
    try:
        result = registry_browse.browse(hm, principal, name, repository or None, reference or None)
    except CatalogUnavailable as exc:
        no_catalog, failure = True, exc
    except Error as exc:
        if _refused(exc):
            raise
        failure = exc
    image = result.image if result is not None else None
    if image is not None and result is not None and result.repository and viewer.can(STATUS_PERMISSION):
        status = digest_status(hm, principal, registry=name, repository=result.repository,
                               digest=image.digest)
    return render(request, viewer, "registry_browse.html", {
        "page": REGISTRIES, "name": name, "repository": repository, "reference": reference,
        "result": result, "status": status, "failure": failure, "no_catalog": no_catalog,
        "browse_path": f"{REGISTRIES.path}/{name}/browse",
    })
