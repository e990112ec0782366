from __future__ import annotations

from sqlalchemy import text

from harbourmaster.services.audit import AuditEvent, append_audit, append_audit_many, iter_audit, verify_audit
from harbourmaster.services.core import Harbourmaster


def test_a_batch_extends_the_chain_in_order(hm: Harbourmaster) -> None:
    with hm.db.transaction() as s:
        first = append_audit(s, actor="a", action="x.one", target="t")
        batch = append_audit_many(
            s, [AuditEvent("b", "vuln.newly-affected", f"img{i}", "affected", {"i": i}) for i in range(50)]
        )
        last = append_audit(s, actor="c", action="x.two", target="t")
    assert [e.seq for e in batch] == list(range(first.seq + 1, first.seq + 51))
    assert batch[0].prev_hash == first.hash and last.prev_hash == batch[-1].hash
    with hm.db.read() as s:
        verdict = verify_audit(s)
        targets = [e.target for e in iter_audit(s) if e.action == "vuln.newly-affected"]
    assert verdict.ok and targets == [f"img{i}" for i in range(50)]
    with hm.db.transaction() as s:
        assert append_audit_many(s, []) == []


def test_an_edit_inside_a_batch_is_found(hm: Harbourmaster) -> None:
    with hm.db.transaction() as s:
        batch = append_audit_many(s, [AuditEvent("b", "e", f"t{i}") for i in range(10)])
    with hm.db.transaction() as s:
        s.execute(text("UPDATE audit_log SET target = 'forged' WHERE seq = :seq"), {"seq": batch[4].seq})
    with hm.db.read() as s:
        verdict = verify_audit(s)
    assert not verdict.ok and verdict.first_bad_seq == batch[4].seq
