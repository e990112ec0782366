"""The maturity assessment: each key decision flips when its control is removed, and the level follows."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest

from harbourmaster.domain.assessment import (
    DECISIONS,
    LEVELS,
    Assessment,
    AssessmentFacts,
    AuditFacts,
    CoverageFacts,
    DecisionResult,
    DeploymentFacts,
    EnvironmentFacts,
    GrantFacts,
    Hosting,
    MirrorScheduleFacts,
    RegistryFacts,
    Status,
    assess,
)
from harbourmaster.domain.model import AdmissionMode, CredentialKind, EnvironmentKind, Provider, Tier
from harbourmaster.domain.tiers import TierPolicy, UnscannedRule

Mutation = Callable[[AssessmentFacts], AssessmentFacts]


def _registry(name: str, scope: str, block: str, *, trust: bool = False) -> RegistryFacts:
    return RegistryFacts(
        name=name,
        provider=Provider.HARBOR,
        host="harbor.corp",
        scope=scope,
        credential_kind=CredentialKind.ROBOT,
        expiry_set=True,
        expires_in_days=60,
        managed=True,
        rotated=True,
        scan_on_push=True,
        block_severity=block,
        content_trust=trust,
    )


def _k8s(name: str, tier: Tier, registry: str) -> EnvironmentFacts:
    return EnvironmentFacts(
        name=name,
        kind=EnvironmentKind.KUBERNETES,
        tier=tier,
        namespaces=("payments", "web"),
        hide_dockerhub_anonymous=True,
        expected_fingerprint=f"sha256:{name}",
        webhook_fingerprint=f"sha256:{name}",
        egress_restricted=True,
        grants=(GrantFacts(registry, namespace="payments"), GrantFacts(registry, namespace="web")),
    )


def compliant() -> AssessmentFacts:
    return AssessmentFacts(
        registries=(
            _registry("harbor-dev", "dev", "critical"),
            _registry("harbor-staging", "staging", "high"),
            _registry("harbor-prod", "prod", "high", trust=True),
        ),
        environments=(
            EnvironmentFacts(
                name="dev-docker",
                kind=EnvironmentKind.DOCKER_STANDALONE,
                tier=Tier.DEVELOPMENT,
                hide_dockerhub_anonymous=True,
                expected_fingerprint="sha256:dev",
                gate_fingerprint="sha256:dev",
                grants=(GrantFacts("harbor-dev", team="payments"),),
            ),
            _k8s("staging-k8s", Tier.STAGING, "harbor-staging"),
            _k8s("prod-eu", Tier.PRODUCTION, "harbor-prod"),
            _k8s("prod-us", Tier.PRODUCTION, "harbor-prod"),
        ),
        tiers=(
            TierPolicy(Tier.DEVELOPMENT, "critical", "medium", False, unscanned=UnscannedRule.SCAN),
            TierPolicy(Tier.STAGING, "high", "medium", False, unscanned=UnscannedRule.SCAN),
            TierPolicy(Tier.PRODUCTION, "high", "medium", True, unscanned=UnscannedRule.BLOCK),
        ),
        coverage=tuple(CoverageFacts(t, 10, 10, 10, 10, 10) for t in Tier),
        advisory_db_age_hours=3.0,
        audit=AuditFacts(chain_verified=True, checkpoints=4),
        mirror_schedules=(MirrorScheduleFacts("base", "docker.io/library", "harbor-prod", 7),),
        deployments=(DeploymentFacts("d-1", "prod-eu", jit=True),),
    )


def _envs(facts: AssessmentFacts, names: set[str] | None, **changes: object) -> AssessmentFacts:
    envs = tuple(
        replace(e, **changes) if names is None or e.name in names else e  # type: ignore[arg-type]
        for e in facts.environments
    )
    return replace(facts, environments=envs)


def _regs(facts: AssessmentFacts, names: set[str] | None, **changes: object) -> AssessmentFacts:
    regs = tuple(
        replace(r, **changes) if names is None or r.name in names else r  # type: ignore[arg-type]
        for r in facts.registries
    )
    return replace(facts, registries=regs)


def _tier(facts: AssessmentFacts, tier: Tier, **changes: object) -> AssessmentFacts:
    tiers = tuple(
        t.with_changes(**changes) if t.tier is tier else t  # type: ignore[arg-type]
        for t in facts.tiers
    )
    return replace(facts, tiers=tiers)


def _cov(facts: AssessmentFacts, tier: Tier | None, **changes: int) -> AssessmentFacts:
    cov = tuple(
        replace(c, **changes) if tier is None or c.tier is tier else c  # type: ignore[arg-type]
        for c in facts.coverage
    )
    return replace(facts, coverage=cov)


def _public_grant(names: set[str]) -> Mutation:
    def mutate(f: AssessmentFacts) -> AssessmentFacts:
        hub = RegistryFacts(name="dockerhub", provider=Provider.DOCKERHUB, host="docker.io", public=True)
        f = replace(f, registries=(*f.registries, hub))
        envs = tuple(
            replace(e, grants=(*e.grants, GrantFacts("dockerhub", namespace="web"))) if e.name in names else e
            for e in f.environments
        )
        return replace(f, environments=envs)

    return mutate


def _user_grants(names: set[str]) -> Mutation:
    def mutate(f: AssessmentFacts) -> AssessmentFacts:
        envs = tuple(
            replace(e, grants=tuple(replace(g, namespace=None, team="payments") for g in e.grants))
            if e.name in names
            else e
            for e in f.environments
        )
        return replace(f, environments=envs)

    return mutate


ALL_K8S = {"staging-k8s", "prod-eu", "prod-us"}

#: decision id -> (the control removed everywhere, the level that leaves; the control removed in some places
#: only, a word its shortfalls must name, the level that leaves).
CASES: dict[str, tuple[Mutation, int, Mutation, str, int]] = {
    "Ch5-D-01": (
        lambda f: _envs(f, None, hide_dockerhub_anonymous=False),
        1,
        lambda f: _envs(f, {"prod-us"}, hide_dockerhub_anonymous=False),
        "prod-us",
        1,
    ),
    "Ch5-D-02": (
        lambda f: _regs(f, None, provider=Provider.CUSTOM),
        4,
        lambda f: _regs(f, {"harbor-dev"}, provider=Provider.CUSTOM),
        "harbor-dev",
        4,
    ),
    "Ch5-D-03": (
        lambda f: _regs(f, None, scan_on_push=False),
        2,
        lambda f: _regs(f, {"harbor-dev"}, scan_on_push=False),
        "harbor-dev",
        2,
    ),
    "Ch5-D-04": (
        lambda f: _tier(f, Tier.PRODUCTION, require_signature=False),
        3,
        lambda f: _envs(f, {"prod-us"}, webhook_fingerprint="sha256:stale"),
        "sha256:stale",
        2,
    ),
    "Ch5-D-05": (_user_grants(ALL_K8S), 3, _user_grants({"prod-us"}), "prod-us", 3),
    "Ch5-D-06": (
        lambda f: _envs(f, None, egress_restricted=False),
        4,
        lambda f: _envs(f, {"staging-k8s"}, egress_restricted=False),
        "staging-k8s",
        4,
    ),
    "Ch5-D-07": (
        lambda f: _envs(_regs(f, None, block_severity=None), None, gate_fingerprint=None),
        2,
        lambda f: _regs(f, {"harbor-staging"}, block_severity="critical"),
        "harbor-staging",
        2,
    ),
    "Ch5-D-08": (
        lambda f: _regs(f, None, expiry_set=False, expires_in_days=None),
        3,
        lambda f: _regs(f, {"harbor-prod"}, credential_kind=CredentialKind.USER),
        "harbor-prod",
        3,
    ),
    "Ch5-D-09": (
        lambda f: replace(f, advisory_db_age_hours=None),
        4,
        lambda f: _cov(f, Tier.PRODUCTION, with_sbom=4),
        "4/10",
        3,
    ),
}


def _decision(result: Assessment, decision_id: str) -> DecisionResult:
    return next(d for d in result.decisions if d.id == decision_id)


def test_the_tables_list_every_decision_and_level() -> None:
    assert [d.id for d in DECISIONS] == [f"Ch5-D-0{i}" for i in range(1, 10)]
    assert [lvl.number for lvl in LEVELS] == [1, 2, 3, 4]
    assert LEVELS[0].controls == ()  # the seed's Level 1 is the uncontrolled baseline
    assert all(lvl.controls for lvl in LEVELS[1:])
    assert set(CASES) == {d.id for d in DECISIONS}


def test_a_compliant_set_up_meets_every_decision_and_level_4() -> None:
    result = assess(compliant())
    assert {d.id: d.status for d in result.decisions} == {d.id: Status.MET for d in DECISIONS}
    assert all(not d.shortfalls and not d.remedies and d.evidence for d in result.decisions)
    assert all(lvl.met for lvl in result.levels)
    assert result.level == 4


@pytest.mark.parametrize("decision_id", sorted(CASES))
def test_removing_the_control_everywhere_means_not_met(decision_id: str) -> None:
    remove, level, _, _, _ = CASES[decision_id]
    result = assess(remove(compliant()))
    decision = _decision(result, decision_id)
    assert decision.status is Status.NOT_MET, decision.evidence
    assert decision.remedies and decision.shortfalls
    assert result.level == level


@pytest.mark.parametrize("decision_id", sorted(CASES))
def test_removing_the_control_somewhere_means_partly_met(decision_id: str) -> None:
    _, _, partly, named, level = CASES[decision_id]
    result = assess(partly(compliant()))
    decision = _decision(result, decision_id)
    assert decision.status is Status.PARTLY_MET, decision.evidence
    assert decision.remedies
    assert any(named in s for s in decision.shortfalls), decision.shortfalls
    assert result.level == level


def test_evidence_names_the_offending_objects_and_the_fingerprints() -> None:
    facts = _envs(compliant(), {"prod-eu"}, webhook_fingerprint="sha256:old", admission=AdmissionMode.AUDIT)
    d01 = _decision(assess(facts), "Ch5-D-01")
    assert d01.status is Status.PARTLY_MET
    assert any("prod-eu" in s and "sha256:old" in s and "audit" in s for s in d01.shortfalls)
    assert any("admission: enforce" in r and "prod-eu" in r for r in d01.remedies)


def test_a_public_registry_on_staging_and_production_breaks_d06_and_d02() -> None:
    result = assess(_public_grant({"prod-eu"})(compliant()))
    d06 = _decision(result, "Ch5-D-06")
    assert d06.status is Status.PARTLY_MET
    assert any("prod-eu" in s and "dockerhub" in s for s in d06.shortfalls)
    assert _decision(result, "Ch5-D-02").status is Status.PARTLY_MET


def test_thresholds_below_the_baseline_are_named_with_the_tier() -> None:
    facts = _tier(compliant(), Tier.STAGING, block_severity="critical")
    d07 = _decision(assess(facts), "Ch5-D-07")
    assert d07.status is Status.PARTLY_MET
    assert any("tier staging" in s and "baseline blocks high" in s for s in d07.shortfalls)
    assert "tiers:\n  staging: {block_severity: high}" in d07.remedies


def test_an_expired_credential_is_reported_with_a_rotation() -> None:
    # Not managed: the remedy is to let harbourmaster manage the Harbor project and its robots.
    d08 = _decision(assess(_regs(compliant(), {"harbor-dev"}, expires_in_days=-3, managed=False)), "Ch5-D-08")
    assert any("harbor-dev" in s and "expired 3d ago" in s for s in d08.shortfalls)
    assert "harbourmaster harbor sync --registry harbor-dev" in d08.remedies
    assert any("manage: true" in r for r in d08.remedies)
    # Managed (its robots synced): rotate them.
    managed = _decision(assess(_regs(compliant(), {"harbor-dev"}, expires_in_days=-3, managed=True)),
                        "Ch5-D-08")  # fmt: skip
    assert managed.remedies == ("harbourmaster credentials rotate harbor-dev",)


def test_an_air_gapped_environment_needs_approved_content() -> None:
    facts = _envs(compliant(), {"prod-eu"}, hosting=Hosting.AIR_GAPPED)
    d02 = _decision(assess(facts), "Ch5-D-02")
    assert d02.status is Status.PARTLY_MET
    assert any("prod-eu" in s and "harbor-prod" in s and "no approved content" in s for s in d02.shortfalls)
    facts = replace(
        _tier(facts, Tier.PRODUCTION, require_approved_content=True),
        approved_content_registries=("harbor-prod",),
    )
    assert _decision(assess(facts), "Ch5-D-02").status is Status.MET


def test_persistent_pull_secrets_keep_the_organisation_at_level_1() -> None:
    facts = replace(
        compliant(),
        deployments=(DeploymentFacts("d-9", "prod-us", jit=False, persistent_pull_secrets=("regcred",)),),
    )
    result = assess(facts)
    assert result.level == 1
    l2 = result.levels[1]
    assert any("d-9" in s and "regcred" in s for c in l2.controls for s in c.shortfalls)


def test_one_registry_shared_by_two_tiers_stops_at_level_2() -> None:
    facts = _envs(compliant(), {"staging-k8s"}, grants=(GrantFacts("harbor-prod", namespace="payments"),))
    result = assess(facts)
    assert result.level == 2
    l3 = next(c for c in result.levels[2].controls if c.id == "L3-single-registry")
    assert any("harbor-prod" in s and "staging" in s and "production" in s for s in l3.shortfalls)


def test_every_unmet_decision_carries_a_remedy() -> None:
    facts = compliant()
    for remove, *_ in CASES.values():
        facts = remove(facts)
    result = assess(facts)
    assert all(d.status is Status.NOT_MET for d in result.decisions), [d.id for d in result.decisions]
    assert all(d.remedies and d.shortfalls for d in result.decisions)
    assert result.level == 1
