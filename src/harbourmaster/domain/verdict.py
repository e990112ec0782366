"""The image policy verdict: source, vulnerabilities and signature, each part with its reasons.

Every enforcement point (``check``, ``POST /decisions``, the admission webhook, the pull gate,
deployments) asks :func:`image_verdict` and answers with :meth:`ImageVerdict.as_dict`.  It is pure:
given the source decision (:func:`harbourmaster.domain.decision.decide`), the tier's policy, the
allowlist, what the store knows of the image's digest (:class:`ScanFacts`, :class:`SignatureFacts`)
and the day, it judges

- **source**: the registry/grant/tier decision as it stands;
- **vulnerabilities**: the stored scan's findings, judged now by the tier's thresholds and the
  allowlist in force (:func:`harbourmaster.domain.findings.evaluate`), so a threshold or allowlist
  change applies to the next verdict without a rescan; or, with no scan stored, the tier's
  ``unscanned`` rule (``allow``, ``block``, or ``scan``: scanned at once by the caller within a time
  budget, and denied when that did not succeed);
- **signature**: whether the tier requires one and the cached verification satisfies its signers.

The image is allowed only when every part allows it.  A part that cannot be judged (no digest, no
verification, a scan that did not finish) denies with the reason: nothing is allowed by omission.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from harbourmaster.domain.decision import Decision
from harbourmaster.domain.findings import Finding, Verdict, evaluate
from harbourmaster.domain.model import AllowlistEntry
from harbourmaster.domain.tiers import TierPolicy, UnscannedRule

__all__ = [
    "ImageVerdict",
    "ScanFacts",
    "SignatureFacts",
    "SignatureStatus",
    "VerdictPart",
    "VulnerabilityStatus",
    "image_verdict",
]

#: Blocking findings named one by one in a reason; the rest are counted.
MAX_NAMED_FINDINGS = 10


class VulnerabilityStatus(StrEnum):
    PASS = "pass"
    ADVISORY = "advisory"
    BLOCK = "block"
    UNSCANNED = "unscanned"
    #: Not judged: the source part denies the image already.
    SKIPPED = "skipped"


class SignatureStatus(StrEnum):
    VERIFIED = "verified"
    #: No signature refers to the image.
    MISSING = "missing"
    #: Signatures exist, but none by the signers the tier trusts verified.
    INVALID = "invalid"
    #: The signatures could not be checked (digest unknown, registry unreachable, not verified yet).
    UNVERIFIED = "unverified"
    NOT_REQUIRED = "not-required"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanFacts:
    """The latest stored scan of a digest: its findings as matched (nothing suppressed), and when."""

    digest: str
    scanned_at: dt.datetime
    findings: tuple[Finding, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class SignatureFacts:
    """What verifying a digest's signatures against the tier's trust found.

    ``error`` says why verification could not run (the signatures are then unverified).
    """

    digest: str
    verified_signers: tuple[str, ...] = ()
    #: How many signatures (of any form, valid or not) refer to the image.
    signatures: int = 0
    verified_at: dt.datetime | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VerdictPart:
    """One part of a verdict: whether it allows the image, its status and why."""

    allowed: bool
    status: str
    reasons: tuple[str, ...]
    details: Mapping[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"allowed": self.allowed, "status": self.status, "reasons": list(self.reasons), **self.details}


@dataclass(frozen=True, slots=True, kw_only=True)
class ImageVerdict:
    """The verdict on one image: the source decision and the three parts."""

    decision: Decision
    tier: str | None
    source: VerdictPart
    vulnerabilities: VerdictPart
    signature: VerdictPart

    @property
    def allowed(self) -> bool:
        return self.source.allowed and self.vulnerabilities.allowed and self.signature.allowed

    @property
    def reasons(self) -> tuple[str, ...]:
        """The source's reasons, then those of the parts that were judged."""
        out = list(self.source.reasons)
        for part in (self.vulnerabilities, self.signature):
            if part.status != "skipped":
                out.extend(part.reasons)
        return tuple(out)

    def parts(self) -> dict[str, dict[str, Any]]:
        """The JSON shape of the three parts, as every enforcement point reports them."""
        return {
            "source": self.source.as_dict(),
            "vulnerabilities": self.vulnerabilities.as_dict(),
            "signature": self.signature.as_dict(),
        }


def _source_part(decision: Decision) -> VerdictPart:
    return VerdictPart(
        allowed=decision.allowed, status="allowed" if decision.allowed else "denied", reasons=decision.reasons
    )


def _named(labels: Iterable[str]) -> str:
    labels = list(labels)
    shown = ", ".join(labels[:MAX_NAMED_FINDINGS])
    more = len(labels) - MAX_NAMED_FINDINGS
    return shown + (f" and {more} more" if more > 0 else "")


def _unscanned_part(policy: TierPolicy, why: str, scan_attempt: str | None) -> VerdictPart:
    tier = policy.tier.value
    rule = policy.unscanned
    details = {"unscanned_rule": rule.value}
    if rule is UnscannedRule.ALLOW:
        return VerdictPart(
            allowed=True,
            status=VulnerabilityStatus.UNSCANNED,
            reasons=(f"{why}; the {tier} tier allows unscanned images (unscanned: allow)",),
            details=details,
        )
    if rule is UnscannedRule.SCAN:
        attempt = scan_attempt or "it was not scanned"
        return VerdictPart(
            allowed=False,
            status=VulnerabilityStatus.UNSCANNED,
            reasons=(
                f"{why}; the {tier} tier scans unscanned images at once (unscanned: scan), but {attempt}",
            ),
            details=details,
        )
    return VerdictPart(
        allowed=False,
        status=VulnerabilityStatus.UNSCANNED,
        reasons=(f"{why}; the {tier} tier denies unscanned images (unscanned: block)",),
        details=details,
    )


def _vulnerability_part(
    decision: Decision,
    policy: TierPolicy,
    *,
    scan: ScanFacts | None,
    allowlist: Iterable[AllowlistEntry],
    today: dt.date,
    scan_attempt: str | None,
) -> VerdictPart:
    if decision.digest is None:
        why = f"the digest of {decision.image} is not known" + (
            f" ({decision.digest_error})" if decision.digest_error else ""
        )
        return _unscanned_part(policy, why, scan_attempt)
    if scan is None or scan.digest != decision.digest:
        return _unscanned_part(policy, f"no scan of {decision.digest} is stored", scan_attempt)
    findings, judged = evaluate(
        scan.findings, policy=policy, allowlist=allowlist, registry=decision.registry, today=today
    )
    assert judged is not None  # judged with a policy
    details: dict[str, Any] = {
        "scanned_at": scan.scanned_at.isoformat(),
        "findings": len(findings),
        "suppressed": sum(1 for f in findings if f.suppressed),
        "blocking": list(judged.blocking),
        "advisories": list(judged.advisories),
    }
    when = f"scan of {scan.digest} at {scan.scanned_at.isoformat()}"
    if judged.verdict is Verdict.BLOCK:
        return VerdictPart(
            allowed=False,
            status=VulnerabilityStatus.BLOCK,
            reasons=(f"{judged.reason} ({when}): {_named(judged.blocking)}",),
            details=details,
        )
    if judged.verdict is Verdict.ALLOW_WITH_ADVISORY:
        return VerdictPart(
            allowed=True,
            status=VulnerabilityStatus.ADVISORY,
            reasons=(f"{judged.reason} ({when}): {_named(judged.advisories)}",),
            details=details,
        )
    return VerdictPart(
        allowed=True, status=VulnerabilityStatus.PASS, reasons=(f"{judged.reason} ({when})",), details=details
    )


def _signature_part(decision: Decision, policy: TierPolicy, signature: SignatureFacts | None) -> VerdictPart:
    tier = policy.tier.value
    signer_policy = policy.signer_policy()
    details: dict[str, Any] = {
        "required": policy.require_signature,
        "signers": list(policy.signers),
        "signers_required": policy.signers_required.value,
    }
    known = signature is not None and signature.error is None and signature.digest == decision.digest
    if known:
        assert signature is not None
        details["verified_signers"] = list(signature.verified_signers)
        if signature.verified_at is not None:
            details["verified_at"] = signature.verified_at.isoformat()
    if not policy.require_signature:
        verified = (
            f"; verified by {', '.join(signature.verified_signers)}"
            if known and signature and (signature.verified_signers)
            else ""
        )
        return VerdictPart(
            allowed=True,
            status=SignatureStatus.NOT_REQUIRED,
            reasons=(f"the {tier} tier requires no signature{verified}",),
            details=details,
        )
    if decision.digest is None:
        return VerdictPart(
            allowed=False,
            status=SignatureStatus.UNVERIFIED,
            reasons=(
                f"the {tier} tier requires a signature, and the digest of {decision.image} is not known, "
                "so none can be verified",
            ),
            details=details,
        )
    if signature is None or signature.digest != decision.digest:
        return VerdictPart(
            allowed=False,
            status=SignatureStatus.UNVERIFIED,
            reasons=(
                f"the {tier} tier requires a signature, and the signatures of {decision.digest} "
                "were not verified",
            ),
            details=details,
        )
    if signature.error is not None:
        return VerdictPart(
            allowed=False,
            status=SignatureStatus.UNVERIFIED,
            reasons=(
                f"the {tier} tier requires a signature, and those of {decision.digest} could not be "
                f"verified: {signature.error}",
            ),
            details=details,
        )
    judged = signer_policy.evaluate(signature.verified_signers)
    if judged.satisfied:
        return VerdictPart(
            allowed=True, status=SignatureStatus.VERIFIED, reasons=(judged.reason,), details=details
        )
    if signature.signatures == 0:
        return VerdictPart(
            allowed=False,
            status=SignatureStatus.MISSING,
            reasons=(
                f"the {tier} tier requires a signature and no signature refers to {decision.digest}",
                judged.reason,
            ),
            details=details,
        )
    return VerdictPart(
        allowed=False,
        status=SignatureStatus.INVALID,
        reasons=(
            f"the {tier} tier requires a signature: {judged.reason} "
            f"({signature.signatures} signature(s) found)",
        ),
        details=details,
    )


def _skipped(status: str) -> VerdictPart:
    return VerdictPart(allowed=False, status=status, reasons=("not judged: the image's source is denied",))


def image_verdict(
    decision: Decision,
    *,
    policy: TierPolicy | None,
    allowlist: Iterable[AllowlistEntry] = (),
    today: dt.date,
    scan: ScanFacts | None = None,
    signature: SignatureFacts | None = None,
    scan_attempt: str | None = None,
) -> ImageVerdict:
    """The verdict on the image of ``decision`` under ``policy`` (its environment's tier).

    ``scan`` and ``signature`` are what the store knows of the decision's digest (None: nothing);
    ``scan_attempt`` says why an ``unscanned: scan`` scan did not give a result (timed out, failed).
    Without a ``policy`` (the environment is unknown) only the source decides, and it denies.
    Never raises.
    """
    source = _source_part(decision)
    if not decision.allowed or policy is None:
        return ImageVerdict(
            decision=decision,
            tier=None if policy is None else policy.tier.value,
            source=source,
            vulnerabilities=_skipped(VulnerabilityStatus.SKIPPED),
            signature=_skipped(SignatureStatus.SKIPPED),
        )
    return ImageVerdict(
        decision=decision,
        tier=policy.tier.value,
        source=source,
        vulnerabilities=_vulnerability_part(
            decision, policy, scan=scan, allowlist=allowlist, today=today, scan_attempt=scan_attempt
        ),
        signature=_signature_part(decision, policy, signature),
    )
