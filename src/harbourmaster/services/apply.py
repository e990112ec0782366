"""``harbourmaster apply``: make the governance model match a document, idempotently.

Without ``prune``, objects the document does not name are kept; with it, the
model becomes exactly the document (the built-in anonymous Docker Hub
registry is never pruned).  Every problem is reported with its path in the
document and nothing is written unless all is well.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from typing import TypeVar

from harbourmaster.domain.authz import PERMISSIONS, Permission, Principal, require
from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.model import (
    AccessEntry,
    AllowlistEntry,
    Registry,
    RegistryGrant,
    Team,
    User,
)
from harbourmaster.domain.secret import Secret, SecretReferenceError
from harbourmaster.domain.state import GovernanceState, StateInvalid, Unchecked, Violation, describe_entity
from harbourmaster.domain.tiers import TierPolicyError
from harbourmaster.errors import Forbidden
from harbourmaster.services.core import Change, Harbourmaster
from harbourmaster.services.credentials import (
    same_environment_secret,
    same_registry_secret,
    seal_environment_secret,
    seal_registry_secret,
)
from harbourmaster.services.document import DocumentInvalid, GovernanceDocument
from harbourmaster.services.document_reading import DocumentReading, document_order, read_document
from harbourmaster.services.environment_kubeconfig import KubeconfigConnection, read_kubeconfig
from harbourmaster.services.environment_specs import environment_from_spec
from harbourmaster.services.mirror_specs import mirrors_from_spec
from harbourmaster.services.registry_specs import registry_from_spec
from harbourmaster.services.results import ApplyPublic
from harbourmaster.services.signing_specs import signing_from_spec
from harbourmaster.store.interface import GovernanceRepository
from harbourmaster.store.values import SealedUpdates
from harbourmaster.vault.interface import UnresolvedSecretError
from harbourmaster.vault.references import HostFiles, resolve_secret_reference

__all__ = ["apply_document"]

T = TypeVar("T")


def _merge(current: Iterable[T], wanted: list[T], key: str, prune: bool) -> tuple[T, ...]:
    names = {getattr(w, key) for w in wanted}
    kept = [] if prune else [c for c in current if getattr(c, key) not in names]
    return (*kept, *wanted)


class _Plan:
    """Builds the desired model from a document, remembering where each object came from."""

    def __init__(
        self,
        doc: GovernanceDocument,
        *,
        source: str,
        prune: bool,
        principal: Principal,
        host: HostFiles | None,
    ) -> None:
        self.doc = doc
        self.source = source
        self.prune = prune
        self.principal = principal
        self.host = host
        self.paths: dict[int, str] = {}
        self.problems: list[Violation] = []
        #: Registries whose entries have problems of their own: references to them are not reported again.
        self.unusable_registries: set[str] = set()
        #: Signers whose entries have problems of their own.
        self.unusable_signers: set[str] = set()
        #: Only a document without schema problems is authorised (one with problems writes nothing).
        self.complete = True
        #: Per section, the index in the document of each entry of ``doc`` (when entries were left out).
        self.positions: Mapping[str, Sequence[int]] = {}
        self.secrets: dict[str, Secret] = {}
        self.client_keys: dict[str, Secret] = {}
        #: (environment, field) -> the environment connection's secret (``client_key``, ``token``).
        self.environment_secrets: dict[tuple[str, str], Secret] = {}
        #: Environment -> what its ``kubeconfig`` was read as.
        self.kubeconfigs: dict[str, KubeconfigConnection] = {}

    def _numbered(self, section: str, entries: list[T]) -> Iterable[tuple[int, T]]:
        """``entries`` with their index in the document as written (entries with schema problems
        were left out of ``doc``, so the positions differ from the list's)."""
        positions = self.positions.get(section)
        return zip(positions, entries, strict=True) if positions is not None else enumerate(entries)

    def locate(self, entity: object) -> str:
        return self.paths.get(id(entity)) or describe_entity(entity)

    def _at(self, entity: T, path: str) -> T:
        self.paths[id(entity)] = path
        return entity

    def resolve_secrets(self) -> None:
        for i, spec in self._numbered("registries", self.doc.registries):
            if spec.credential is not None and spec.credential.secret is not None:
                self._resolve(
                    self.secrets, spec.name, spec.credential.secret, f"registries[{i}].credential.secret"
                )
            if spec.tls is not None and spec.tls.client_key is not None:
                self._resolve(
                    self.client_keys, spec.name, spec.tls.client_key, f"registries[{i}].tls.client_key"
                )
        for i, env in self._numbered("environments", self.doc.environments):
            references = {
                "client_key": env.tls.client_key if env.tls is not None else None,
                "token": env.token,
            }
            for field, reference in references.items():
                if reference is not None:
                    found: dict[str, Secret] = {}
                    where = f"environments[{i}].{'tls.client_key' if field == 'client_key' else field}"
                    self._resolve(found, env.name, reference, where)
                    if env.name in found:
                        self.environment_secrets[(env.name, field)] = found[env.name]
            if env.kubeconfig is not None:
                self._read_kubeconfig(env.name, env.kubeconfig, env.kubeconfig_context, f"environments[{i}]")

    def _read_kubeconfig(self, name: str, reference: str, context: str | None, path: str) -> None:
        """Read an environment's kubeconfig on this host, in memory: its secrets join the others."""
        found: dict[str, Secret] = {}
        self._resolve(found, name, reference, f"{path}.kubeconfig")
        if name not in found:
            return
        read = read_kubeconfig(found[name], reference=reference, context=context, path=f"{path}.kubeconfig",
                               problems=self.problems, host=self.host)  # fmt: skip
        if read is None:
            return
        self.kubeconfigs[name] = read
        for field, secret in (("token", read.token), ("client_key", read.client_key)):
            if secret is not None:
                self.environment_secrets[(name, field)] = secret

    def _resolve(self, into: dict[str, Secret], name: str, reference: str, field: str) -> None:
        if self.host is None:
            # Through the API: the server resolves no reference on anyone's behalf.
            message = _NO_ENVIRONMENT_REFERENCES if field.startswith("environments[") else _NO_REFERENCES
            self.problems.append(Violation(field, message))
            return
        try:
            into[name] = resolve_secret_reference(reference, field=field, guard=self.host)
        except SecretReferenceError:
            pass  # not a reference at all: registry_from_spec reports it with its path
        except UnresolvedSecretError as exc:
            self.problems.append(Violation(field, exc.message.removeprefix(f"{field}: ")))

    def build(self, old: GovernanceState) -> GovernanceState:
        doc = self.doc
        registries: list[Registry] = []
        for i, spec in self._numbered("registries", doc.registries):
            existing = old.registry(spec.name)
            had_secret = bool(existing and existing.credential and existing.credential.secret_set)
            had_key = bool(existing and existing.tls.client_key_set)
            reg = registry_from_spec(
                spec,
                path=f"registries[{i}]",
                problems=self.problems,
                secret_set=had_secret,
                client_key_set=had_key,
                host=self.host,
            )
            if reg is None:
                self.unusable_registries.add(spec.name)
                continue
            if existing is not None and existing.credential_origin != reg.credential_origin:
                # A stored secret is bound to the origin it was entered for: a moved
                # registry needs it again (core.change would otherwise drop it).
                if had_secret and spec.credential is not None and spec.credential.secret is None:
                    self.problems.append(_moved(f"registries[{i}].credential.secret"))
                if had_key and spec.tls is not None and spec.tls.client_key is None:
                    self.problems.append(_moved(f"registries[{i}].tls.client_key"))
            registries.append(self._at(reg, f"registries[{i}]"))
        environments = [
            self._at(
                environment_from_spec(
                    e,
                    path=f"environments[{i}]",
                    problems=self.problems,
                    existing=old.environment(e.name),
                    host=self.host,
                    kubeconfig=self.kubeconfigs.get(e.name),
                ),
                f"environments[{i}]",
            )
            for i, e in self._numbered("environments", doc.environments)
        ]
        users = [self._at(User(u.name, u.role), f"users[{i}]") for i, u in self._numbered("users", doc.users)]
        teams = [
            self._at(Team(t.name, tuple(t.members)), f"teams[{i}]")
            for i, t in self._numbered("teams", doc.teams)
        ]
        access = [
            self._at(AccessEntry(a.environment, a.user, a.team, a.role), f"access[{i}]")
            for i, a in self._numbered("access", doc.access)
        ]
        grants: list[RegistryGrant] = []
        for i, g in self._numbered("grants", doc.grants):
            if not (g.namespaces or g.teams or g.users):
                self.problems.append(
                    Violation(
                        f"grants[{i}]",
                        "name namespaces (Kubernetes) or teams/users (docker-standalone, swarm)",
                    )
                )
            for field, values in (("namespaces", g.namespaces), ("teams", g.teams), ("users", g.users)):
                for j, value in enumerate(values):
                    grant = RegistryGrant(
                        g.registry,
                        g.environment,
                        namespace=value if field == "namespaces" else None,
                        team=value if field == "teams" else None,
                        user=value if field == "users" else None,
                    )
                    grants.append(self._at(grant, f"grants[{i}].{field}[{j}]"))
        tiers = dict(old.tiers)
        for tier, tier_spec in doc.tiers.items():
            try:
                tiers[tier] = tiers[tier].with_changes(**tier_spec.model_dump(exclude_none=True))
            except TierPolicyError as exc:
                self.problems.append(Violation(f"tiers.{tier.value}", exc.message))
        allowlist = [
            self._at(AllowlistEntry(a.id, a.expires, a.reason, a.registry), f"allowlist[{i}]")
            for i, a in self._numbered("allowlist", doc.allowlist)
        ]
        named = {a.key for a in allowlist}
        ignore_kinds = tuple(
            self._at(KindSelector(k.api_version, k.kind), f"content.ignore_kinds[{i}]")
            for i, k in enumerate(doc.content.ignore_kinds)
        )
        signing = signing_from_spec(doc.signing, problems=self.problems, host=self.host,
                                    unusable=self.unusable_signers, at=self._at)
        mirrors = mirrors_from_spec(self._numbered("mirrors", doc.mirrors), problems=self.problems,
                                    host=self.host, at=self._at)
        kept_allowlist = [] if self.prune else [a for a in old.allowlist if a.key not in named]
        builtin = [r for r in old.registries if r.builtin]
        merged_regs = _merge(old.registries, registries, "name", self.prune)
        if self.prune:
            merged_regs = (*[b for b in builtin if b.name not in {r.name for r in registries}], *merged_regs)
        new = replace(
            old,
            registries=merged_regs,
            environments=_merge(old.environments, environments, "name", self.prune),
            users=_merge(old.users, users, "name", self.prune),
            teams=_merge(old.teams, teams, "name", self.prune),
            access=tuple(access) if self.prune else _union(old.access, access),
            grants=tuple(grants) if self.prune else _union(old.grants, grants),
            tiers=tiers,
            hide_dockerhub_anonymous=doc.settings.hide_dockerhub_anonymous,
            allowlist=(*kept_allowlist, *allowlist),
            content_ignore_kinds=ignore_kinds,
            signing=signing,
            mirrors=_merge(old.mirrors, mirrors, "name", self.prune),
        )
        if self.complete:
            self.authorize(old, new)
        return new

    def unchecked(self, read: Unchecked) -> Unchecked:
        names = dict(read.names)
        names["registry"] = names.get("registry", frozenset()) | self.unusable_registries
        names["signer"] = names.get("signer", frozenset()) | self.unusable_signers
        return Unchecked(names=names, kinds=read.kinds)

    def authorize(self, old: GovernanceState, new: GovernanceState) -> None:
        """Refuse the whole document if it changes a section the caller's role may not change.

        Raises:
            Forbidden: naming every such section (nothing is written).
        """
        role = self.principal.role
        refused = [
            section
            for section, permission in SECTION_PERMISSIONS.items()
            if role not in PERMISSIONS[permission] and _section(old, section) != _section(new, section)
        ]
        if refused:
            needs = sorted({r.value for s in refused for r in PERMISSIONS[SECTION_PERMISSIONS[s]]})
            raise Forbidden(
                f"{self.principal.name} ({self.principal.role.value}) may not change "
                f"{', '.join(refused)} through apply; nothing was written",
                details=[f"{s}: needs the role {' or '.join(needs)}" for s in refused],
            )

    def sealed(
        self, hm: Harbourmaster, governance: GovernanceRepository, old: GovernanceState, new: GovernanceState
    ) -> SealedUpdates:
        """Seal the secrets that differ from the stored ones (compared inside the vault only)."""
        out = SealedUpdates()
        for field, wanted, into in (
            ("credential", self.secrets, out.credentials),
            ("client_key", self.client_keys, out.client_keys),
        ):
            for name, secret in wanted.items():
                reg = new.registry(name)
                if reg is None:
                    continue
                credential, client_key = governance.sealed_blobs(name)
                stored = credential if field == "credential" else client_key
                if not same_registry_secret(hm, reg, stored, secret, field=field):
                    into[name] = seal_registry_secret(hm, reg, secret, field=field)
        for (name, field), secret in self.environment_secrets.items():
            env = new.environment(name)
            if env is None or not env.connection.secret_set(field):
                continue
            blob = governance.environment_secret(name, field)
            if not same_environment_secret(hm, env, blob, secret, field=field):
                out.environment_secrets[(name, field)] = seal_environment_secret(hm, env, secret, field=field)
        return out


def _moved(path: str) -> Violation:
    return Violation(
        path,
        "required: the registry's origin (URL, scope, provider fields or TLS trust) changes, and the "
        "stored secret stays bound to the old one; reference the secret again",
    )


#: The permission each section of the governance document needs to be created, changed or pruned.
SECTION_PERMISSIONS: dict[str, Permission] = {
    "registries": Permission.GOVERNANCE_WRITE,
    "environments": Permission.GOVERNANCE_WRITE,
    "grants": Permission.GOVERNANCE_WRITE,
    "tiers": Permission.GOVERNANCE_WRITE,
    "settings": Permission.GOVERNANCE_WRITE,
    "allowlist": Permission.GOVERNANCE_WRITE,
    "content": Permission.GOVERNANCE_WRITE,
    "signing": Permission.GOVERNANCE_WRITE,
    "mirrors": Permission.GOVERNANCE_WRITE,
    "users": Permission.IDENTITY_WRITE,
    "teams": Permission.IDENTITY_WRITE,
    "access": Permission.IDENTITY_WRITE,
}

_NO_REFERENCES = (
    "secret references (env:, file:) are resolved only by the harbourmaster CLI on its own host; "
    "through the API, send the secret in the registry's write-only credential field "
    "(POST or PATCH /api/v1/registries)"
)


_NO_ENVIRONMENT_REFERENCES = (
    "secret references (env:, file:) are resolved only by the harbourmaster CLI on its own host: "
    "set an environment's token or client key with 'harbourmaster apply' there"
)


def _section(state: GovernanceState, section: str) -> object:
    """A section's content, order-insensitive, for comparing before and after."""
    if section == "settings":
        return state.hide_dockerhub_anonymous
    if section == "tiers":
        return dict(state.tiers)
    if section == "content":
        return frozenset(state.content_ignore_kinds)
    if section == "signing":
        return state.signing
    return frozenset(getattr(state, section))


def _union(current: Iterable[T], wanted: list[T]) -> tuple[T, ...]:
    seen = set(wanted)
    return (*[c for c in current if c not in seen], *wanted)


def apply_document(
    hm: Harbourmaster,
    principal: Principal,
    text: str,
    *,
    source: str,
    dry_run: bool = False,
    prune: bool = False,
    host: HostFiles | None = None,
) -> ApplyPublic:
    """Apply a governance document on behalf of ``principal``; what was done (or, with ``dry_run``,
    would be done) is the API's response and the CLI's ``--json``.

    ``host`` is given only by a surface running on the server's own host for
    its operator (the CLI): secret references (``env:``, ``file:``) and PEM
    file paths are then read there, never from harbourmaster's own data.
    Without it (the API) any reference or path is refused with its path.

    Raises:
        Forbidden: the caller may not apply at all, or the document would
            create, change or prune a section the caller's role may not change
            (every such section is named; nothing is written).
        DocumentInvalid: the document is malformed, or the model it asks for
            breaks a rule; every problem is listed and nothing is written.
    """
    require(principal, Permission.GOVERNANCE_WRITE)
    reading: DocumentReading = read_document(text, source=source)
    doc = reading.document
    if doc is None:
        raise DocumentInvalid(source, list(reading.problems))
    plan = _Plan(doc, source=source, prune=prune, principal=principal, host=host)
    # Schema problems are reported with the value and reference problems of the rest of the document.
    plan.problems.extend(reading.problems)
    plan.complete = not reading.problems
    plan.positions = reading.positions
    plan.resolve_secrets()

    try:
        change: Change = hm.change(
            actor=principal.name,
            action="governance.apply",
            target=source,
            mutate=plan.build,
            preflight=lambda: plan.problems,
            sealed=lambda governance, old, new: plan.sealed(hm, governance, old, new),
            details={"prune": prune},
            dry_run=dry_run,
            locate=plan.locate,
            unchecked=lambda: plan.unchecked(reading.unchecked),
        )
    except StateInvalid as exc:
        raise DocumentInvalid(source, document_order(exc.violations, reading.sections)) from None
    return ApplyPublic(
        changes=list(change.changes), applied=change.applied, dry_run=dry_run, revision=change.revision
    )
