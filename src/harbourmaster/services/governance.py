"""Changing the governance model one object at a time (the API's and CLI's entry points).

Each function checks the caller's permission, builds the desired model and
hands it to :meth:`Harbourmaster.change`, which validates it against every
rule and writes it in one transaction with its audit record.  Deleting an
object removes what depends on it (a registry's grants, an environment's
access entries and grants) in the same transaction.  A mutation returns what
it did as a :class:`ChangePublic`, the API's response and the CLI's ``--json``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields, replace
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
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import seal_registry_secret
from harbourmaster.services.document import RegistrySpec, registry_from_spec
from harbourmaster.services.export import registry_document
from harbourmaster.services.results import ChangePublic
from harbourmaster.store.interface import GovernanceRepository, SealedUpdates

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


def _write(
    hm: Harbourmaster,
    principal: Principal,
    *,
    permission: Permission = Permission.GOVERNANCE_WRITE,
    action: str | Callable[[GovernanceState], str],
    target: str,
    mutate: Callable[[GovernanceState], GovernanceState],
    sealed: Callable[[GovernanceRepository, GovernanceState, GovernanceState], SealedUpdates] | None = None,
) -> ChangePublic:
    require(principal, permission)
    change = hm.change(actor=principal.name, action=action, target=target, mutate=mutate, sealed=sealed)
    return ChangePublic.of(change)


# -- registries ------------------------------------------------------------
def _merged_registry(
    existing: Registry | None,
    *,
    name: str,
    fields: dict[str, Any],
    create: bool,
    secret: Secret | None,
    client_key: Secret | None,
) -> Registry:
    """``existing`` (None: none yet) with ``fields`` applied, checked against the registry's own rules."""
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
    return reg


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
        reg = _merged_registry(
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

    _write(
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

    return _write(hm, principal, action="registry.delete", target=name, mutate=mutate)


def set_hide_anonymous(
    hm: Harbourmaster, principal: Principal, *, hidden: bool, environment: str | None = None
) -> ChangePublic:
    """Hide (or show) anonymous Docker Hub globally, or for one environment."""
    if environment is None:
        return _write(
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

    return _write(
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
def _put_named(
    hm: Harbourmaster,
    principal: Principal,
    *,
    kind: str,
    attr: str,
    obj: Any,
    create: bool | None,
    permission: Permission = Permission.GOVERNANCE_WRITE,
) -> ChangePublic:
    """Create (``create``), update (not ``create``) or either (``None``: whichever the stored model needs).

    Whether the object exists is read inside the write transaction: a concurrent create may have won.
    """

    def exists(state: GovernanceState) -> bool:
        return obj.name in {o.name for o in getattr(state, attr)}

    def action(state: GovernanceState) -> str:
        creating = not exists(state) if create is None else create
        return f"{kind}.{'create' if creating else 'update'}"

    def mutate(state: GovernanceState) -> GovernanceState:
        present = exists(state)
        if create is True and present:
            raise Conflict(f"{kind} {obj.name} already exists")
        if create is False and not present:
            raise NotFound(f"{kind} {obj.name} is not defined")
        return state.evolve(**{attr: (*[o for o in getattr(state, attr) if o.name != obj.name], obj)})

    return _write(hm, principal, permission=permission, action=action, target=obj.name, mutate=mutate)


def put_environment(
    hm: Harbourmaster, principal: Principal, env: Environment, *, create: bool
) -> ChangePublic:
    return _put_named(hm, principal, kind="environment", attr="environments", obj=env, create=create)


#: Environment fields a PATCH may set to null (the others always have a value).
_NULLABLE_ENVIRONMENT_FIELDS = frozenset({"group"})


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

    return _write(hm, principal, action="environment.update", target=name, mutate=mutate)


def put_user(
    hm: Harbourmaster, principal: Principal, user: User, *, create: bool | None = None
) -> ChangePublic:
    """Create (``create``), update (not ``create``) or create-or-update (``None``) ``user``."""
    return _put_named(
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
    return _put_named(
        hm,
        principal,
        kind="team",
        attr="teams",
        obj=team,
        create=create,
        permission=Permission.IDENTITY_WRITE,
    )


def _existing(state: GovernanceState, kind: str, attr: str, name: str) -> GovernanceState:
    """``state``, once ``name`` is known to be one of its ``attr`` (read in the write's transaction)."""
    if name not in {o.name for o in getattr(state, attr)}:
        raise NotFound(f"{kind} {name} is not defined")
    return state


def delete_environment(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    return _write(
        hm,
        principal,
        action="environment.delete",
        target=name,
        mutate=lambda s: replace(
            _existing(s, "environment", "environments", name),
            environments=tuple(e for e in s.environments if e.name != name),
            access=tuple(a for a in s.access if a.environment != name),
            grants=tuple(g for g in s.grants if g.environment != name),
        ),
    )


def delete_user(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    return _write(
        hm,
        principal,
        permission=Permission.IDENTITY_WRITE,
        action="user.delete",
        target=name,
        mutate=lambda s: replace(
            _existing(s, "user", "users", name),
            users=tuple(u for u in s.users if u.name != name),
            teams=tuple(replace(t, members=tuple(m for m in t.members if m != name)) for t in s.teams),
            access=tuple(a for a in s.access if a.user != name),
            grants=tuple(g for g in s.grants if g.user != name),
        ),
    )


def delete_team(hm: Harbourmaster, principal: Principal, name: str) -> ChangePublic:
    return _write(
        hm,
        principal,
        permission=Permission.IDENTITY_WRITE,
        action="team.delete",
        target=name,
        mutate=lambda s: replace(
            _existing(s, "team", "teams", name),
            teams=tuple(t for t in s.teams if t.name != name),
            access=tuple(a for a in s.access if a.team != name),
            grants=tuple(g for g in s.grants if g.team != name),
        ),
    )


# -- access and grants -----------------------------------------------------
def add_access(hm: Harbourmaster, principal: Principal, entry: AccessEntry) -> ChangePublic:
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


def remove_access(hm: Harbourmaster, principal: Principal, entry: AccessEntry) -> ChangePublic:
    key = (entry.environment, entry.user, entry.team)

    def mutate(state: GovernanceState) -> GovernanceState:
        if key not in {(a.environment, a.user, a.team) for a in state.access}:
            raise NotFound("no such access entry")
        return replace(state, access=tuple(a for a in state.access if (a.environment, a.user, a.team) != key))

    return _write(hm, principal, action="access.remove", target=entry.environment, mutate=mutate)


def add_grant(hm: Harbourmaster, principal: Principal, grant: RegistryGrant) -> ChangePublic:
    return _write(
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

    return _write(
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
    return _write(
        hm,
        principal,
        action="tier.update",
        target=tier.value,
        # The stored policy is read, changed and written in one transaction.
        mutate=lambda s: replace(s, tiers={**s.tiers, tier: s.tiers[tier].with_changes(**changes)}),
    )
