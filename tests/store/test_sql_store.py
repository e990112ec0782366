"""The unit of work on SQLite and PostgreSQL: what the repositories write together is committed together or
not at all, a read writes nothing; and the governance repository's lock, sealed blobs and rewrap."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace

import pytest

from harbourmaster.domain.matching import parse_registry_location
from harbourmaster.domain.model import (
    CredentialInfo,
    CredentialKind,
    Environment,
    EnvironmentConnection,
    EnvironmentKind,
    Provider,
    Registry,
    Role,
    Tier,
    TlsSettings,
    User,
)
from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.interface import StoreError
from harbourmaster.store.values import SealedBlobs, SealedUpdates
from tests.integration.postgres import table_rows

NOW = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)


class Boom(Error):
    pass


def _registry(name: str, *, credential: bool = True) -> Registry:
    info = CredentialInfo(CredentialKind.ROBOT, "robot$x", None, secret_set=True)
    return Registry(
        name=name,
        provider=Provider.HARBOR,
        url="https://harbor.example",
        location=parse_registry_location("https://harbor.example", name),
        credential=info if credential else None,
    )


def _add_user(hm: Harbourmaster, name: str) -> None:
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state.evolve(users=(*state.users, User(name, Role.AUDITOR))))


def test_every_repository_writes_in_the_one_transaction(hm: Harbourmaster) -> None:
    rows = table_rows(hm.db.engine)
    with pytest.raises(Boom), hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state.evolve(users=(*state.users, User("ann", Role.AUDITOR))))
        assert tx.tokens.create(user="ann", name="t", token_hash="h1", created_at=NOW, expires_at=NOW)
        tx.audit.append(actor="t", action="test.event", target="t")
        raise Boom("after every write")
    assert table_rows(hm.db.engine) == rows

    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state.evolve(users=(*state.users, User("ann", Role.AUDITOR))))
        token_id = tx.tokens.create(user="ann", name="t", token_hash="h1", created_at=NOW, expires_at=NOW)
        entry = tx.audit.append(actor="t", action="test.event", target="t")
    with hm.store.read() as tx:
        assert User("ann", Role.AUDITOR) in tx.governance.load().users
        assert [t.id for t in tx.tokens.tokens(user="ann")] == [token_id]
        assert tx.audit.head() == (entry.seq, entry.hash)


def test_a_read_writes_nothing(hm: Harbourmaster) -> None:
    rows = table_rows(hm.db.engine)
    with hm.store.read() as tx:
        tx.audit.append(actor="t", action="test.event", target="t")
    assert table_rows(hm.db.engine) == rows


def test_a_database_failure_is_a_store_error_without_the_values(hm: Harbourmaster) -> None:
    _add_user(hm, "ann")
    with pytest.raises(StoreError) as info, hm.store.transaction() as tx:
        tx.tokens.create(user="ann", name="a", token_hash="canary-hash", created_at=NOW, expires_at=NOW)
        tx.tokens.create(user="ann", name="b", token_hash="canary-hash", created_at=NOW, expires_at=NOW)
    assert info.value.message.startswith("database error on ")
    assert "IntegrityError" in info.value.message and "canary-hash" not in info.value.message
    with hm.store.read() as tx:
        assert tx.tokens.tokens(user="ann") == []


def test_sealed_blobs_are_stored_kept_cleared_and_rewrapped(hm: Harbourmaster) -> None:
    one = _registry("one")
    one = replace(one, tls=replace(one.tls, client_key_set=True))
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(
            state.evolve(registries=(*state.registries, one, _registry("two", credential=False))),
            sealed=SealedUpdates(credentials={"one": b"sealed-1"}, client_keys={"one": b"key-1"}),
        )
    with hm.store.read() as tx:
        assert tx.governance.sealed_blobs("one") == SealedBlobs(b"sealed-1", b"key-1")
        assert tx.governance.sealed_blobs("two") == SealedBlobs(None, None)
        assert tx.governance.sealed_blobs("nope") == SealedBlobs(None, None)
    # A save that brings no new blob keeps the stored ones.
    with hm.store.transaction() as tx:
        tx.governance.save(tx.governance.load())
    seen: list[tuple[str, str, bytes]] = []

    def rewrap(record: str, field: str, blob: bytes) -> bytes:
        seen.append((record, field, blob))
        return b"new-" + blob

    with hm.store.transaction() as tx:
        assert tx.governance.rewrap(rewrap) == 2
    assert sorted(seen) == [("one", "client_key", b"key-1"), ("one", "credential", b"sealed-1")]
    with hm.store.read() as tx:
        assert tx.governance.sealed_blobs("one") == SealedBlobs(b"new-sealed-1", b"new-key-1")
    # A registry that loses its credential loses the sealed credential with it.
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        registries = tuple(replace(r, credential=None) if r.name == "one" else r for r in state.registries)
        tx.governance.save(state.evolve(registries=registries))
    with hm.store.read() as tx:
        assert tx.governance.sealed_blobs("one") == SealedBlobs(None, b"new-key-1")


def test_the_lock_holds_other_writers_until_the_transaction_ends(hm: Harbourmaster) -> None:
    order: list[str] = []

    def second() -> None:
        with hm.store.transaction() as tx:
            tx.governance.lock()
            order.append("second")

    with hm.store.transaction() as tx:
        tx.governance.lock()
        writer = threading.Thread(target=second)
        writer.start()
        writer.join(timeout=0.5)
        assert writer.is_alive(), "a second writer must wait for the lock"
        order.append("first")
    writer.join(timeout=30)
    assert order == ["first", "second"]


def test_the_revision_counts_saves(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        before = tx.governance.revision()
        assert tx.governance.save(tx.governance.load()) == before + 1
        assert tx.governance.revision() == before + 1
    with hm.store.read() as tx:
        assert tx.governance.revision() == before + 1


def test_environment_connections_and_their_secrets_are_stored_kept_dropped_and_rewrapped(
    hm: Harbourmaster,
) -> None:
    connection = EnvironmentConnection(
        api_server="https://k8s.example:6443",
        tls=TlsSettings(ca_bundle="-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"),
        token_set=True,
        service_account_issuer="https://k8s.example",
        jwks='{"keys": []}',
    )
    env = Environment("prod", EnvironmentKind.KUBERNETES, Tier.PRODUCTION, namespaces=("web",),
                      connection=connection)  # fmt: skip
    bare = Environment("dev", EnvironmentKind.DOCKER_STANDALONE, Tier.DEVELOPMENT)
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(
            state.evolve(environments=(env, bare)),
            sealed=SealedUpdates(environment_secrets={("prod", "token"): b"token-1"}),
        )
    with hm.store.read() as tx:
        loaded = tx.governance.load()
        assert loaded.environment("prod") == env and loaded.environment("dev") == bare
        assert tx.governance.environment_secret("prod", "token") == b"token-1"
        assert tx.governance.environment_secret("prod", "client_key") is None
        assert tx.governance.environment_secret("dev", "token") is None
    with hm.store.transaction() as tx:  # a save without new blobs keeps the stored one
        tx.governance.save(tx.governance.load())
    seen: list[tuple[str, str, bytes]] = []

    def rewrap(record: str, field: str, blob: bytes) -> bytes:
        seen.append((record, field, blob))
        return b"new-" + blob

    with hm.store.transaction() as tx:
        assert tx.governance.rewrap(rewrap) == 1
    assert seen == [("environment/prod", "token", b"token-1")]
    with hm.store.read() as tx:
        assert tx.governance.environment_secret("prod", "token") == b"new-token-1"
    # A connection that no longer sets the token drops it; so does a removed environment.
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        untokened = replace(env, connection=replace(connection, token_set=False))
        tx.governance.save(state.evolve(environments=(untokened,)))
    with hm.store.read() as tx:
        assert tx.governance.environment_secret("prod", "token") is None
        assert not tx.governance.load().environment("prod").connection.token_set  # type: ignore[union-attr]
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state, sealed=SealedUpdates(environment_secrets={("prod", "token"): b"token-2"}))
        tx.governance.save(tx.governance.load().evolve(environments=()))
    with hm.store.read() as tx:
        assert tx.governance.environment_secret("prod", "token") is None
        assert tx.governance.load().environments == ()
