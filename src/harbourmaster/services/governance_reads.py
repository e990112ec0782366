"""Reading the governance model: what ``GET`` routes return and ``list``/``show`` commands print.

Every function checks that the caller may read the model (``governance.read``)
and answers with the public models of :mod:`harbourmaster.services.results`.
"""

from __future__ import annotations

from dataclasses import dataclass

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import RegistryGrant
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.errors import NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.environment_access import named_environment
from harbourmaster.services.results import (
    AccessPublic,
    EnvironmentPublic,
    GrantPublic,
    RegistryPublic,
    TeamPublic,
    TierPublic,
    UserPublic,
)

__all__ = [
    "ModelNames",
    "environment",
    "environment_grants",
    "list_access",
    "list_environments",
    "list_grants",
    "list_registries",
    "list_teams",
    "list_tiers",
    "list_users",
    "model_names",
    "registry",
]


@dataclass(frozen=True, slots=True)
class ModelNames:
    registries: tuple[str, ...]
    environments: tuple[str, ...]
    users: tuple[str, ...]
    teams: tuple[str, ...]


def list_registries(hm: Harbourmaster, principal: Principal) -> list[RegistryPublic]:
    """Every registry with its grants (never a secret). Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    state, today = hm.state(), hm.today()

    def build() -> tuple[RegistryPublic, ...]:
        by_registry: dict[str, list[RegistryGrant]] = {}
        for grant in state.grants:  # once, not once per registry: 1,000 registries x 20,000 grants
            by_registry.setdefault(grant.registry, []).append(grant)
        return tuple(RegistryPublic.of(r, state=state, today=today, grants=by_registry.get(r.name, []))
                     for r in state.registries)  # fmt: skip

    return list(hm.derived(state, ("registries", today), build))


def model_names(hm: Harbourmaster, principal: Principal) -> ModelNames:
    """The names of the registries, environments, users and teams (for choices and counts), without
    building their public models.  Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    state = hm.state()
    return hm.derived(state, "names", lambda: ModelNames(
        registries=tuple(r.name for r in state.registries),
        environments=tuple(e.name for e in state.environments),
        users=tuple(u.name for u in state.users),
        teams=tuple(t.name for t in state.teams),
    ))


def environment_grants(hm: Harbourmaster, principal: Principal, environment: str) -> list[GrantPublic]:
    """The registry grants of ``environment`` (none for an unknown one).  Raises Forbidden without
    ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    state = hm.state()

    def build() -> dict[str, tuple[GrantPublic, ...]]:
        grouped: dict[str, list[GrantPublic]] = {}
        for g in state.grants:
            grouped.setdefault(g.environment, []).append(GrantPublic.model_validate(g))
        return {name: tuple(grants) for name, grants in grouped.items()}

    return list(hm.derived(state, "grants-by-environment", build).get(environment, ()))


def registry(hm: Harbourmaster, principal: Principal, name: str) -> RegistryPublic:
    """One registry with its grants.

    Raises:
        Forbidden: without ``governance.read``.
        NotFound: no registry ``name`` (naming the closest: "did you mean").
    """
    require(principal, Permission.GOVERNANCE_READ)
    state = hm.state()
    reg = state.registry(name)
    if reg is None:
        raise NotFound(
            f"registry {name} is not defined{did_you_mean(name, (r.name for r in state.registries))}"
        )
    return RegistryPublic.of(reg, state=state, today=hm.today())


def list_environments(hm: Harbourmaster, principal: Principal) -> list[EnvironmentPublic]:
    """Every environment. Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    return [EnvironmentPublic.model_validate(e) for e in hm.state().environments]


def environment(hm: Harbourmaster, principal: Principal, name: str) -> EnvironmentPublic:
    """One environment.

    Raises:
        Forbidden: without ``governance.read``.
        NotFound: no environment ``name`` (naming the closest).
    """
    require(principal, Permission.GOVERNANCE_READ)
    return EnvironmentPublic.model_validate(named_environment(hm.snapshot(), name))


def list_users(hm: Harbourmaster, principal: Principal) -> list[UserPublic]:
    """Every user and role. Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    return [UserPublic.model_validate(u) for u in hm.state().users]


def list_teams(hm: Harbourmaster, principal: Principal) -> list[TeamPublic]:
    """Every team and its members. Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    return [TeamPublic.model_validate(t) for t in hm.state().teams]


def list_grants(hm: Harbourmaster, principal: Principal) -> list[GrantPublic]:
    """Every registry grant. Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    return [GrantPublic.model_validate(g) for g in hm.state().grants]


def list_access(hm: Harbourmaster, principal: Principal) -> list[AccessPublic]:
    """Every environment access entry. Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    return [AccessPublic.model_validate(a) for a in hm.state().access]


def list_tiers(hm: Harbourmaster, principal: Principal) -> list[TierPublic]:
    """Every tier's policy, by tier. Raises Forbidden without ``governance.read``."""
    require(principal, Permission.GOVERNANCE_READ)
    return [TierPublic.model_validate(p) for _, p in sorted(hm.state().tiers.items())]
