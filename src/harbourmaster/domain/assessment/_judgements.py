"""Judgements shared by the key decisions and the level controls."""

from __future__ import annotations

from collections.abc import Iterable

from harbourmaster.domain.assessment.facts import (
    AssessmentFacts,
    CoverageFacts,
    EnvironmentFacts,
    RegistryFacts,
    Status,
)
from harbourmaster.domain.assessment.results import Outcome
from harbourmaster.domain.model import AdmissionMode, EnvironmentKind, Tier


class Tally:
    """Judgements grouped by aspect (a control of the decision, such as "egress").  A decision is not met
    when some aspect complies nowhere, partly met when every aspect complies somewhere."""

    def __init__(self) -> None:
        self.aspects: dict[str, bool] = {}
        self.passes: list[str] = []
        self.shortfalls: list[str] = []
        self.remedies: list[str] = []
        self._remedies: set[str] = set()

    def judge(self, aspect: str, ok: bool, good: str, bad: str, *remedies: str, some: bool = False) -> None:
        self.aspects[aspect] = self.aspects.get(aspect, False) or ok or some
        if ok:
            self.passes.append(good)
        else:
            self.shortfalls.append(bad)
            for r in remedies:
                if r not in self._remedies:
                    self._remedies.add(r)
                    self.remedies.append(r)

    def outcome(self) -> Outcome:
        if not self.shortfalls:
            status = Status.MET
        elif all(self.aspects.values()):
            status = Status.PARTLY_MET
        else:
            status = Status.NOT_MET
        return Outcome(status, tuple(self.passes), tuple(self.shortfalls), tuple(self.remedies))


def seen_by(fingerprint: str | None, expected: str) -> str:
    return "not seen" if fingerprint is None else f"fingerprint {fingerprint} (model {expected})"


def admission_enforced(env: EnvironmentFacts) -> bool:
    """Images are judged at the cluster whatever started the deployment.  A Docker environment has no
    admission webhook; its pull gate is the enforcement point there."""
    if env.kind is EnvironmentKind.KUBERNETES:
        return env.admission is AdmissionMode.ENFORCE and env.webhook_fingerprint == env.expected_fingerprint
    return env.gate_fingerprint == env.expected_fingerprint


def admission_evidence(env: EnvironmentFacts) -> str:
    if env.kind is EnvironmentKind.KUBERNETES:
        seen = seen_by(env.webhook_fingerprint, env.expected_fingerprint)
        return f"environment {env.name}: admission webhook {seen}, mode {env.admission.value}"
    return f"environment {env.name}: pull gate {seen_by(env.gate_fingerprint, env.expected_fingerprint)}"


def admission_remedy(env: EnvironmentFacts) -> str:
    if env.kind is EnvironmentKind.KUBERNETES:
        fix = f"harbourmaster webhook manifests --env {env.name} --url WEBHOOK_URL | kubectl apply -f -"
        if env.admission is not AdmissionMode.ENFORCE:
            fix += f"\nenvironments:\n  - name: {env.name}\n    admission: enforce"
        return fix
    return f"harbourmaster gate serve --registry REGISTRY --env {env.name}"


def registry_gate(facts: AssessmentFacts, env: EnvironmentFacts, reg: RegistryFacts) -> bool:
    """The registry layer refuses what the tier blocks: its own threshold equals the tier's, or
    harbourmaster's pull gate (same rules, same fingerprint) stands in front of it."""
    tier = facts.tier(env.tier)
    own = tier is not None and reg.block_severity == tier.block_severity
    return own or env.gate_fingerprint == env.expected_fingerprint


def sync(reg: RegistryFacts) -> str:
    return f"harbourmaster harbor sync --registry {reg.name}"


def production(facts: AssessmentFacts) -> list[EnvironmentFacts]:
    return [e for e in facts.environments if e.tier is Tier.PRODUCTION]


def guarded(facts: AssessmentFacts) -> list[EnvironmentFacts]:
    return [e for e in facts.environments if e.tier in (Tier.STAGING, Tier.PRODUCTION)]


def coverage(t: Tally, cov: Iterable[CoverageFacts], attr: str, what: str, remedy: str) -> None:
    for c in cov:
        n = int(getattr(c, attr))
        t.judge(
            what,
            n >= c.deployed,
            f"tier {c.tier.value}: {n}/{c.deployed} deployed digests {what}",
            f"tier {c.tier.value}: only {n}/{c.deployed} deployed digests {what}",
            remedy,
            some=0 < n < c.deployed,
        )
