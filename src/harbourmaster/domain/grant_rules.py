"""The rules a registry grant must satisfy: what may be granted to which environment, and to whom.

A grant names a registry, an environment and a grantee.  Public, insecure and
non-expiring robot-credential registries are refused above the development
tier; Kubernetes environments are granted per namespace, other environments to
users or teams that already have access to the environment.  The problems are
returned as (document path, message) pairs, which
:func:`~harbourmaster.domain.state.validate_state` reports with the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harbourmaster.domain.model import (
    ANONYMOUS_DOCKERHUB,
    CredentialKind,
    Environment,
    EnvironmentKind,
    RegistryGrant,
    Tier,
)
from harbourmaster.domain.spelling import did_you_mean

if TYPE_CHECKING:
    # Only for annotations: the state module checks the model with these rules.
    from harbourmaster.domain.state import GovernanceState, Unchecked

__all__ = ["grant_problems"]


@dataclass(frozen=True, slots=True)
class _Access:
    users: Mapping[str, set[str]]
    teams: Mapping[str, set[str]]


def grant_problems(
    state: GovernanceState, *, locate: Callable[[object], str], unchecked: Unchecked
) -> list[tuple[str, str]]:
    """(document path, problem) for every grant that names an undefined registry, environment, user or
    team, or that breaks a grant rule.  References to names ``unchecked`` covers are not reported."""
    problems: list[tuple[str, str]] = []
    regs = {r.name: r for r in state.registries}
    envs = {e.name: e for e in state.environments}
    users = {u.name for u in state.users}
    teams = {t.name for t in state.teams}
    members = {t.name: t.members for t in state.teams}
    env_users: dict[str, set[str]] = {}
    env_teams: dict[str, set[str]] = {}
    for entry in state.access:
        if entry.user is not None:
            env_users.setdefault(entry.environment, set()).add(entry.user)
        if entry.team is not None:
            env_teams.setdefault(entry.environment, set()).add(entry.team)
            env_users.setdefault(entry.environment, set()).update(members.get(entry.team, ()))
    access = _Access(env_users, env_teams)
    for grant in state.grants:
        where = locate(grant)
        reg = regs.get(grant.registry)
        env = envs.get(grant.environment)
        if reg is None and not unchecked.covers("registry", grant.registry):
            problems.append((f"{where}.registry", unchecked.undefined("registry", grant.registry, regs)))
        if env is None and not unchecked.covers("environment", grant.environment):
            problems.append(
                (f"{where}.environment", unchecked.undefined("environment", grant.environment, envs))
            )
        if reg is None or env is None:
            continue
        if reg.public and env.tier is not Tier.DEVELOPMENT:
            problems.append(
                (
                    where,
                    f"registry {reg.name} is public and cannot be approved for "
                    f"{env.tier.value} environment {env.name} (rule D-06: public registries "
                    "only on development tier; mirror the image into an internal registry)",
                )
            )
        if reg.tls.insecure and env.tier is not Tier.DEVELOPMENT:
            problems.append(
                (
                    where,
                    f"registry {reg.name} is insecure (plain HTTP or unverified TLS) "
                    f"and cannot be granted to {env.tier.value} environment {env.name}",
                )
            )
        if reg.name == ANONYMOUS_DOCKERHUB:
            problems.append(
                (
                    where,
                    f"{ANONYMOUS_DOCKERHUB} is built in and needs no grant; it is "
                    "open on development environments unless hidden",
                )
            )
        if (
            reg.credential is not None
            and reg.credential.kind is CredentialKind.ROBOT
            and reg.credential.expires is None
            and env.tier is not Tier.DEVELOPMENT
        ):
            problems.append(
                (
                    where,
                    f"registry {reg.name} uses a robot credential without an expiry "
                    f"and cannot be granted to {env.tier.value} environment {env.name} "
                    "(rule D-08: robot and service credentials must expire)",
                )
            )
        if reg.management is not None and env.tier is not Tier.DEVELOPMENT:
            never = [r.name for r in reg.management.robots if r.lifetime_days is None]
            if reg.management.robot_lifetime_days is None:
                never[:0] = ["harbourmaster-pull", "harbourmaster-push"]
            if never:
                problems.append(
                    (
                        where,
                        f"registry {reg.name}'s robot account(s) {', '.join(never)} never expire "
                        f"and cannot be granted to {env.tier.value} environment {env.name} "
                        "(rule D-08: robot accounts must expire; set lifetime_days)",
                    )
                )
        _check_grantee(access, grant, env, where, users, teams, problems, unchecked)
    return problems


def _check_grantee(
    access: _Access,
    grant: RegistryGrant,
    env: Environment,
    where: str,
    users: set[str],
    teams: set[str],
    problems: list[tuple[str, str]],
    unchecked: Unchecked,
) -> None:
    if env.kind is EnvironmentKind.KUBERNETES:
        if grant.namespace is None:
            problems.append(
                (
                    where,
                    f"environment {env.name} is Kubernetes: registry access is "
                    "granted per namespace (rule D-05), not to users or teams",
                )
            )
        elif grant.namespace not in env.namespaces:
            problems.append(
                (
                    where,
                    f"namespace {grant.namespace} is not a namespace of environment {env.name}"
                    + did_you_mean(grant.namespace, env.namespaces),
                )
            )
        return
    if grant.namespace is not None:
        problems.append(
            (
                where,
                f"environment {env.name} is {env.kind.value}: registry access is "
                "granted to users or teams, not namespaces",
            )
        )
        return
    rule = (
        "on docker-standalone and swarm environments registry access can only be granted to "
        "identities that already have access to the environment (rule: grant-requires-access)"
    )
    if grant.user is not None:
        if grant.user not in users:
            if not unchecked.covers("user", grant.user):
                problems.append((where, unchecked.undefined("user", grant.user, users)))
        elif grant.user not in access.users.get(env.name, ()):
            problems.append((where, f"user {grant.user} has no access to environment {env.name}; {rule}"))
    if grant.team is not None:
        if grant.team not in teams:
            if not unchecked.covers("team", grant.team):
                problems.append((where, unchecked.undefined("team", grant.team, teams)))
        elif grant.team not in access.teams.get(env.name, ()):
            problems.append((where, f"team {grant.team} has no access to environment {env.name}; {rule}"))
    if grant.user is None and grant.team is None:
        problems.append((where, "name a user or a team"))
