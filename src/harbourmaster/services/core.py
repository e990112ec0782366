"""The application core: one object per data directory, used by every surface.

``Harbourmaster`` owns the database, the vault and the cached decision
snapshot.  Surfaces construct it from :class:`~harbourmaster.settings.Settings`
and call the service functions in this package; they never touch the store.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.orm import Session

from harbourmaster.domain.decision import GovernanceSnapshot
from harbourmaster.domain.diff import describe_changes
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import ANONYMOUS_DOCKERHUB, Provider, Registry
from harbourmaster.domain.origins import drop_moved_secrets
from harbourmaster.domain.state import GovernanceState, StateInvalid, Violation, validate_state
from harbourmaster.services.audit import append_audit
from harbourmaster.settings import Settings
from harbourmaster.store.database import Database
from harbourmaster.store.governance import (
    SealedUpdates,
    load_state,
    lock_model,
    model_revision,
    rewrap_all,
    save_state,
)
from harbourmaster.vault.envelope import EnvelopeVault
from harbourmaster.vault.interface import SealedSecret, VaultError
from harbourmaster.vault.keyfile import (
    MASTER_KEY_ENV,
    MASTER_KEY_FILE,
    create_master_key_file,
    key_files_stamp,
    load_keyring,
)
from harbourmaster.vault.references import HostFiles

__all__ = ["Change", "Harbourmaster", "InitReport"]

ANONYMOUS_DOCKERHUB_REGISTRY = Registry(
    name=ANONYMOUS_DOCKERHUB,
    provider=Provider.DOCKERHUB_ANONYMOUS,
    url="https://docker.io",
    location=parse_registry_location("https://docker.io"),
    builtin=True,
)


@dataclass(frozen=True, slots=True)
class InitReport:
    home: str
    database: str
    master_key: str
    created_key: bool
    schema_revision: str | None


@dataclass(frozen=True, slots=True)
class Change:
    """What a mutation did: the new revision and a line per change (empty: nothing changed)."""

    revision: int
    changes: tuple[str, ...]
    applied: bool


class Harbourmaster:
    def __init__(self, settings: Settings, *, today: Callable[[], dt.date] = dt.date.today) -> None:
        self.settings = settings
        self.db = Database(settings.database_url)
        self.today = today
        self._vault: EnvelopeVault | None = None
        self._vault_stamp: tuple[object, ...] | None = None
        self._snapshot: GovernanceSnapshot | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Harbourmaster:
        return cls(Settings.from_environ(environ))

    # -- set-up -------------------------------------------------------------
    def init(self) -> InitReport:
        """Create the data directory, the master key (unless supplied) and the schema; idempotent."""
        home = self.settings.home
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        created = False
        if MASTER_KEY_ENV in self.settings.environ:
            key_source = f"environment variable {MASTER_KEY_ENV}"
        else:
            path = home / MASTER_KEY_FILE
            if not path.exists():
                create_master_key_file(path)
                created = True
            key_source = str(path)
        self.vault  # noqa: B018 - fail now, not at first use, when the key is unusable
        # A database made by an older version (or copied in) may be readable by others;
        # made private before it is opened, the -wal and -shm files SQLite adds copy its mode.
        self.db.restrict_file_modes()
        self.db.upgrade()
        with self.db.transaction() as session:
            state = load_state(session)
            bound = self._bind_unbound_secrets(session, state)
            if bound:
                append_audit(
                    session,
                    actor=self.local_actor(),
                    action="vault.bind_origins",
                    target="registry secrets",
                    details={"bound": bound},
                )
            if state.registry(ANONYMOUS_DOCKERHUB) is None:
                save_state(
                    session, state.evolve(registries=(*state.registries, ANONYMOUS_DOCKERHUB_REGISTRY))
                )
                append_audit(
                    session,
                    actor=self.local_actor(),
                    action="system.init",
                    target=str(home),
                    details={"database": self.db.display_url, "master_key": key_source},
                )
        return InitReport(str(home), self.db.display_url, key_source, created, self.db.current_revision())

    def _bind_unbound_secrets(self, session: Session, state: GovernanceState) -> list[str]:
        """Re-seal registry secrets stored before origin binding, bound to their registry's origin.

        A secret that opens neither bound nor unbound (altered, or bound to another
        origin) is left as it is: using it fails closed.
        """
        registries = {r.name: r for r in state.registries}
        bound: list[str] = []

        def rebind(record: str, field: str, blob: bytes) -> bytes:
            reg = registries.get(record)
            if reg is None:
                return blob  # not a registry's secret (the audit checkpoint key)
            sealed = SealedSecret.from_bytes(blob)
            try:
                self.vault.open(sealed, record=record, field=field, origin=reg.credential_origin)
                return blob
            except VaultError:
                pass
            try:
                secret = self.vault.open(sealed, record=record, field=field)
            except VaultError:
                return blob
            bound.append(f"{record} {field}")
            resealed = self.vault.seal(secret, record=record, field=field, origin=reg.credential_origin)
            return resealed.to_bytes()

        rewrap_all(session, rebind)
        return bound

    @staticmethod
    def local_actor() -> str:
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            user = str(os.getuid())
        return f"local:{user}"

    @property
    def vault(self) -> EnvelopeVault:
        # Another process ('keys rotate') may have replaced the key files since they were read:
        # a long-running server must not go on sealing under a key that the rotation erased.
        stamp = key_files_stamp(self.settings.home, self.settings.environ)
        if self._vault is None or stamp != self._vault_stamp:
            self._vault = EnvelopeVault(load_keyring(self.settings.home, self.settings.environ))
            self._vault_stamp = stamp
        return self._vault

    def reload_vault(self) -> None:
        self._vault = None

    def host_files(self) -> HostFiles:
        """The guard for references an operator resolves on this host: never harbourmaster's own data
        (the data directory with the master keys, and the database file wherever it lives)."""
        database = self.db.engine.url.database if self.db.engine.dialect.name == "sqlite" else None
        files = [Path(database)] if database else []
        return HostFiles.protecting(directories=[self.settings.home], files=files)

    # -- reading ------------------------------------------------------------
    def state(self) -> GovernanceState:
        with self.db.read() as session:
            return load_state(session)

    def snapshot(self) -> GovernanceSnapshot:
        """The decision snapshot for the current model revision (rebuilt when the model changed)."""
        with self.db.read() as session:
            revision = model_revision(session)
            cached = self._snapshot
            today = self.today()
            if cached is not None and cached.revision == revision and cached.today == today:
                return cached
            state = load_state(session)
        snap = snapshot_of(state, revision=revision, today=today)
        with self._lock:
            self._snapshot = snap
        return snap

    # -- writing ------------------------------------------------------------
    def change(
        self,
        *,
        actor: str,
        action: str,
        target: str,
        mutate: Callable[[GovernanceState], GovernanceState],
        sealed: Callable[[Session, GovernanceState, GovernanceState], SealedUpdates] | None = None,
        details: Mapping[str, object] | None = None,
        dry_run: bool = False,
        locate: Callable[[object], str] | None = None,
        preflight: Callable[[], list[Violation]] | None = None,
    ) -> Change:
        """Apply one mutation of the model in one transaction, with its audit record.

        ``mutate`` returns the desired model; ``sealed`` returns the vault
        output to store with it.  With ``dry_run`` everything is checked and
        described but nothing is written.

        Raises:
            StateInvalid: the new model would break a rule (nothing is written).
        """
        with self.db.transaction() as session:
            lock_model(session)
            old = load_state(session)
            new = mutate(old)
            violations = [
                *(preflight() if preflight else []),
                *validate_state(new, today=self.today(), locate=locate),
            ]
            if violations:
                raise StateInvalid(violations)
            seal = sealed(session, old, new) if sealed is not None else SealedUpdates()
            moved = drop_moved_secrets(
                old,
                new,
                new_credentials={n for n, b in seal.credentials.items() if b is not None},
                new_client_keys={n for n, b in seal.client_keys.items() if b is not None},
            )
            new = moved.state
            for name in moved.credentials:
                seal.credentials[name] = None
            for name in moved.client_keys:
                seal.client_keys[name] = None
            existed = {r.name for r in old.registries}
            replaced = [n for n, blob in seal.credentials.items() if blob is not None and n in existed]
            replaced += [
                f"{n} (client key)"
                for n, blob in seal.client_keys.items()
                if blob is not None and n in existed
            ]
            changes = (*describe_changes(old, new, replaced_secrets=replaced), *moved.describe())
            if not changes or dry_run:
                return Change(model_revision(session), changes, applied=False)
            revision = save_state(session, new, sealed=seal)
            append_audit(
                session,
                actor=actor,
                action=action,
                target=target,
                details={"revision": revision, **(details or {}), "changes": list(changes)},
            )
            return Change(revision, changes, applied=True)


def snapshot_of(state: GovernanceState, *, revision: int, today: dt.date) -> GovernanceSnapshot:
    return GovernanceSnapshot.build(
        revision=revision,
        registries=state.registries,
        environments=state.environments,
        users=state.users,
        teams=state.teams,
        access=state.access,
        grants=state.grants,
        hide_dockerhub_anonymous=state.hide_dockerhub_anonymous,
        today=today,
        content_ignore_kinds=state.content_ignore_kinds,
    )
