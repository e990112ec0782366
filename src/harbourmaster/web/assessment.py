"""Assessment: the maturity report (key decisions D-01..D-09 and levels 1-4) inside the UI, and its
standalone HTML and JSON as downloads (what the API's ``/assessment`` and ``?format=html`` give).

Environments whose egress policy the viewer attests are chosen on the page (a GET form) and passed on
to the service, as the API's ``egress_restricted`` is; harbourmaster cannot see network policy."""

from __future__ import annotations

from typing import Annotated, Final

from fastapi import APIRouter, Depends, Query, Request
from starlette.responses import Response

from harbourmaster.services import governance_reads
from harbourmaster.services.assessment import assessment
from harbourmaster.services.assessment_results import AssessmentPublic
from harbourmaster.web.access import core, viewing
from harbourmaster.web.pages import ASSESSMENT, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["HTML_FILENAME", "JSON_FILENAME", "router"]

HTML_FILENAME: Final = "harbourmaster-assessment.html"
#: Lines of evidence and shortfalls the page shows per decision and control; the downloads hold them all.
SHOWN_LINES: Final = 25
JSON_FILENAME: Final = "harbourmaster-assessment.json"

router = APIRouter(route_class=UiRoute, include_in_schema=False)

_Egress = Annotated[list[str], Query()]


def _assess(request: Request, viewer: Viewer, egress_restricted: list[str]) -> AssessmentPublic:
    principal = viewer.principal
    assert principal is not None
    return assessment(core(request), principal, egress_restricted=egress_restricted)


def _download(body: str, *, media_type: str, filename: str) -> Response:
    return Response(body, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})


@router.get(ASSESSMENT.path)
def assessment_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(ASSESSMENT.permission))],
                    egress_restricted: _Egress = []  # noqa: B006 - FastAPI copies query defaults
                    ) -> Response:
    result = _assess(request, viewer, egress_restricted)  # NotFound: an unknown environment
    assert viewer.principal is not None
    environments = governance_reads.model_names(core(request), viewer.principal).environments
    return render(request, viewer, "assessment.html", {
        "page": ASSESSMENT, "a": result, "environments": environments, "attested": set(egress_restricted),
        "query": [("egress_restricted", name) for name in egress_restricted], "shown": SHOWN_LINES,
    })


@router.get(ASSESSMENT.path + "/report.html")
def assessment_html(request: Request, viewer: Annotated[Viewer, Depends(viewing(ASSESSMENT.permission))],
                    egress_restricted: _Egress = []  # noqa: B006 - FastAPI copies query defaults
                    ) -> Response:
    # A download: its inline style is the standalone report's own, not shown under the UI's policy.
    html = _assess(request, viewer, egress_restricted).html()
    return _download(html, media_type="text/html; charset=utf-8", filename=HTML_FILENAME)


@router.get(ASSESSMENT.path + "/report.json")
def assessment_json(request: Request, viewer: Annotated[Viewer, Depends(viewing(ASSESSMENT.permission))],
                    egress_restricted: _Egress = []  # noqa: B006 - FastAPI copies query defaults
                    ) -> Response:
    body = _assess(request, viewer, egress_restricted).model_dump_json(indent=2)
    return _download(body, media_type="application/json", filename=JSON_FILENAME)
