from __future__ import annotations

from sqlalchemy import text

from harbourmaster.services.audit import AuditEvent, verify_audit
from harbourmaster.services.core import Harbourmaster


def test_a_batch_extends_the_chain_in_order(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        first = tx.audit.append(actor="a", action="x.one", target="t")
        batch = tx.audit.append_many(
            [AuditEvent("b", "vuln.newly-affected", f"img{i}", "affected", {"i": i}) for i in range(50)]
        )
        last = tx.audit.append(actor="c", action="x.two", target="t")
    assert [e.seq for e in batch] == list(range(first.seq + 1, first.seq + 51))
    assert batch[0].prev_hash == first.hash and last.prev_hash == batch[-1].hash
    with hm.store.read() as tx:
        verdict = verify_audit(tx.audit)
        targets = [e.target for e in tx.audit.entries() if e.action == "vuln.newly-affected"]
    assert verdict.ok and targets == [f"img{i}" for i in range(50)]
    with hm.store.transaction() as tx:
        assert tx.audit.append_many([]) == []


def test_an_edit_inside_a_batch_is_found(hm: Harbourmaster) -> None:
    with hm.store.transaction() as tx:
        batch = tx.audit.append_many([AuditEvent("b", "e", f"t{i}") for i in range(10)])
    # Tampering goes around the store, as someone who can write the database would.
    with hm.db.transaction() as s:
        s.execute(text("UPDATE audit_log SET target = 'forged' WHERE seq = :seq"), {"seq": batch[4].seq})
    with hm.store.read() as tx:
        verdict = verify_audit(tx.audit)
    assert not verdict.ok and verdict.first_bad_seq == batch[4].seq
