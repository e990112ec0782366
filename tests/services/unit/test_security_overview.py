"""The security overview on the fakes: deployed digests ranked by their kept scans' worst findings, the
images an advisory affects found by alias on the purl index with the repositories and tags they were
seen under, the allowlist's expiry, and who may read them."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest

from harbourmaster.domain.authz import NodeRole, Principal
from harbourmaster.domain.findings import Finding
from harbourmaster.domain.model import Role
from harbourmaster.domain.severity import Severity
from harbourmaster.errors import Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.security_overview import (
    allowlist_entries,
    images_affected_by,
    security_overview,
)
from harbourmaster.services.vulns import import_vulndb
from harbourmaster.store.deployment_interface import DeploymentState, StoredDeployment
from harbourmaster.store.values import StoredScan
from harbourmaster.supply.advisories.osv import OsvRecords
from harbourmaster.supply.sbom import SbomFormat
from tests._helpers import critical_finding
from tests.fakes.clock import FixedClock
from tests.services.test_sboms import DIGEST, sample
from tests.services.unit._example import apply_example
from tests.supply.advisories._osv import CVSS_HIGH, fixed_at, record

ADMIN = Principal("admin", Role.ADMINISTRATOR)
NODE = Principal("node-1", NodeRole.NODE)
OPENSSL = record("DSA-5532-1", "Debian:12", "openssl", events=fixed_at("3.0.11-1~deb12u3"), cvss=CVSS_HIGH,
                 aliases=["CVE-2023-5678"])


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _deploy(unit: Harbourmaster, digest: str, *findings: Finding, registry: str = "harbor-payments") -> None:
    now = unit.clock.now()
    image = {"workload": "Deployment/api", "field_path": "image", "image": f"harbor.corp/x:{digest[-4:]}",
             "digest": digest, "pinned": f"harbor.corp/x@{digest}", "registry": registry, "credential": None}
    with unit.store.transaction() as tx:
        tx.deployments.save(StoredDeployment(
            id=digest[-8:], name=digest[-8:], environment="prod-eu", kind="kubernetes", tenant="payments",
            state=DeploymentState.DEPLOYED, source="t", content="", content_sha256="0" * 64, images=[image],
            verdict_id="v", options={}, result=None, error=None, job_id=None, created_by="t",
            created_at=now, updated_at=now,
        ))
        if findings:
            tx.scans.record(StoredScan(image_digest=digest, image_name=image["image"], scanned_at=now,
                                       components=1, findings=findings, origin="registry"))


def test_the_most_affected_digest_comes_first_and_unscanned_ones_are_listed(applied: Harbourmaster) -> None:
    high = dataclasses.replace(critical_finding("CVE-2026-0002"), severity=Severity.HIGH)
    _deploy(applied, "sha256:" + "1" * 64, high, high)
    _deploy(applied, "sha256:" + "2" * 64, critical_finding("CVE-2026-0001"), registry="harbor-web")
    _deploy(applied, "sha256:" + "3" * 64)
    overview = security_overview(applied, ADMIN)
    assert [i.image_digest[-1] for i in overview.images] == ["2", "1"]
    assert (overview.totals["Critical"], overview.totals["High"]) == (1, 2)
    assert (overview.deployed, overview.scanned, overview.unscanned) == (3, 2, ["sha256:" + "3" * 64])
    only_web = security_overview(applied, ADMIN, registry="harbor-web")
    assert [i.image_digest[-1] for i in only_web.images] == ["2"] and only_web.deployed == 1


def test_an_advisory_is_found_by_alias_with_the_repositories_its_images_were_seen_under(
    applied: Harbourmaster,
) -> None:
    store_sbom(applied, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    with applied.store.transaction() as tx:
        tx.sboms.record_name(image_digest=DIGEST, repository="harbor.corp/payments/api", tag="1",
                             seen_at=applied.clock.now())
    import_vulndb(applied, ADMIN, source=OsvRecords([OPENSSL], description="unit"))
    impact = images_affected_by(applied, ADMIN, " cve-2023-5678 ")
    assert impact.known and impact.advisories == ["DSA-5532-1"] and impact.severity == "High"
    (image,) = impact.images
    assert image.image_digest == DIGEST
    assert [(r.repository, r.tags) for r in image.repositories] == [("harbor.corp/payments/api", ["1"])]
    assert images_affected_by(applied, ADMIN, "CVE-0000-0000").known is False


def test_allowlist_entries_are_marked_expired_after_their_last_day(applied: Harbourmaster,
                                                                   clock: FixedClock) -> None:
    (entry,) = allowlist_entries(applied, ADMIN)
    assert (entry.advisory, entry.registry, entry.expired) == ("CVE-2023-4911", "harbor-payments", False)
    clock.set(dt.datetime(2027, 3, 31, 23, tzinfo=dt.UTC))
    (last_day,) = allowlist_entries(applied, ADMIN)
    assert last_day.days_left == 0 and not last_day.expired
    clock.set(dt.datetime(2027, 4, 1, 1, tzinfo=dt.UTC))
    assert allowlist_entries(applied, ADMIN)[0].expired


def test_a_node_may_read_none_of_it(applied: Harbourmaster) -> None:
    for read in (lambda: security_overview(applied, NODE), lambda: images_affected_by(applied, NODE, "x"),
                 lambda: allowlist_entries(applied, NODE)):
        with pytest.raises(Forbidden):
            read()
