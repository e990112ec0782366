"""The governance rules, as pure checks on a whole model."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.diff import describe_changes
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    AccessEntry,
    CredentialInfo,
    CredentialKind,
    Environment,
    EnvironmentKind,
    Provider,
    Registry,
    RegistryGrant,
    Team,
    Tier,
    TlsSettings,
    User,
)
from harbourmaster.domain.state import GovernanceState, validate_state
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy, TierPolicyError

TODAY = dt.date(2026, 11, 26)


def registry(name: str, url: str, provider: Provider = Provider.HARBOR, **kw: object) -> Registry:
    return Registry(name=name, provider=provider, url=url, location=parse_registry_location(url), **kw)  # type: ignore[arg-type]


BASE = GovernanceState(
    registries=(registry("harbor", "https://harbor.corp"),),
    environments=(
        Environment("prod", EnvironmentKind.KUBERNETES, Tier.PRODUCTION, namespaces=("web",)),
        Environment("dev", EnvironmentKind.SWARM, Tier.DEVELOPMENT),
    ),
    users=(User("alice"), User("bob")),
    teams=(Team("web", ("alice",)),),
    access=(AccessEntry("dev", team="web"),),
)


def problems(state: GovernanceState) -> list[str]:
    return [str(v) for v in validate_state(state, today=TODAY)]


def test_the_base_model_is_valid() -> None:
    assert problems(BASE) == []


def test_public_registry_rule_d06() -> None:
    hub = registry("ghcr", "https://ghcr.io", Provider.GHCR)
    state = BASE.evolve(
        registries=(*BASE.registries, hub), grants=(RegistryGrant("ghcr", "prod", namespace="web"),)
    )
    (only,) = problems(state)
    assert "public" in only and "D-06" in only
    dev = state.evolve(grants=(RegistryGrant("ghcr", "dev", team="web"),))
    assert problems(dev) == []


def test_declared_public_custom_registry_is_public() -> None:
    mirror = registry("mirror", "https://mirror.example", Provider.CUSTOM, declared_public=True)
    assert mirror.public
    state = BASE.evolve(registries=(mirror,), grants=(RegistryGrant("mirror", "prod", namespace="web"),))
    assert any("public" in p for p in problems(state))


def test_kubernetes_grants_are_per_namespace_d05() -> None:
    state = BASE.evolve(grants=(RegistryGrant("harbor", "prod", team="web"),))
    assert any("per namespace" in p and "D-05" in p for p in problems(state))


def test_docker_grants_need_environment_access() -> None:
    ok = BASE.evolve(
        grants=(RegistryGrant("harbor", "dev", user="alice"), RegistryGrant("harbor", "dev", team="web"))
    )
    assert problems(ok) == []
    bad = BASE.evolve(grants=(RegistryGrant("harbor", "dev", user="bob"),))
    (only,) = problems(bad)
    assert "bob has no access" in only and "grant-requires-access" in only
    ns = BASE.evolve(grants=(RegistryGrant("harbor", "dev", namespace="web"),))
    assert any("not namespaces" in p for p in problems(ns))


def test_robot_credentials_must_expire_beyond_development_d08() -> None:
    robot = CredentialInfo(CredentialKind.ROBOT, "robot$x", None, True)
    reg = registry("harbor", "https://harbor.corp", credential=robot)
    prod = BASE.evolve(registries=(reg,), grants=(RegistryGrant("harbor", "prod", namespace="web"),))
    assert any("D-08" in p for p in problems(prod))
    dev = BASE.evolve(registries=(reg,), grants=(RegistryGrant("harbor", "dev", team="web"),))
    assert problems(dev) == []
    user = registry(
        "harbor", "https://harbor.corp", credential=CredentialInfo(CredentialKind.USER, "u", None, True)
    )
    assert problems(prod.evolve(registries=(user,))) == []


def test_expired_credential_is_refused() -> None:
    cred = CredentialInfo(CredentialKind.ROBOT, "r", TODAY - dt.timedelta(days=1), True)
    (only,) = problems(BASE.evolve(registries=(registry("harbor", "https://harbor.corp", credential=cred),)))
    assert "expired on 2026-11-25" in only


def test_insecure_registry_only_on_development() -> None:
    plain = registry("lab", "http://10.1.2.3:5000", Provider.CUSTOM)
    assert any("plain http" in p for p in problems(BASE.evolve(registries=(plain,))))
    insecure = registry("lab", "http://10.1.2.3:5000", Provider.CUSTOM, tls=TlsSettings(insecure=True))
    state = BASE.evolve(registries=(insecure,), grants=(RegistryGrant("lab", "prod", namespace="web"),))
    assert any("insecure" in p and "production" in p for p in problems(state))


def test_dockerhub_registry_needs_a_credential() -> None:
    hub = registry("hub", "https://docker.io", Provider.DOCKERHUB)
    assert any("without a credential" in p for p in problems(BASE.evolve(registries=(hub,))))


def test_names_references_and_duplicates() -> None:
    state = BASE.evolve(
        environments=(
            *BASE.environments,
            Environment("Bad Name", EnvironmentKind.SWARM, Tier.STAGING),
            Environment("dev", EnvironmentKind.SWARM, Tier.STAGING),
        ),
        teams=(Team("web", ("alice", "ghost")),),
        access=(AccessEntry("nowhere", user="alice"), AccessEntry("dev", user="alice", team="web")),
    )
    found = problems(state)
    assert any("'Bad Name' is not a valid environment name" in p for p in found)
    assert any("environment dev is defined more than once" in p for p in found)
    assert any("user ghost is not defined" in p for p in found)
    assert any("environment nowhere is not defined" in p for p in found)
    assert any("exactly one of user or team" in p for p in found)


def test_namespaces_only_on_kubernetes_and_valid() -> None:
    state = BASE.evolve(
        environments=(
            Environment("k", EnvironmentKind.KUBERNETES, Tier.STAGING, namespaces=("ok", "Not_OK", "ok")),
            Environment("s", EnvironmentKind.SWARM, Tier.STAGING, namespaces=("x",)),
        ),
        access=(),
    )
    found = problems(state)
    assert any("'Not_OK' is not a valid Kubernetes namespace" in p for p in found)
    assert any("namespace ok is listed more than once" in p for p in found)
    assert any("only Kubernetes environments have namespaces" in p for p in found)


def test_default_tier_policies_follow_d07() -> None:
    dev, staging, prod = (DEFAULT_TIER_POLICIES[t] for t in (Tier.DEVELOPMENT, Tier.STAGING, Tier.PRODUCTION))
    assert dev.blocks("critical") and not dev.blocks("high") and dev.advises("medium")
    assert staging.blocks("high") and not staging.blocks("medium")
    assert prod.blocks("high") and prod.require_signature and not staging.require_signature
    assert not prod.blocks("unknown") and not prod.advises("low")


def test_tier_policy_validation() -> None:
    with pytest.raises(TierPolicyError, match="not a severity"):
        TierPolicy(Tier.STAGING, "severe", None, require_signature=False)
    with pytest.raises(TierPolicyError, match="above the block severity"):
        TierPolicy(Tier.STAGING, "medium", "critical", require_signature=False)
    never = TierPolicy(Tier.DEVELOPMENT, "none", "low", require_signature=False)
    assert not never.blocks("critical") and never.advises("critical")


def test_diff_lines() -> None:
    new = BASE.evolve(
        registries=(*BASE.registries, registry("quay", "https://quay.corp", Provider.QUAY)),
        environments=(
            BASE.environments[0],
            Environment("dev", EnvironmentKind.SWARM, Tier.DEVELOPMENT, group="g"),
        ),
        grants=(RegistryGrant("harbor", "prod", namespace="web"),),
        hide_dockerhub_anonymous=True,
    )
    lines = describe_changes(BASE, new, replaced_secrets=["harbor"])
    assert lines == [
        "+ registry quay",
        "~ registry harbor: secret replaced",
        "~ environment dev: group: None -> 'g'",
        "+ grant harbor -> prod namespace web",
        "~ settings: hide_dockerhub_anonymous: False -> True",
    ]
    assert describe_changes(new, new) == []
