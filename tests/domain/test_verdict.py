"""The image policy verdict: a table of cases over source x vulnerabilities x signature x tier."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from harbourmaster.domain.decision import Decision
from harbourmaster.domain.findings import Finding, FindingPackage, FixState, SuppressedBy
from harbourmaster.domain.model import AllowlistEntry, Tier
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.signers import SignersRequired
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy, TierPolicyError, UnscannedRule
from harbourmaster.domain.verdict import ScanFacts, SignatureFacts, image_verdict

TODAY = dt.date(2026, 11, 29)
AT = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)
DIGEST = "sha256:" + "a" * 64
OTHER = "sha256:" + "b" * 64

ALLOWED = Decision(
    "harbor.corp/payments/api:1.4",
    "harbor.corp/payments/api:1.4",
    "harbor",
    True,
    ("registry harbor matches harbor.corp/payments/api and is granted to namespace payments",),
    digest=DIGEST,
)
DENIED = Decision(
    "evil.example/x:1", "evil.example/x:1", None, False, ("no approved registry matches evil.example/x",)
)


def finding(cve: str, severity: Severity, *, fixed: bool = True) -> Finding:
    return Finding(
        id=cve,
        aliases=(),
        package=FindingPackage(
            name="openssl", version="3.0.1", purl="pkg:deb/debian/openssl@3.0.1", ecosystem="Debian"
        ),
        fixed_versions=("3.0.2",) if fixed else (),
        severity=severity,
        state=FixState.FIXED if fixed else FixState.NOT_FIXED,
    )


def scan(*findings: Finding, digest: str = DIGEST) -> ScanFacts:
    return ScanFacts(digest=digest, scanned_at=AT, findings=findings)


def signed(*signers: str, signatures: int | None = None, digest: str = DIGEST) -> SignatureFacts:
    return SignatureFacts(
        digest=digest,
        verified_signers=signers,
        signatures=len(signers) if signatures is None else signatures,
        verified_at=AT,
    )


PROD = DEFAULT_TIER_POLICIES[Tier.PRODUCTION].with_changes(signers=["release"], unscanned="block")
STAGING = DEFAULT_TIER_POLICIES[Tier.STAGING].with_changes(unscanned="block")
DEV = DEFAULT_TIER_POLICIES[Tier.DEVELOPMENT]

CRIT = finding("CVE-2026-0001", Severity.CRITICAL)
HIGH = finding("CVE-2026-0002", Severity.HIGH)
MED = finding("CVE-2026-0003", Severity.MEDIUM)
LOW = finding("CVE-2026-0004", Severity.LOW)
HIGH_UNFIXED = finding("CVE-2026-0005", Severity.HIGH, fixed=False)

#: (case, decision, policy, scan, signature, allowed, (source, vulnerabilities, signature) statuses,
#:  a phrase every expected reason list contains)
CASES = [
    (
        "clean and signed in production",
        ALLOWED,
        PROD,
        scan(LOW),
        signed("release"),
        True,
        ("allowed", "pass", "verified"),
        "signed by release",
    ),
    (
        "critical finding blocks in production",
        ALLOWED,
        PROD,
        scan(CRIT),
        signed("release"),
        False,
        ("allowed", "block", "verified"),
        "CVE-2026-0001 (Critical, openssl 3.0.1)",
    ),
    (
        "high finding blocks in production",
        ALLOWED,
        PROD,
        scan(HIGH),
        signed("release"),
        False,
        ("allowed", "block", "verified"),
        "block severity high",
    ),
    (
        "medium finding is an advisory in production",
        ALLOWED,
        PROD,
        scan(MED),
        signed("release"),
        True,
        ("allowed", "advisory", "verified"),
        "advisory severity medium",
    ),
    (
        "high finding is only an advisory in development",
        ALLOWED,
        DEV,
        scan(HIGH),
        None,
        True,
        ("allowed", "advisory", "not-required"),
        "requires no signature",
    ),
    (
        "critical blocks even in development",
        ALLOWED,
        DEV,
        scan(CRIT),
        None,
        False,
        ("allowed", "block", "not-required"),
        "block severity critical",
    ),
    (
        "unsigned image in production",
        ALLOWED,
        PROD,
        scan(),
        signed(signatures=0),
        False,
        ("allowed", "pass", "missing"),
        "no signature refers to",
    ),
    (
        "signed by an untrusted key in production",
        ALLOWED,
        PROD,
        scan(),
        signed(signatures=2),
        False,
        ("allowed", "pass", "invalid"),
        "2 signature(s) found",
    ),
    (
        "signature not verified yet in production",
        ALLOWED,
        PROD,
        scan(),
        None,
        False,
        ("allowed", "pass", "unverified"),
        "were not verified",
    ),
    (
        "verification failed in production",
        ALLOWED,
        PROD,
        scan(),
        SignatureFacts(digest=DIGEST, error="registry harbor did not answer"),
        False,
        ("allowed", "pass", "unverified"),
        "registry harbor did not answer",
    ),
    (
        "a verification of another digest does not count",
        ALLOWED,
        PROD,
        scan(),
        signed("release", digest=OTHER),
        False,
        ("allowed", "pass", "unverified"),
        "were not verified",
    ),
    (
        "unscanned in production (unscanned: block)",
        ALLOWED,
        PROD,
        None,
        signed("release"),
        False,
        ("allowed", "unscanned", "verified"),
        "denies unscanned images (unscanned: block)",
    ),
    (
        "a scan of another digest does not count",
        ALLOWED,
        PROD,
        scan(digest=OTHER),
        signed("release"),
        False,
        ("allowed", "unscanned", "verified"),
        f"no scan of {DIGEST} is stored",
    ),
    (
        "unscanned in development (unscanned: allow)",
        ALLOWED,
        DEV,
        None,
        None,
        True,
        ("allowed", "unscanned", "not-required"),
        "allows unscanned images (unscanned: allow)",
    ),
    (
        "unscanned and unsigned in staging",
        ALLOWED,
        STAGING,
        None,
        None,
        False,
        ("allowed", "unscanned", "not-required"),
        "unscanned: block",
    ),
    (
        "source denied: nothing else judged",
        DENIED,
        PROD,
        scan(),
        signed("release"),
        False,
        ("denied", "skipped", "skipped"),
        "no approved registry matches",
    ),
    (
        "tag not pinned: neither scanned nor verifiable",
        replace(ALLOWED, digest=None, digest_error="timed out"),
        PROD,
        None,
        None,
        False,
        ("allowed", "unscanned", "unverified"),
        "the digest of harbor.corp/payments/api:1.4 is not known (timed out)",
    ),
]


@pytest.mark.parametrize(
    ("decision", "policy", "scanned", "signature", "allowed", "statuses", "phrase"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_verdict_table(
    decision: Decision,
    policy: TierPolicy,
    scanned: ScanFacts | None,
    signature: SignatureFacts | None,
    allowed: bool,
    statuses: tuple[str, str, str],
    phrase: str,
) -> None:
    verdict = image_verdict(decision, policy=policy, today=TODAY, scan=scanned, signature=signature)
    assert verdict.allowed is allowed
    assert (verdict.source.status, verdict.vulnerabilities.status, verdict.signature.status) == statuses
    assert any(phrase in reason for reason in verdict.reasons), verdict.reasons
    # Deny if any part denies; every denying part says why in the overall reasons.
    parts = (verdict.source, verdict.vulnerabilities, verdict.signature)
    assert verdict.allowed == all(p.allowed for p in parts)
    for part in parts:
        if not part.allowed and part.status != "skipped":
            assert part.reasons and set(part.reasons) <= set(verdict.reasons)
    shape = verdict.parts()
    assert set(shape) == {"source", "vulnerabilities", "signature"}
    assert all({"allowed", "status", "reasons"} <= set(p) for p in shape.values())


def test_allowlist_in_force_lifts_a_block_and_an_expired_one_does_not() -> None:
    entry = AllowlistEntry(advisory="CVE-2026-0002", expires=TODAY, reason="mitigated by WAF")
    lifted = image_verdict(
        ALLOWED, policy=PROD, allowlist=[entry], today=TODAY, scan=scan(HIGH), signature=signed("release")
    )
    assert lifted.allowed and lifted.vulnerabilities.status == "pass"
    assert lifted.vulnerabilities.details["suppressed"] == 1
    expired = image_verdict(
        ALLOWED,
        policy=PROD,
        allowlist=[entry],
        today=TODAY + dt.timedelta(days=1),
        scan=scan(HIGH),
        signature=signed("release"),
    )
    assert not expired.allowed and expired.vulnerabilities.status == "block"


def test_allowlist_scoped_to_another_registry_does_not_apply() -> None:
    entry = AllowlistEntry(advisory="CVE-2026-0002", expires=TODAY, reason="x", registry="quay")
    verdict = image_verdict(
        ALLOWED, policy=PROD, allowlist=[entry], today=TODAY, scan=scan(HIGH), signature=signed("release")
    )
    assert verdict.vulnerabilities.status == "block"


def test_ignore_unfixed_is_applied_when_judging_not_when_scanning() -> None:
    lenient = PROD.with_changes(ignore_unfixed=True)
    assert image_verdict(
        ALLOWED, policy=lenient, today=TODAY, scan=scan(HIGH_UNFIXED), signature=signed("release")
    ).allowed
    assert not image_verdict(
        ALLOWED, policy=PROD, today=TODAY, scan=scan(HIGH_UNFIXED), signature=signed("release")
    ).allowed


def test_suppression_recorded_with_a_scan_does_not_carry_into_the_verdict() -> None:
    # A VEX statement given to one scan must not silence the finding at admission.
    vexed = HIGH.suppress(SuppressedBy.VEX, "not affected")
    verdict = image_verdict(
        ALLOWED, policy=PROD, today=TODAY, scan=scan(vexed.matched()), signature=signed("release")
    )
    assert verdict.vulnerabilities.status == "block"


@pytest.mark.parametrize(
    ("rule", "attempt", "allowed", "phrase"),
    [
        ("scan", None, False, "but it was not scanned"),
        ("scan", "its scan did not finish within 20 s", False, "did not finish within 20 s"),
        ("block", None, False, "unscanned: block"),
        ("allow", None, True, "unscanned: allow"),
    ],
)
def test_unscanned_rule(rule: str, attempt: str | None, allowed: bool, phrase: str) -> None:
    policy = PROD.with_changes(unscanned=rule, require_signature=False)
    verdict = image_verdict(ALLOWED, policy=policy, today=TODAY, scan=None, scan_attempt=attempt)
    assert verdict.allowed is allowed
    assert verdict.vulnerabilities.details["unscanned_rule"] == rule
    assert any(phrase in r for r in verdict.vulnerabilities.reasons)


def test_all_signers_required() -> None:
    policy = PROD.with_changes(signers=["release", "security"], signers_required="all")
    one = image_verdict(ALLOWED, policy=policy, today=TODAY, scan=scan(), signature=signed("release"))
    assert not one.allowed and one.signature.status == "invalid"
    assert any("no valid signature by security" in r for r in one.reasons)
    both = image_verdict(
        ALLOWED, policy=policy, today=TODAY, scan=scan(), signature=signed("release", "security")
    )
    assert both.allowed and both.signature.status == "verified"
    assert policy.signers_required is SignersRequired.ALL


def test_required_signature_with_no_signer_configured_is_never_satisfied() -> None:
    policy = DEFAULT_TIER_POLICIES[Tier.PRODUCTION]
    assert policy.signers == () and policy.require_signature
    verdict = image_verdict(ALLOWED, policy=policy, today=TODAY, scan=scan(), signature=signed("anyone"))
    assert not verdict.allowed
    assert any("no trusted signer is configured" in r for r in verdict.reasons)


def test_many_blocking_findings_are_named_up_to_ten() -> None:
    many = [finding(f"CVE-2026-1{i:03d}", Severity.CRITICAL) for i in range(25)]
    verdict = image_verdict(ALLOWED, policy=PROD, today=TODAY, scan=scan(*many), signature=signed("release"))
    (reason,) = verdict.vulnerabilities.reasons
    assert "and 15 more" in reason and "CVE-2026-1009" in reason and "CVE-2026-1010" not in reason
    assert len(verdict.vulnerabilities.details["blocking"]) == 25


def test_unscanned_rule_defaults_and_bad_values() -> None:
    assert DEFAULT_TIER_POLICIES[Tier.DEVELOPMENT].unscanned is UnscannedRule.ALLOW
    assert DEFAULT_TIER_POLICIES[Tier.STAGING].unscanned is UnscannedRule.SCAN
    assert DEFAULT_TIER_POLICIES[Tier.PRODUCTION].unscanned is UnscannedRule.SCAN
    with pytest.raises(TierPolicyError, match=r"tiers.production.unscanned: 'sometimes' is not a rule"):
        PROD.with_changes(unscanned="sometimes")


def test_finding_round_trips_through_its_json_shape() -> None:
    noted = CRIT.suppress(SuppressedBy.ALLOWLIST, "accepted")
    assert Finding.from_dict(noted.as_dict()) == noted
    assert noted.matched() == CRIT
