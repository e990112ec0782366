"""A scan's result: the target, its findings (suppressed ones included and marked), and the verdict."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from harbourmaster.domain.findings import Finding, TierVerdict, Verdict, fails_on
from harbourmaster.domain.severity import Severity

__all__ = ["EXIT_FAIL", "EXIT_OK", "ScanResult"]

EXIT_OK = 0
#: As Grype: a finding at or above ``--fail-on`` (or, with an environment, a ``block`` verdict).
EXIT_FAIL = 1


@dataclass(frozen=True, slots=True, kw_only=True)
class ScanResult:
    target: str
    image_name: str
    image_digest: str
    findings: tuple[Finding, ...]
    components: int
    unsupported: int = 0
    environment: str | None = None
    verdict: TierVerdict | None = None
    registry: str | None = None
    source: str = "harbourmaster"
    warnings: tuple[str, ...] = ()

    def exit_code(self, fail_on: Severity | None) -> int:
        """:data:`EXIT_FAIL` when an unsuppressed finding is at or above ``fail_on`` or the verdict blocks,
        :data:`EXIT_OK` otherwise.  Never raises."""
        if fail_on is not None and fails_on(self.findings, fail_on):
            return EXIT_FAIL
        if self.verdict is not None and self.verdict.verdict is Verdict.BLOCK:
            return EXIT_FAIL
        return EXIT_OK

    def summary(self) -> dict[str, object]:
        counted = Counter(f.severity.value for f in self.findings if not f.suppressed)
        return {
            "components": self.components,
            "unsupported_components": self.unsupported,
            "findings": len(self.findings),
            "suppressed": sum(1 for f in self.findings if f.suppressed),
            "by_severity": {
                s.value: counted[s.value] for s in sorted(Severity, reverse=True) if counted[s.value]
            },
        }

    def as_dict(self) -> dict[str, object]:
        """The JSON output (``target``, ``findings`` in the documented shape, then ``verdict`` and more)."""
        return {
            "target": self.target,
            "findings": [f.as_dict() for f in self.findings],
            "verdict": None if self.verdict is None else self.verdict.as_dict(),
            "environment": self.environment,
            "image": {"name": self.image_name, "digest": self.image_digest, "registry": self.registry},
            "source": self.source,
            "summary": self.summary(),
            "warnings": list(self.warnings),
        }
