"""The audit repository on SQLite and PostgreSQL: appending chains records after the head, entries are read
in order in batches from any point, the head is kept beside the chain, and the sealed checkpoint key."""

from __future__ import annotations

from itertools import pairwise

import pytest
from sqlalchemy import text

from harbourmaster.domain.audit import verify_chain
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.audit import CHECKPOINT_KEY_META
from harbourmaster.store.interface import AuditLogBroken, StoreError
from harbourmaster.store.values import AuditEvent


def test_append_chains_after_the_head_and_moves_it(hm: Harbourmaster) -> None:
    with hm.store.read() as tx:
        head = tx.audit.head()
    assert head is not None  # init recorded itself
    with hm.store.transaction() as tx:
        one = tx.audit.append(actor="ann", action="x.one", target="t", result="denied", details={"n": 1})
        more = tx.audit.append_many(
            [AuditEvent("bob", "x.more", f"t{i}", details={"i": i}) for i in range(3)]
        )
    assert one.seq == head[0] + 1 and one.prev_hash == head[1]
    assert (one.actor, one.action, one.target, one.result, dict(one.details)) == (
        "ann", "x.one", "t", "denied", {"n": 1}
    )
    assert [e.seq for e in more] == [one.seq + 1, one.seq + 2, one.seq + 3]
    assert more[0].prev_hash == one.hash and all(b.prev_hash == a.hash for a, b in pairwise(more))
    with hm.store.read() as tx:
        assert tx.audit.head() == (more[-1].seq, more[-1].hash)
        stored = list(tx.audit.entries())
        assert stored[-4:] == [one, *more]
        assert verify_chain(iter(stored), expected_head=tx.audit.head()).ok


def test_entries_are_read_from_any_point_in_batches(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        tx.audit.append_many([AuditEvent("a", "x", f"t{i}") for i in range(25)])
    with hm.store.read() as tx:
        everything = list(tx.audit.entries())
        assert [e.seq for e in everything] == list(range(1, len(everything) + 1))
        assert list(tx.audit.entries(batch=4)) == everything
        assert list(tx.audit.entries(after=10, batch=3)) == everything[10:]
        assert list(tx.audit.entries(after=everything[-1].seq)) == []


def test_nothing_to_append_writes_nothing(hm: Harbourmaster) -> None:
    with hm.store.read() as tx:
        head = tx.audit.head()
    with hm.store.transaction() as tx:
        assert tx.audit.append_many([]) == []
    with hm.store.read() as tx:
        assert tx.audit.head() == head


def test_a_missing_newest_record_is_never_chained_over(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        last = tx.audit.append(actor="a", action="x", target="t")
    with hm.db.transaction() as session:  # around the store, as whoever can write the database
        session.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": last.seq})
    broken = pytest.raises(AuditLogBroken, match=f"newest record {last.seq} is missing")
    with broken, hm.store.transaction() as tx:
        tx.audit.append(actor="a", action="x", target="after the gap")
    with hm.store.read() as tx:
        assert tx.audit.head() == (last.seq, last.hash)
        assert all(e.target != "after the gap" for e in tx.audit.entries())


def test_the_checkpoint_key_is_kept_replaced_and_checked(hm: Harbourmaster) -> None:
    with hm.store.read() as tx:
        assert tx.audit.checkpoint_key() is None
    with hm.store.transaction() as tx:
        tx.audit.save_checkpoint_key(b"hmv-sealed-1\x00\xff")
    with hm.store.transaction() as tx:
        assert tx.audit.checkpoint_key() == b"hmv-sealed-1\x00\xff"
        tx.audit.save_checkpoint_key(b"hmv-sealed-2")
    with hm.store.read() as tx:
        assert tx.audit.checkpoint_key() == b"hmv-sealed-2"
    with hm.db.engine.begin() as conn:
        cast = "CAST(:v AS JSON)" if conn.dialect.name == "postgresql" else ":v"
        conn.execute(
            text(f"UPDATE meta SET value = {cast} WHERE key = :k"),
            {"v": '{"algorithm": "ed25519", "sealed": "not base64!"}', "k": CHECKPOINT_KEY_META},
        )
    with pytest.raises(StoreError, match="the sealed key is not base64"), hm.store.read() as tx:
        tx.audit.checkpoint_key()
