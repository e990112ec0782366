"""Reading the governance model from its tables: rows and meta entries back into domain values.

The write side, which reconciles the tables with a desired model, is
:mod:`harbourmaster.store.governance`.  Sealed secrets are not read here: a
registry records only whether its credential and client key are set.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from harbourmaster.domain.harbor_management import management_from_document
from harbourmaster.domain.kinds import KindSelector
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    AccessEntry,
    AdmissionMode,
    AllowlistEntry,
    CredentialInfo,
    CredentialKind,
    Environment,
    EnvironmentKind,
    FailurePolicy,
    Provider,
    Registry,
    RegistryGrant,
    Role,
    Team,
    Tier,
    TlsSettings,
    User,
)
from harbourmaster.domain.state import GovernanceState
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES, TierPolicy, UnscannedRule
from harbourmaster.store.environment_connections import connection_of, connections, environment_secrets
from harbourmaster.store.meta import get_meta
from harbourmaster.store.mirror_schedules import load_mirrors
from harbourmaster.store.models import (
    AccessRow,
    EnvironmentRow,
    GrantRow,
    RegistryRow,
    TeamMemberRow,
    TeamRow,
    TierPolicyRow,
    UserRow,
)
from harbourmaster.store.signing_trust import load_signing, load_tier_signers

__all__ = ["load_state"]


def _allowlist_meta(session: Session) -> list[dict[str, Any]]:
    value = get_meta(session, "allowlist") or {}
    entries = value.get("entries", [])
    return list(entries) if isinstance(entries, list) else []


def _ignore_kinds_meta(session: Session) -> tuple[KindSelector, ...]:
    value = get_meta(session, "content") or {}
    entries = value.get("ignore_kinds", [])
    if not isinstance(entries, list):
        return ()
    return tuple(KindSelector(str(e["apiVersion"]), str(e["kind"])) for e in entries)


def _registry_from_row(row: RegistryRow) -> Registry:
    credential = None
    if row.credential_kind is not None:
        credential = CredentialInfo(
            kind=CredentialKind(row.credential_kind),
            username=row.credential_username or "",
            expires=row.credential_expires,
            secret_set=row.credential_sealed is not None,
        )
    return Registry(
        name=row.name,
        provider=Provider(row.provider),
        url=row.url,
        location=parse_registry_location(row.url, row.scope),
        oci_artifacts=row.oci_artifacts,
        provider_fields=tuple(sorted((str(k), str(v)) for k, v in (row.provider_fields or {}).items())),
        tls=TlsSettings(
            ca_bundle=row.ca_bundle,
            client_certificate=row.client_certificate,
            client_key_set=row.client_key_sealed is not None,
            insecure=row.insecure,
        ),
        credential=credential,
        declared_public=row.declared_public,
        builtin=row.builtin,
        management=management_from_document(row.management) if row.management else None,
    )


def load_state(session: Session) -> GovernanceState:
    """The governance model as stored (secrets only as whether they are set)."""
    users = {row.id: row.name for row in session.scalars(select(UserRow))}
    user_rows = list(session.scalars(select(UserRow).order_by(UserRow.name)))
    teams = {row.id: row.name for row in session.scalars(select(TeamRow))}
    members: dict[int, list[str]] = {}
    for m in session.scalars(select(TeamMemberRow)):
        members.setdefault(m.team_id, []).append(users[m.user_id])
    env_rows = list(
        session.scalars(
            select(EnvironmentRow)
            .options(selectinload(EnvironmentRow.namespaces))
            .order_by(EnvironmentRow.name)
        )
    )
    envs = {row.id: row.name for row in env_rows}
    regs = {row.id: row for row in session.scalars(select(RegistryRow).order_by(RegistryRow.name))}
    tiers = dict(DEFAULT_TIER_POLICIES)
    for t in session.scalars(select(TierPolicyRow)):
        tier = Tier(t.tier)
        tiers[tier] = TierPolicy(
            tier,
            t.block_severity,
            t.advisory_severity,
            t.require_signature,
            t.ignore_unfixed,
            unscanned=(
                DEFAULT_TIER_POLICIES[tier].unscanned if t.unscanned is None else UnscannedRule(t.unscanned)
            ),
            require_approved_content=t.require_approved_content,
        )
    tiers = load_tier_signers(session, tiers)
    settings = get_meta(session, "settings") or {}
    stored_connections = connections(session)
    connection_secrets = environment_secrets(session)
    grants = [
        RegistryGrant(
            registry=regs[g.registry_id].name,
            environment=envs[g.environment_id],
            namespace=g.namespace,
            user=users[g.user_id] if g.user_id is not None else None,
            team=teams[g.team_id] if g.team_id is not None else None,
        )
        for g in session.scalars(select(GrantRow).order_by(GrantRow.id))
    ]
    return GovernanceState(
        registries=tuple(_registry_from_row(r) for r in regs.values()),
        environments=tuple(
            Environment(
                name=e.name,
                kind=EnvironmentKind(e.kind),
                tier=Tier(e.tier),
                group=e.group,
                namespaces=tuple(n.name for n in e.namespaces),
                hide_dockerhub_anonymous=e.hide_dockerhub_anonymous,
                admission=AdmissionMode(e.admission) if e.admission else AdmissionMode.ENFORCE,
                failure_policy=FailurePolicy(e.failure_policy) if e.failure_policy else None,
                connection=connection_of(stored_connections.get(e.name), connection_secrets.get(e.name, {})),
            )
            for e in env_rows
        ),
        users=tuple(User(u.name, Role(u.role)) for u in user_rows),
        teams=tuple(
            Team(name, tuple(sorted(members.get(tid, ()))))
            for tid, name in sorted(teams.items(), key=lambda kv: kv[1])
        ),
        access=tuple(
            AccessEntry(
                environment=envs[a.environment_id],
                user=users[a.user_id] if a.user_id is not None else None,
                team=teams[a.team_id] if a.team_id is not None else None,
                role=Role(a.role),
            )
            for a in session.scalars(select(AccessRow).order_by(AccessRow.id))
        ),
        grants=tuple(grants),
        tiers=tiers,
        hide_dockerhub_anonymous=bool(settings.get("hide_dockerhub_anonymous", False)),
        content_ignore_kinds=_ignore_kinds_meta(session),
        signing=load_signing(session),
        mirrors=load_mirrors(session),
        allowlist=tuple(
            AllowlistEntry(
                advisory=str(e["advisory"]),
                expires=dt.date.fromisoformat(str(e["expires"])),
                reason=str(e["reason"]),
                registry=str(e["registry"]) if e.get("registry") else None,
            )
            for e in _allowlist_meta(session)
        ),
    )
