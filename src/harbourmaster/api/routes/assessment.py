"""The maturity assessment: JSON, or the standalone HTML report with ``?format=html``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from fastapi.responses import HTMLResponse, JSONResponse, Response

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.services.assessment import assessment as assess_live
from harbourmaster.services.assessment_results import AssessmentPublic

router = APIRouter(prefix="/assessment", tags=["assessment"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]


@router.get(
    "",
    response_model=AssessmentPublic,
    responses={
        200: {
            "description": "The assessment (JSON), or with format=html the standalone HTML report",
            "content": {"text/html": {"schema": {"type": "string"}}},
        }
    },
)
def get_assessment(
    hm: CoreDep,
    principal: Reader,
    format: Annotated[Literal["json", "html"], Query(description="json (default) or html")] = "json",
    egress_restricted: Annotated[
        list[str], Query(description="Environments whose egress policy the caller attests")
    ] = [],  # noqa: B006 - FastAPI copies query defaults
) -> Response:
    """The live configuration against the key decisions Ch5-D-01..D-09 and maturity levels 1-4.  No
    webhook or pull gate is asked from here: their fingerprints show as not seen (the CLI's
    ``assess --webhook/--gate`` asks them)."""
    result = assess_live(hm, principal, egress_restricted=egress_restricted)
    if format == "html":
        return HTMLResponse(result.html())
    return JSONResponse(result.model_dump(mode="json"))
