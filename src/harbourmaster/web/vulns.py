"""Vulnerabilities: the security overview of the deployed digests (filtered by advisory, package and
registry with GET parameters, so the filters work without JavaScript), which stored images an advisory
affects (from the purl index), and the CVE allowlist with expiry.

Each page calls :mod:`harbourmaster.services.security_overview` with the signed-in principal.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from harbourmaster.services import governance_reads
from harbourmaster.services.security_overview import (
    SEVERITIES,
    allowlist_entries,
    images_affected_by,
    security_overview,
)
from harbourmaster.web.access import core, viewing
from harbourmaster.web.pages import VULNERABILITIES, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["AFFECTED_PATH", "ALLOWLIST_PATH", "router"]

AFFECTED_PATH = VULNERABILITIES.path + "/affected"
ALLOWLIST_PATH = VULNERABILITIES.path + "/allowlist"
_Filter = Annotated[str, Query(max_length=256)]

router = APIRouter(route_class=UiRoute, include_in_schema=False)
Reader = Annotated[Viewer, Depends(viewing(VULNERABILITIES.permission))]


def _sections() -> list[tuple[str, str]]:
    return [(VULNERABILITIES.path, "Security overview"), (AFFECTED_PATH, "Images an advisory affects"),
            (ALLOWLIST_PATH, "Allowlist")]


@router.get(VULNERABILITIES.path)
def overview_page(request: Request, viewer: Reader, cve: _Filter = "", package: _Filter = "",
                  registry: _Filter = "") -> Response:
    hm, principal = core(request), viewer.principal
    assert principal is not None
    overview = security_overview(hm, principal, cve=cve, package=package, registry=registry)
    registries = governance_reads.model_names(hm, principal).registries
    return render(request, viewer, "vulns.html", {
        "page": VULNERABILITIES, "sections": _sections(), "overview": overview,
        "severities": [s.value for s in SEVERITIES], "registries": registries,
        "filters": {"cve": cve, "package": package, "registry": registry},
    })


@router.get(AFFECTED_PATH)
def affected_page(request: Request, viewer: Reader, advisory: _Filter = "") -> Response:
    principal = viewer.principal
    assert principal is not None
    impact = images_affected_by(core(request), principal, advisory) if advisory.strip() else None
    return render(request, viewer, "vulns_affected.html", {
        "page": VULNERABILITIES, "sections": _sections(), "advisory": advisory, "impact": impact,
    })


@router.get(ALLOWLIST_PATH)
def allowlist_page(request: Request, viewer: Reader) -> Response:
    principal = viewer.principal
    assert principal is not None
    entries = allowlist_entries(core(request), principal)
    return render(request, viewer, "vulns_allowlist.html",
                  {"page": VULNERABILITIES, "sections": _sections(), "entries": entries})
