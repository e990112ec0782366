"""Changing the governance model one object at a time (the API's and CLI's entry points).

Each function checks the caller's permission, builds the desired model and
hands it to :meth:`Harbourmaster.change`, which validates it against every
rule and writes it in one transaction with its audit record.  Deleting an
object removes what depends on it (a registry's grants, an environment's
access entries and grants) in the same transaction.  A mutation returns what
it did as a :class:`ChangePublic`, the API's response and the CLI's ``--json``.
"""

from __future__ import annotations

from dataclasses import fields, replace
from typing import Any

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.model import (
    AccessEntry,
    Environment,
    Registry,
    RegistryGrant,
    Team,
    Tier,
    User,
)
from harbourmaster.domain.secret import Secret
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.domain.state import GovernanceState
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import seal_registry_secret
from harbourmaster.services.model_changes import put_named, require_existing, write_change
from harbourmaster.services.registry_specs import merged_registry
from harbourmaster.services.results import ChangePublic
from harbourmaster.store.interface import GovernanceRepository
from harbourmaster.store.values import SealedUpdates

__all__ = [
    "add_access",
    "add_grant",
    "delete_environment",
    "delete_registry",
    "delete_team",
    "delete_user",
    "put_environment",
    "put_registry",
    "put_team",
    "put_user",
    "remove_access",
    "remove_grant",
    "set_hide_anonymous",
    "update_environment",
    "update_tier",
]


# -- registries ------------------------------------------------------------
def put_registry(
    hm: Harbourmaster,
    principal: Principal,
    *,
    name: str,
    fields: dict[str, Any],
    create: bool,
    secret: Secret | None = None,
    client_key: Secret | None = None,
) -> Registry:
    """Create a registry, or update one with the given fields (omitted fields keep their values).

    An update without a new secret keeps the stored secret.

    Raises:
        Conflict / NotFound: creating one that exists / updating one that does not.
        StateInvalid: the registry or the resulting model breaks a rule.
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    built: list[Registry] = []

    def mutate(state: GovernanceState) -> GovernanceState:
        # The stored registry is read, merged with ``fields`` and written in one transaction.
        reg = merged_registry(
            state.registry(name),
            name=name,
            fields=fields,
            create=create,
            secret=secret,
            client_key=client_key,
        )
        built.append(reg)
        others = tuple(r for r in state.registries if r.name != name)
        return replace(state, registries=(*others, reg))

    def sealed(_g: GovernanceRepository, _old: GovernanceState, _new: GovernanceState) -> SealedUpdates:
        out = SealedUpdates()
        reg = built[-1]
        if secret is not None:
            out.credentials[name] = seal_registry_secret(hm, reg, secret, field="credential")
        if client_key is not None:
            out.client_keys[name] = seal_registry_secret(hm, reg, client_key, field="client_key")
        return out

    write_change(
        hm,
        principal,
        action="registry.create" if create else "registry.update",
        target=name,
        mutate=mutate,
        sealed=sealed,
    )
    return _named_registry(hm.state(), name)


def _named_registry(state: GovernanceState, name: str) -> Registry:
    """Raises NotFound, naming the closest registry ("did you mean"), when there is none called ``name``."""
    reg = state.registry(name)
    if reg is None:
        raise NotFound(
            f"registry {name} is not defined{did_you_mean(name, (r.name for r in state.registries))}"
        )
    return reg


def delete_registry(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    """Delete registry ``name`` and its grants.

    Raises:
        NotFound: no such registry.  BadInput: it is built in (hide it instead).
    """

    def mutate(state: GovernanceState) -> GovernanceState:
        if _named_registry(state, name).builtin:
            raise BadInput(f"registry {name} is built in and cannot be deleted; hide it instead")
        return replace(
            state,
            registries=tuple(r for r in state.registries if r.name != name),
            grants=tuple(g for g in state.grants if g.registry != name),
        )

    return write_change(hm, principal, action="registry.delete", target=name, mutate=mutate)


def set_hide_anonymous(
    hm: Harbourmaster, principal: Principal, *, hidden: bool, environment: str | None = None
) -> ChangePublic:
    """Hide (or show) anonymous Docker Hub globally, or for one environment."""
    if environment is None:
        return write_change(
            hm,
            principal,
            action="settings.hide_dockerhub_anonymous",
            target="global",
            mutate=lambda s: replace(s, hide_dockerhub_anonymous=hidden),
        )

    def known(state: GovernanceState) -> GovernanceState:
        if state.environment(environment) is None:
            names = (e.name for e in state.environments)
            raise NotFound(f"environment {environment} is not defined{did_you_mean(environment, names)}")
        return state

    return write_change(
        hm,
        principal,
        action="environment.hide_dockerhub_anonymous",
        target=environment,
        mutate=lambda s: replace(
            known(s),
            environments=tuple(
                replace(e, hide_dockerhub_anonymous=hidden) if e.name == environment else e
                for e in s.environments
            ),
        ),
    )


# -- environments, users, teams --------------------------------------------
def put_environment(
    hm: Harbourmaster, principal: Principal, env: Environment, *, create: bool
) -> ChangePublic:
    return put_named(hm, principal, kind="environment", attr="environments", obj=env, create=create)


#: Environment fields a PATCH may set to null (the others always have a value).
_NULLABLE_ENVIRONMENT_FIELDS = frozenset({"group", "failure_policy"})


def update_environment(hm: Harbourmaster, principal: Principal, name: str, /, **changes: Any) -> ChangePublic:
    """Change the given fields of environment ``name``; omitted fields keep their values.

    The stored environment is read, merged and written in one transaction.

    Raises:
        NotFound: no environment ``name`` (naming the closest).
        BadInput: an unknown field, or null for a field that needs a value.
        StateInvalid: the changed environment breaks a rule.
    """
    known = {f.name for f in fields(Environment)} - {"name"}
    unknown = sorted(set(changes) - known)
    if unknown:
        raise BadInput(f"environment {name}: unknown field(s) {', '.join(unknown)}")
    nulls = sorted(k for k, v in changes.items() if v is None and k not in _NULLABLE_ENVIRONMENT_FIELDS)
    if nulls:
        raise BadInput(f"environment {name}: {', '.join(nulls)} may not be null")
    if "namespaces" in changes:
        changes["namespaces"] = tuple(changes["namespaces"])

    def mutate(state: GovernanceState) -> GovernanceState:
        current = next((e for e in state.environments if e.name == name), None)
        if current is None:
            known_names = (e.name for e in state.environments)
            raise NotFound(f"environment {name} is not defined{did_you_mean(name, known_names)}")
        updated = replace(current, **changes)
        return state.evolve(environments=tuple(updated if e is current else e for e in state.environments))

    return write_change(hm, principal, action="environment.update", target=name, mutate=mutate)


def put_user(
    hm: Harbourmaster, principal: Principal, user: User, *, create: bool | None = None
) -> ChangePublic:
    """Create (``create``), update (not ``create``) or create-or-update (``None``) ``user``."""
    return put_named(
        hm,
        principal,
        kind="user",
        attr="users",
        obj=user,
        create=create,
        permission=Permission.IDENTITY_WRITE,
    )


def put_team(
    hm: Harbourmaster, principal: Principal, team: Team, *, create: bool | None = None
) -> ChangePublic:
    """Create (``create``), update (not ``create``) or create-or-update (``None``) ``team``."""
    return put_named(
        hm,
        principal,
        kind="team",
        attr="teams",
        obj=team,
        create=create,
        permission=Permission.IDENTITY_WRITE,
    )


def delete_environment(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    return write_change(
        hm,
        principal,
        action="environment.delete",
        target=name,
        mutate=lambda s: replace(
            require_existing(s, "environment", "environments", name),
            environments=tuple(e for e in s.environments if e.name != name),
            access=tuple(a for a in s.access if a.environment != name),
            grants=tuple(g for g in s.grants if g.environment != name),
        ),
    )


def delete_user(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    return write_change(
        hm,
        principal,
        permission=Permission.IDENTITY_WRITE,
        action="user.delete",
        target=name,
        mutate=lambda s: replace(
            require_existing(s, "user", "users", name),
            users=tuple(u for u in s.users if u.name != name),
            teams=tuple(replace(t, members=tuple(m for m in t.members if m != name)) for t in s.teams),
            access=tuple(a for a in s.access if a.user != name),
            grants=tuple(g for g in s.grants if g.user != name),
        ),
    )


def delete_team(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    return write_change(
        hm,
        principal,
        permission=Permission.IDENTITY_WRITE,
        action="team.delete",
        target=name,
        mutate=lambda s: replace(
            require_existing(s, "team", "teams", name),
            teams=tuple(t for t in s.teams if t.name != name),
            access=tuple(a for a in s.access if a.team != name),
            grants=tuple(g for g in s.grants if g.team != name),
        ),
    )


# -- access and grants -----------------------------------------------------
def add_access(hm: Harbourmaster, principal: Principal, entry: AccessEntry) -> ChangePublic:
    return write_change(
        hm,
        principal,
        action="access.add",
        target=entry.environment,
        mutate=lambda s: replace(
            s,
            access=(
                *[
                    a
                    for a in s.access
                    if (a.environment, a.user, a.team) != (entry.environment, entry.user, entry.team)
                ],
                entry,
            ),
        ),
    )


def remove_access(hm: Harbourmaster, principal: Principal, entry: AccessEntry) -> ChangePublic:
    key = (entry.environment, entry.user, entry.team)

    def mutate(state: GovernanceState) -> GovernanceState:
        if key not in {(a.environment, a.user, a.team) for a in state.access}:
            raise NotFound("no such access entry")
        return replace(state, access=tuple(a for a in state.access if (a.environment, a.user, a.team) != key))

    return write_change(hm, principal, action="access.remove", target=entry.environment, mutate=mutate)


def add_grant(hm: Harbourmaster, principal: Principal, grant: RegistryGrant) -> ChangePublic:
    return write_change(
        hm,
        principal,
        action="grant.add",
        target=f"{grant.registry} -> {grant.environment}",
        mutate=lambda s: replace(s, grants=(*[g for g in s.grants if g != grant], grant)),
    )


def remove_grant(hm: Harbourmaster, principal: Principal, grant: RegistryGrant) -> ChangePublic:

    def mutate(state: GovernanceState) -> GovernanceState:
        if grant not in state.grants:
            raise NotFound(f"no grant of {grant.registry} to {grant.environment} {grant.grantee}")
        return replace(state, grants=tuple(g for g in state.grants if g != grant))

    return write_change(
        hm,
        principal,
        action="grant.remove",
        target=f"{grant.registry} -> {grant.environment}",
        mutate=mutate,
    )


def update_tier(hm: Harbourmaster, principal: Principal, tier: Tier, **changes: Any) -> ChangePublic:
    """Raises:
    TierPolicyError: an unknown severity or an advisory level above the block level.
    """
    return write_change(
        hm,
        principal,
        action="tier.update",
        target=tier.value,
        # The stored policy is read, changed and written in one transaction.
        mutate=lambda s: replace(s, tiers={**s.tiers, tier: s.tiers[tier].with_changes(**changes)}),
    )
