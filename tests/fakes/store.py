"""An in-memory :class:`~harbourmaster.store.interface.Store`: every repository, no database.

A unit of work copies the committed tables, works on the copy and, when the
block ends without an error, makes the copy the committed tables: all of it or
none of it, as a database transaction.  Writers take turns (a second writer
waits, as behind SQLite's write lock); a read works on its own copy, so what it
writes is thrown away.  The repositories keep the SQL store's meaning (they pass
its repository tests, see ``tests/fakes/test_memory_store.py``): the model's
revision and sealed blobs, the audit hash chain built with the domain's
functions, SBOMs replaced per digest, format and platform with their index,
tokens that go with their user, advisories replaced only by newer ones, matches
recorded once.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

from harbourmaster.clock import Clock
from harbourmaster.domain.audit import AuditEntry, chain_all, format_audit_time
from harbourmaster.domain.authz import NodeRole
from harbourmaster.domain.model import Environment, EnvironmentConnection, Role
from harbourmaster.domain.state import GovernanceState
from harbourmaster.domain.tiers import DEFAULT_TIER_POLICIES
from harbourmaster.store.interface import (
    AuditLogBroken,
    AuditRepository,
    GovernanceRepository,
    Repositories,
    Rewrap,
    Store,
    StoreError,
    TokenRepository,
)
from harbourmaster.store.robot_interface import robot_field
from harbourmaster.store.values import AuditEvent, AuditFilter, SealedBlobs, SealedUpdates, StoredToken
from tests.fakes.store_approved_content import ApprovedContentTables, MemoryApprovedContentRepository
from tests.fakes.store_deployments import DeploymentTables, MemoryDeploymentRepository
from tests.fakes.store_jobs import JobTables, MemoryJobRepository
from tests.fakes.store_registry_tests import MemoryRegistryTestRepository, RegistryTestTables
from tests.fakes.store_robots import MemoryRobotRepository, RobotTables
from tests.fakes.store_scans import MemoryScanRepository, ScanTables
from tests.fakes.store_signing import MemorySigningRepository, SigningTables
from tests.fakes.store_supply import MemoryAdvisoryRepository, MemorySbomRepository, SupplyTables
from tests.fakes.store_web_sessions import MemoryWebSessionRepository, WebSessionTables

__all__ = ["MemoryStore"]


@dataclass
class _Token:
    user: str | None
    name: str
    token_hash: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool = False
    last_used_at: dt.datetime | None = None
    node: str | None = None
    environment: str | None = None


@dataclass
class _Tables:
    state: GovernanceState = field(default_factory=GovernanceState)
    #: registry name -> [sealed credential, sealed client key]
    blobs: dict[str, list[bytes | None]] = field(default_factory=dict)
    #: registry name -> sealed event-notification secret
    event_secrets: dict[str, bytes] = field(default_factory=dict)
    web_session_key: bytes | None = None
    #: environment name -> {field -> sealed connection secret}
    environment_secrets: dict[str, dict[str, bytes]] = field(default_factory=dict)
    #: scheduled mirror name -> (cron expression, the slot whose job was last queued)
    mirror_slots: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)
    revision: int = 0
    audit: list[AuditEntry] = field(default_factory=list)
    head: tuple[int, str] | None = None
    checkpoint_key: bytes | None = None
    tokens: dict[int, _Token] = field(default_factory=dict)
    next_token: int = 1
    supply: SupplyTables = field(default_factory=SupplyTables)
    signing: SigningTables = field(default_factory=SigningTables)
    jobs: JobTables = field(default_factory=JobTables)
    deployments: DeploymentTables = field(default_factory=DeploymentTables)
    approved_content: ApprovedContentTables = field(default_factory=ApprovedContentTables)
    robots: RobotTables = field(default_factory=RobotTables)
    registry_tests: RegistryTestTables = field(default_factory=RegistryTestTables)
    web_sessions: WebSessionTables = field(default_factory=WebSessionTables)
    scans: ScanTables = field(default_factory=ScanTables)


def _dedupe(items: Sequence[object]) -> tuple[object, ...]:
    return tuple(dict.fromkeys(items))


def _normalised_environment(env: Environment, secrets: dict[str, bytes]) -> Environment:
    """``env`` as the SQL store gives it back: its connection's secret flags read from the blobs."""
    connection = env.connection
    connection = replace(
        connection,
        tls=replace(connection.tls, client_key_set="client_key" in secrets),
        token_set="token" in secrets,
    )
    return replace(env, connection=connection if connection.configured else EnvironmentConnection())


def _normalised(
    state: GovernanceState,
    blobs: dict[str, list[bytes | None]],
    environment_secrets: dict[str, dict[str, bytes]] | None = None,
) -> GovernanceState:
    """``state`` as the SQL store gives it back: named things by name, each team's members sorted, every
    tier's policy, link entries once each, and whether a secret is set read from the stored blobs."""
    registries = []
    for reg in sorted(state.registries, key=lambda r: r.name):
        credential_blob, key_blob = blobs.get(reg.name, [None, None])
        credential = reg.credential
        if credential is not None:
            credential = replace(credential, secret_set=credential_blob is not None)
        registries.append(
            replace(
                reg,
                credential=credential,
                tls=replace(reg.tls, client_key_set=key_blob is not None),
                provider_fields=tuple(sorted(reg.provider_fields)),
            )
        )
    access: dict[tuple[str, str | None, str | None], object] = {}
    for entry in state.access:
        access[(entry.environment, entry.user, entry.team)] = entry
    return state.evolve(
        registries=tuple(registries),
        environments=tuple(
            _normalised_environment(e, (environment_secrets or {}).get(e.name, {}))
            for e in sorted(state.environments, key=lambda e: e.name)
        ),
        users=tuple(sorted(state.users, key=lambda u: u.name)),
        teams=tuple(
            replace(t, members=tuple(sorted(t.members))) for t in sorted(state.teams, key=lambda t: t.name)
        ),
        access=tuple(access.values()),
        grants=_dedupe(state.grants),
        tiers={**DEFAULT_TIER_POLICIES, **state.tiers},
    )


class _Governance(GovernanceRepository):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def load(self) -> GovernanceState:
        return self._t.state

    def save(self, state: GovernanceState, *, sealed: SealedUpdates | None = None) -> int:
        sealed = sealed or SealedUpdates()
        t = self._t
        blobs: dict[str, list[bytes | None]] = {}
        for reg in state.registries:
            credential, key = t.blobs.get(reg.name, [None, None])
            if reg.credential is None:
                credential = None
            if not reg.tls.client_key_set:
                key = None
            if reg.name in sealed.credentials:
                credential = sealed.credentials[reg.name]
            if reg.name in sealed.client_keys:
                key = sealed.client_keys[reg.name]
            blobs[reg.name] = [credential, key]
        t.blobs = blobs
        # A removed registry's event secret goes with it (as in the SQL store).
        t.event_secrets = {name: blob for name, blob in t.event_secrets.items() if name in blobs}
        # An environment's connection secrets: those its connection still sets, and the new ones.
        wanted = {e.name: e.connection for e in state.environments}
        kept = {
            name: {f: b for f, b in fields.items() if wanted[name].secret_set(f)}
            for name, fields in t.environment_secrets.items()
            if name in wanted
        }
        for (name, field_name), blob in sealed.environment_secrets.items():
            if name not in wanted:
                continue
            if blob is None:
                kept.get(name, {}).pop(field_name, None)
            else:
                kept.setdefault(name, {})[field_name] = blob
        t.environment_secrets = {name: fields for name, fields in kept.items() if fields}
        users = {u.name for u in state.users}
        # A user's tokens go with the user (ON DELETE CASCADE in the SQL store).
        t.tokens = {i: tok for i, tok in t.tokens.items() if tok.user in users}
        # A removed schedule's slot goes with it (as in the SQL store).
        t.mirror_slots = {n: v for n, v in t.mirror_slots.items() if n in {m.name for m in state.mirrors}}
        t.state = _normalised(state, blobs, t.environment_secrets)
        t.revision += 1
        return t.revision

    def revision(self) -> int:
        return self._t.revision

    def lock(self) -> None:
        pass  # a write unit of work already holds the store's writer lock

    def sealed_blobs(self, registry: str) -> SealedBlobs:
        credential, key = self._t.blobs.get(registry, [None, None])
        return SealedBlobs(credential, key)

    def rewrap(self, rewrap: Rewrap) -> int:
        count = 0
        for name, pair in self._t.blobs.items():
            for index, field_name in enumerate(("credential", "client_key")):
                blob = pair[index]
                if blob is not None:
                    pair[index] = rewrap(name, field_name, blob)
                    count += 1
        for name, blob in self._t.event_secrets.items():
            self._t.event_secrets[name] = rewrap(name, "event_secret", blob)
            count += 1
        for name, fields in self._t.environment_secrets.items():
            for field_name, blob in fields.items():
                fields[field_name] = rewrap(f"environment/{name}", field_name, blob)
                count += 1
        if self._t.web_session_key is not None:
            self._t.web_session_key = rewrap("web-session", "signing_key", self._t.web_session_key)
            count += 1
        for robot in list(self._t.robots.rows.values()):
            blob = rewrap(robot.registry, robot_field(robot.name, robot.generation), robot.sealed)
            self._t.robots.rows[robot.id] = dataclasses.replace(robot, sealed=blob)
            count += 1
        return count

    def environment_secret(self, environment: str, field: str) -> bytes | None:
        return self._t.environment_secrets.get(environment, {}).get(field)

    def web_session_key(self) -> bytes | None:
        return self._t.web_session_key

    def claim_web_session_key(self, sealed: bytes, *, replacing: bytes | None) -> bytes:
        if self._t.web_session_key != replacing:
            assert self._t.web_session_key is not None
            return self._t.web_session_key
        self._t.web_session_key = sealed
        return sealed

    def event_secret(self, registry: str) -> bytes | None:
        return self._t.event_secrets.get(registry)

    def registries_with_event_secret(self) -> frozenset[str]:
        return frozenset(self._t.event_secrets)

    def set_event_secret(self, registry: str, sealed: bytes | None) -> None:
        if sealed is None:
            self._t.event_secrets.pop(registry, None)
        else:
            self._t.event_secrets[registry] = sealed

    def mirror_slot(self, name: str, *, schedule: str) -> dt.datetime | None:
        entry = self._t.mirror_slots.get(name)
        return entry[1] if entry is not None and entry[0] == schedule else None

    def claim_mirror_slot(
        self, name: str, *, schedule: str, previous: dt.datetime | None, slot: dt.datetime
    ) -> bool:
        # A write unit of work holds the store's writer lock: the compare and the set are one step.
        if self.mirror_slot(name, schedule=schedule) != previous:
            return False
        self._t.mirror_slots[name] = (schedule, slot)
        return True


class _Audit(AuditRepository):
    def __init__(self, tables: _Tables, clock: Clock) -> None:
        self._t = tables
        self._clock = clock

    def append_many(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        if not events:
            return []
        t = self._t
        prev: AuditEntry | None = None
        if t.head is not None:
            prev = next((e for e in reversed(t.audit) if e.seq == t.head[0]), None)
            if prev is None:
                raise AuditLogBroken.newest_missing(t.head[0])
        now = format_audit_time(self._clock.now())
        entries = chain_all(prev, events, time=now)
        t.audit.extend(entries)
        t.head = (entries[-1].seq, entries[-1].hash)
        return entries

    def entries(self, *, after: int = -1, batch: int = 1000) -> Iterator[AuditEntry]:
        del batch  # all in memory already
        yield from (e for e in list(self._t.audit) if e.seq > after)

    def entries_at(self, seqs: Sequence[int]) -> list[AuditEntry]:
        wanted = set(seqs)
        return [e for e in list(self._t.audit) if e.seq in wanted]

    def head(self) -> tuple[int, str] | None:
        return self._t.head

    def search(self, where: AuditFilter, *, limit: int) -> list[AuditEntry]:
        since = format_audit_time(where.since) if where.since is not None else None
        until = format_audit_time(where.until) if where.until is not None else None

        def selected(e: AuditEntry) -> bool:
            return ((where.actor is None or e.actor == where.actor)
                    and (where.action is None or e.action == where.action
                         or e.action.startswith(where.action + "."))
                    and (where.target is None or where.target in e.target)
                    and (where.result is None or e.result == where.result)
                    and (since is None or e.time >= since)
                    and (until is None or e.time < until)
                    and (where.before is None or e.seq < where.before))

        newest_first = sorted(self._t.audit, key=lambda e: e.seq, reverse=True)
        return [e for e in newest_first if selected(e)][:max(0, limit)]

    def checkpoint_key(self) -> bytes | None:
        return self._t.checkpoint_key

    def save_checkpoint_key(self, sealed: bytes) -> None:
        self._t.checkpoint_key = bytes(sealed)


class _Tokens(TokenRepository):
    def __init__(self, tables: _Tables) -> None:
        self._t = tables

    def _stored(self, token_id: int, tok: _Token) -> StoredToken | None:
        role: Role | NodeRole
        if tok.node is not None:
            role = NodeRole.NODE
        else:
            user = next((u for u in self._t.state.users if u.name == tok.user), None)
            if user is None:
                return None
            role = user.role
        return StoredToken(
            id=token_id,
            user=tok.user,
            role=role,
            name=tok.name,
            created_at=tok.created_at,
            expires_at=tok.expires_at,
            revoked=tok.revoked,
            last_used_at=tok.last_used_at,
            node=tok.node,
            environment=tok.environment,
        )

    def create(
        self, *, user: str, name: str, token_hash: str, created_at: dt.datetime, expires_at: dt.datetime
    ) -> int | None:
        t = self._t
        if user not in {u.name for u in t.state.users}:
            return None
        if any(tok.token_hash == token_hash for tok in t.tokens.values()):
            raise StoreError("database error on api_tokens: IntegrityError (a token hash is stored once)")
        token_id = t.next_token
        t.next_token += 1
        t.tokens[token_id] = _Token(user, name, token_hash, created_at, expires_at)
        return token_id

    def create_node(
        self,
        *,
        node: str,
        environment: str,
        name: str,
        token_hash: str,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> int:
        t = self._t
        if any(tok.token_hash == token_hash for tok in t.tokens.values()):
            raise StoreError("database error on api_tokens: IntegrityError (a token hash is stored once)")
        token_id = t.next_token
        t.next_token += 1
        t.tokens[token_id] = _Token(
            None, name, token_hash, created_at, expires_at, node=node, environment=environment
        )
        return token_id

    def find(self, token_hash: str) -> StoredToken | None:
        for token_id, tok in self._t.tokens.items():
            if tok.token_hash == token_hash:
                return self._stored(token_id, tok)
        return None

    def get(self, token_id: int) -> StoredToken | None:
        tok = self._t.tokens.get(token_id)
        return None if tok is None else self._stored(token_id, tok)

    def tokens(self, *, user: str | None = None) -> list[StoredToken]:
        out = []
        for token_id in sorted(self._t.tokens):
            tok = self._t.tokens[token_id]
            stored = self._stored(token_id, tok) if user is None or tok.user == user else None
            if stored is not None:
                out.append(stored)
        return out

    def touch(self, token_id: int, *, at: dt.datetime) -> None:
        tok = self._t.tokens.get(token_id)
        if tok is not None:
            tok.last_used_at = at

    def revoke(self, token_id: int) -> None:
        tok = self._t.tokens.get(token_id)
        if tok is not None:
            tok.revoked = True


def _repositories(tables: _Tables, clock: Clock) -> Repositories:
    return Repositories(
        governance=_Governance(tables),
        audit=_Audit(tables, clock),
        sboms=MemorySbomRepository(tables.supply),
        tokens=_Tokens(tables),
        advisories=MemoryAdvisoryRepository(tables.supply),
        signing=MemorySigningRepository(tables.signing),
        jobs=MemoryJobRepository(tables.jobs),
        scans=MemoryScanRepository(tables.scans),
        deployments=MemoryDeploymentRepository(tables.deployments),
        approved_content=MemoryApprovedContentRepository(tables.approved_content),
        robots=MemoryRobotRepository(tables.robots),
        registry_tests=MemoryRegistryTestRepository(tables.registry_tests),
        web_sessions=MemoryWebSessionRepository(tables.web_sessions),
    )


class MemoryStore(Store):
    """Every repository over tables in this process; audit records are stamped by ``clock``."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._tables = _Tables()
        self._committed = threading.Lock()  # guards swapping the committed tables
        self._writer = threading.Lock()  # held for a whole write unit of work
        self._writing = threading.local()

    def __repr__(self) -> str:
        return f"MemoryStore(revision={self._tables.revision}, audit={len(self._tables.audit)})"

    def rewrite_audit(self, seq: int, **fields: object) -> None:
        """Change record ``seq``'s fields around the store, as someone who can write the database would
        (the chain and its head are left as they were: the tampering is for the verifier to find)."""
        with self._committed:
            audit = self._tables.audit
            index = next(i for i, e in enumerate(audit) if e.seq == seq)
            audit[index] = replace(audit[index], **fields)  # type: ignore[arg-type]

    def _copy(self) -> _Tables:
        with self._committed:
            return copy.deepcopy(self._tables)

    @contextmanager
    def transaction(self) -> Iterator[Repositories]:
        if getattr(self._writing, "active", False):
            # The SQL store would wait for its own write lock until it times out.
            raise StoreError("a write unit of work was opened inside another one on the same thread")
        with self._writer:
            self._writing.active = True
            try:
                tables = self._copy()
                yield _repositories(tables, self.clock)
                with self._committed:
                    self._tables = tables
            finally:
                self._writing.active = False

    @contextmanager
    def read(self) -> Iterator[Repositories]:
        yield _repositories(self._copy(), self.clock)
