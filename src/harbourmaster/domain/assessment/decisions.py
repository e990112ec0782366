"""The key decisions Ch5-D-01 to Ch5-D-09, each a check of the facts."""

from __future__ import annotations

from typing import Final

from harbourmaster.domain.assessment._judgements import (
    Tally,
    admission_enforced,
    admission_evidence,
    admission_remedy,
    coverage,
    guarded,
    production,
    registry_gate,
    seen_by,
    sync,
)
from harbourmaster.domain.assessment.facts import (
    CORRELATION_MAX_AGE_HOURS,
    MIRROR_MAX_INTERVAL_DAYS,
    AssessmentFacts,
    Hosting,
)
from harbourmaster.domain.assessment.results import Decision, Outcome
from harbourmaster.domain.model import CredentialKind, EnvironmentKind, Provider, Tier
from harbourmaster.domain.tiers import UnscannedRule, threshold_rank


def _d01(facts: AssessmentFacts) -> Outcome:
    t = Tally()
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
            admission_enforced(env),
            admission_evidence(env),
            admission_evidence(env),
            admission_remedy(env),
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
    t = Tally()
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
    t = Tally()
    coverage(
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
                sync(reg)
                if reg.provider is Provider.HARBOR
                else f"harbourmaster registry notifications {reg.name}",
            )
    for env in facts.environments:
        tier = facts.tier(env.tier)
        scans = tier is not None and tier.unscanned is not UnscannedRule.ALLOW
        t.judge(
            "admission-time scanning",
            admission_enforced(env) and scans,
            f"{admission_evidence(env)}; unscanned images {tier.unscanned.value if tier else '-'}",
            f"{admission_evidence(env)}; unscanned images "
            f"{tier.unscanned.value if tier else 'allowed (no tier policy)'}",
            admission_remedy(env),
            f"tiers:\n  {env.tier.value}: {{unscanned: scan}}",
        )
    return t.outcome()


def _d04(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    tier = facts.tier(Tier.PRODUCTION)
    t.judge(
        "signature required",
        tier is not None and tier.require_signature,
        "tier production: signature required",
        "tier production: signature not required",
        "tiers:\n  production: {require_signature: true, signers: [ci]}",
    )
    coverage(
        t,
        (c for c in facts.coverage if c.tier is Tier.PRODUCTION),
        "signed",
        "signed",
        "harbourmaster sign IMAGE --signing-key ci   # in the CI job, after push",
    )
    for env in production(facts):
        for reg in facts.granted(env):
            ok = reg.content_trust or env.gate_fingerprint == env.expected_fingerprint
            t.judge(
                "registry gate",
                ok,
                f"environment {env.name}: registry {reg.name} refuses unsigned pulls",
                f"environment {env.name}: registry {reg.name} serves unsigned images "
                f"(no content trust, pull gate {seen_by(env.gate_fingerprint, env.expected_fingerprint)})",
                sync(reg)
                if reg.provider is Provider.HARBOR
                else f"harbourmaster gate serve --registry {reg.name} --env {env.name}",
            )
        t.judge(
            "admission gate",
            admission_enforced(env),
            admission_evidence(env),
            admission_evidence(env),
            admission_remedy(env),
        )
    return t.outcome()


def _d05(facts: AssessmentFacts) -> Outcome:
    t = Tally()
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
    t = Tally()
    for env in guarded(facts):
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
    t = Tally()
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
                registry_gate(facts, env, reg),
                f"environment {env.name}: registry {reg.name} enforces the {env.tier.value} threshold",
                f"environment {env.name}: registry {reg.name} threshold {reg.block_severity or 'none'}"
                f" differs from tier {env.tier.value} ({policy.block_severity if policy else 'undefined'})",
                sync(reg)
                if reg.provider is Provider.HARBOR
                else f"harbourmaster gate serve --registry {reg.name} --env {env.name}",
            )
        t.judge(
            "admission threshold",
            admission_enforced(env),
            admission_evidence(env),
            admission_evidence(env),
            admission_remedy(env),
            f"harbourmaster policy diff --env {env.name}",
        )
    return t.outcome()


def _d08(facts: AssessmentFacts) -> Outcome:
    t = Tally()
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
        if reg.provider is Provider.HARBOR and reg.managed:
            fixes = [f"harbourmaster credentials rotate {reg.name}"]
        elif reg.provider is Provider.HARBOR:
            # Managed: least-privilege robots with an expiry, rotated automatically, secrets in the vault.
            fixes = [
                f"registries:\n  - name: {reg.name}\n    scope: PROJECT\n    manage: true",
                f"harbourmaster harbor sync --registry {reg.name}",
            ]
        managed = ", managed and rotated by harbourmaster" if reg.managed and reg.rotated else ""
        t.judge(
            "credentials",
            not problems,
            f"registry {reg.name}: robot, scope {reg.scope}, expires in {reg.expires_in_days}d{managed}",
            f"registry {reg.name}: credential has {', '.join(problems)}",
            *fixes,
        )
    return t.outcome()


def _d09(facts: AssessmentFacts) -> Outcome:
    t = Tally()
    coverage(
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
