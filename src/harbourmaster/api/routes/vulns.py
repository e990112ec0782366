"""The advisory database, scans and continuous correlation over HTTP."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from harbourmaster.api.deps import CoreDep, RequirePermission
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Tier
from harbourmaster.services.scans import scan_document
from harbourmaster.services.supply_results import (
    AffectedImagePublic,
    ScanResultPublic,
    VulnDbStatusPublic,
    VulnImportPublic,
)
from harbourmaster.services.vulns import (
    affected_since,
    import_vulndb,
    parse_since,
    vulndb_state,
)
from harbourmaster.supply.advisories import OsvRecords
from harbourmaster.supply.scan import OutputFormat

__all__ = ["router"]

router = APIRouter(tags=["vulnerabilities"])

Reader = Annotated[Principal, Depends(RequirePermission(Permission.GOVERNANCE_READ))]
VulnDbWriter = Annotated[Principal, Depends(RequirePermission(Permission.VULNDB_WRITE))]

#: Records per request; larger exports are imported from a file with the CLI.
MAX_RECORDS = 10_000


class AdvisoryRecordsCreate(BaseModel):
    """OSV records to import (each an OSV JSON object)."""

    records: list[Any] = Field(max_length=MAX_RECORDS)
    strict: bool = False


class ScanCreate(BaseModel):
    """An SBOM (CycloneDX or SPDX JSON) or a Trivy/Grype JSON report, as text, and how to judge it."""

    document: str = Field(min_length=2, max_length=64 * 1024 * 1024)
    environment: str | None = None
    #: Judge by a tier's thresholds instead (CI jobs with no environment).
    tier: Tier | None = None
    image: str | None = Field(default=None, max_length=4096)
    vex: list[str] = Field(default_factory=list, max_length=32)
    format: Literal["json", "sarif", "cyclonedx-vex"] = "json"
























@router.get("/vulndb/status", response_model=VulnDbStatusPublic)
def status(hm: CoreDep, principal: Reader) -> VulnDbStatusPublic:
    """Advisories per ecosystem, the last import time and the newest record."""
    return vulndb_state(hm, principal)


@router.post("/vulndb/records", response_model=VulnImportPublic)
def import_records(body: AdvisoryRecordsCreate, hm: CoreDep, principal: VulnDbWriter) -> VulnImportPublic:
    """Import OSV records (incremental by id and modified), then report newly affected stored images."""
    source = OsvRecords(body.records, description="request.records")
    return import_vulndb(hm, principal, source=source, strict=body.strict)


@router.post("/scans", response_model=ScanResultPublic | dict[str, Any])
def scan(body: ScanCreate, hm: CoreDep, principal: Reader) -> Any:
    """Scan an SBOM, or judge a scanner report, optionally for an environment's tier."""
    vex = [(f"request.vex[{i}]", text) for i, text in enumerate(body.vex)]
    result = scan_document(
        hm,
        principal,
        document=body.document,
        where="request.document",
        environment=body.environment,
        tier=body.tier,
        vex=vex,
        image=body.image,
    )
    if body.format == "json":
        return result
    return json.loads(result.render(OutputFormat(body.format)))


@router.get("/vulns/affected", response_model=list[AffectedImagePublic])
def affected(
    hm: CoreDep, principal: Reader, since: Annotated[str, Query(min_length=1, max_length=64)] = "7d"
) -> list[AffectedImagePublic]:
    """Image digests newly affected by imported advisories since a time or a duration back from now, each
    with every registry repository and tag it was seen under."""
    return affected_since(hm, principal, since=parse_since(since))
