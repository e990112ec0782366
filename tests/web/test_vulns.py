"""Vulnerabilities: the security overview of deployed digests (totals by severity, most affected images,
filters by advisory, package and registry as GET parameters), the images an imported advisory affects
found by CVE id on the purl index, and the allowlist with expiry; each role sees what it may."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.security_overview import images_affected_by, security_overview
from harbourmaster.services.vulns import import_vulndb
from harbourmaster.store.deployment_interface import DeploymentState, StoredDeployment
from harbourmaster.store.values import StoredScan
from harbourmaster.supply.advisories.osv import OsvRecords
from harbourmaster.supply.sbom import SbomFormat
from harbourmaster.web.pages import VULNERABILITIES
from harbourmaster.web.vulns import AFFECTED_PATH, ALLOWLIST_PATH
from tests._helpers import critical_finding
from tests.fakes.clock import FixedClock
from tests.services.test_sboms import DIGEST, sample
from tests.supply.advisories._osv import CVSS_HIGH, fixed_at, record
from tests.web.conftest import CANARIES, ROLE_USERS, Web

ADMIN = Principal("admin", Role.ADMINISTRATOR)
OPENSSL = record("DSA-5532-1", "Debian:12", "openssl", events=fixed_at("3.0.11-1~deb12u3"), cvss=CVSS_HIGH,
                 aliases=["CVE-2023-5678"])
DEPLOYED = "sha256:" + "ef" * 32


def _deploy(hm: Harbourmaster, digest: str, *, environment: str = "prod-eu",
            registry: str = "harbor-payments", state: DeploymentState = DeploymentState.DEPLOYED) -> None:
    now = hm.clock.now()
    image = {"workload": "Deployment/api", "field_path": "spec.template.spec.containers[0].image",
             "image": "harbor.corp/payments/api:2.0", "digest": digest,
             "pinned": f"harbor.corp/payments/api@{digest}", "registry": registry, "credential": None}
    with hm.store.transaction() as tx:
        tx.deployments.save(StoredDeployment(
            id=f"dep-{digest[-6:]}-{environment}", name="api", environment=environment, kind="kubernetes",
            tenant="payments", state=state, source="test", content="", content_sha256="0" * 64,
            images=[image], verdict_id="v", options={}, result=None, error=None, job_id=None,
            created_by="test", created_at=now, updated_at=now,
        ))
        tx.scans.record(StoredScan(image_digest=digest, image_name=image["image"], scanned_at=now,
                                   components=3, findings=(critical_finding("CVE-2026-7777"),),
                                   origin="registry"))


@pytest.fixture
def deployed(web: Web) -> str:
    _deploy(web.hm, DEPLOYED)
    return DEPLOYED


def test_the_overview_totals_the_deployed_digests_findings_by_severity(web: Web, deployed: str) -> None:
    web.sign_in("auditor")
    html = web.client.get(VULNERABILITIES.path).text
    assert '<span class="count">1</span> Critical' in html
    assert '<span class="count">0</span> High' in html
    assert "1 deployed digest, 1 with a kept scan" in html
    assert f'href="/ui/artifacts/{deployed}"' in html
    assert 'href="/ui/vulnerabilities/affected?advisory=CVE-2026-7777"' in html


@pytest.mark.parametrize(("query", "shown"), [
    ({"cve": "cve-2026-7777"}, True),
    ({"cve": "CVE-2000-0001"}, False),
    ({"package": "zlib"}, True),
    ({"package": "openssl"}, False),
    ({"registry": "harbor-payments"}, True),
    ({"registry": "harbor-web"}, False),
])
def test_the_overview_filters_by_advisory_package_and_registry(web: Web, deployed: str,
                                                                query: dict[str, str], shown: bool) -> None:
    web.sign_in("admin")
    answer = web.client.get(VULNERABILITIES.path, params=query)
    assert answer.status_code == 200
    assert (f'href="/ui/artifacts/{deployed}"' in answer.text) == shown
    assert ('<span class="count">1</span> Critical' in answer.text) == shown
    for value in query.values():
        assert f'value="{value}"' in answer.text  # the filter is kept in the form


def test_removed_deployments_do_not_count_and_team_members_see_only_their_environments(web: Web) -> None:
    _deploy(web.hm, DEPLOYED, state=DeploymentState.REMOVED)
    overview = security_overview(web.hm, ADMIN)
    assert (overview.deployed, overview.totals["Critical"]) == (0, 0)
    _deploy(web.hm, DEPLOYED, environment="staging-k8s")
    web.sign_in("tools-dev")  # a team member with access to dev-docker only
    html = web.client.get(VULNERABILITIES.path).text
    assert "0 deployed digests" in html and DEPLOYED not in html
    web.sign_in("payments-dev")
    assert DEPLOYED in web.client.get(VULNERABILITIES.path).text


def test_the_images_an_imported_advisory_affects_are_found_by_its_cve_id(web: Web) -> None:
    stored = store_sbom(web.hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    import_vulndb(web.hm, ADMIN, source=OsvRecords([OPENSSL], description="unit"))
    web.sign_in("payments-dev")
    answer = web.client.get(AFFECTED_PATH, params={"advisory": "CVE-2023-5678"})
    assert answer.status_code == 200
    html = answer.text
    assert "1 stored image affected" in html
    assert f'href="/ui/artifacts/{stored.image_digest}"' in html and stored.image_digest == DIGEST
    assert "DSA-5532-1" in html and "pkg:deb/debian/libssl3" in html
    assert 'value="CVE-2023-5678"' in html
    # The same answer by the advisory's own id; none for an unknown advisory, and it says so.
    assert [i.image_digest for i in images_affected_by(web.hm, ADMIN, "dsa-5532-1").images] == [DIGEST]
    unknown = web.client.get(AFFECTED_PATH, params={"advisory": "CVE-1999-0001"}).text
    assert "has no advisory CVE-1999-0001" in unknown


def test_a_fixed_version_is_not_affected(web: Web) -> None:
    store_sbom(web.hm, sample("3.0.11-1~deb12u3"), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    import_vulndb(web.hm, ADMIN, source=OsvRecords([OPENSSL], description="unit"))
    impact = images_affected_by(web.hm, ADMIN, "CVE-2023-5678")
    assert impact.known and impact.images == []


def test_the_allowlist_shows_each_expiry_and_marks_expired_entries(web: Web, clock: FixedClock) -> None:
    web.sign_in("auditor")
    html = web.client.get(ALLOWLIST_PATH).text
    assert "CVE-2023-4911" in html and '<time datetime="2027-03-31">' in html
    assert "in force (303 days left)" in html and "expired" not in html.split("<table>")[1]
    clock.set(dt.datetime(2027, 4, 2, 12, tzinfo=dt.UTC))
    web.tokens.clear()
    web.sign_in("auditor")
    html = web.client.get(ALLOWLIST_PATH).text
    assert '<span class="state state-expired">expired 2 days ago</span>' in html


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_role_sees_the_vulnerability_pages_and_no_canary(web: Web, deployed: str, role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    assert f'href="{VULNERABILITIES.path}"' in web.client.get("/ui/").text
    for path in (VULNERABILITIES.path, AFFECTED_PATH + "?advisory=CVE-2026-7777", ALLOWLIST_PATH):
        answer = web.client.get(path)
        assert answer.status_code == 200, path
        for canary in CANARIES.values():
            assert canary not in answer.text


def test_the_vulnerability_pages_refuse_a_visitor_who_is_not_signed_in(web: Web) -> None:
    for path in (VULNERABILITIES.path, AFFECTED_PATH, ALLOWLIST_PATH):
        assert web.client.get(path).status_code == 401


def test_the_new_pages_have_ordered_headings_labelled_controls_and_scrolling_tables(web: Web, deployed: str,
                                                                                     ) -> None:
    from harbourmaster.web.pages import DECISIONS
    from harbourmaster.web.sessions import CSRF_FIELD
    from tests.web.test_decisions import MANIFEST
    from tests.web.test_layout import _outline

    store_sbom(web.hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    import_vulndb(web.hm, ADMIN, source=OsvRecords([OPENSSL], description="unit"))
    web.sign_in("admin")
    pages = {path: web.client.get(path).text for path in (
        VULNERABILITIES.path, f"{AFFECTED_PATH}?advisory=CVE-2023-5678", ALLOWLIST_PATH, DECISIONS.path,
        f"/ui/artifacts/{DIGEST}")}
    form = {CSRF_FIELD: web.csrf(), "environment": "staging-k8s", "namespace": "payments",
            "content": MANIFEST}
    pages["check"] = web.client.post(DECISIONS.path, data=form).text
    for path, html in pages.items():
        page = _outline(html)
        assert page.headings[0] == 1 and page.headings.count(1) == 1, path
        for before, after in zip(page.headings, page.headings[1:], strict=False):
            assert after <= before + 1, (path, page.headings)
        for control in page.controls:
            assert control.get("id") in page.labels or control.get("aria-label"), (path, control)
        assert ("<table>" in html) == (path != DECISIONS.path), path
        for table in re.finditer(r"<table>", html):
            opener = html[:table.start()].rsplit("<div", 1)[1]
            assert 'class="table-scroll"' in opener and 'role="region"' in opener, path
        assert re.findall(r"<th>", html) == [], path  # every header cell says its scope
