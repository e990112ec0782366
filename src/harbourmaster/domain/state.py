"""The whole governance model as one value, and the rules it must satisfy.

Every change, whether from ``apply`` or from an API call, is made by building
the desired :class:`GovernanceState` and checking it with
:func:`validate_state` before anything is written.  One set of rules therefore
guards every surface.  Violations carry a *path*: the apply command maps it to
the place in the YAML document (``grants[3].teams[0]``), the API to the field.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace

from harbourmaster.domain.grant_rules import grant_problems
from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.mirror_schedules import MirrorSchedule, mirror_problems
from harbourmaster.domain.model import (
    ANONYMOUS_DOCKERHUB,
    AccessEntry,
    AllowlistEntry,
    Environment,
    EnvironmentKind,
    Provider,
    Registry,
    RegistryGrant,
    Team,
    Tier,
    User,
)
from harbourmaster.domain.signing_trust import SigningTrust, signing_problems
from harbourmaster.domain.spelling import did_you_mean
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy
from harbourmaster.errors import BadInput

__all__ = [
    "GovernanceState",
    "StateInvalid",
    "Unchecked",
    "Violation",
    "describe_entity",
    "validate_state",
]

_NAME = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")
_USER_NAME = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9@._+-]{0,126}[A-Za-z0-9])?$")
_NAMESPACE = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


@dataclass(frozen=True, slots=True)
class Violation:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class StateInvalid(BadInput):
    """The governance model would break a rule; ``violations`` lists every problem."""

    def __init__(self, violations: list[Violation], *, summary: str | None = None) -> None:
        self.violations = violations
        head = summary or f"{len(violations)} problem(s); nothing was changed"
        super().__init__(head, details=[str(v) for v in violations])


@dataclass(frozen=True)
class GovernanceState:
    registries: tuple[Registry, ...] = ()
    environments: tuple[Environment, ...] = ()
    users: tuple[User, ...] = ()
    teams: tuple[Team, ...] = ()
    access: tuple[AccessEntry, ...] = ()
    grants: tuple[RegistryGrant, ...] = ()
    tiers: Mapping[Tier, TierPolicy] = field(default_factory=lambda: dict(DEFAULT_TIER_POLICIES))
    hide_dockerhub_anonymous: bool = False
    allowlist: tuple[AllowlistEntry, ...] = ()
    #: Kinds whose objects deployment content may hold without being denied as not understood.
    content_ignore_kinds: tuple[KindSelector, ...] = ()
    #: Trusted signers (keys, keyless identities, Notation policies) that tiers may require.
    signing: SigningTrust = field(default_factory=SigningTrust)
    #: ImageSets mirrored into registries of the model on a cron schedule.
    mirrors: tuple[MirrorSchedule, ...] = ()

    def registry(self, name: str) -> Registry | None:
        return next((r for r in self.registries if r.name == name), None)

    def environment(self, name: str) -> Environment | None:
        return next((e for e in self.environments if e.name == name), None)

    def evolve(self, **changes: object) -> GovernanceState:
        return replace(self, **changes)  # type: ignore[arg-type]


#: Maps an entity to where it came from (e.g. ``registries[2]``); the API uses names.
Locator = Callable[[object], str]


@dataclass(frozen=True, slots=True)
class Unchecked:
    """Names that references may use without being reported as undefined.

    A document entry with problems of its own (reported with its path) is left out
    of the state that is checked; references to the name it defines are then not
    reported again as "not defined".  ``kinds`` lists kinds ("registry",
    "environment", "user", "team") whose whole section was unusable.
    """

    names: Mapping[str, frozenset[str]] = field(default_factory=dict)
    kinds: frozenset[str] = frozenset()

    def covers(self, kind: str, name: str) -> bool:
        return kind in self.kinds or name in self.names.get(kind, frozenset())

    def undefined(self, kind: str, name: str, known: Iterable[str]) -> str:
        """The problem with a reference to the ``kind`` called ``name``, which is not defined.  Names
        this covers are candidates for "did you mean" too."""
        candidates = {*known, *self.names.get(kind, frozenset())}
        return f"{kind} {name} is not defined{did_you_mean(name, candidates)}"


def describe_entity(entity: object) -> str:
    if isinstance(entity, Registry):
        return f"registry {entity.name}"
    if isinstance(entity, Environment):
        return f"environment {entity.name}"
    if isinstance(entity, User):
        return f"user {entity.name}"
    if isinstance(entity, Team):
        return f"team {entity.name}"
    if isinstance(entity, AccessEntry):
        return f"access {entity.environment}/{entity.user or entity.team}"
    if isinstance(entity, AllowlistEntry):
        return f"allowlist {entity.advisory}" + (
            f" for registry {entity.registry}" if entity.registry else ""
        )
    if isinstance(entity, KindSelector):
        return f"content.ignore_kinds {entity.describe()}"
    if isinstance(entity, RegistryGrant):
        return f"grant {entity.registry} to {entity.environment} {entity.grantee}"
    if isinstance(entity, MirrorSchedule):
        return f"mirror {entity.name}"
    return type(entity).__name__


def _duplicates(names: list[str]) -> set[str]:
    seen: set[str] = set()
    dup: set[str] = set()
    for n in names:
        (dup if n in seen else seen).add(n)
    return dup


def _check_names(state: GovernanceState, out: list[Violation], loc: Locator) -> None:
    for kind, items, pattern in (
        ("registry", state.registries, _NAME),
        ("environment", state.environments, _NAME),
        ("team", state.teams, _NAME),
    ):
        dup = _duplicates([i.name for i in items])
        for item in items:
            if not pattern.match(item.name):
                out.append(
                    Violation(
                        f"{loc(item)}.name",
                        f"{item.name!r} is not a valid {kind} name "
                        "(lowercase letters, digits, '.', '_', '-'; at most 128)",
                    )
                )
            if item.name in dup:
                out.append(Violation(f"{loc(item)}.name", f"{kind} {item.name} is defined more than once"))
    dup_users = _duplicates([u.name for u in state.users])
    for user in state.users:
        if not _USER_NAME.match(user.name):
            out.append(Violation(f"{loc(user)}.name", f"{user.name!r} is not a valid user name"))
        if user.name in dup_users:
            out.append(Violation(f"{loc(user)}.name", f"user {user.name} is defined more than once"))


def _check_registries(state: GovernanceState, out: list[Violation], loc: Locator, today: dt.date) -> None:
    for reg in state.registries:
        cred = reg.credential
        if cred is not None and cred.expires is not None and cred.expires < today and not reg.builtin:
            out.append(
                Violation(
                    f"{loc(reg)}.credential.expires",
                    f"the credential of registry {reg.name} expired on "
                    f"{cred.expires.isoformat()}; expired credentials are refused",
                )
            )
        if reg.provider is Provider.DOCKERHUB and cred is None:
            out.append(
                Violation(
                    f"{loc(reg)}.credential",
                    f"registry {reg.name} is a Docker Hub registry "
                    f"without a credential; anonymous pulls use the built-in "
                    f"{ANONYMOUS_DOCKERHUB} registry",
                )
            )
        if reg.location.scheme == "http" and not reg.tls.insecure:
            out.append(
                Violation(
                    f"{loc(reg)}.url",
                    f"registry {reg.name} uses plain http://; set "
                    "tls.insecure: true to allow it (development tier only)",
                )
            )
    _check_managed_projects(state, out, loc)


def _check_managed_projects(state: GovernanceState, out: list[Violation], loc: Locator) -> None:
    """One Harbor project is managed from one registry: two would fight over its settings and robots."""
    managing: dict[tuple[str, str], str] = {}
    for reg in state.registries:
        if reg.management is None or not reg.location.scope:
            continue
        key = (reg.location.host, reg.location.scope[0])
        first = managing.setdefault(key, reg.name)
        if first != reg.name:
            out.append(Violation(
                f"{loc(reg)}.manage",
                f"registries {first} and {reg.name} both manage Harbor project {key[1]} on {key[0]}: a "
                f"project has one set of settings and robot accounts; manage it from {first} only (set "
                f"manage: false on {reg.name}, which then uses its own credential)",
            ))  # fmt: skip


def _check_environments(state: GovernanceState, out: list[Violation], loc: Locator) -> None:
    for env in state.environments:
        if env.kind is not EnvironmentKind.KUBERNETES and env.namespaces:
            out.append(
                Violation(
                    f"{loc(env)}.namespaces",
                    f"environment {env.name} is {env.kind.value}: only Kubernetes "
                    "environments have namespaces",
                )
            )
        for ns in env.namespaces:
            if not _NAMESPACE.match(ns):
                out.append(
                    Violation(
                        f"{loc(env)}.namespaces",
                        f"{ns!r} is not a valid Kubernetes namespace name (RFC 1123 label)",
                    )
                )
        for ns in _duplicates(list(env.namespaces)):
            out.append(Violation(f"{loc(env)}.namespaces", f"namespace {ns} is listed more than once"))
        _check_connection(env, out, loc)


def _check_connection(env: Environment, out: list[Violation], loc: Locator) -> None:
    """The connection's rules that hold whatever changed the environment (its kind or tier included)."""
    c = env.connection
    kubernetes = env.kind is EnvironmentKind.KUBERNETES
    if kubernetes and c.endpoint is not None:
        out.append(Violation(f"{loc(env)}.endpoint", f"environment {env.name} is Kubernetes: it is reached "
                             "through api_server, not a Docker endpoint"))  # fmt: skip
    if not kubernetes and (c.api_server or c.token_set or c.service_account_issuer or c.jwks):
        where, kind = f"{loc(env)}.api_server", env.kind.value
        out.append(Violation(where, f"environment {env.name} is {kind}: api_server, token, "
                             "service_account_issuer and jwks are for Kubernetes"))  # fmt: skip
    if c.tls.insecure and env.tier is not Tier.DEVELOPMENT:
        out.append(Violation(f"{loc(env)}.tls.insecure", f"plain TCP to a Docker Engine only on the "
                             f"development tier, not {env.tier.value}"))  # fmt: skip


def _check_identities(state: GovernanceState, out: list[Violation], loc: Locator, skip: Unchecked) -> None:
    users = {u.name for u in state.users}
    teams = {t.name for t in state.teams}
    envs = {e.name for e in state.environments}
    for team in state.teams:
        for member in team.members:
            if member not in users and not skip.covers("user", member):
                out.append(Violation(f"{loc(team)}.members", skip.undefined("user", member, users)))
    for entry in state.access:
        if entry.environment not in envs and not skip.covers("environment", entry.environment):
            out.append(
                Violation(
                    f"{loc(entry)}.environment", skip.undefined("environment", entry.environment, envs)
                )
            )
        if (entry.user is None) == (entry.team is None):
            out.append(Violation(loc(entry), "name exactly one of user or team"))
        if entry.user is not None and entry.user not in users and not skip.covers("user", entry.user):
            out.append(Violation(f"{loc(entry)}.user", skip.undefined("user", entry.user, users)))
        if entry.team is not None and entry.team not in teams and not skip.covers("team", entry.team):
            out.append(Violation(f"{loc(entry)}.team", skip.undefined("team", entry.team, teams)))


_ADVISORY_ID = re.compile(r"^[A-Za-z][A-Za-z0-9._:-]{1,127}$")


def _check_allowlist(state: GovernanceState, out: list[Violation], loc: Locator, skip: Unchecked) -> None:
    registries = {r.name for r in state.registries}
    seen: set[tuple[str, str | None]] = set()
    for entry in state.allowlist:
        where = loc(entry)
        if not _ADVISORY_ID.match(entry.advisory):
            out.append(
                Violation(
                    f"{where}.id",
                    f"{entry.advisory!r} is not an advisory id (e.g. CVE-2024-1234, "
                    "GHSA-xxxx-xxxx-xxxx, DSA-5678-1)",
                )
            )
        if (
            entry.registry is not None
            and entry.registry not in registries
            and not skip.covers("registry", entry.registry)
        ):
            out.append(
                Violation(f"{where}.registry", skip.undefined("registry", entry.registry, registries))
            )
        if not entry.reason.strip():
            out.append(Violation(f"{where}.reason", "say why the vulnerability is accepted"))
        if entry.key in seen:
            scope = f"registry {entry.registry}" if entry.registry else "system-wide"
            out.append(Violation(where, f"{entry.advisory} is allowlisted twice ({scope})"))
        seen.add(entry.key)


def _check_ignore_kinds(state: GovernanceState, out: list[Violation], loc: Locator) -> None:
    seen: set[KindSelector] = set()
    for selector in state.content_ignore_kinds:
        where = loc(selector)
        for field_name, message in selector.problems():
            out.append(Violation(f"{where}.{field_name}", message))
        if selector in seen:
            out.append(Violation(where, f"{selector.describe()} is listed more than once"))
        seen.add(selector)


def validate_state(
    state: GovernanceState,
    *,
    today: dt.date,
    locate: Locator | None = None,
    unchecked: Unchecked | None = None,
) -> list[Violation]:
    """Every rule the governance model breaks, in document order; empty when valid.

    A reference to a name ``unchecked`` covers is not reported as undefined (its
    entry's own problems were reported already).  A reference to a name that is not
    defined says which defined name is close, if one is ("did you mean").
    """
    loc = locate or describe_entity
    skip = unchecked or Unchecked()
    out: list[Violation] = []
    _check_names(state, out, loc)
    _check_registries(state, out, loc, today)
    _check_environments(state, out, loc)
    _check_identities(state, out, loc, skip)
    for path, message in grant_problems(state, locate=loc, unchecked=skip):
        out.append(Violation(path, message))
    _check_allowlist(state, out, loc, skip)
    _check_ignore_kinds(state, out, loc)
    tier_signers = {tier.value: policy.signers for tier, policy in state.tiers.items()}
    for path, message in signing_problems(state.signing, tier_signers, locate=loc,
                                          unchecked=skip.names.get("signer", frozenset())):
        out.append(Violation(path, message))
    registries = [r.name for r in state.registries]

    def undefined_registry(name: str) -> str | None:
        return None if skip.covers("registry", name) else skip.undefined("registry", name, registries)

    for path, message in mirror_problems(state.mirrors, registries=registries, locate=loc,
                                         undefined_registry=undefined_registry):
        out.append(Violation(path, message))
    return out
