"""The governance repository on SQLAlchemy: the model, its sealed secrets, its revision and write lock.

:meth:`SqlGovernanceRepository.save` writes only the differences between the
stored model and the desired one, inside the unit of work's transaction, and
bumps the model revision so that cached decision snapshots are rebuilt.  Reading
the model back from its tables is :mod:`harbourmaster.store.governance_load`.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from typing import TypeVar

from sqlalchemy import delete, select, text
from sqlalchemy.orm import Session, selectinload

from harbourmaster.clock import Clock, SystemClock
from harbourmaster.domain.harbor_management import management_document
from harbourmaster.domain.model import Registry, User
from harbourmaster.domain.state import GovernanceState
from harbourmaster.store.environment_connections import (
    environment_secrets,
    save_connections,
    save_environment_secrets,
)
from harbourmaster.store.governance_load import load_state
from harbourmaster.store.interface import GovernanceRepository, Rewrap
from harbourmaster.store.meta import get_meta, set_meta
from harbourmaster.store.mirror_schedules import claim_mirror_slot, mirror_slot, save_mirrors
from harbourmaster.store.model_watch import notify_model_revision
from harbourmaster.store.models import (
    AccessRow,
    EnvironmentRow,
    GrantRow,
    ManagedRobotRow,
    NamespaceRow,
    RegistryRow,
    TeamMemberRow,
    TeamRow,
    TierPolicyRow,
    UserRow,
)
from harbourmaster.store.robot_interface import robot_field
from harbourmaster.store.signing_trust import save_signing
from harbourmaster.store.values import SealedBlobs, SealedUpdates

__all__ = ["SqlGovernanceRepository"]

#: The PostgreSQL advisory lock key that serialises writers of the model.
_MODEL_LOCK_KEY = 0x484D_4D4F_4445_4C00  # "HMMODEL\0"


def _lock_model(session: Session) -> None:
    """Hold the model for writing until the caller's transaction ends.

    A change reads the model and then writes the difference, so two writers
    that read the same model would undo each other's change.  On PostgreSQL
    this takes a transaction-level advisory lock; SQLite write transactions
    start with ``BEGIN IMMEDIATE`` and so are exclusive, from the moment the
    session connects: that is made to happen now, not at the first query.
    """
    session.connection()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MODEL_LOCK_KEY})


def _model_revision(session: Session) -> int:
    value = get_meta(session, "revision")
    return int(value["revision"]) if value else 0  # type: ignore[call-overload]


def _apply_registry(row: RegistryRow, reg: Registry) -> None:
    row.provider = reg.provider.value
    row.url = reg.url
    row.scope = reg.scope
    row.oci_artifacts = reg.oci_artifacts
    row.declared_public = reg.declared_public
    row.builtin = reg.builtin
    row.provider_fields = dict(reg.provider_fields)
    row.ca_bundle = reg.tls.ca_bundle
    row.client_certificate = reg.tls.client_certificate
    row.insecure = reg.tls.insecure
    cred = reg.credential
    row.credential_kind = cred.kind.value if cred else None
    row.credential_username = cred.username if cred else None
    row.credential_expires = cred.expires if cred else None
    if cred is None:
        row.credential_sealed = None
    if not reg.tls.client_key_set:
        row.client_key_sealed = None
    row.management = management_document(reg.management) if reg.management is not None else None


def _sync_registries(
    session: Session, new: GovernanceState, sealed: SealedUpdates, now: dt.datetime
) -> dict[str, int]:
    rows = {r.name: r for r in session.scalars(select(RegistryRow))}
    wanted = {r.name: r for r in new.registries}
    for name in rows.keys() - wanted.keys():
        session.delete(rows.pop(name))
    for name, reg in wanted.items():
        row = rows.get(name)
        if row is None:
            row = RegistryRow(name=name)
            session.add(row)
            rows[name] = row
        _apply_registry(row, reg)
        if name in sealed.credentials:
            row.credential_sealed = sealed.credentials[name]
            row.credential_updated_at = now
        if name in sealed.client_keys:
            row.client_key_sealed = sealed.client_keys[name]
    session.flush()
    return {name: row.id for name, row in rows.items()}


_Named = TypeVar("_Named", UserRow, TeamRow)


def _sync_named(session: Session, model: type[_Named], names: Mapping[str, object]) -> dict[str, int]:
    rows: dict[str, _Named] = {r.name: r for r in session.scalars(select(model))}
    for name in rows.keys() - names.keys():
        session.delete(rows.pop(name))
    for name, value in names.items():
        row = rows.get(name)
        if row is None:
            row = model(name=name)
            session.add(row)
            rows[name] = row
        if isinstance(row, UserRow):
            assert isinstance(value, User)
            row.role = value.role.value
    session.flush()
    return {name: row.id for name, row in rows.items()}


def _sync_environments(session: Session, new: GovernanceState) -> dict[str, int]:
    rows = {
        r.name: r
        for r in session.scalars(select(EnvironmentRow).options(selectinload(EnvironmentRow.namespaces)))
    }
    wanted = {e.name: e for e in new.environments}
    for name in rows.keys() - wanted.keys():
        session.delete(rows.pop(name))
    for name, env in wanted.items():
        row = rows.get(name)
        if row is None:
            row = EnvironmentRow(name=name)
            session.add(row)
            rows[name] = row
        row.kind, row.tier, row.group = env.kind.value, env.tier.value, env.group
        row.hide_dockerhub_anonymous = env.hide_dockerhub_anonymous
        row.admission = env.admission.value
        row.failure_policy = env.failure_policy.value if env.failure_policy is not None else None
        have = {n.name: n for n in row.namespaces}
        for ns_name in have.keys() - set(env.namespaces):
            row.namespaces.remove(have[ns_name])
        for ns_name in env.namespaces:
            if ns_name not in have:
                row.namespaces.append(NamespaceRow(name=ns_name))
    session.flush()
    return {name: row.id for name, row in rows.items()}


def _replace_links(session: Session, new: GovernanceState, ids: Mapping[str, Mapping[str, int]]) -> None:
    """Team members, access entries and grants: reconcile as sets of tuples."""
    reg, env, usr, team = ids["registries"], ids["environments"], ids["users"], ids["teams"]

    def uid(name: str | None) -> int | None:
        return usr[name] if name is not None else None

    def tid(name: str | None) -> int | None:
        return team[name] if name is not None else None

    want_members = {(team[t.name], usr[m]) for t in new.teams for m in t.members}
    have_members = {(m.team_id, m.user_id): m for m in session.scalars(select(TeamMemberRow))}
    for member_key in have_members.keys() - want_members:
        session.delete(have_members[member_key])
    for team_id, user_id in want_members - have_members.keys():
        session.add(TeamMemberRow(team_id=team_id, user_id=user_id))

    want_access = {(env[a.environment], uid(a.user), tid(a.team)): a.role.value for a in new.access}
    have_access = {(a.environment_id, a.user_id, a.team_id): a for a in session.scalars(select(AccessRow))}
    for access_key, row in have_access.items():
        if access_key not in want_access:
            session.delete(row)
        elif row.role != want_access[access_key]:
            row.role = want_access[access_key]
    for access_key, role in want_access.items():
        if access_key not in have_access:
            env_id, access_user, access_team = access_key
            session.add(AccessRow(environment_id=env_id, user_id=access_user, team_id=access_team, role=role))

    want_grants = {
        (reg[g.registry], env[g.environment], g.namespace, uid(g.user), tid(g.team)) for g in new.grants
    }
    have_grants = {
        (g.registry_id, g.environment_id, g.namespace, g.user_id, g.team_id): g.id
        for g in session.scalars(select(GrantRow))
    }
    stale = [gid for key, gid in have_grants.items() if key not in want_grants]
    for start in range(0, len(stale), 500):
        session.execute(delete(GrantRow).where(GrantRow.id.in_(stale[start : start + 500])))
    session.add_all(
        GrantRow(registry_id=k[0], environment_id=k[1], namespace=k[2], user_id=k[3], team_id=k[4])
        for k in want_grants - have_grants.keys()
    )


def _sync_tiers(session: Session, new: GovernanceState) -> None:
    rows = {r.tier: r for r in session.scalars(select(TierPolicyRow))}
    for tier, policy in new.tiers.items():
        row = rows.get(tier.value)
        if row is None:
            row = TierPolicyRow(tier=tier.value)
            session.add(row)
        row.block_severity = policy.block_severity
        row.advisory_severity = policy.advisory_severity
        row.require_signature = policy.require_signature
        row.ignore_unfixed = policy.ignore_unfixed
        row.unscanned = policy.unscanned.value
        row.require_approved_content = policy.require_approved_content


def _save_state(
    session: Session, new: GovernanceState, *, sealed: SealedUpdates | None = None, now: dt.datetime
) -> int:
    """Write ``new`` over the stored model inside the caller's transaction; returns the new revision.
    Sealed secrets written now are stamped ``now``."""
    sealed = sealed or SealedUpdates()
    ids = {
        "registries": _sync_registries(session, new, sealed, now),
        "environments": _sync_environments(session, new),
        "users": _sync_named(session, UserRow, {u.name: u for u in new.users}),
        "teams": _sync_named(session, TeamRow, {t.name: t for t in new.teams}),
    }
    _replace_links(session, new, ids)
    _sync_tiers(session, new)
    _drop_event_secrets_of_removed(session, new)
    save_connections(session, new, sealed)
    save_signing(session, new.signing, dict(new.tiers))
    save_mirrors(session, new.mirrors)
    set_meta(session, "settings", {"hide_dockerhub_anonymous": new.hide_dockerhub_anonymous})
    set_meta(
        session,
        "content",
        {"ignore_kinds": [{"apiVersion": k.api_version, "kind": k.kind} for k in new.content_ignore_kinds]},
    )
    set_meta(
        session,
        "allowlist",
        {
            "entries": [
                {
                    "advisory": e.advisory,
                    "expires": e.expires.isoformat(),
                    "reason": e.reason,
                    "registry": e.registry,
                }
                for e in new.allowlist
            ]
        },
    )
    revision = _model_revision(session) + 1
    set_meta(session, "revision", {"revision": revision})
    session.flush()
    notify_model_revision(session, revision)
    return revision


class SqlGovernanceRepository(GovernanceRepository):
    def __init__(self, session: Session, *, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()

    def load(self) -> GovernanceState:
        return load_state(self._session)

    def save(self, state: GovernanceState, *, sealed: SealedUpdates | None = None) -> int:
        return _save_state(self._session, state, sealed=sealed, now=self._clock.now())

    def revision(self) -> int:
        return _model_revision(self._session)

    def lock(self) -> None:
        _lock_model(self._session)

    def sealed_blobs(self, registry: str) -> SealedBlobs:
        row = self._session.scalars(select(RegistryRow).where(RegistryRow.name == registry)).one_or_none()
        if row is None:
            return SealedBlobs(None, None)
        return SealedBlobs(row.credential_sealed, row.client_key_sealed)

    def rewrap(self, rewrap: Rewrap) -> int:
        count = 0
        for row in self._session.scalars(select(RegistryRow).with_for_update()):
            if row.credential_sealed is not None:
                row.credential_sealed = rewrap(row.name, "credential", row.credential_sealed)
                count += 1
            if row.client_key_sealed is not None:
                row.client_key_sealed = rewrap(row.name, "client_key", row.client_key_sealed)
                count += 1
        secrets = _event_secrets(self._session)
        for name, blob in secrets.items():
            secrets[name] = rewrap(name, EVENT_SECRET_FIELD, blob)
            count += 1
        if secrets:
            _save_event_secrets(self._session, secrets)
        connections = environment_secrets(self._session)
        for name, fields in connections.items():
            for field_name, blob in fields.items():
                fields[field_name] = rewrap(f"environment/{name}", field_name, blob)
                count += 1
        if connections:
            save_environment_secrets(self._session, connections)
        web_key = self.web_session_key()
        if web_key is not None:
            rewrapped = base64.b64encode(rewrap(WEB_SESSION_KEY_RECORD, WEB_SESSION_KEY_FIELD, web_key))
            set_meta(self._session, WEB_SESSION_KEY_META, {"sealed": rewrapped.decode("ascii")})
            count += 1
        for robot in self._session.scalars(select(ManagedRobotRow).with_for_update()):
            robot.secret_sealed = rewrap(robot.registry_name, robot_field(robot.name, robot.generation),
                                         robot.secret_sealed)  # fmt: skip
            count += 1
        self._session.flush()
        return count

    def environment_secret(self, environment: str, field: str) -> bytes | None:
        return environment_secrets(self._session).get(environment, {}).get(field)

    def event_secret(self, registry: str) -> bytes | None:
        return _event_secrets(self._session).get(registry)

    def registries_with_event_secret(self) -> frozenset[str]:
        return frozenset(_event_secrets(self._session))

    def set_event_secret(self, registry: str, sealed: bytes | None) -> None:
        secrets = _event_secrets(self._session)
        if sealed is None:
            secrets.pop(registry, None)
        else:
            secrets[registry] = sealed
        _save_event_secrets(self._session, secrets)

    def web_session_key(self) -> bytes | None:
        value = get_meta(self._session, WEB_SESSION_KEY_META)
        sealed = value.get("sealed") if isinstance(value, dict) else None
        return base64.b64decode(sealed) if isinstance(sealed, str) else None

    def claim_web_session_key(self, sealed: bytes, *, replacing: bytes | None) -> bytes:
        _lock_model(self._session)  # one maker at a time across processes (PostgreSQL)
        current = self.web_session_key()
        if current != replacing:
            assert current is not None
            return current
        set_meta(self._session, WEB_SESSION_KEY_META, {"sealed": base64.b64encode(sealed).decode("ascii")})
        self._session.flush()
        return sealed

    def mirror_slot(self, name: str, *, schedule: str) -> dt.datetime | None:
        return mirror_slot(self._session, name, schedule=schedule)

    def claim_mirror_slot(
        self, name: str, *, schedule: str, previous: dt.datetime | None, slot: dt.datetime
    ) -> bool:
        return claim_mirror_slot(self._session, name, schedule=schedule, previous=previous, slot=slot)


#: The ``meta`` row of the web UI's session signing key, and the vault binding it is sealed under.
WEB_SESSION_KEY_META = "web_session_key"
WEB_SESSION_KEY_RECORD = "web-session"
WEB_SESSION_KEY_FIELD = "signing_key"

#: The field the registries' event-notification secrets are sealed for, and their ``meta`` row
#: (``{registry: base64 of the sealed secret}``; a handful of registries, so one row).
EVENT_SECRET_FIELD = "event_secret"
_EVENT_SECRETS_META = "registry_event_secrets"


def _event_secrets(session: Session) -> dict[str, bytes]:
    value = get_meta(session, _EVENT_SECRETS_META) or {}
    return {str(name): base64.b64decode(str(blob)) for name, blob in value.items()}


def _drop_event_secrets_of_removed(session: Session, new: GovernanceState) -> None:
    """A removed registry's event secret goes with it: a registry defined again under its name
    (even at the same origin) starts without one."""
    secrets = _event_secrets(session)
    kept = {name: blob for name, blob in secrets.items() if name in {r.name for r in new.registries}}
    if kept != secrets:
        _save_event_secrets(session, kept)


def _save_event_secrets(session: Session, secrets: dict[str, bytes]) -> None:
    set_meta(session, _EVENT_SECRETS_META,
             {name: base64.b64encode(blob).decode("ascii") for name, blob in sorted(secrets.items())})

