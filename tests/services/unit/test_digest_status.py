"""A digest's kept scan, cached signature verifications and stored SBOMs, as the web UI's browse shows
them; and a registry's editable settings, which never hold a secret."""

from __future__ import annotations

import json

import pytest

from harbourmaster.domain.authz import NodeRole, Principal
from harbourmaster.domain.model import Role
from harbourmaster.domain.reference import parse_reference
from harbourmaster.errors import BadInput, Forbidden, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.digest_status import DigestStatusPublic, digest_status
from harbourmaster.services.registry_settings import registry_settings
from harbourmaster.services.sboms import store_sbom
from harbourmaster.services.signing_trust import environment_trust, verification_cache_key
from harbourmaster.store.values import CachedVerification, StoredScan
from harbourmaster.supply.sbom import SbomFormat
from tests._helpers import critical_finding
from tests.services.test_sboms import DIGEST, sample
from tests.services.unit._example import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)
AUDITOR = Principal("auditor", Role.AUDITOR)
NODE = Principal("node-1", NodeRole.NODE)


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _status(unit: Harbourmaster) -> DigestStatusPublic:
    return digest_status(unit, AUDITOR, registry="harbor-payments", repository="payments/api", digest=DIGEST)


def test_nothing_kept_is_reported_as_not_done(applied: Harbourmaster) -> None:
    status = _status(applied)
    assert status.scan is None and status.sboms == []
    assert [(s.environment, s.state) for s in status.signatures] == [
        ("dev-docker", "not-verified"), ("prod-eu", "not-verified"), ("staging-k8s", "not-verified")]


def test_the_kept_scan_sboms_and_cached_verifications_of_a_digest(applied: Harbourmaster) -> None:
    now = applied.clock.now()
    trust = environment_trust(applied, "prod-eu")
    key = verification_cache_key(trust, parse_reference(f"harbor.corp/payments/api@{DIGEST}"))
    with applied.store.transaction() as tx:
        tx.scans.record(StoredScan(image_digest=DIGEST, image_name="harbor.corp/payments/api:1",
                                   scanned_at=now,
                                   components=12, findings=(critical_finding("CVE-2026-0001"),),
                                   origin="registry"))
        tx.signing.cache(CachedVerification(image_digest=DIGEST, trust_fingerprint=key, satisfied=True,
                                            result={"verified_signers": ["release-key"]}, verified_at=now))
    store_sbom(applied, sample(), fmt=SbomFormat.CYCLONEDX_JSON, actor="test")
    status = _status(applied)
    assert status.scan is not None
    assert (status.scan.components, status.scan.findings, status.scan.by_severity) == (12, 1, {"Critical": 1})
    assert status.scan.origin == "registry"
    by_env = {s.environment: s for s in status.signatures}
    assert by_env["prod-eu"].state == "satisfied" and by_env["prod-eu"].verified_signers == ["release-key"]
    assert by_env["staging-k8s"].state == "not-verified"  # another tier: another trust
    assert [s.format for s in status.sboms] == [SbomFormat.CYCLONEDX_JSON.value]


def test_digest_status_is_refused_without_governance_read_and_names_a_missing_registry(
        applied: Harbourmaster) -> None:
    with pytest.raises(Forbidden):
        digest_status(applied, NODE, registry="harbor-payments", repository="payments/api", digest=DIGEST)
    with pytest.raises(NotFound, match="harbor-payments"):
        digest_status(applied, ADMIN, registry="harbor-payment", repository="payments/api", digest=DIGEST)
    with pytest.raises(BadInput):
        digest_status(applied, ADMIN, registry="harbor-payments", repository="Payments/API", digest="nope")


def test_registry_settings_hold_no_secret_and_need_governance_write(applied: Harbourmaster,
                                                                   example_secrets: dict[str, str]) -> None:
    settings = registry_settings(applied, ADMIN, "harbor-payments")
    assert settings["credential"] == {"kind": "robot", "username": "robot$payments+deployer",
                                      "expires": "2028-06-30"}
    text = json.dumps(settings)
    for secret in example_secrets.values():
        assert secret not in text
    with pytest.raises(Forbidden):
        registry_settings(applied, AUDITOR, "harbor-payments")
    with pytest.raises(BadInput, match="built in"):
        registry_settings(applied, ADMIN, "dockerhub-anonymous")
