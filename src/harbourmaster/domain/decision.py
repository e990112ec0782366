"""Deployment decisions: may this image run in this environment, for this tenant?

A decision is taken against a :class:`GovernanceSnapshot`, an immutable,
indexed view of the governance model built once per model revision.  Taking a
decision is then a reference parse (cached), a dictionary walk over the
reference's path segments and a few set look-ups, which keeps admission-path
latency in microseconds.  Deny by default: an image is allowed only when a
granted, usable registry matches it, or when anonymous Docker Hub is open on a
development-tier environment.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.matching import RegistryIndex
from harbourmaster.domain.model import (
    ANONYMOUS_DOCKERHUB,
    AccessEntry,
    Environment,
    EnvironmentKind,
    Registry,
    RegistryGrant,
    Team,
    Tier,
    User,
)
from harbourmaster.domain.reference import ImageReference, ReferenceError, parse_reference

__all__ = ["Decision", "GovernanceSnapshot", "Tenant", "decide", "decide_for_tier", "registry_unusable"]


@dataclass(frozen=True, slots=True)
class Tenant:
    """Who deploys: a namespace on Kubernetes, a user on docker-standalone and swarm."""

    namespace: str | None = None
    user: str | None = None

    def describe(self) -> str:
        if self.namespace is not None:
            return f"namespace {self.namespace}"
        if self.user is not None:
            return f"user {self.user}"
        return "no tenant"


@dataclass(frozen=True, slots=True)
class Decision:
    image: str
    normalized: str | None
    registry: str | None
    allowed: bool
    reasons: tuple[str, ...]
    digest: str | None = None
    #: Why an allowed tag could not be pinned to a digest (the registry did not answer ...); None otherwise.
    digest_error: str | None = None
    #: The image policy verdict's parts (:mod:`harbourmaster.domain.verdict`) when the decision is the
    #: full verdict; None for a source-only decision.
    verdict: Mapping[str, Any] | None = None


@lru_cache(maxsize=16384)
def _parse_cached(text: str) -> ImageReference:
    return parse_reference(text)


@dataclass(frozen=True)
class GovernanceSnapshot:
    """An indexed, immutable view of the governance model at one revision."""

    revision: int
    environments: Mapping[str, Environment]
    registries: Mapping[str, Registry]
    hide_dockerhub_anonymous: bool
    #: (environment, namespace) -> registries granted there.
    namespace_grants: Mapping[tuple[str, str], frozenset[str]]
    #: (environment, user) -> registries granted to the user, directly or through a team.
    user_grants: Mapping[tuple[str, str], frozenset[str]]
    #: environment -> users with access, directly or through a team.
    environment_users: Mapping[str, frozenset[str]]
    index: RegistryIndex[str] = field(repr=False)
    #: The date credential expiry is judged by (the caller's clock: the domain never reads one).
    today: dt.date
    #: Kinds whose objects are not denied as "not understood" in deployment content.
    content_ignore_kinds: tuple[KindSelector, ...] = ()

    @classmethod
    def build(
        cls,
        *,
        revision: int,
        registries: Iterable[Registry],
        environments: Iterable[Environment],
        users: Iterable[User],
        teams: Iterable[Team],
        access: Iterable[AccessEntry],
        grants: Iterable[RegistryGrant],
        hide_dockerhub_anonymous: bool,
        today: dt.date,
        content_ignore_kinds: Iterable[KindSelector] = (),
    ) -> GovernanceSnapshot:
        regs = {r.name: r for r in registries}
        envs = {e.name: e for e in environments}
        del users  # identities matter through access entries and team membership only
        members = {t.name: frozenset(t.members) for t in teams}

        env_users: dict[str, set[str]] = {}
        for entry in access:
            holders = env_users.setdefault(entry.environment, set())
            if entry.user is not None:
                holders.add(entry.user)
            if entry.team is not None:
                holders.update(members.get(entry.team, ()))

        ns_grants: dict[tuple[str, str], set[str]] = {}
        usr_grants: dict[tuple[str, str], set[str]] = {}
        for g in grants:
            if g.namespace is not None:
                ns_grants.setdefault((g.environment, g.namespace), set()).add(g.registry)
            if g.user is not None:
                usr_grants.setdefault((g.environment, g.user), set()).add(g.registry)
            if g.team is not None:
                for member in members.get(g.team, ()):
                    usr_grants.setdefault((g.environment, member), set()).add(g.registry)
        index: RegistryIndex[str] = RegistryIndex(
            (r.name, r.location) for r in regs.values() if r.name != ANONYMOUS_DOCKERHUB
        )
        return cls(
            revision=revision,
            environments=envs,
            registries=regs,
            hide_dockerhub_anonymous=hide_dockerhub_anonymous,
            namespace_grants={k: frozenset(v) for k, v in ns_grants.items()},
            user_grants={k: frozenset(v) for k, v in usr_grants.items()},
            environment_users={k: frozenset(v) for k, v in env_users.items()},
            index=index,
            today=today,
            content_ignore_kinds=tuple(content_ignore_kinds),
        )

    def anonymous_dockerhub_open(self, env: Environment) -> bool:
        return (
            env.tier is Tier.DEVELOPMENT
            and not self.hide_dockerhub_anonymous
            and not env.hide_dockerhub_anonymous
            and ANONYMOUS_DOCKERHUB in self.registries
        )


def _tenant_problem(snapshot: GovernanceSnapshot, env: Environment, tenant: Tenant) -> str | None:
    if env.kind is EnvironmentKind.KUBERNETES:
        if tenant.namespace is None:
            return f"environment {env.name} is Kubernetes: a namespace is required"
        if tenant.namespace not in env.namespaces:
            return f"namespace {tenant.namespace} is not a namespace of environment {env.name}"
        return None
    if tenant.user is None:
        return f"environment {env.name} is {env.kind.value}: a user is required"
    if tenant.user not in snapshot.environment_users.get(env.name, frozenset()):
        return f"user {tenant.user} has no access to environment {env.name}"
    return None


def registry_unusable(reg: Registry, env: Environment, today: dt.date) -> str | None:
    """Why a granted registry cannot be used on ``env`` on ``today`` (public, insecure, expired), or None:
    the one rule decisions, the pull gate and the policies exported to other engines apply."""
    if reg.public and env.tier is not Tier.DEVELOPMENT:
        return f"registry {reg.name} is public and cannot be used on {env.tier.value} environments (D-06)"
    if reg.tls.insecure and env.tier is not Tier.DEVELOPMENT:
        return f"registry {reg.name} is insecure and allowed on development tier only"
    # A managed Harbor pulls with its robots (their expiry is checked when one is opened); its own
    # credential is the administrator's, for Harbor's API only.
    if reg.credential is not None and reg.management is None and reg.credential.expired(today):
        assert reg.credential.expires is not None
        return f"the credential of registry {reg.name} expired on {reg.credential.expires.isoformat()}"
    return None


def _given_digest(ref: ImageReference) -> str | None:
    """An image given by digest is pinned by its reference: no registry needs asking."""
    return None if ref.digest is None else str(ref.digest)


def _decide_one(
    snapshot: GovernanceSnapshot, env: Environment, tenant: Tenant, granted: frozenset[str], image: str
) -> Decision:
    try:
        ref = _parse_cached(image)
    except ReferenceError as exc:
        return Decision(image, None, None, False, (str(exc),))
    normalized = ref.normalized
    candidates = snapshot.index.lookup_all(ref)
    reasons: list[str] = []
    for name in candidates:
        reg = snapshot.registries[name]
        if name not in granted:
            reasons.append(
                f"registry {name} matches but is not granted to {tenant.describe()} on environment {env.name}"
            )
            continue
        problem = registry_unusable(reg, env, snapshot.today)
        if problem is not None:
            reasons.append(problem)
            continue
        reasons.append(
            f"registry {name} matches {ref.repository} and is granted to "
            f"{tenant.describe()} on environment {env.name}"
        )
        return Decision(image, normalized, name, True, tuple(reasons), digest=_given_digest(ref))
    if ref.domain == "docker.io":
        if snapshot.anonymous_dockerhub_open(env):
            reasons.append(f"anonymous Docker Hub is open on development environment {env.name}")
            return Decision(
                image, normalized, ANONYMOUS_DOCKERHUB, True, tuple(reasons), digest=_given_digest(ref)
            )
        if env.tier is not Tier.DEVELOPMENT:
            reasons.append(f"anonymous Docker Hub is not available on {env.tier.value} environments")
        else:
            reasons.append(f"anonymous Docker Hub is hidden for environment {env.name}")
    if not candidates:
        reasons.append(f"no approved registry matches {ref.repository}")
    reasons.append("denied by default")
    return Decision(image, normalized, candidates[0] if candidates else None, False, tuple(reasons))


def decide(
    snapshot: GovernanceSnapshot, *, environment: str, tenant: Tenant, images: Sequence[str]
) -> list[Decision]:
    """Decide, for each image, whether it may be deployed to ``environment`` for ``tenant``.

    Never raises for bad images or unknown environments: each becomes a denied
    decision whose reasons say what is wrong.
    """
    env = snapshot.environments.get(environment)
    if env is None:
        why = f"environment {environment} is not known"
        return [Decision(i, None, None, False, (why, "denied by default")) for i in images]
    problem = _tenant_problem(snapshot, env, tenant)
    if problem is not None:
        return [Decision(i, None, None, False, (problem, "denied by default")) for i in images]
    if env.kind is EnvironmentKind.KUBERNETES:
        assert tenant.namespace is not None
        granted = snapshot.namespace_grants.get((env.name, tenant.namespace), frozenset())
    else:
        assert tenant.user is not None
        granted = snapshot.user_grants.get((env.name, tenant.user), frozenset())
    return [_decide_one(snapshot, env, tenant, granted, image) for image in images]


def decide_for_tier(
    snapshot: GovernanceSnapshot, *, environment: str, registry: str, images: Sequence[str]
) -> list[Decision]:
    """Decide, for each image pulled through registry ``registry``, whether its source is usable on
    ``environment``'s tier: there is no tenant at pull time (a registry pull gate sees no namespace
    or user), so the source rule is "the image is in ``registry`` (its host and scope) and the
    registry is approved and usable on the environment's tier" (public and insecure registries on
    development only, an unexpired credential).

    Never raises: an unknown environment or registry, a bad reference or an image outside the
    registry each become a denied decision whose reasons say what is wrong.
    """
    env = snapshot.environments.get(environment)
    reg = snapshot.registries.get(registry)
    if env is None or reg is None:
        why = (
            f"environment {environment} is not known"
            if env is None
            else f"registry {registry} is not an approved registry"
        )
        return [Decision(i, None, None, False, (why, "denied by default")) for i in images]
    problem = registry_unusable(reg, env, snapshot.today)
    out: list[Decision] = []
    for image in images:
        try:
            ref = _parse_cached(image)
        except ReferenceError as exc:
            out.append(Decision(image, None, None, False, (str(exc), "denied by default")))
            continue
        if registry not in snapshot.index.lookup_all(ref):
            why = f"{ref.repository} is not within registry {registry} ({reg.url})"
            out.append(Decision(image, ref.normalized, None, False, (why, "denied by default")))
            continue
        if problem is not None:
            out.append(Decision(image, ref.normalized, registry, False, (problem, "denied by default")))
            continue
        why = f"registry {registry} is approved and usable on {env.tier.value} environment {env.name}"
        out.append(Decision(image, ref.normalized, registry, True, (why,), digest=_given_digest(ref)))
    return out
