"""Signatures and SBOMs of one image digest (reached by link from the vulnerabilities and decisions
pages): its stored SBOMs, each downloadable as stored, and its signatures verified against an
environment's policy (cached verdicts are used as the API uses them).

The SBOM list and download call the services of ``GET /sboms`` and ``GET /sboms/document``; verifying
calls the one of ``POST /signatures/verify`` with an environment, which refuses a team member outside its
environments.
"""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from harbourmaster.domain.authz import Permission
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.errors import Error
from harbourmaster.services import governance_reads
from harbourmaster.services.sbom_ops import stored_sbom_document, stored_sboms
from harbourmaster.services.signing import verify_image
from harbourmaster.supply.sbom import SbomFormat
from harbourmaster.web.access import Acting, acting, core, viewing
from harbourmaster.web.pages import UI_PREFIX, VULNERABILITIES, Page, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["ARTIFACTS", "VERIFY_PERMISSION", "router"]

#: One digest's page; not in the navigation (reached from the vulnerabilities and decisions pages).
ARTIFACTS: Final = Page("Signatures and SBOMs", f"{UI_PREFIX}/artifacts", Permission.GOVERNANCE_READ)
#: Verifying against an environment's signer policy, as ``POST /signatures/verify`` with an environment.
VERIFY_PERMISSION: Final = Permission.SIGNATURE_VERIFY
_DIGEST = r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]{32,256}$"
Digest = Annotated[str, Path(pattern=_DIGEST)]

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _reference(names: list[str], digest: str) -> str:
    """The image to verify: the repository an SBOM names it by, at ``digest`` ('' when none is known)."""
    for name in names:
        try:
            return f"{parse_reference(name).repository}@{digest}"
        except ReferenceError:
            continue
    return ""


def _page(request: Request, viewer: Viewer, digest: str, *, image: str = "", environment: str = "",
          verification: object = None, error: Error | None = None) -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    sboms = stored_sboms(hm, principal, image_digest=digest)
    environments = governance_reads.list_environments(hm, principal) if viewer.can(VERIFY_PERMISSION) else []
    return render(request, viewer, "artifacts.html", {
        "page": ARTIFACTS, "back": VULNERABILITIES, "digest": digest, "sboms": sboms,
        "image": image or _reference([s.image_name for s in sboms], digest),
        "environments": environments, "environment": environment, "verification": verification,
        "error": error, "verify_permission": VERIFY_PERMISSION,
    }, status=error.status if error is not None else 200)


@router.get(ARTIFACTS.path + "/{digest}")
def artifacts_page(request: Request, digest: Digest,
                   viewer: Annotated[Viewer, Depends(viewing(ARTIFACTS.permission))],
                   image: Annotated[str, Query(max_length=4096)] = "") -> Response:
    return _page(request, viewer, digest, image=image)


@router.get(ARTIFACTS.path + "/{digest}/sbom")
def sbom_download(request: Request, digest: Digest,
                  viewer: Annotated[Viewer, Depends(viewing(ARTIFACTS.permission))],
                  format: SbomFormat | None = None) -> Response:
    principal = viewer.principal
    assert principal is not None
    stored, text = stored_sbom_document(core(request), principal, image_digest=digest, fmt=format)
    name = f"sbom-{digest.replace(':', '-')[:80]}.{stored.format}.json"
    return Response(content=text, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.post(ARTIFACTS.path + "/{digest}/verify")
def verify(request: Request, digest: Digest, act: Annotated[Acting, Depends(acting(VERIFY_PERMISSION))]
           ) -> Response:
    principal = act.viewer.principal
    assert principal is not None
    image, environment = act.form.get("image").strip(), act.form.get("environment")
    try:
        result = verify_image(core(request), principal, image or digest, environment=environment or None)
    except Error as exc:  # the service's refusal or the registry's failure, beside the form
        return _page(request, act.viewer, digest, image=image, environment=environment, error=exc)
    return _page(request, act.viewer, digest, image=image, environment=environment, verification=result)
