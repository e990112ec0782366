"""Vulnerability findings and how a tier judges them: the one rule every enforcement point shares.

The push gate, the admission controller, the CLI scanner and imported Trivy or
Grype reports all go through :func:`evaluate`: the CVE allowlist (system-wide
or for the image's registry, until each entry expires), the tier's
``ignore_unfixed`` option, then :func:`tier_verdict`, which maps each
unsuppressed finding's :class:`Severity` onto the tier's threshold names with
:func:`threshold_level`.  Suppressed findings are kept and marked, never
dropped.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from harbourmaster.domain.model import AllowlistEntry, Tier
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.tiers import TierPolicy

__all__ = [
    "Finding",
    "FindingPackage",
    "FixState",
    "SuppressedBy",
    "TierVerdict",
    "Verdict",
    "apply_allowlist",
    "apply_ignore_unfixed",
    "evaluate",
    "fails_on",
    "threshold_level",
    "tier_verdict",
]


class FixState(StrEnum):
    """Whether a fix exists for the finding's package (Grype's words)."""

    FIXED = "fixed"
    NOT_FIXED = "not-fixed"
    WONT_FIX = "wont-fix"
    UNKNOWN = "unknown"


class SuppressedBy(StrEnum):
    """Why a finding does not count toward the verdict."""

    VEX = "vex"
    ALLOWLIST = "allowlist"
    IGNORE_UNFIXED = "ignore-unfixed"


class Verdict(StrEnum):
    BLOCK = "block"
    ALLOW_WITH_ADVISORY = "allow-with-advisory"
    ALLOW = "allow"


@dataclass(frozen=True, slots=True, kw_only=True)
class FindingPackage:
    """The package a finding is about: its name, installed version, purl and OSV ecosystem."""

    name: str
    version: str
    purl: str
    ecosystem: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """One advisory matching one installed package.

    ``fixed_versions`` empty means "no fix".  ``notes`` carry what a reader
    must know, e.g. that an allowlist entry for it has expired.
    """

    id: str
    aliases: tuple[str, ...]
    package: FindingPackage
    fixed_versions: tuple[str, ...]
    severity: Severity
    state: FixState
    suppressed_by: SuppressedBy | None = None
    summary: str = ""
    notes: tuple[str, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        """The advisory id, then its aliases."""
        return (self.id, *self.aliases)

    @property
    def suppressed(self) -> bool:
        return self.suppressed_by is not None

    def suppress(self, by: SuppressedBy, note: str | None = None) -> Finding:
        """This finding marked suppressed (the first suppression wins), with an optional note."""
        if self.suppressed_by is not None:
            return self
        notes = self.notes if note is None else (*self.notes, note)
        return replace(self, suppressed_by=by, notes=notes)

    def with_note(self, note: str) -> Finding:
        return replace(self, notes=(*self.notes, note))

    def matched(self) -> Finding:
        """This finding as matched: no suppression, no notes (what a stored scan keeps; the allowlist
        and the tier are applied when it is judged)."""
        return replace(self, suppressed_by=None, notes=())

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """A finding from :meth:`as_dict`'s shape.

        Raises:
            KeyError, ValueError: ``data`` is not in that shape.
        """
        package = data["package"]
        suppressed = data.get("suppressed_by")
        return cls(
            id=str(data["id"]),
            aliases=tuple(str(a) for a in data.get("aliases", ())),
            package=FindingPackage(
                name=str(package["name"]),
                version=str(package["version"]),
                purl=str(package["purl"]),
                ecosystem=str(package["ecosystem"]),
            ),
            fixed_versions=tuple(str(v) for v in data.get("fixed_versions", ())),
            severity=Severity(data["severity"]),
            state=FixState(data["state"]),
            suppressed_by=None if suppressed is None else SuppressedBy(suppressed),
            summary=str(data.get("summary", "")),
            notes=tuple(str(n) for n in data.get("notes", ())),
        )

    def as_dict(self) -> dict[str, object]:
        """The JSON shape of a finding (``id``, ``aliases``, ``package``, ``fixed_versions``, ``severity``,
        ``state``, ``suppressed_by``, plus ``summary`` and ``notes``)."""
        return {
            "id": self.id,
            "aliases": list(self.aliases),
            "package": {
                "name": self.package.name,
                "version": self.package.version,
                "purl": self.package.purl,
                "ecosystem": self.package.ecosystem,
            },
            "fixed_versions": list(self.fixed_versions),
            "severity": self.severity.value,
            "state": self.state.value,
            "suppressed_by": None if self.suppressed_by is None else self.suppressed_by.value,
            "summary": self.summary,
            "notes": list(self.notes),
        }


def threshold_level(severity: Severity) -> str:
    """The tier threshold name a severity is judged at: CRITICAL → ``"critical"``, HIGH → ``"high"``,
    MEDIUM → ``"medium"``, LOW and NEGLIGIBLE → ``"low"``, NONE and UNKNOWN → ``"none"`` (never blocks).

    Never raises.
    """
    if severity is Severity.CRITICAL:
        return "critical"
    if severity is Severity.HIGH:
        return "high"
    if severity is Severity.MEDIUM:
        return "medium"
    if severity in (Severity.LOW, Severity.NEGLIGIBLE):
        return "low"
    return "none"


def _names_lower(finding: Finding) -> set[str]:
    return {name.lower() for name in finding.names}


def apply_allowlist(
    findings: Iterable[Finding], *, allowlist: Iterable[AllowlistEntry], registry: str | None, today: dt.date
) -> tuple[Finding, ...]:
    """Suppress findings named (by id or alias, case-insensitively) by an active allowlist entry that is
    system-wide or scoped to ``registry``.  An entry that matches but has expired suppresses nothing and
    adds a note saying so.  Never raises.
    """
    entries = [e for e in allowlist if e.registry is None or e.registry == registry]
    out: list[Finding] = []
    for finding in findings:
        names = _names_lower(finding)
        matching = [e for e in entries if e.advisory.lower() in names]
        active = [e for e in matching if e.active(today)]
        if active:
            entry = active[0]
            scope = f"registry {entry.registry}" if entry.registry else "system-wide"
            finding = finding.suppress(
                SuppressedBy.ALLOWLIST,
                f"allowlist entry for {entry.advisory} ({scope}, expires {entry.expires.isoformat()}): "
                f"{entry.reason}",
            )
        else:
            for entry in matching:
                finding = finding.with_note(
                    f"allowlist entry for {entry.advisory} expired on {entry.expires.isoformat()}"
                )
        out.append(finding)
    return tuple(out)


def apply_ignore_unfixed(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Suppress findings that have no fixed version (state not-fixed, wont-fix or unknown with no fix).
    Never raises."""
    return tuple(
        f.suppress(SuppressedBy.IGNORE_UNFIXED)
        if not f.fixed_versions and f.state is not FixState.FIXED
        else f
        for f in findings
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TierVerdict:
    """A tier's judgement of an image's findings, with the findings that decided it."""

    tier: Tier
    verdict: Verdict
    blocking: tuple[str, ...]
    advisories: tuple[str, ...]
    reason: str

    def as_dict(self) -> dict[str, object]:
        return {
            "tier": self.tier.value,
            "verdict": self.verdict.value,
            "blocking": list(self.blocking),
            "advisories": list(self.advisories),
            "reason": self.reason,
        }


def _label(finding: Finding) -> str:
    return f"{finding.id} ({finding.severity.value}, {finding.package.name} {finding.package.version})"


def tier_verdict(policy: TierPolicy, findings: Iterable[Finding]) -> TierVerdict:
    """Block when an unsuppressed finding is at or above the tier's block severity; allow with an
    advisory when one is at or above its advisory severity; allow otherwise.  Never raises."""
    blocking: list[str] = []
    advising: list[str] = []
    for finding in findings:
        if finding.suppressed:
            continue
        level = threshold_level(finding.severity)
        if policy.blocks(level):
            blocking.append(_label(finding))
        elif policy.advises(level):
            advising.append(_label(finding))
    tier = policy.tier.value
    if blocking:
        verdict = Verdict.BLOCK
        reason = (
            f"{len(blocking)} finding(s) at or above the {tier} tier's block severity {policy.block_severity}"
        )
    elif advising:
        verdict = Verdict.ALLOW_WITH_ADVISORY
        reason = (
            f"{len(advising)} finding(s) at or above the {tier} tier's advisory severity "
            f"{policy.advisory_severity}"
        )
    else:
        verdict = Verdict.ALLOW
        reason = f"no unsuppressed finding reaches the {tier} tier's thresholds"
    return TierVerdict(
        tier=policy.tier, verdict=verdict, blocking=tuple(blocking), advisories=tuple(advising), reason=reason
    )


def evaluate(
    findings: Iterable[Finding],
    *,
    policy: TierPolicy | None,
    allowlist: Iterable[AllowlistEntry],
    registry: str | None,
    today: dt.date,
) -> tuple[tuple[Finding, ...], TierVerdict | None]:
    """Apply the allowlist, then (with a ``policy``) the tier's ``ignore_unfixed``, then judge.

    Returns the findings, suppressed ones marked, and the verdict (None without a policy).  Never raises.
    """
    marked = apply_allowlist(findings, allowlist=allowlist, registry=registry, today=today)
    if policy is None:
        return marked, None
    if policy.ignore_unfixed:
        marked = apply_ignore_unfixed(marked)
    return marked, tier_verdict(policy, marked)


def fails_on(findings: Iterable[Finding], threshold: Severity) -> bool:
    """Whether any unsuppressed finding is at or above ``threshold`` (Grype's ``--fail-on``).

    Never raises.
    """
    return any(not f.suppressed and not f.severity < threshold for f in findings)
