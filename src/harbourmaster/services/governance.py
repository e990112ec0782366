"""Changing the governance model one object at a time (the API's and CLI's entry points).

Each function checks the caller's permission, builds the desired model and
hands it to :meth:`Harbourmaster.change`, which validates it against every
rule and writes it in one transaction with its audit record.  Deleting an
object removes what depends on it (a registry's grants, an environment's
access entries and grants) in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Any

from pydantic import ValidationError

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
from harbourmaster.domain.state import GovernanceState, StateInvalid, Violation
from harbourmaster.errors import BadInput, Conflict, NotFound
from harbourmaster.services.core import Change, Harbourmaster
from harbourmaster.services.credentials import seal_registry_secret
from harbourmaster.services.document import RegistrySpec, registry_from_spec
from harbourmaster.services.export import registry_document
from harbourmaster.store.interface import GovernanceRepository, SealedUpdates

__all__ = [
    "add_access",
    "add_grant",
    "delete_environment",
    "delete_registry",
    "delete_team",
    "delete_user",
    "get_registry",
    "put_environment",
    "put_registry",
    "put_team",
    "put_user",
    "remove_access",
    "remove_grant",
    "set_hide_anonymous",
    "update_tier",
]


def _write(
    hm: Harbourmaster,
    principal: Principal,
    *,
    permission: Permission = Permission.GOVERNANCE_WRITE,
    action: str,
    target: str,
    mutate: Callable[[GovernanceState], GovernanceState],
    sealed: Callable[[GovernanceRepository, GovernanceState, GovernanceState], SealedUpdates] | None = None,
) -> Change:
    require(principal, permission)
    return hm.change(actor=principal.name, action=action, target=target, mutate=mutate, sealed=sealed)


def get_registry(hm: Harbourmaster, name: str) -> Registry:
    """Raises NotFound, naming the closest registry ("did you mean"), when there is none called ``name``."""
    state = hm.state()
    reg = state.registry(name)
    if reg is None:
        known = (r.name for r in state.registries)
        raise NotFound(f"registry {name} is not defined{did_you_mean(name, known)}")
    return reg


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
    existing = hm.state().registry(name)
    if create and existing is not None:
        raise Conflict(f"registry {name} already exists")
    if not create and existing is None:
        raise NotFound(f"registry {name} is not defined")
    if existing is not None and existing.builtin:
        raise BadInput(f"registry {name} is built in; hide it with 'registry hide-anonymous' instead")
    base = registry_document(existing) if existing is not None else {}
    merged = {**base, **{k: v for k, v in fields.items() if k != "name"}, "name": name}
    if "credential" in fields and fields["credential"] is not None and base.get("credential"):
        merged["credential"] = {**base["credential"], **fields["credential"]}
    problems: list[Violation] = []
    try:
        spec = RegistrySpec.model_validate(merged)
    except ValidationError as exc:
        raise StateInvalid(
            [
                Violation(f"registry {name}." + ".".join(str(p) for p in e["loc"]), e["msg"])
                for e in exc.errors(include_url=False)
            ]
        ) from None
    had_secret = bool(existing and existing.credential and existing.credential.secret_set)
    had_key = bool(existing and existing.tls.client_key_set)
    reg = registry_from_spec(
        spec,
        path=f"registry {name}",
        problems=problems,
        secret_set=had_secret or secret is not None,
        client_key_set=had_key or client_key is not None,
    )
    if problems or reg is None:
        raise StateInvalid(problems)

    def mutate(state: GovernanceState) -> GovernanceState:
        # Checked again inside the write transaction: a concurrent create may have won.
        if create and state.registry(name) is not None:
            raise Conflict(f"registry {name} already exists")
        if not create and state.registry(name) is None:
            raise NotFound(f"registry {name} is not defined")
        others = tuple(r for r in state.registries if r.name != name)
        return replace(state, registries=(*others, reg))

    def sealed(_g: GovernanceRepository, _old: GovernanceState, _new: GovernanceState) -> SealedUpdates:
        out = SealedUpdates()
        if secret is not None:
            out.credentials[name] = seal_registry_secret(hm, reg, secret, field="credential")
        if client_key is not None:
            out.client_keys[name] = seal_registry_secret(hm, reg, client_key, field="client_key")
        return out

    _write(
        hm,
        principal,
        action="registry.create" if create else "registry.update",
        target=name,
        mutate=mutate,
        sealed=sealed,
    )
    return get_registry(hm, name)


def delete_registry(hm: Harbourmaster, principal: Principal, name: str) -> Change:
    reg = get_registry(hm, name)
    if reg.builtin:
        raise BadInput(f"registry {name} is built in and cannot be deleted; hide it instead")
    return _write(
        hm,
        principal,
        action="registry.delete",
        target=name,
        mutate=lambda s: replace(
            s,
            registries=tuple(r for r in s.registries if r.name != name),
            grants=tuple(g for g in s.grants if g.registry != name),
        ),
    )


def set_hide_anonymous(
    hm: Harbourmaster, principal: Principal, *, hidden: bool, environment: str | None = None
) -> Change:
    """Hide (or show) anonymous Docker Hub globally, or for one environment."""
    if environment is None:
        return _write(
            hm,
            principal,
            action="settings.hide_dockerhub_anonymous",
            target="global",
            mutate=lambda s: replace(s, hide_dockerhub_anonymous=hidden),
        )
    if hm.state().environment(environment) is None:
        known = (e.name for e in hm.state().environments)
        raise NotFound(f"environment {environment} is not defined{did_you_mean(environment, known)}")
    return _write(
        hm,
        principal,
        action="environment.hide_dockerhub_anonymous",
        target=environment,
        mutate=lambda s: replace(
            s,
            environments=tuple(
                replace(e, hide_dockerhub_anonymous=hidden) if e.name == environment else e
                for e in s.environments
            ),
        ),
    )


# -- environments, users, teams --------------------------------------------
def _put_named(
    hm: Harbourmaster,
    principal: Principal,
    *,
    kind: str,
    attr: str,
    obj: Any,
    create: bool,
    permission: Permission = Permission.GOVERNANCE_WRITE,
) -> Change:
    current = {o.name for o in getattr(hm.state(), attr)}
    if create and obj.name in current:
        raise Conflict(f"{kind} {obj.name} already exists")
    if not create and obj.name not in current:
        raise NotFound(f"{kind} {obj.name} is not defined")

    def mutate(state: GovernanceState) -> GovernanceState:
        # Checked again inside the write transaction: a concurrent create may have won.
        present = {o.name for o in getattr(state, attr)}
        if create and obj.name in present:
            raise Conflict(f"{kind} {obj.name} already exists")
        if not create and obj.name not in present:
            raise NotFound(f"{kind} {obj.name} is not defined")
        return state.evolve(**{attr: (*[o for o in getattr(state, attr) if o.name != obj.name], obj)})

    return _write(
        hm,
        principal,
        permission=permission,
        action=f"{kind}.{'create' if create else 'update'}",
        target=obj.name,
        mutate=mutate,
    )


def put_environment(hm: Harbourmaster, principal: Principal, env: Environment, *, create: bool) -> Change:
    return _put_named(hm, principal, kind="environment", attr="environments", obj=env, create=create)


def put_user(hm: Harbourmaster, principal: Principal, user: User, *, create: bool) -> Change:
    return _put_named(
        hm,
        principal,
        kind="user",
        attr="users",
        obj=user,
        create=create,
        permission=Permission.IDENTITY_WRITE,
    )


def put_team(hm: Harbourmaster, principal: Principal, team: Team, *, create: bool) -> Change:
    return _put_named(
        hm,
        principal,
        kind="team",
        attr="teams",
        obj=team,
        create=create,
        permission=Permission.IDENTITY_WRITE,
    )


def _require_exists(hm: Harbourmaster, kind: str, attr: str, name: str) -> None:
    if name not in {o.name for o in getattr(hm.state(), attr)}:
        raise NotFound(f"{kind} {name} is not defined")


def delete_environment(hm: Harbourmaster, principal: Principal, name: str) -> Change:
    _require_exists(hm, "environment", "environments", name)
    return _write(
        hm,
        principal,
        action="environment.delete",
        target=name,
        mutate=lambda s: replace(
            s,
            environments=tuple(e for e in s.environments if e.name != name),
            access=tuple(a for a in s.access if a.environment != name),
            grants=tuple(g for g in s.grants if g.environment != name),
        ),
    )


def delete_user(hm: Harbourmaster, principal: Principal, name: str) -> Change:
    _require_exists(hm, "user", "users", name)
    return _write(
        hm,
        principal,
        permission=Permission.IDENTITY_WRITE,
        action="user.delete",
        target=name,
        mutate=lambda s: replace(
            s,
            users=tuple(u for u in s.users if u.name != name),
            teams=tuple(replace(t, members=tuple(m for m in t.members if m != name)) for t in s.teams),
            access=tuple(a for a in s.access if a.user != name),
            grants=tuple(g for g in s.grants if g.user != name),
        ),
    )


def delete_team(hm: Harbourmaster, principal: Principal, name: str) -> Change:
    _require_exists(hm, "team", "teams", name)
    return _write(
        hm,
        principal,
        permission=Permission.IDENTITY_WRITE,
        action="team.delete",
        target=name,
        mutate=lambda s: replace(
            s,
            teams=tuple(t for t in s.teams if t.name != name),
            access=tuple(a for a in s.access if a.team != name),
            grants=tuple(g for g in s.grants if g.team != name),
        ),
    )


# -- access and grants -----------------------------------------------------
def add_access(hm: Harbourmaster, principal: Principal, entry: AccessEntry) -> Change:
    return _write(
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


def remove_access(hm: Harbourmaster, principal: Principal, entry: AccessEntry) -> Change:
    key = (entry.environment, entry.user, entry.team)
    if key not in {(a.environment, a.user, a.team) for a in hm.state().access}:
        raise NotFound("no such access entry")
    return _write(
        hm,
        principal,
        action="access.remove",
        target=entry.environment,
        mutate=lambda s: replace(
            s, access=tuple(a for a in s.access if (a.environment, a.user, a.team) != key)
        ),
    )


def add_grant(hm: Harbourmaster, principal: Principal, grant: RegistryGrant) -> Change:
    return _write(
        hm,
        principal,
        action="grant.add",
        target=f"{grant.registry} -> {grant.environment}",
        mutate=lambda s: replace(s, grants=(*[g for g in s.grants if g != grant], grant)),
    )


def remove_grant(hm: Harbourmaster, principal: Principal, grant: RegistryGrant) -> Change:
    if grant not in hm.state().grants:
        raise NotFound(f"no grant of {grant.registry} to {grant.environment} {grant.grantee}")
    return _write(
        hm,
        principal,
        action="grant.remove",
        target=f"{grant.registry} -> {grant.environment}",
        mutate=lambda s: replace(s, grants=tuple(g for g in s.grants if g != grant)),
    )


def update_tier(hm: Harbourmaster, principal: Principal, tier: Tier, **changes: Any) -> Change:
    """Raises:
    TierPolicyError: an unknown severity or an advisory level above the block level.
    """
    policy = hm.state().tiers[tier].with_changes(**changes)
    return _write(
        hm,
        principal,
        action="tier.update",
        target=tier.value,
        mutate=lambda s: replace(s, tiers={**s.tiers, tier: policy}),
    )
