"""The application core: one object per data directory, used by every surface.

``Harbourmaster`` is made of its parts, each behind an interface: the store
(its repositories), the vault, the registry-client factory, the clock and the
notifier.  The composition root (:func:`harbourmaster.bootstrap.build`) makes
the real ones from :class:`~harbourmaster.settings.Settings`; unit tests pass
in-memory fakes (``tests/fakes``).  Surfaces call the service functions in this
package and never touch the store.  Services open one unit of work per
operation (``hm.store.transaction()``) and write its audit record in it; they
ask ``hm.clock`` for the time and never read the environment.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

from harbourmaster.clock import Clock
from harbourmaster.domain.audit import VerifiedPrefix
from harbourmaster.domain.decision import GovernanceSnapshot
from harbourmaster.domain.diff import describe_changes
from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import ANONYMOUS_DOCKERHUB, Provider, Registry
from harbourmaster.domain.origins import drop_moved_secrets
from harbourmaster.domain.state import GovernanceState, StateInvalid, Unchecked, Violation, validate_state
from harbourmaster.identity.interface import IdentityHttp
from harbourmaster.notify.interface import Notifier
from harbourmaster.settings import Settings
from harbourmaster.store.database import Database
from harbourmaster.store.interface import GovernanceRepository, ModelWatcher, Store, StoreError
from harbourmaster.store.sql import SqlStore
from harbourmaster.store.values import SealedUpdates
from harbourmaster.vault.interface import SealedSecret, Vault, VaultError
from harbourmaster.vault.keyfile import MASTER_KEY_ENV, MASTER_KEY_FILE, create_master_key_file, load_keyring
from harbourmaster.vault.references import HostFiles

if TYPE_CHECKING:
    from harbourmaster.deploy.interface import TargetConnectors
    from harbourmaster.registry.interface import RegistryClientFactory

T = TypeVar("T")

__all__ = ["Change", "Harbourmaster", "InitReport", "Sealer"]

#: ``sealed(governance, old, new)``: the vault output to store with a change (:meth:`Harbourmaster.change`).
Sealer = Callable[[GovernanceRepository, GovernanceState, GovernanceState], SealedUpdates]

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
    """The core, made of its parts (see the module documentation).

    ``settings`` still says where the data directory is and the limits services enforce;
    everything that does I/O is one of the injected parts.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store,
        vault: Vault,
        registry_clients: RegistryClientFactory,
        clock: Clock,
        notifier: Notifier,
        targets: TargetConnectors | None = None,
        alert_notifier: Notifier | None = None,
        identity_http: IdentityHttp | None = None,
    ) -> None:
        self.settings = settings
        #: Connects to Docker engines, Swarm managers and Kubernetes API servers (None: this core
        #: deploys nowhere).
        self.targets = targets
        self.store = store
        self.vault = vault
        self.registry_clients = registry_clients
        self.clock = clock
        self.notifier = notifier
        #: Where credential expiry alerts go (None: nowhere; they are audited either way).
        self.alert_notifier = alert_notifier
        #: HTTP to an OpenID provider for web sign-in (None: this core signs no one in with OIDC).
        self.identity_http = identity_http
        self._snapshot: GovernanceSnapshot | None = None
        #: The model the snapshot was built from (immutable), for hot paths that need more of it.
        self._snapshot_state: GovernanceState | None = None
        #: How far this process knows the audit chain is good (services.audit_checkpoints).
        self._audit_prefix: VerifiedPrefix | None = None
        #: Values derived from one model (:meth:`derived`): the model they came from, and them by key.
        self._derived: tuple[GovernanceState | None, dict[Hashable, object]] = (None, {})
        #: The model revision the store announced last (None: not watched, or the watch is down).
        self._watched_revision: int | None = None
        self._watch: ModelWatcher | None = None
        #: A view held for one read-only operation on this thread (:meth:`one_view`).
        self._held = threading.local()
        self._lock = threading.Lock()

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Harbourmaster:
        """The real core for ``environ`` (default: the process environment), made by the composition root.

        Raises:
            BadInput: a setting is invalid (``NotifyError``: the webhook URL is not an http(s) URL).
        """
        from harbourmaster.bootstrap import build  # the root imports this module, not the reverse

        return build(Settings.from_environ(environ))

    @property
    def db(self) -> Database:
        """The SQL database under the store: its schema, migrations and files.

        Raises:
            StoreError: the store is not a SQL database (an in-memory store has no schema or file).
        """
        if isinstance(self.store, SqlStore):
            return self.store.database
        raise StoreError(f"the store ({type(self.store).__name__}) is not a SQL database")

    def today(self) -> dt.date:
        """The clock's date (``hm.clock.today()``)."""
        return self.clock.today()

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
        load_keyring(home, self.settings.environ)  # fail now, not at first use, when the key is unusable
        # A database made by an older version (or copied in) may be readable by others;
        # made private before it is opened, the -wal and -shm files SQLite adds copy its mode.
        self.db.restrict_file_modes()
        self.db.upgrade()
        self.prepare_model(
            target=str(home), details={"database": self.db.display_url, "master_key": key_source}
        )
        return InitReport(str(home), self.db.display_url, key_source, created, self.db.current_revision())

    def prepare_model(self, *, target: str, details: Mapping[str, object]) -> None:
        """Make the stored model current, in one unit of work (idempotent): bind secrets stored before
        origin binding to their registry's origin, and add the built-in anonymous Docker Hub registry,
        its ``system.init`` record naming ``target`` with ``details``.

        Raises:
            StoreError: the store failed.
        """
        with self.store.transaction() as tx:
            state = tx.governance.load()
            bound = self._bind_unbound_secrets(tx.governance, state)
            if bound:
                tx.audit.append(
                    actor=self.local_actor(),
                    action="vault.bind_origins",
                    target="registry secrets",
                    details={"bound": bound},
                )
            if state.registry(ANONYMOUS_DOCKERHUB) is None:
                tx.governance.save(state.evolve(registries=(*state.registries, ANONYMOUS_DOCKERHUB_REGISTRY)))
                tx.audit.append(
                    actor=self.local_actor(), action="system.init", target=target, details=details
                )

    def _bind_unbound_secrets(self, governance: GovernanceRepository, state: GovernanceState) -> list[str]:
        """Re-seal registry secrets stored before origin binding, bound to their registry's origin.

        A secret that opens neither bound nor unbound (altered, or bound to another
        origin) is left as it is: using it fails closed.
        """
        registries = {r.name: r for r in state.registries}
        bound: list[str] = []

        def rebind(record: str, field: str, blob: bytes) -> bytes:
            reg = registries.get(record)
            if reg is None:
                return blob  # a row the loaded model does not name: left as it is
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

        governance.rewrap(rebind)
        return bound

    @staticmethod
    def local_actor() -> str:
        try:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        except (ImportError, KeyError):
            user = str(os.getuid())
        return f"local:{user}"

    def reload_vault(self) -> None:
        """Have the vault read its master keys again (after ``keys rotate`` replaced them)."""
        self.vault.reload()

    def host_files(self) -> HostFiles:
        """The guard for references an operator resolves on this host: never harbourmaster's own data
        (the data directory with the master keys, and the database file wherever it lives)."""
        database = self.store.database.database_file if isinstance(self.store, SqlStore) else None
        files = [database] if database is not None else []
        return HostFiles.protecting(directories=[self.settings.home], files=files)

    # -- reading ------------------------------------------------------------
    def state(self) -> GovernanceState:
        """The governance model as committed now.  The store's revision is read on every call (never a
        notification that may lag a commit); the model the snapshot was built from is reused when it is
        of that revision, so a large model is loaded once per change, not once per call (a model loaded
        here becomes the snapshot's)."""
        today = self.clock.today()
        with self.store.read() as tx:
            revision = tx.governance.revision()
            with self._lock:
                cached, cached_state = self._snapshot, self._snapshot_state
            if cached is not None and cached_state is not None and cached.revision == revision:
                return cached_state
            state = tx.governance.load()
        self._keep(state, revision=revision, today=today)
        return state

    def derived(self, state: GovernanceState, key: Hashable, build: Callable[[], T]) -> T:
        """``build()``, a value computed from ``state`` alone (and ``key``, which names it and whatever
        else it depends on, such as the day), kept while ``state`` is the latest model asked for: large
        read models (1,000 registries with their grants) are built once per change, not once per page.
        The value is shared: callers must not change it."""
        with self._lock:
            held, values = self._derived
            if held is state and key in values:
                return values[key]  # type: ignore[return-value]
        value = build()
        with self._lock:
            held, values = self._derived
            if held is not state:
                values = {}
                self._derived = (state, values)
            values[key] = value
        return value

    def verified_audit_prefix(self) -> VerifiedPrefix | None:
        """How far this process last found the audit chain good (None: not known)."""
        with self._lock:
            return self._audit_prefix

    def keep_verified_audit_prefix(self, prefix: VerifiedPrefix | None) -> None:
        with self._lock:
            self._audit_prefix = prefix

    def snapshot(self) -> GovernanceSnapshot:
        """The decision snapshot for the current model revision (rebuilt when the model changed)."""
        return self.current()[0]

    @contextlib.contextmanager
    def one_view(self) -> Iterator[tuple[GovernanceSnapshot, GovernanceState]]:
        """Hold the current snapshot and model for a read-only operation on this thread: every
        :meth:`snapshot` and :meth:`current` inside answers the same view without asking the store
        again (a decision reads the model's revision once).  Nested holds share the outer one."""
        held = getattr(self._held, "view", None)
        if held is not None:
            yield held
            return
        self._held.view = view = self.current()
        try:
            yield view
        finally:
            self._held.view = None

    def current(self) -> tuple[GovernanceSnapshot, GovernanceState]:
        """The decision snapshot for the current model revision and the model it was built from, both
        immutable and shared until the model changes (one revision read when nothing changed): for hot
        paths such as the verdict, which need the tiers and the allowlist as well."""
        held = getattr(self._held, "view", None)
        if held is not None:
            return held  # type: ignore[no-any-return]
        today = self.clock.today()
        with self._lock:
            cached, cached_state, watched = self._snapshot, self._snapshot_state, self._watched_revision
        if (
            watched is not None
            and cached is not None
            and cached_state is not None
            and cached.revision == watched
            and cached.today == today
        ):
            return cached, cached_state  # the store announces every change: nothing to ask it
        with self.store.read() as tx:
            revision = tx.governance.revision()
            with self._lock:
                cached, cached_state = self._snapshot, self._snapshot_state
            if (
                cached is not None
                and cached_state is not None
                and cached.revision == revision
                and cached.today == today
            ):
                return cached, cached_state
            state = tx.governance.load()
        return self._keep(state, revision=revision, today=today), state

    def _keep(self, state: GovernanceState, *, revision: int, today: dt.date) -> GovernanceSnapshot:
        """Make ``state`` (of ``revision``) the cached model and its snapshot (each read compares the
        revision, so a model overtaken meanwhile is replaced at the next read)."""
        snap = snapshot_of(state, revision=revision, today=today)
        with self._lock:
            self._snapshot, self._snapshot_state = snap, state
        return snap

    def watch_model(self) -> bool:
        """Keep :meth:`current` in step with the store's announcements of new model revisions (on
        PostgreSQL: ``LISTEN``/``NOTIFY``), so a long-running process decides without reading the
        revision each time; False when the store announces none (the revision is read per call).
        Stopped by :meth:`stop_watching_model`."""
        if self._watch is not None:
            return True
        self._watch = self.store.watch_model(self._on_revision)
        return self._watch is not None

    def announced_revision(self) -> int | None:
        """The model revision the store last announced while :meth:`watch_model` runs, or None (no
        announcing store, or none announced yet).  Reads nothing."""
        with self._lock:
            return self._watched_revision

    def stop_watching_model(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.stop()
        self._on_revision(None)  # nothing announces any more: read the revision again

    def _on_revision(self, revision: int | None) -> None:
        with self._lock:
            self._watched_revision = revision

    # -- writing ------------------------------------------------------------
    def change(
        self,
        *,
        actor: str,
        action: str | Callable[[GovernanceState], str],
        target: str,
        mutate: Callable[[GovernanceState], GovernanceState],
        sealed: Sealer | None = None,
        details: Mapping[str, object] | None = None,
        dry_run: bool = False,
        locate: Callable[[object], str] | None = None,
        preflight: Callable[[], list[Violation]] | None = None,
        unchecked: Callable[[], Unchecked] | None = None,
    ) -> Change:
        """Apply one mutation of the model in one transaction, with its audit record.

        ``mutate`` returns the desired model; ``action`` may be decided from the stored model
        (create or update), read in this transaction; ``sealed`` returns the vault
        output to store with it (given the transaction's governance repository,
        to compare with the stored secrets).  With ``dry_run`` everything is checked and
        described but nothing is written.  ``preflight`` and ``unchecked`` are called
        after ``mutate``: problems found before the rules, and names whose
        references the rules do not report (see :class:`Unchecked`).

        Raises:
            StateInvalid: the new model would break a rule (nothing is written).
        """
        with self.store.transaction() as tx:
            tx.governance.lock()
            old = tx.governance.load()
            audit_action = action(old) if callable(action) else action
            new = mutate(old)
            violations = [
                *(preflight() if preflight else []),
                *validate_state(
                    new, today=self.clock.today(), locate=locate, unchecked=unchecked() if unchecked else None
                ),
            ]
            if violations:
                raise StateInvalid(violations)
            seal = sealed(tx.governance, old, new) if sealed is not None else SealedUpdates()
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
                return Change(tx.governance.revision(), changes, applied=False)
            revision = tx.governance.save(new, sealed=seal)
            tx.audit.append(
                actor=actor,
                action=audit_action,
                target=target,
                details={"revision": revision, **(details or {}), "changes": list(changes)},
            )
        self._committed(revision)
        return Change(revision, changes, applied=True)

    def _committed(self, revision: int) -> None:
        """This process committed model ``revision``: what it reads next is at least that new, even
        before the store's announcement of it arrives (read your own writes)."""
        with self._lock:
            if self._watched_revision is not None and revision > self._watched_revision:
                self._watched_revision = revision


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
