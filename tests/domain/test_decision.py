"""Decisions: deny by default, namespace grants on Kubernetes, user/team grants elsewhere."""

from __future__ import annotations

import datetime as dt

import pytest

from harbourmaster.domain.decision import GovernanceSnapshot, Tenant, decide
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    ANONYMOUS_DOCKERHUB,
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

TODAY = dt.date(2026, 11, 26)


def reg(name: str, url: str, scope: str | None = None, **kw: object) -> Registry:
    return Registry(
        name=name,
        provider=kw.pop("provider", Provider.HARBOR),
        url=url,  # type: ignore[arg-type]
        location=parse_registry_location(url, scope),
        **kw,
    )  # type: ignore[arg-type]


ANON = reg(ANONYMOUS_DOCKERHUB, "https://docker.io", provider=Provider.DOCKERHUB_ANONYMOUS, builtin=True)
PAYMENTS = reg("harbor-payments", "https://harbor.corp", "payments")
HARBOR_ALL = reg("harbor-all", "https://harbor.corp")
EXPIRED = reg(
    "old", "https://old.corp", credential=CredentialInfo(CredentialKind.ROBOT, "r", dt.date(2026, 1, 1), True)
)
INSECURE = reg("insecure", "http://10.0.0.1:5000", tls=TlsSettings(insecure=True), provider=Provider.CUSTOM)
GHCR = reg("ghcr", "https://ghcr.io", "corp", provider=Provider.GHCR)

PROD = Environment("prod", EnvironmentKind.KUBERNETES, Tier.PRODUCTION, namespaces=("payments", "web"))
DEV = Environment("dev", EnvironmentKind.DOCKER_STANDALONE, Tier.DEVELOPMENT)
DEV_K8S = Environment(
    "dev-k8s", EnvironmentKind.KUBERNETES, Tier.DEVELOPMENT, namespaces=("a",), hide_dockerhub_anonymous=True
)


def snapshot(*, grants: list[RegistryGrant], hide: bool = False) -> GovernanceSnapshot:
    return GovernanceSnapshot.build(
        revision=1,
        registries=[ANON, PAYMENTS, HARBOR_ALL, EXPIRED, INSECURE, GHCR],
        environments=[PROD, DEV, DEV_K8S],
        users=[User("alice"), User("bob"), User("carol")],
        teams=[Team("payments", ("alice",))],
        access=[AccessEntry("dev", team="payments"), AccessEntry("dev", user="bob")],
        grants=grants,
        hide_dockerhub_anonymous=hide,
        today=TODAY,
    )


def one(snap: GovernanceSnapshot, env: str, tenant: Tenant, image: str):  # type: ignore[no-untyped-def]
    return decide(snap, environment=env, tenant=tenant, images=[image])[0]


def test_granted_namespace_is_allowed_and_says_why() -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-payments", "prod", namespace="payments")])
    d = one(snap, "prod", Tenant(namespace="payments"), "harbor.corp/payments/api:1")
    assert d.allowed and d.registry == "harbor-payments"
    assert "granted to namespace payments" in d.reasons[-1]


def test_other_namespace_is_denied() -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-payments", "prod", namespace="payments")])
    d = one(snap, "prod", Tenant(namespace="web"), "harbor.corp/payments/api:1")
    assert not d.allowed
    assert d.reasons[-1] == "denied by default"
    assert any("not granted to namespace web" in r for r in d.reasons)


@pytest.mark.parametrize(
    "image",
    [
        "harbor.corp/payments-evil/x:1",
        "harbor.corp.evil.io/payments/x:1",
        "harbor.corp:8443/payments/x:1",
        "evilharbor.corp/payments/x:1",
    ],
)
def test_prefix_lookalikes_are_denied(image: str) -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-payments", "prod", namespace="payments")])
    assert not one(snap, "prod", Tenant(namespace="payments"), image).allowed


def test_most_specific_registry_wins_but_falls_back_to_a_granted_broader_one() -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-all", "prod", namespace="web")])
    d = one(snap, "prod", Tenant(namespace="web"), "harbor.corp/payments/api:1")
    assert d.allowed and d.registry == "harbor-all"
    assert any("harbor-payments matches but is not granted" in r for r in d.reasons)


def test_docker_grants_go_to_users_through_teams() -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-payments", "dev", team="payments")])
    assert one(snap, "dev", Tenant(user="alice"), "harbor.corp/payments/a").allowed
    denied = one(snap, "dev", Tenant(user="bob"), "harbor.corp/payments/a")
    assert not denied.allowed


def test_user_without_environment_access_is_denied_everything() -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-payments", "dev", team="payments")])
    d = one(snap, "dev", Tenant(user="carol"), "nginx")
    assert not d.allowed and "has no access to environment dev" in d.reasons[0]


def test_kubernetes_needs_a_known_namespace() -> None:
    snap = snapshot(grants=[])
    assert "a namespace is required" in one(snap, "prod", Tenant(user="alice"), "x/y").reasons[0]
    assert "not a namespace of" in one(snap, "prod", Tenant(namespace="nope"), "x/y").reasons[0]
    assert "not known" in one(snap, "nowhere", Tenant(namespace="a"), "x/y").reasons[0]


def test_anonymous_dockerhub_on_development_only_and_can_be_hidden() -> None:
    snap = snapshot(grants=[])
    d = one(snap, "dev", Tenant(user="bob"), "nginx")
    assert (
        d.allowed and d.registry == ANONYMOUS_DOCKERHUB and d.normalized == "docker.io/library/nginx:latest"
    )
    assert not one(snap, "prod", Tenant(namespace="web"), "nginx").allowed
    # Hidden per environment.
    assert not one(snap, "dev-k8s", Tenant(namespace="a"), "nginx").allowed
    # Hidden globally.
    hidden = snapshot(grants=[], hide=True)
    d = one(hidden, "dev", Tenant(user="bob"), "docker.io/library/nginx:1")
    assert not d.allowed and any("hidden" in r for r in d.reasons)


def test_anonymous_dockerhub_does_not_cover_other_hosts() -> None:
    snap = snapshot(grants=[])
    assert not one(snap, "dev", Tenant(user="bob"), "quay.io/x/y").allowed


def test_expired_credential_denies_even_when_granted() -> None:
    snap = snapshot(grants=[RegistryGrant("old", "prod", namespace="web")])
    d = one(snap, "prod", Tenant(namespace="web"), "old.corp/x:1")
    assert not d.allowed and any("expired on 2026-01-01" in r for r in d.reasons)


def test_public_and_insecure_registries_are_refused_beyond_development() -> None:
    # Defence in depth: even if a grant slipped into the store, decisions refuse.
    snap = snapshot(
        grants=[
            RegistryGrant("ghcr", "prod", namespace="web"),
            RegistryGrant("insecure", "prod", namespace="web"),
        ]
    )
    assert any("public" in r for r in one(snap, "prod", Tenant(namespace="web"), "ghcr.io/corp/x").reasons)
    d = one(snap, "prod", Tenant(namespace="web"), "10.0.0.1:5000/x")
    assert not d.allowed and any("insecure" in r for r in d.reasons)


def test_malformed_reference_is_denied_with_the_parse_error() -> None:
    snap = snapshot(grants=[])
    d = one(snap, "dev", Tenant(user="bob"), "UPPER/case")
    assert not d.allowed and d.normalized is None and "UPPER/case" in d.reasons[0]


def test_every_image_gets_its_own_decision() -> None:
    snap = snapshot(grants=[RegistryGrant("harbor-payments", "prod", namespace="payments")])
    images = ["harbor.corp/payments/a", "nginx", "harbor.corp/payments/b@sha256:" + "0" * 64]
    out = decide(snap, environment="prod", tenant=Tenant(namespace="payments"), images=images)
    assert [d.allowed for d in out] == [True, False, True]
    assert [d.image for d in out] == images


HUB_OFFICIAL = reg("hub-official", "https://docker.io", "library", provider=Provider.DOCKERHUB)


@pytest.mark.parametrize(
    "image",
    [
        "registry-1.docker.io/nginx",
        "registry-1.docker.io/nginx:1.27",
        "index.docker.io/nginx",
        "registry.hub.docker.com/nginx",
        "REGISTRY-1.DOCKER.IO/library/nginx",
    ],
)
def test_docker_hub_host_aliases_are_docker_hub(image: str) -> None:
    """Issue 8: ``registry-1.docker.io/nginx`` is Docker Hub's nginx, not an unknown image."""
    snap = GovernanceSnapshot.build(
        revision=1,
        registries=[ANON, HUB_OFFICIAL],
        environments=[DEV],
        users=[User("bob")],
        teams=[],
        access=[AccessEntry("dev", user="bob")],
        grants=[RegistryGrant("hub-official", "dev", user="bob")],
        hide_dockerhub_anonymous=False,
        today=TODAY,
    )
    d = one(snap, "dev", Tenant(user="bob"), image)
    assert d.allowed and d.registry == "hub-official", d.reasons
    assert d.normalized is not None and d.normalized.startswith("docker.io/library/nginx:")
    # Without a grant, the built-in anonymous Docker Hub (development only) covers it too.
    anonymous = one(snapshot(grants=[]), "dev", Tenant(user="bob"), image)
    assert anonymous.allowed and anonymous.registry == ANONYMOUS_DOCKERHUB, anonymous.reasons
