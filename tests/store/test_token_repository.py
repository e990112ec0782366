"""The token repository on SQLite and PostgreSQL: tokens kept by hash for a user, found by hash or id, listed
oldest first, used and revoked; times come back in UTC."""

from __future__ import annotations

import datetime as dt

from harbourmaster.domain.model import Role, User
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import StoredToken

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
LATER = T0 + dt.timedelta(days=90)


def _users(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(
            state.evolve(users=(*state.users, User("ann", Role.ADMINISTRATOR), User("bob", Role.AUDITOR)))
        )


def test_create_find_get_and_list(hm: Harbourmaster) -> None:
    _users(hm)
    with hm.store.transaction() as tx:
        nobody = tx.tokens.create(user="nobody", name="t", token_hash="h0", created_at=T0, expires_at=LATER)
        assert nobody is None
        first = tx.tokens.create(user="ann", name="ci", token_hash="h1", created_at=T0, expires_at=LATER)
        second = tx.tokens.create(user="bob", name="audit", token_hash="h2", created_at=T0, expires_at=LATER)
        third = tx.tokens.create(user="ann", name="cd", token_hash="h3", created_at=T0, expires_at=LATER)
    assert first is not None and second is not None and third is not None
    expected = StoredToken(id=first, user="ann", role=Role.ADMINISTRATOR, name="ci", created_at=T0,
                           expires_at=LATER, revoked=False, last_used_at=None)
    with hm.store.read() as tx:
        assert tx.tokens.find("h1") == expected
        assert tx.tokens.get(first) == expected
        assert tx.tokens.find("h0") is None and tx.tokens.get(third + 100) is None
        assert [t.id for t in tx.tokens.tokens()] == [first, second, third]
        assert [t.id for t in tx.tokens.tokens(user="ann")] == [first, third]
        assert tx.tokens.tokens(user="nobody") == []
        bob = tx.tokens.find("h2")
    assert bob is not None and (bob.user, bob.role, bob.name) == ("bob", Role.AUDITOR, "audit")
    assert all(t.tzinfo is not None for t in (expected.created_at, expected.expires_at))


def test_touch_and_revoke(hm: Harbourmaster) -> None:
    _users(hm)
    with hm.store.transaction() as tx:
        token_id = tx.tokens.create(user="bob", name="t", token_hash="h", created_at=T0, expires_at=LATER)
    assert token_id is not None
    used = T0 + dt.timedelta(hours=5, minutes=7)
    with hm.store.transaction() as tx:
        tx.tokens.touch(token_id, at=used)
    with hm.store.transaction() as tx:
        token = tx.tokens.get(token_id)
        assert token is not None and token.last_used_at == used and not token.revoked
        tx.tokens.revoke(token_id)
    with hm.store.read() as tx:
        token = tx.tokens.find("h")
    assert token is not None and token.revoked and token.last_used_at == used


def test_a_users_tokens_go_with_the_user(hm: Harbourmaster) -> None:
    _users(hm)
    with hm.store.transaction() as tx:
        tx.tokens.create(user="bob", name="t", token_hash="h", created_at=T0, expires_at=LATER)
    with hm.store.transaction() as tx:
        state = tx.governance.load()
        tx.governance.save(state.evolve(users=tuple(u for u in state.users if u.name != "bob")))
    with hm.store.read() as tx:
        assert tx.tokens.find("h") is None and tx.tokens.tokens() == []
