"""The security overview: what the kept scans say of the deployed image digests (totals by severity, the
most affected images, filtered by advisory, package and registry), which stored images an advisory
affects (answered from the SBOM store's purl index and the advisory database), and the CVE allowlist
with each entry's expiry.

Every surface calls these with the signed-in principal; they read only, and each requires
``governance.read``.  Deployments are those the principal may see
(:func:`harbourmaster.services.deployments.list_deployments`: a team member, those on environments it
has access to).  Kept scans hold findings as matched: the allowlist and the tier are applied when a
verdict is taken, so the totals count every matched finding.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.findings import Finding
from harbourmaster.domain.severity import Severity
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.correlation import affected_components
from harbourmaster.services.deployments import list_deployments
from harbourmaster.services.supply_results import AffectedRepositoryPublic
from harbourmaster.store.deployment_interface import DeploymentState

__all__ = [
    "SEVERITIES",
    "AdvisoryImagePublic",
    "AdvisoryImpactPublic",
    "AllowlistEntryPublic",
    "OverviewImagePublic",
    "SecurityOverviewPublic",
    "allowlist_entries",
    "images_affected_by",
    "security_overview",
]

#: Severities from the worst down, as the overview lists them.
SEVERITIES = tuple(sorted(Severity, key=lambda s: s.rank, reverse=True))
#: Deployments whose images count as deployed.
_LIVE = frozenset({DeploymentState.DEPLOYED, DeploymentState.DEPLOYING})


class OverviewImagePublic(BaseModel):
    """One deployed image digest: where it runs, and its kept scan's findings (as filtered)."""

    image_digest: str
    images: list[str]
    registries: list[str]
    environments: list[str]
    scanned_at: dt.datetime | None
    #: Findings per severity (``Critical`` → n); empty when the digest has no kept scan.
    counts: dict[str, int]
    findings: int
    #: The advisory ids found (at most 20, worst first).
    advisories: list[str]


class SecurityOverviewPublic(BaseModel):
    """Totals by severity across the deployed digests, and the most affected of them."""

    cve: str | None
    package: str | None
    registry: str | None
    deployed: int
    scanned: int
    totals: dict[str, int]
    #: The most affected digests first (only those with a finding that passes the filters).
    images: list[OverviewImagePublic]
    #: Deployed digests with no kept scan (not judged by vulnerabilities until scanned).
    unscanned: list[str]


class AdvisoryImagePublic(BaseModel):
    """A stored image an advisory affects, with the packages that make it so."""

    image_digest: str
    image_name: str
    repositories: list[AffectedRepositoryPublic]
    packages: list[str]


class AdvisoryImpactPublic(BaseModel):
    """Which stored images an advisory (by id or alias) affects; ``known`` False when the advisory
    database has no advisory by that name (import it first)."""

    query: str
    known: bool
    advisories: list[str]
    summary: str
    severity: str | None
    images: list[AdvisoryImagePublic]


class AllowlistEntryPublic(BaseModel):
    advisory: str
    registry: str | None
    expires: dt.date
    reason: str
    expired: bool
    #: Days until it expires (0: its last day; negative: how long ago it expired).
    days_left: int


def _matches(finding: Finding, *, cve: str | None, package: str | None) -> bool:
    if cve and cve.upper() not in {n.upper() for n in finding.names}:
        return False
    return not package or finding.package.name.lower() == package.lower()


def security_overview(
    hm: Harbourmaster,
    principal: Principal,
    *,
    cve: str | None = None,
    package: str | None = None,
    registry: str | None = None,
    limit: int = 20,
) -> SecurityOverviewPublic:
    """The kept scans of the digests deployed (where ``principal`` may see), filtered by advisory id or
    alias (``cve``), package name and registry; the ``limit`` most affected digests.

    Raises:
        Forbidden: ``principal`` may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    cve, package, registry = (v.strip() or None if v else None for v in (cve, package, registry))
    places: dict[str, tuple[set[str], set[str], set[str]]] = {}
    for deployment in list_deployments(hm, principal):
        if deployment.state not in _LIVE:
            continue
        for image in deployment.images:
            if registry and image.registry != registry:
                continue
            names, registries, environments = places.setdefault(image.digest, (set(), set(), set()))
            names.add(image.image)
            registries.add(image.registry)
            environments.add(deployment.environment)
    with hm.store.read() as tx:
        kept = tx.scans.latest(sorted(places))
    totals = {s.value: 0 for s in SEVERITIES}
    rows: list[OverviewImagePublic] = []
    for digest, (names, registries, environments) in sorted(places.items()):
        scan = kept.get(digest)
        if scan is None:
            continue
        found = [f for f in scan.findings if _matches(f, cve=cve, package=package)]
        counts: dict[str, int] = {}
        for finding in found:
            counts[finding.severity.value] = counts.get(finding.severity.value, 0) + 1
            totals[finding.severity.value] += 1
        if not found:
            continue
        worst = sorted(found, key=lambda f: f.severity.rank, reverse=True)
        rows.append(OverviewImagePublic(
            image_digest=digest, images=sorted(names), registries=sorted(registries),
            environments=sorted(environments), scanned_at=scan.scanned_at, counts=counts,
            findings=len(found), advisories=list(dict.fromkeys(f.id for f in worst))[:20],
        ))
    rows.sort(key=lambda r: ([-r.counts.get(s.value, 0) for s in SEVERITIES], r.image_digest))
    return SecurityOverviewPublic(
        cve=cve, package=package, registry=registry, deployed=len(places),
        scanned=sum(1 for d in places if d in kept), totals=totals, images=rows[:limit],
        unscanned=sorted(d for d in places if d not in kept),
    )


def images_affected_by(hm: Harbourmaster, principal: Principal, advisory: str) -> AdvisoryImpactPublic:
    """The stored images (SBOMs in the store) that ``advisory`` (an id or alias, e.g. a CVE id) affects,
    found on the purl index as an import's correlation finds them, each with every repository and tag
    its digest was seen under.

    Raises:
        Forbidden: ``principal`` may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    query = advisory.strip()
    with hm.store.read() as tx:
        entries = list(tx.advisories.affected_by_name(query)) if query else []
        pairs = list(affected_components(tx, entries))
        images = tx.sboms.images({comp.sbom_id for _, comp in pairs})
        names = tx.sboms.names({image.image_digest for image in images})
    by_sbom = {image.sbom_id: image for image in images}
    packages: dict[str, set[str]] = {}
    image_names: dict[str, str] = {}
    for _, comp in pairs:
        image = by_sbom.get(comp.sbom_id)
        if image is not None:
            packages.setdefault(image.image_digest, set()).add(comp.purl)
            image_names.setdefault(image.image_digest, image.image_name)
    out = []
    for digest in sorted(packages):
        tags: dict[str, list[str]] = {}
        for seen in names.get(digest, []):
            tags.setdefault(seen.repository, [])
            if seen.tag:
                tags[seen.repository].append(seen.tag)
        repositories = [
            AffectedRepositoryPublic(repository=repo, tags=sorted(t)) for repo, t in sorted(tags.items())
        ]
        out.append(AdvisoryImagePublic(
            image_digest=digest, image_name=image_names[digest], packages=sorted(packages[digest]),
            repositories=repositories,
        ))
    worst = max((e.severity for e in entries), key=lambda s: s.rank, default=None)
    return AdvisoryImpactPublic(
        query=query, known=bool(entries), advisories=sorted({e.advisory_id for e in entries}),
        summary=next((e.summary for e in entries if e.summary), ""),
        severity=None if worst is None else worst.value, images=out,
    )


def allowlist_entries(hm: Harbourmaster, principal: Principal) -> list[AllowlistEntryPublic]:
    """Every CVE allowlist entry with its expiry (expired ones too, marked), soonest to expire first.

    Raises:
        Forbidden: ``principal`` may not read governance data.
    """
    require(principal, Permission.GOVERNANCE_READ)
    today = hm.today()
    return sorted(
        (
            AllowlistEntryPublic(
                advisory=e.advisory, registry=e.registry, expires=e.expires, reason=e.reason,
                expired=not e.active(today), days_left=(e.expires - today).days,
            )
            for e in hm.state().allowlist
        ),
        key=lambda e: (e.expires, e.advisory, e.registry or ""),
    )
