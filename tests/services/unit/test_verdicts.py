"""The image policy verdict as a service, on the fakes: kept scans, scanning an unscanned image at once
within the time budget, and what the audit keeps."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.findings import Finding
from harbourmaster.domain.model import Role, Tier
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decisions import check_images
from harbourmaster.services.governance import update_tier
from harbourmaster.store.values import StoredScan
from tests._helpers import critical_finding
from tests.fakes.core import unit_core, unit_settings
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("local:test", Role.ADMINISTRATOR)
DEV = Principal("payments-dev", Role.TEAM_MEMBER)
IMAGE = "harbor.corp/payments/api:1.4"


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _staging(core: Harbourmaster, principal: Principal = DEV, images: list[str] | None = None) -> list:  # type: ignore[type-arg]
    return check_images(
        core, principal, environment="staging-k8s", namespace="payments", images=images or [IMAGE]
    )


def _keep(core: Harbourmaster, digest: str, *findings: Finding) -> None:
    with core.store.transaction() as tx:
        tx.scans.record(
            StoredScan(
                image_digest=digest,
                image_name=IMAGE,
                scanned_at=core.clock.now(),
                components=len(findings),
                findings=findings,
                origin="registry",
            )
        )


def test_an_unscanned_image_is_scanned_at_once_and_the_scan_kept(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    (decision,) = _staging(applied)
    assert decision.allowed, decision.reasons
    assert decision.digest == digest
    verdict = decision.verdict
    assert verdict is not None and verdict["tier"] == "staging"
    assert verdict["vulnerabilities"]["status"] == "pass" and verdict["vulnerabilities"]["findings"] == 0
    assert verdict["signature"]["status"] == "not-required"
    with applied.store.read() as tx:
        kept = tx.scans.latest([digest])
        actions = [e.action for e in tx.audit.entries()]
    assert kept[digest].origin == "registry"
    # The scan ran on the caller's behalf, and says so; then the decision was recorded with its verdict.
    assert actions[-3:] == ["sbom.generate", "image.scan-recorded", "decision"]
    with applied.store.read() as tx:
        entries = list(tx.audit.entries())
    generate = next(e for e in entries if e.action == "sbom.generate")
    assert generate.actor == "payments-dev (verdict scan)"
    decision_entry = entries[-1]
    assert decision_entry.details["images"][0]["verdict"] == {
        "source": "allowed",
        "vulnerabilities": "pass",
        "signature": "not-required",
    }
    assert decision_entry.details["policy_fingerprint"] == verdict["policy_fingerprint"]
    # The next verdict reads the kept scan: the registry is asked for the tag only.
    before = len(harbor.requests)
    (again,) = _staging(applied)
    assert (
        again.allowed
        and again.verdict["vulnerabilities"]["scanned_at"] == verdict["vulnerabilities"]["scanned_at"]
    )  # type: ignore[index]
    assert all("/blobs/" not in r for r in harbor.requests[before:])


def test_a_kept_scan_blocks_by_the_tier_thresholds_now(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    _keep(applied, digest, critical_finding("CVE-2026-7777"))
    (decision,) = _staging(applied)
    assert not decision.allowed
    assert decision.verdict["vulnerabilities"]["status"] == "block"  # type: ignore[index]
    assert any("CVE-2026-7777 (Critical, zlib 1.2)" in r for r in decision.reasons)
    # Thresholds are applied at verdict time: a tier blocking nothing lets it through without a rescan.
    update_tier(applied, ADMIN, Tier.STAGING, block_severity="none", advisory_severity="critical")
    (decision,) = _staging(applied)
    assert decision.allowed and decision.verdict["vulnerabilities"]["status"] == "advisory"  # type: ignore[index]


def test_with_no_time_budget_an_unscanned_image_is_denied(
    clock: object, harbor: FakeRegistry, example_secrets: dict[str, str]
) -> None:

    hm = unit_core(registries=(harbor,), settings=unit_settings(verdict_scan_seconds=0.0))
    apply_example(hm)
    harbor.push("payments/api", "1.4")
    (decision,) = _staging(hm)
    assert not decision.allowed
    assert decision.verdict["vulnerabilities"]["status"] == "unscanned"  # type: ignore[index]
    assert any("scanning at verdict time is off" in r for r in decision.reasons)


def test_a_scan_that_fails_denies_with_its_reason(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    digest = harbor.push("payments/api", "1.4")
    harbor.blobs.clear()  # the registry lost the image's config: the SBOM cannot be generated
    (decision,) = _staging(applied)
    assert not decision.allowed and decision.digest == digest
    (reason,) = decision.verdict["vulnerabilities"]["reasons"]  # type: ignore[index]
    assert "unscanned: scan" in reason and "its scan failed" in reason


def test_without_resolving_nothing_is_scanned_and_production_denies(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    (decision,) = check_images(
        applied,
        DEV,
        environment="prod-eu",
        namespace="payments",
        images=[f"harbor.corp/payments/api@{digest}"],
        resolve=False,
    )
    assert not decision.allowed and harbor.requests == []
    verdict = decision.verdict
    assert verdict is not None
    assert (
        verdict["vulnerabilities"]["status"] == "unscanned" and verdict["signature"]["status"] == "unverified"
    )
    assert any("resolve off" in r for r in decision.reasons)
    assert any(f"the signatures of {digest} were not verified" in r for r in decision.reasons)


def test_a_source_denial_skips_the_other_parts(applied: Harbourmaster, harbor: FakeRegistry) -> None:
    (decision,) = _staging(applied, images=["evil.example/x:1"])
    assert not decision.allowed and harbor.requests == []
    verdict = decision.verdict
    assert verdict is not None
    assert verdict["vulnerabilities"]["status"] == verdict["signature"]["status"] == "skipped"
    assert decision.reasons[-1] == "denied by default"


def test_an_advisory_never_judged_is_not_kept_by_a_reader(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    # Readers (team members) scanning a kept SBOM change nothing admission sees.
    from harbourmaster.services.scans import scan_target

    digest = harbor.push("payments/api", "1.4")
    _staging(applied)  # scanned at once, on the caller's behalf
    with applied.store.read() as tx:
        first = tx.scans.latest([digest])[digest].scanned_at
    applied.clock.set(applied.clock.now() + dt.timedelta(hours=1))  # type: ignore[attr-defined]
    scan_target(applied, DEV, target=f"harbor.corp/payments/api@{digest}")
    with applied.store.read() as tx:
        assert tx.scans.latest([digest])[digest].scanned_at == first
    scan_target(applied, ADMIN, target=f"harbor.corp/payments/api@{digest}")
    with applied.store.read() as tx:
        kept = tx.scans.latest([digest])[digest]
    assert kept.scanned_at > first and kept.origin == "stored-sbom"


def test_a_scan_that_outruns_the_budget_denies_in_time_and_goes_on(
    harbor: FakeRegistry, example_secrets: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import threading
    import time

    from harbourmaster.services import scans

    hm = unit_core(registries=(harbor,), settings=unit_settings(verdict_scan_seconds=0.3))
    apply_example(hm)
    harbor.push("payments/api", "1.4")
    release = threading.Event()
    started: list[str] = []
    real = scans.scan_target

    def slow(*args: object, **kwargs: object) -> object:
        started.append(str(kwargs["target"]))
        release.wait(10)
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(scans, "scan_target", slow)
    began = time.monotonic()
    (first,) = _staging(hm)
    (second,) = _staging(hm)  # the same digest: it waits for the scan already running
    assert time.monotonic() - began < 3
    for decision in (first, second):
        assert not decision.allowed
        assert any(
            "did not finish within 0.3 s (it goes on in the background)" in r for r in decision.reasons
        )
    assert len(started) == 1
    release.set()
    digest = first.digest
    assert digest is not None

    def kept() -> bool:
        with hm.store.read() as tx:
            return digest in tx.scans.latest([digest])

    deadline = time.monotonic() + 10
    while not kept() and time.monotonic() < deadline:
        time.sleep(0.05)
    (third,) = _staging(hm)
    assert third.allowed and third.verdict["vulnerabilities"]["status"] == "pass"  # type: ignore[index]
