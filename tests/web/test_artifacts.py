"""Signatures and SBOMs of one digest: the stored SBOMs, each downloaded as stored (an attachment), and
the signatures verified against an environment's policy by the API's service, whose refusal is shown;
the verify form refuses a missing CSRF token."""

from __future__ import annotations

import pytest

from harbourmaster.domain.model import Role
from harbourmaster.services.sboms import store_sbom
from harbourmaster.supply.sbom import SbomFormat
from harbourmaster.web.artifacts import ARTIFACTS
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.registry import FakeRegistry
from tests.services.test_sboms import DIGEST, sample
from tests.web.conftest import CANARIES, ROLE_USERS, Web, changes

PAGE = f"{ARTIFACTS.path}/{DIGEST}"


@pytest.fixture
def stored(web: Web) -> str:
    store_sbom(web.hm, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    with web.hm.store.read() as tx:
        found = tx.sboms.newest(image_digest=DIGEST)
    assert found is not None
    return found[1]


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_every_role_sees_a_digests_sboms_and_downloads_the_document_as_stored(web: Web, stored: str,
                                                                               role: Role) -> None:
    web.sign_in(ROLE_USERS[role])
    html = web.client.get(PAGE).text
    assert "cyclonedx-json" in html and "harbor.corp/payments/api:1" in html
    link = f'href="{PAGE}/sbom?format=cyclonedx-json"'
    assert link in html
    download = web.client.get(f"{PAGE}/sbom", params={"format": "cyclonedx-json"})
    assert download.status_code == 200
    assert download.text == stored
    assert download.headers["content-type"].startswith("application/json")
    disposition = download.headers["content-disposition"]
    assert disposition.startswith("attachment;") and "cyclonedx-json.json" in disposition
    assert download.headers["x-content-type-options"] == "nosniff"
    for canary in CANARIES.values():
        assert canary not in html and canary not in download.text


def test_a_digest_without_sboms_says_so_and_its_download_is_not_found(web: Web) -> None:
    web.sign_in("admin")
    assert "No SBOM of this digest is stored" in web.client.get(PAGE).text
    missing = web.client.get(f"{PAGE}/sbom")
    assert missing.status_code == 404 and f"no SBOM is stored for image {DIGEST}" in missing.text


def test_a_malformed_digest_is_refused(web: Web) -> None:
    web.sign_in("admin")
    assert web.client.get(f"{ARTIFACTS.path}/not-a-digest").status_code == 422


def test_the_signatures_are_verified_against_an_environments_policy(web: Web, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    web.sign_in("payments-dev")
    image = f"harbor.corp/payments/api@{digest}"
    page = web.client.get(f"{ARTIFACTS.path}/{digest}", params={"image": image})
    assert f'value="harbor.corp/payments/api@{digest}"' in page.text
    answer = web.client.post(f"{ARTIFACTS.path}/{digest}/verify", data={
        CSRF_FIELD: web.csrf(), "image": f"harbor.corp/payments/api@{digest}", "environment": "prod-eu"})
    assert answer.status_code == 200
    assert "signer policy not met" in answer.text
    assert "<strong>Not satisfied:</strong> no signature found" in answer.text
    assert "environment prod-eu (production tier)" in answer.text


def test_a_team_member_outside_the_environment_is_refused_and_shown_why(web: Web, harbor: FakeRegistry
                                                                        ) -> None:
    digest = harbor.push("payments/api", "1.4")
    web.sign_in("tools-dev")
    answer = web.client.post(f"{ARTIFACTS.path}/{digest}/verify", data={
        CSRF_FIELD: web.csrf(), "image": f"harbor.corp/payments/api@{digest}", "environment": "prod-eu"})
    assert answer.status_code == 403
    assert "Not verified (403)" in answer.text and "prod-eu" in answer.text


@pytest.mark.parametrize("presented", [None, "", "forged"])
def test_the_verify_form_refuses_a_missing_or_wrong_csrf_token(web: Web, harbor: FakeRegistry,
                                                              presented: str | None) -> None:
    digest = harbor.push("payments/api", "1.4")
    web.sign_in("admin")
    before, requests = changes(web.hm), len(harbor.requests)
    data = {"image": f"harbor.corp/payments/api@{digest}", "environment": "prod-eu"}
    if presented is not None:
        data[CSRF_FIELD] = presented
    answer = web.client.post(f"{ARTIFACTS.path}/{digest}/verify", data=data)
    assert answer.status_code == 403
    assert "CSRF token is missing or out of date" in answer.text
    assert changes(web.hm) == before and len(harbor.requests) == requests
