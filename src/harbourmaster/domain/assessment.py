"""The maturity assessment: how far a registry set-up is from the seed's model (chapter 5).

A service gathers :class:`AssessmentFacts` from the live system; :func:`assess` judges them against
each key decision Ch5-D-01 to Ch5-D-09 (met, partly met, not met, with evidence naming the objects and
the change that would meet it) and against the maturity levels.  Decisions and levels are data
(:data:`DECISIONS`, :data:`LEVELS`) so a report can list them.

The seed's first scenario (Level 1: teams pull from any source, no approved list) names no control, so
Level 1 requires none; its air-gapped scenario after Level 4 is not one of the levels 1-4 assessed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Final

from harbourmaster.domain.model import AdmissionMode, CredentialKind, EnvironmentKind, Provider, Tier
from harbourmaster.domain.tiers import TierPolicy, UnscannedRule, threshold_rank

__all__ = [
    "CORRELATION_MAX_AGE_HOURS",
    "DECISIONS",
    "LEVELS",
    "MIRROR_MAX_INTERVAL_DAYS",
    "Assessment",
    "AssessmentFacts",
    "AuditFacts",
    "ControlResult",
    "CoverageFacts",
    "Decision",
    "DecisionResult",
    "DeploymentFacts",
    "EnvironmentFacts",
    "GrantFacts",
    "Hosting",
    "Level",
    "LevelControl",
    "LevelResult",
    "MirrorScheduleFacts",
    "Outcome",
    "RegistryFacts",
    "Status",
    "assess",
]

#: An advisory database older than this no longer counts as ongoing correlation (D-09).
CORRELATION_MAX_AGE_HOURS: Final = 24.0
#: The seed's resync cadence: "monthly at minimum for security patches" (5.4, air-gapped and mirror).
MIRROR_MAX_INTERVAL_DAYS: Final = 31


class Status(StrEnum):
    MET = "met"
    PARTLY_MET = "partly met"
    NOT_MET = "not met"


class Hosting(StrEnum):
    """Where an environment's cluster runs: decides its reference registry (D-02)."""

    ON_PREMISES = "on-premises"
    AIR_GAPPED = "air-gapped"
    AWS = "aws"
    AZURE = "azure"
    GCP = "gcp"


# --- facts -------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegistryFacts:
    name: str
    provider: Provider
    host: str
    scope: str | None = None
    approved: bool = True
    public: bool = False
    credential_kind: CredentialKind | None = None
    expiry_set: bool = False
    expires_in_days: int | None = None
    managed: bool = False
    rotated: bool = False
    insecure: bool = False
    #: The registry scans every push (Harbor ``auto_scan``, or its notifications sent to harbourmaster).
    scan_on_push: bool = False
    #: The registry's own pull threshold (Harbor ``prevent_vul`` severity); None: it blocks nothing.
    block_severity: str | None = None
    #: The registry refuses unsigned pulls (Harbor ``enable_content_trust_cosign``).
    content_trust: bool = False


@dataclass(frozen=True, slots=True)
class GrantFacts:
    registry: str
    namespace: str | None = None
    user: str | None = None
    team: str | None = None


@dataclass(frozen=True, slots=True)
class EnvironmentFacts:
    name: str
    kind: EnvironmentKind
    tier: Tier
    hosting: Hosting = Hosting.ON_PREMISES
    namespaces: tuple[str, ...] = ()
    hide_dockerhub_anonymous: bool = False
    admission: AdmissionMode = AdmissionMode.ENFORCE
    #: The fingerprint of the rules the model says this environment enforces.
    expected_fingerprint: str = ""
    #: The fingerprint the admission webhook answered with; None: no webhook seen.
    webhook_fingerprint: str | None = None
    #: The fingerprint the registry pull gate answered with; None: no gate seen.
    gate_fingerprint: str | None = None
    #: An egress policy limits the nodes to the approved registry hosts.
    egress_restricted: bool = False
    grants: tuple[GrantFacts, ...] = ()


@dataclass(frozen=True, slots=True)
class CoverageFacts:
    """Deployed digests of one tier, and how many of them carry each kind of evidence."""

    tier: Tier
    deployed: int
    scanned: int = 0
    signed: int = 0
    with_sbom: int = 0
    #: Digests whose scan came from a CI job before push (``harbourmaster scan --tier``).
    build_scanned: int = 0


@dataclass(frozen=True, slots=True)
class AuditFacts:
    chain_verified: bool = False
    checkpoints: int = 0


@dataclass(frozen=True, slots=True)
class MirrorScheduleFacts:
    name: str
    source: str
    target_registry: str
    interval_days: int


@dataclass(frozen=True, slots=True)
class DeploymentFacts:
    id: str
    environment: str
    jit: bool
    persistent_pull_secrets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AssessmentFacts:
    registries: tuple[RegistryFacts, ...]
    environments: tuple[EnvironmentFacts, ...]
    tiers: tuple[TierPolicy, ...]
    coverage: tuple[CoverageFacts, ...] = ()
    #: Age of the advisory database correlated against the SBOMs; None: never imported.
    advisory_db_age_hours: float | None = None
    audit: AuditFacts = field(default_factory=AuditFacts)
    #: Registries with approved content recorded by an air-gap import.
    approved_content_registries: tuple[str, ...] = ()
    mirror_schedules: tuple[MirrorScheduleFacts, ...] = ()
    deployments: tuple[DeploymentFacts, ...] = ()

    def registry(self, name: str) -> RegistryFacts | None:
        return next((r for r in self.registries if r.name == name), None)

    def tier(self, tier: Tier) -> TierPolicy | None:
        return next((t for t in self.tiers if t.tier == tier), None)

    def granted(self, env: EnvironmentFacts) -> list[RegistryFacts]:
        names = dict.fromkeys(g.registry for g in env.grants)
        return [r for r in self.registries if r.name in names]


# --- results -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a check found: evidence that complies, shortfalls that do not, and the changes to make."""

    status: Status
    passes: tuple[str, ...] = ()
    shortfalls: tuple[str, ...] = ()
    remedies: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    id: str
    title: str
    check: Callable[[AssessmentFacts], Outcome]


@dataclass(frozen=True, slots=True)
class DecisionResult:
    id: str
    title: str
    status: Status
    #: Shortfalls first, then what complies; each names its environment, registry, tier or credential.
    evidence: tuple[str, ...]
    shortfalls: tuple[str, ...]
    #: Governance-document snippets or ``harbourmaster`` commands that would meet the decision.
    remedies: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LevelControl:
    id: str
    text: str
    check: Callable[[AssessmentFacts], Outcome]


@dataclass(frozen=True, slots=True)
class Level:
    number: int
    summary: str
    controls: tuple[LevelControl, ...]


@dataclass(frozen=True, slots=True)
class ControlResult:
    id: str
    text: str
    met: bool
    shortfalls: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LevelResult:
    number: int
    summary: str
    met: bool
    controls: tuple[ControlResult, ...]


@dataclass(frozen=True, slots=True)
class Assessment:
    decisions: tuple[DecisionResult, ...]
    levels: tuple[LevelResult, ...]
    #: The highest level whose every control (and every lower level's) is met; 0 if Level 1 is not.
    level: int


# --- shared judgements ---------------------------------------------------------------------------------


class _Tally:
    """Judgements grouped by aspect (a control of the decision, such as "egress").  A decision is not met
    when some aspect complies nowhere, partly met when every aspect complies somewhere."""

    def __init__(self) -> None:
        self.aspects: dict[str, bool] = {}
        self.passes: list[str] = []
        self.shortfalls: list[str] = []
        self.remedies: list[str] = []

    def judge(self, aspect: str, ok: bool, good: str, bad: str, *remedies: str, some: bool = False) -> None:
        self.aspects[aspect] = self.aspects.get(aspect, False) or ok or some
        if ok:
            self.passes.append(good)
        else:
            self.shortfalls.append(bad)
            self.remedies.extend(r for r in remedies if r not in self.remedies)

    def outcome(self) -> Outcome:
        if not self.shortfalls:
            status = Status.MET
        elif all(self.aspects.values()):
            status = Status.PARTLY_MET
        else:
            status = Status.NOT_MET
        return Outcome(status, tuple(self.passes), tuple(self.shortfalls), tuple(self.remedies))


def _seen(fingerprint: str | None, expected: str) -> str:
    return "not seen" if fingerprint is None else f"fingerprint {fingerprint} (model {expected})"


def _admission_enforced(env: EnvironmentFacts) -> bool:
    """Images are judged at the cluster whatever started the deployment.  A Docker environment has no
    admission webhook; its pull gate is the enforcement point there."""
    if env.kind is EnvironmentKind.KUBERNETES:
        return env.admission is AdmissionMode.ENFORCE and env.webhook_fingerprint == env.expected_fingerprint
    return env.gate_fingerprint == env.expected_fingerprint


def _admission_evidence(env: EnvironmentFacts) -> str:
    if env.kind is EnvironmentKind.KUBERNETES:
        seen = _seen(env.webhook_fingerprint, env.expected_fingerprint)
        return f"environment {env.name}: admission webhook {seen}, mode {env.admission.value}"
    return f"environment {env.name}: pull gate {_seen(env.gate_fingerprint, env.expected_fingerprint)}"


def _admission_remedy(env: EnvironmentFacts) -> str:
    if env.kind is EnvironmentKind.KUBERNETES:
        fix = f"harbourmaster webhook manifests --env {env.name} --url WEBHOOK_URL | kubectl apply -f -"
        if env.admission is not AdmissionMode.ENFORCE:
            fix += f"\nenvironments:\n  - name: {env.name}\n    admission: enforce"
        return fix
    return f"harbourmaster gate serve --registry REGISTRY --env {env.name}"


def _registry_gate(facts: AssessmentFacts, env: EnvironmentFacts, reg: RegistryFacts) -> bool:
    """The registry layer refuses what the tier blocks: its own threshold equals the tier's, or
    harbourmaster's pull gate (same rules, same fingerprint) stands in front of it."""
    tier = facts.tier(env.tier)
    own = tier is not None and reg.block_severity == tier.block_severity
    return own or env.gate_fingerprint == env.expected_fingerprint


def _sync(reg: RegistryFacts) -> str:
    return f"harbourmaster harbor sync --registry {reg.name}"


def _production(facts: AssessmentFacts) -> list[EnvironmentFacts]:
    return [e for e in facts.environments if e.tier is Tier.PRODUCTION]


def _guarded(facts: AssessmentFacts) -> list[EnvironmentFacts]:
    return [e for e in facts.environments if e.tier in (Tier.STAGING, Tier.PRODUCTION)]


def _coverage(t: _Tally, cov: Iterable[CoverageFacts], attr: str, what: str, remedy: str) -> None:
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


# --- the key decisions ---------------------------------------------------------------------------------


def _d01(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        unapproved = [
            g.registry for g in env.grants if not ((r := facts.registry(g.registry)) and r.approved)
        ]
        t.judge(
            "approved list",
            bool(env.grants) and not unapproved,
            f"environment {env.name}: approved registries {', '.join(r.name for r in facts.granted(env))}",
            f"environment {env.name}: "
            + (f"granted unapproved registries {', '.join(unapproved)}" if unapproved else "no grants"),
            f"grants:\n  - registry: APPROVED_REGISTRY\n    environment: {env.name}",
        )
        if env.tier is not Tier.DEVELOPMENT:
            t.judge(
                "anonymous hidden",
                env.hide_dockerhub_anonymous,
                f"environment {env.name}: Docker Hub anonymous hidden",
                f"environment {env.name} ({env.tier.value}): Docker Hub anonymous access is visible",
                f"harbourmaster registry hide-anonymous --env {env.name}",
            )
        t.judge(
            "admission",
            _admission_enforced(env),
            _admission_evidence(env),
            _admission_evidence(env),
            _admission_remedy(env),
        )
    return t.outcome()


_REFERENCE: Final[dict[Hosting, frozenset[Provider]]] = {
    Hosting.ON_PREMISES: frozenset({Provider.HARBOR}),
    Hosting.AIR_GAPPED: frozenset({Provider.HARBOR}),
    Hosting.AWS: frozenset({Provider.ECR, Provider.HARBOR}),
    Hosting.AZURE: frozenset({Provider.ACR, Provider.HARBOR}),
    Hosting.GCP: frozenset({Provider.GAR, Provider.HARBOR}),
}


def _d02(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        allowed = _REFERENCE[env.hosting]
        for reg in facts.granted(env):
            where = f"environment {env.name} ({env.hosting.value}): registry {reg.name} ({reg.provider})"
            if reg.public and env.tier is Tier.PRODUCTION:
                t.judge(
                    "reference registry",
                    False,
                    "",
                    f"{where} is public, a direct runtime source for production",
                    "harbourmaster mirror -f IMAGESET --to INTERNAL_REGISTRY"
                    f"   # then remove the grant of {reg.name} on {env.name}",
                )
                continue
            t.judge(
                "reference registry",
                reg.provider in allowed,
                f"{where} fits the deployment model",
                f"{where} is not the reference registry ({', '.join(sorted(allowed))})",
                f"registries:\n  - name: NAME\n    provider: {sorted(allowed)[0]}",
            )
            if env.hosting is Hosting.AIR_GAPPED:
                t.judge(
                    "reference registry",
                    reg.name in facts.approved_content_registries,
                    f"{where} holds approved content",
                    f"{where} has no approved content recorded",
                    f"harbourmaster airgap import DIR --to {reg.name} --signer NAME",
                )
        if env.hosting is Hosting.AIR_GAPPED:
            tier = facts.tier(env.tier)
            t.judge(
                "reference registry",
                tier is not None and tier.require_approved_content,
                f"tier {env.tier.value}: approved content required",
                f"tier {env.tier.value} (air-gapped {env.name}): approved content not required",
                f"tiers:\n  {env.tier.value}: {{require_approved_content: true}}",
            )
    return t.outcome()


def _d03(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    _coverage(
        t,
        facts.coverage,
        "build_scanned",
        "scanned at build time",
        "harbourmaster scan IMAGE --tier TIER --fail-on high   # in the CI job, before push",
    )
    used = {g.registry for e in facts.environments for g in e.grants}
    for reg in facts.registries:
        if reg.name in used:
            t.judge(
                "push-time scanning",
                reg.scan_on_push,
                f"registry {reg.name}: scans on push",
                f"registry {reg.name}: does not scan on push",
                _sync(reg)
                if reg.provider is Provider.HARBOR
                else f"harbourmaster registry notifications {reg.name}",
            )
    for env in facts.environments:
        tier = facts.tier(env.tier)
        scans = tier is not None and tier.unscanned is not UnscannedRule.ALLOW
        t.judge(
            "admission-time scanning",
            _admission_enforced(env) and scans,
            f"{_admission_evidence(env)}; unscanned images {tier.unscanned.value if tier else '-'}",
            f"{_admission_evidence(env)}; unscanned images "
            f"{tier.unscanned.value if tier else 'allowed (no tier policy)'}",
            _admission_remedy(env),
            f"tiers:\n  {env.tier.value}: {{unscanned: scan}}",
        )
    return t.outcome()


def _d04(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    tier = facts.tier(Tier.PRODUCTION)
    t.judge(
        "signature required",
        tier is not None and tier.require_signature,
        "tier production: signature required",
        "tier production: signature not required",
        "tiers:\n  production: {require_signature: true, signers: [ci]}",
    )
    _coverage(
        t,
        (c for c in facts.coverage if c.tier is Tier.PRODUCTION),
        "signed",
        "signed",
        "harbourmaster sign IMAGE --signing-key ci   # in the CI job, after push",
    )
    for env in _production(facts):
        for reg in facts.granted(env):
            ok = reg.content_trust or env.gate_fingerprint == env.expected_fingerprint
            t.judge(
                "registry gate",
                ok,
                f"environment {env.name}: registry {reg.name} refuses unsigned pulls",
                f"environment {env.name}: registry {reg.name} serves unsigned images "
                f"(no content trust, pull gate {_seen(env.gate_fingerprint, env.expected_fingerprint)})",
                _sync(reg)
                if reg.provider is Provider.HARBOR
                else f"harbourmaster gate serve --registry {reg.name} --env {env.name}",
            )
        t.judge(
            "admission gate",
            _admission_enforced(env),
            _admission_evidence(env),
            _admission_evidence(env),
            _admission_remedy(env),
        )
    return t.outcome()


def _d05(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        if env.kind is not EnvironmentKind.KUBERNETES:
            continue
        wrong = [
            g
            for g in env.grants
            if g.namespace is None or g.user or g.team or g.namespace not in env.namespaces
        ]
        t.judge(
            "namespace grants",
            not wrong,
            f"environment {env.name}: every grant names a namespace of the environment",
            f"environment {env.name}: grants not bound to one of its namespaces: "
            + ", ".join(f"{g.registry} -> {g.namespace or g.user or g.team}" for g in wrong),
            *(
                f"grants:\n  - registry: {g.registry}\n    environment: {env.name}\n"
                f"    namespaces: [{g.namespace or 'NAMESPACE'}]"
                for g in wrong
            ),
        )
    return t.outcome()


def _d06(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in _guarded(facts):
        public = [r.name for r in facts.granted(env) if r.public]
        t.judge(
            "no public registry",
            not public,
            f"environment {env.name}: no public registry approved",
            f"environment {env.name} ({env.tier.value}): public registries approved: {', '.join(public)}",
            *(
                f"harbourmaster mirror -f IMAGESET --to INTERNAL_REGISTRY   # then remove the grant of {p} "
                f"on {env.name}"
                for p in public
            ),
        )
        t.judge(
            "egress",
            env.egress_restricted,
            f"environment {env.name}: egress limited to approved registries",
            f"environment {env.name} ({env.tier.value}): egress to public registries not restricted",
            f"harbourmaster policy export --env {env.name} --format cilium-egress -o egress.yaml"
            " && kubectl apply -f egress.yaml",
        )
    for s in facts.mirror_schedules:
        t.judge(
            "mirror cadence",
            s.interval_days <= MIRROR_MAX_INTERVAL_DAYS,
            f"mirror schedule {s.name}: {s.source} -> {s.target_registry} every {s.interval_days}d",
            f"mirror schedule {s.name}: resync every {s.interval_days}d, less than monthly",
            f'mirrors:\n  - name: {s.name}\n    schedule: "0 2 1 * *"   # monthly at least',
        )
    return t.outcome()


def _d07(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for tier in facts.tiers:
        name = tier.tier.value
        block = threshold_rank(tier.block_severity)
        baseline = "critical" if tier.tier is Tier.DEVELOPMENT else "high"
        want = threshold_rank(baseline)
        t.judge(
            "baseline",
            block != 0 and block <= want,
            f"tier {name}: blocks {tier.block_severity}",
            f"tier {name}: blocks {tier.block_severity}, baseline blocks {baseline}",
            f"tiers:\n  {name}: {{block_severity: {baseline}}}",
        )
        if tier.tier is Tier.DEVELOPMENT:
            adv = tier.advisory_severity
            t.judge(
                "baseline",
                adv is not None and 0 < threshold_rank(adv) <= threshold_rank("medium"),
                f"tier {name}: advises from {adv}",
                f"tier {name}: medium findings not reported",
                f"tiers:\n  {name}: {{advisory_severity: medium}}",
            )
    for env in facts.environments:
        policy = facts.tier(env.tier)
        for reg in facts.granted(env):
            t.judge(
                "registry threshold",
                _registry_gate(facts, env, reg),
                f"environment {env.name}: registry {reg.name} enforces the {env.tier.value} threshold",
                f"environment {env.name}: registry {reg.name} threshold {reg.block_severity or 'none'}"
                f" differs from tier {env.tier.value} ({policy.block_severity if policy else 'undefined'})",
                _sync(reg)
                if reg.provider is Provider.HARBOR
                else f"harbourmaster gate serve --registry {reg.name} --env {env.name}",
            )
        t.judge(
            "admission threshold",
            _admission_enforced(env),
            _admission_evidence(env),
            _admission_evidence(env),
            _admission_remedy(env),
            f"harbourmaster policy diff --env {env.name}",
        )
    return t.outcome()


def _d08(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for reg in facts.registries:
        if reg.credential_kind is None:
            continue
        problems = []
        if reg.credential_kind is not CredentialKind.ROBOT:
            problems.append("a user credential, not a robot account")
        if not reg.expiry_set:
            problems.append("no expiry")
        elif reg.expires_in_days is not None and reg.expires_in_days <= 0:
            problems.append(f"expired {-reg.expires_in_days}d ago")
        if reg.scope is None:
            problems.append("not scoped to a project")
        fixes = [
            f"registries:\n  - name: {reg.name}\n    scope: PROJECT\n    credential:\n"
            f"      kind: robot\n      username: robot$PROJECT+deployer\n      expires: YYYY-MM-DD"
        ]
        if reg.provider is Provider.HARBOR:
            fixes.append(f"harbourmaster credentials rotate {reg.name}")
        t.judge(
            "credentials",
            not problems,
            f"registry {reg.name}: robot, scope {reg.scope}, expires in {reg.expires_in_days}d",
            f"registry {reg.name}: credential has {', '.join(problems)}",
            *fixes,
        )
    return t.outcome()


def _d09(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    _coverage(
        t,
        (c for c in facts.coverage if c.tier is Tier.PRODUCTION),
        "with_sbom",
        "with an SBOM",
        "harbourmaster sbom generate IMAGE && harbourmaster sbom attach IMAGE",
    )
    age = facts.advisory_db_age_hours
    t.judge(
        "correlation",
        age is not None and age <= CORRELATION_MAX_AGE_HOURS,
        f"advisory database {age:.0f}h old" if age is not None else "",
        "advisory database never imported"
        if age is None
        else f"advisory database {age:.0f}h old (more than {CORRELATION_MAX_AGE_HOURS:.0f}h)",
        "harbourmaster vulndb import PATH   # scheduled at least daily",
    )
    return t.outcome()


DECISIONS: Final[tuple[Decision, ...]] = (
    Decision("Ch5-D-01", "Approved Registry List", _d01),
    Decision("Ch5-D-02", "Registry Selection by Deployment Model", _d02),
    Decision("Ch5-D-03", "Three-Layer Image Scanning", _d03),
    Decision("Ch5-D-04", "Image Signing for Production", _d04),
    Decision("Ch5-D-05", "Kubernetes Registry Access at Namespace Level", _d05),
    Decision("Ch5-D-06", "Acceptable Use Boundary for Public Registries", _d06),
    Decision("Ch5-D-07", "Vulnerability Severity Thresholds", _d07),
    Decision("Ch5-D-08", "Service Credentials for Registry Integrations", _d08),
    Decision("Ch5-D-09", "SBOM Generation and Ongoing CVE Correlation", _d09),
)


# --- the maturity levels -----------------------------------------------------------------------------


def _met(decision_id: str) -> Callable[[AssessmentFacts], Outcome]:
    decision = next(d for d in DECISIONS if d.id == decision_id)
    return decision.check


def _approved_list(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        bad = [g.registry for g in env.grants if not ((r := facts.registry(g.registry)) and r.approved)]
        t.judge(
            "-",
            bool(env.grants) and not bad,
            f"environment {env.name}: approved list",
            f"environment {env.name}: " + (f"unapproved {', '.join(bad)}" if bad else "no approved list"),
        )
    return t.outcome()


def _anonymous_hidden_everywhere(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        t.judge(
            "-",
            env.hide_dockerhub_anonymous,
            f"environment {env.name}: Docker Hub anonymous hidden",
            f"environment {env.name}: Docker Hub anonymous access is visible",
            f"harbourmaster registry hide-anonymous --env {env.name}",
        )
    return t.outcome()


def _jit_credentials(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for d in facts.deployments:
        t.judge(
            "-",
            d.jit and not d.persistent_pull_secrets,
            f"deployment {d.id} on {d.environment}: just-in-time credentials",
            f"deployment {d.id} on {d.environment}: "
            + (
                f"persistent pull secrets {', '.join(d.persistent_pull_secrets)}"
                if d.persistent_pull_secrets
                else "not deployed with just-in-time credentials"
            ),
            f"harbourmaster jit reap --env {d.environment}",
        )
    return t.outcome()


def _push_scan_enforced(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        for reg in facts.granted(env):
            t.judge(
                "-",
                reg.scan_on_push and _registry_gate(facts, env, reg),
                f"environment {env.name}: registry {reg.name} scans on push and blocks",
                f"environment {env.name}: registry {reg.name} "
                + ("does not block over the threshold" if reg.scan_on_push else "does not scan on push"),
            )
    return t.outcome()


def _single_registry_per_tier(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        hosts = sorted({r.host for r in facts.granted(env)})
        t.judge(
            "-",
            len(hosts) == 1,
            f"environment {env.name}: one registry {hosts[0] if hosts else ''}",
            f"environment {env.name}: {len(hosts)} registries ({', '.join(hosts) or 'none'})",
        )
    for reg in facts.registries:
        tiers = sorted({e.tier.value for e in facts.environments if reg in facts.granted(e)})
        t.judge(
            "-",
            len(tiers) <= 1,
            f"registry {reg.name}: scoped to tier {''.join(tiers) or '-'}",
            f"registry {reg.name} (scope {reg.scope}): shared by tiers {', '.join(tiers)}",
        )
    return t.outcome()


def _admission_source(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        t.judge("-", _admission_enforced(env), _admission_evidence(env), _admission_evidence(env))
    return t.outcome()


def _thresholds_consistent(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    for env in facts.environments:
        for reg in facts.granted(env):
            t.judge(
                "-",
                _registry_gate(facts, env, reg) and _admission_enforced(env),
                f"environment {env.name}: {reg.name} and admission share the tier threshold",
                f"environment {env.name}: {reg.name} or its admission differs from tier {env.tier.value}",
            )
    return t.outcome()


def _sboms_attached(facts: AssessmentFacts) -> Outcome:
    t = _Tally()
    _coverage(t, facts.coverage, "with_sbom", "with an SBOM", "harbourmaster sbom attach IMAGE")
    return t.outcome()


def _c(cid: str, text: str, check: Callable[[AssessmentFacts], Outcome]) -> LevelControl:
    return LevelControl(cid, text, check)


LEVELS: Final[tuple[Level, ...]] = (
    Level(1, "Teams pull images directly from any source; no approved list (no control required)", ()),
    Level(
        2,
        "Approved registry list, Docker Hub anonymous hidden, credentials injected just in time",
        (
            _c(
                "L2-approved-list",
                "Teams deploy only from registries added and granted to their environment",
                _approved_list,
            ),
            _c(
                "L2-anonymous-hidden",
                "Docker Hub anonymous access is hidden on all environments",
                _anonymous_hidden_everywhere,
            ),
            _c(
                "L2-jit-credentials",
                "Credentials stored centrally and injected just in time; no pull secrets "
                "distributed per namespace",
                _jit_credentials,
            ),
        ),
    ),
    Level(
        3,
        "Push-time scanning enforced at the registry; admission enforces the image source list",
        (
            _c(
                "L3-push-scan-enforced",
                "Scanning active at push time and enforced at the registry: images over "
                "the threshold cannot be pulled",
                _push_scan_enforced,
            ),
            _c(
                "L3-single-registry",
                "A single approved registry per environment, projects scoped by tier",
                _single_registry_per_tier,
            ),
            _c(
                "L3-admission-source",
                "The admission controller enforces the image source list however the deployment was started",
                _admission_source,
            ),
            _c(
                "L3-thresholds-consistent",
                "Scanning thresholds consistent between registry and admission",
                _thresholds_consistent,
            ),
        ),
    ),
    Level(
        4,
        "Three-layer scanning, signed production images, SBOMs, robot accounts, namespace tenancy",
        (
            _c("L4-three-layer-scanning", "Scanning at build, push and admission time", _met("Ch5-D-03")),
            _c(
                "L4-production-signed",
                "All production images signed, enforced at registry and cluster",
                _met("Ch5-D-04"),
            ),
            _c(
                "L4-sboms",
                "SBOMs generated at build time, attached to digests, stored in the registry",
                _sboms_attached,
            ),
            _c(
                "L4-robot-accounts",
                "Robot accounts with mandatory expiry for all integrations",
                _met("Ch5-D-08"),
            ),
            _c(
                "L4-namespace-tenancy",
                "Registry access mapped to the namespace-as-tenancy model",
                _met("Ch5-D-05"),
            ),
        ),
    ),
)


def assess(facts: AssessmentFacts) -> Assessment:
    """Judge ``facts`` against every key decision and maturity level.  Raises nothing."""
    decisions = []
    for d in DECISIONS:
        out = d.check(facts)
        decisions.append(
            DecisionResult(
                id=d.id,
                title=d.title,
                status=out.status,
                evidence=out.shortfalls + out.passes,
                shortfalls=out.shortfalls,
                remedies=out.remedies,
            )
        )
    levels = []
    for lvl in LEVELS:
        controls = []
        for c in lvl.controls:
            out = c.check(facts)
            controls.append(ControlResult(c.id, c.text, not out.shortfalls, out.shortfalls))
        levels.append(LevelResult(lvl.number, lvl.summary, all(c.met for c in controls), tuple(controls)))
    reached = 0
    for lr in levels:
        if not lr.met:
            break
        reached = lr.number
    return Assessment(tuple(decisions), tuple(levels), reached)
