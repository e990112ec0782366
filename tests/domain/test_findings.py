"""The shared threshold rule: severity → tier threshold, allowlist (scope, expiry), ignore-unfixed,
verdicts per tier, and --fail-on."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harbourmaster.domain.findings import (
    Finding,
    FindingPackage,
    FixState,
    SuppressedBy,
    Verdict,
    apply_allowlist,
    evaluate,
    fails_on,
    threshold_level,
    tier_verdict,
)
from harbourmaster.domain.model import AllowlistEntry, Tier
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy

TODAY = dt.date(2026, 6, 1)


def finding(
    ident: str, severity: Severity, *, fixed: tuple[str, ...] = ("2.0",), aliases: tuple[str, ...] = ()
) -> Finding:
    return Finding(
        id=ident,
        aliases=aliases,
        package=FindingPackage(name="p", version="1.0", purl="pkg:npm/p@1.0", ecosystem="npm"),
        fixed_versions=fixed,
        severity=severity,
        state=FixState.FIXED if fixed else FixState.NOT_FIXED,
    )


@pytest.mark.parametrize(
    ("severity", "level"),
    [
        (Severity.CRITICAL, "critical"),
        (Severity.HIGH, "high"),
        (Severity.MEDIUM, "medium"),
        (Severity.LOW, "low"),
        (Severity.NEGLIGIBLE, "low"),
        (Severity.NONE, "none"),
        (Severity.UNKNOWN, "none"),
    ],
)
def test_threshold_level(severity: Severity, level: str) -> None:
    assert threshold_level(severity) == level


@pytest.mark.parametrize(
    ("tier", "severity", "verdict"),
    [
        (Tier.DEVELOPMENT, Severity.CRITICAL, Verdict.BLOCK),
        (Tier.DEVELOPMENT, Severity.HIGH, Verdict.ALLOW_WITH_ADVISORY),
        (Tier.DEVELOPMENT, Severity.MEDIUM, Verdict.ALLOW_WITH_ADVISORY),
        (Tier.DEVELOPMENT, Severity.LOW, Verdict.ALLOW),
        (Tier.STAGING, Severity.HIGH, Verdict.BLOCK),
        (Tier.STAGING, Severity.MEDIUM, Verdict.ALLOW_WITH_ADVISORY),
        (Tier.PRODUCTION, Severity.HIGH, Verdict.BLOCK),
        (Tier.PRODUCTION, Severity.UNKNOWN, Verdict.ALLOW),
    ],
)
def test_default_tier_verdicts(tier: Tier, severity: Severity, verdict: Verdict) -> None:
    result = tier_verdict(DEFAULT_TIER_POLICIES[tier], [finding("X", severity)])
    assert result.verdict is verdict
    assert (result.blocking != ()) == (verdict is Verdict.BLOCK)
    assert tier.value in result.reason


def test_suppressed_findings_do_not_count_but_are_kept() -> None:
    kept = finding("CVE-1", Severity.CRITICAL).suppress(SuppressedBy.VEX, "vex says so")
    result = tier_verdict(DEFAULT_TIER_POLICIES[Tier.PRODUCTION], [kept])
    assert result.verdict is Verdict.ALLOW
    assert kept.suppressed_by is SuppressedBy.VEX
    assert kept.notes == ("vex says so",)
    assert kept.suppress(SuppressedBy.ALLOWLIST).suppressed_by is SuppressedBy.VEX  # the first one wins


def test_allowlist_scope_expiry_and_aliases() -> None:
    entries = [
        AllowlistEntry(
            advisory="CVE-2023-4911", expires=dt.date(2027, 1, 1), reason="no setuid", registry="harbor"
        ),
        AllowlistEntry(advisory="cve-2024-0001", expires=dt.date(2026, 5, 31), reason="old"),
        AllowlistEntry(advisory="GHSA-xxxx", expires=dt.date(2026, 6, 1), reason="until today"),
    ]
    findings = [
        finding("DSA-5514-1", Severity.HIGH, aliases=("CVE-2023-4911",)),
        finding("CVE-2024-0001", Severity.CRITICAL),
        finding("GHSA-xxxx", Severity.HIGH),
    ]
    on_harbor = {
        f.id: f for f in apply_allowlist(findings, allowlist=entries, registry="harbor", today=TODAY)
    }
    assert on_harbor["DSA-5514-1"].suppressed_by is SuppressedBy.ALLOWLIST
    assert "registry harbor" in on_harbor["DSA-5514-1"].notes[0]
    assert on_harbor["CVE-2024-0001"].suppressed_by is None
    assert on_harbor["CVE-2024-0001"].notes == ("allowlist entry for cve-2024-0001 expired on 2026-05-31",)
    assert on_harbor["GHSA-xxxx"].suppressed_by is SuppressedBy.ALLOWLIST  # the expiry day is still valid
    elsewhere = {f.id: f for f in apply_allowlist(findings, allowlist=entries, registry="ecr", today=TODAY)}
    assert elsewhere["DSA-5514-1"].suppressed_by is None
    assert elsewhere["DSA-5514-1"].notes == ()


def test_ignore_unfixed_applies_only_with_the_tier_option() -> None:
    unfixed = finding("CVE-9", Severity.CRITICAL, fixed=())
    policy = TierPolicy(Tier.STAGING, "high", "medium", require_signature=False, ignore_unfixed=True)
    marked, verdict = evaluate([unfixed], policy=policy, allowlist=(), registry=None, today=TODAY)
    assert marked[0].suppressed_by is SuppressedBy.IGNORE_UNFIXED
    assert verdict is not None and verdict.verdict is Verdict.ALLOW
    marked, verdict = evaluate(
        [unfixed], policy=DEFAULT_TIER_POLICIES[Tier.STAGING], allowlist=(), registry=None, today=TODAY
    )
    assert marked[0].suppressed_by is None
    assert verdict is not None and verdict.verdict is Verdict.BLOCK
    marked, verdict = evaluate([unfixed], policy=None, allowlist=(), registry=None, today=TODAY)
    assert verdict is None


@given(st.lists(st.sampled_from(list(Severity)), max_size=6), st.sampled_from(list(Severity)))
def test_fails_on_is_any_unsuppressed_at_or_above(severities: list[Severity], threshold: Severity) -> None:
    findings = [finding(f"F{i}", s) for i, s in enumerate(severities)]
    assert fails_on(findings, threshold) == any(s >= threshold for s in severities)
    assert not fails_on([f.suppress(SuppressedBy.VEX) for f in findings], threshold)


def test_the_json_shape_of_a_finding() -> None:
    data = finding("CVE-1", Severity.HIGH, aliases=("GHSA-1",)).as_dict()
    assert set(data) >= {"id", "aliases", "package", "fixed_versions", "severity", "state", "suppressed_by"}
    assert data["package"] == {"name": "p", "version": "1.0", "purl": "pkg:npm/p@1.0", "ecosystem": "npm"}
    assert data["severity"] == "High"
    assert data["state"] == "fixed"
    assert data["suppressed_by"] is None
