"""``harbourmaster apply``: make the governance model match a document, idempotently.

Without ``prune``, objects the document does not name are kept; with it, the
model becomes exactly the document (the built-in anonymous Docker Hub
registry is never pruned).  Every problem is reported with its path in the
document and nothing is written unless all is well.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TypeVar

from sqlalchemy.orm import Session

from harbourmaster.domain.model import (
    AccessEntry,
    AllowlistEntry,
    Environment,
    Registry,
    RegistryGrant,
    Team,
    User,
)
from harbourmaster.domain.secret import Secret, SecretReferenceError
from harbourmaster.domain.state import GovernanceState, StateInvalid, Violation, describe_entity
from harbourmaster.domain.tiers import TierPolicyError
from harbourmaster.services.core import Change, Harbourmaster
from harbourmaster.services.document import (
    DocumentInvalid,
    GovernanceDocument,
    parse_document,
    registry_from_spec,
)
from harbourmaster.store.governance import SealedUpdates, sealed_blobs
from harbourmaster.vault.interface import SealedSecret, UnresolvedSecretError, VaultError
from harbourmaster.vault.references import resolve_secret_reference

__all__ = ["ApplyResult", "apply_document"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ApplyResult:
    changes: tuple[str, ...]
    applied: bool
    dry_run: bool
    revision: int


def _merge(current: Iterable[T], wanted: list[T], key: str, prune: bool) -> tuple[T, ...]:
    names = {getattr(w, key) for w in wanted}
    kept = [] if prune else [c for c in current if getattr(c, key) not in names]
    return (*kept, *wanted)


class _Plan:
    """Builds the desired model from a document, remembering where each object came from."""

    def __init__(self, doc: GovernanceDocument, *, source: str, prune: bool) -> None:
        self.doc = doc
        self.source = source
        self.prune = prune
        self.paths: dict[int, str] = {}
        self.problems: list[Violation] = []
        self.secrets: dict[str, Secret] = {}
        self.client_keys: dict[str, Secret] = {}

    def locate(self, entity: object) -> str:
        return self.paths.get(id(entity)) or describe_entity(entity)

    def _at(self, entity: T, path: str) -> T:
        self.paths[id(entity)] = path
        return entity

    def resolve_secrets(self) -> None:
        for i, spec in enumerate(self.doc.registries):
            if spec.credential is not None and spec.credential.secret is not None:
                self._resolve(
                    self.secrets, spec.name, spec.credential.secret, f"registries[{i}].credential.secret"
                )
            if spec.tls is not None and spec.tls.client_key is not None:
                self._resolve(
                    self.client_keys, spec.name, spec.tls.client_key, f"registries[{i}].tls.client_key"
                )

    def _resolve(self, into: dict[str, Secret], name: str, reference: str, field: str) -> None:
        try:
            into[name] = resolve_secret_reference(reference, field=field)
        except SecretReferenceError:
            pass  # not a reference at all: registry_from_spec reports it with its path
        except UnresolvedSecretError as exc:
            self.problems.append(Violation(field, exc.message.removeprefix(f"{field}: ")))

    def build(self, old: GovernanceState) -> GovernanceState:
        doc = self.doc
        registries: list[Registry] = []
        for i, spec in enumerate(doc.registries):
            existing = old.registry(spec.name)
            had_secret = bool(existing and existing.credential and existing.credential.secret_set)
            had_key = bool(existing and existing.tls.client_key_set)
            reg = registry_from_spec(
                spec,
                path=f"registries[{i}]",
                problems=self.problems,
                secret_set=had_secret,
                client_key_set=had_key,
            )
            if reg is not None:
                registries.append(self._at(reg, f"registries[{i}]"))
        environments = [
            self._at(
                Environment(e.name, e.kind, e.tier, e.group, tuple(e.namespaces), e.hide_dockerhub_anonymous),
                f"environments[{i}]",
            )
            for i, e in enumerate(doc.environments)
        ]
        users = [self._at(User(u.name, u.role), f"users[{i}]") for i, u in enumerate(doc.users)]
        teams = [self._at(Team(t.name, tuple(t.members)), f"teams[{i}]") for i, t in enumerate(doc.teams)]
        access = [
            self._at(AccessEntry(a.environment, a.user, a.team, a.role), f"access[{i}]")
            for i, a in enumerate(doc.access)
        ]
        grants: list[RegistryGrant] = []
        for i, g in enumerate(doc.grants):
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
            for i, a in enumerate(doc.allowlist)
        ]
        named = {a.key for a in allowlist}
        kept_allowlist = [] if self.prune else [a for a in old.allowlist if a.key not in named]
        builtin = [r for r in old.registries if r.builtin]
        merged_regs = _merge(old.registries, registries, "name", self.prune)
        if self.prune:
            merged_regs = (*[b for b in builtin if b.name not in {r.name for r in registries}], *merged_regs)
        return replace(
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
        )

    def sealed(
        self, hm: Harbourmaster, session: Session, old: GovernanceState, new: GovernanceState
    ) -> SealedUpdates:
        """Seal the secrets that differ from the stored ones (compared inside the vault only)."""
        out = SealedUpdates()
        for name, secret in self.secrets.items():
            stored, _ = sealed_blobs(session, name)
            if not _same(hm, stored, secret, name, "credential"):
                out.credentials[name] = hm.vault.seal(secret, record=name, field="credential").to_bytes()
        for name, secret in self.client_keys.items():
            _, stored = sealed_blobs(session, name)
            if not _same(hm, stored, secret, name, "client_key"):
                out.client_keys[name] = hm.vault.seal(secret, record=name, field="client_key").to_bytes()
        return out


def _same(hm: Harbourmaster, stored: bytes | None, secret: Secret, record: str, field: str) -> bool:
    if stored is None:
        return False
    try:
        return hm.vault.open(SealedSecret.from_bytes(stored), record=record, field=field).equals(secret)
    except VaultError:
        return False


def _union(current: Iterable[T], wanted: list[T]) -> tuple[T, ...]:
    seen = set(wanted)
    return (*[c for c in current if c not in seen], *wanted)


def apply_document(
    hm: Harbourmaster, text: str, *, source: str, actor: str, dry_run: bool = False, prune: bool = False
) -> ApplyResult:
    """Apply a governance document.

    Raises:
        DocumentInvalid: the document is malformed, or the model it asks for
            breaks a rule; every problem is listed and nothing is written.
    """
    doc = parse_document(text, source=source)
    plan = _Plan(doc, source=source, prune=prune)
    plan.resolve_secrets()

    try:
        change: Change = hm.change(
            actor=actor,
            action="governance.apply",
            target=source,
            mutate=plan.build,
            preflight=lambda: plan.problems,
            sealed=lambda session, old, new: plan.sealed(hm, session, old, new),
            details={"prune": prune},
            dry_run=dry_run,
            locate=plan.locate,
        )
    except StateInvalid as exc:
        raise DocumentInvalid(source, exc.violations) from None
    return ApplyResult(change.changes, change.applied, dry_run, change.revision)
