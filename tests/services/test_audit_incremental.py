"""Incremental audit verification (page views): only records added since the last good verification are
read, yet a rewrite of the known-good record, a rewrite of an earlier record once the whole chain is
verified again, and a break in the new stretch are all found."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from harbourmaster.services.audit_checkpoints import FULL_VERIFY_EVERY, emit_checkpoint, verify_audit_log
from harbourmaster.services.core import Harbourmaster
from tests.fakes.clock import FixedClock


def _record(hm: Harbourmaster, n: int) -> None:
    with hm.store.transaction() as tx:
        for i in range(n):
            tx.audit.append(actor="t", action="test.event", target=f"t{i}")


def _tamper(hm: Harbourmaster, seq: int) -> None:
    with hm.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = :seq"), {"seq": seq})


def _reads_after(hm: Harbourmaster) -> list[int]:
    """Spy on the store: the ``after`` of every ``entries`` read made through it."""
    seen: list[int] = []
    store = hm.store
    original = store.read

    def read():  # type: ignore[no-untyped-def]
        ctx = original()
        tx = ctx.__enter__()
        entries = tx.audit.entries

        def spying(*, after: int = -1, batch: int = 1000):  # type: ignore[no-untyped-def]
            seen.append(after)
            return entries(after=after, batch=batch)

        tx.audit.entries = spying  # type: ignore[method-assign]

        class Ctx:
            def __enter__(self):  # type: ignore[no-untyped-def]
                return tx

            def __exit__(self, *exc):  # type: ignore[no-untyped-def]
                return ctx.__exit__(*exc)

        return Ctx()

    store.read = read  # type: ignore[method-assign]
    return seen


def test_a_page_view_reads_only_the_records_added_since_the_last_good_one(core: Harbourmaster) -> None:
    _record(core, 5)
    first = verify_audit_log(core, incremental=True)  # nothing known yet: the whole chain
    assert first.ok and first.incremental_after is None and first.full_at is not None
    head = first.chain.head
    assert head is not None
    seen = _reads_after(core)
    _record(core, 3)
    second = verify_audit_log(core, incremental=True)
    assert seen == [head[0]], "only the records after the known-good one were read"
    assert second.ok and second.incremental_after == head[0]
    assert second.chain.count == first.chain.count + 3 and second.full_at == first.full_at
    # audit verify (not incremental) reads the whole chain every time.
    third = verify_audit_log(core)
    assert third.ok and third.incremental_after is None and seen[-1] == -1


def test_a_break_in_the_new_stretch_is_found_and_forgets_what_was_known(core: Harbourmaster) -> None:
    _record(core, 4)
    assert verify_audit_log(core, incremental=True).ok
    known = core.verified_audit_prefix()
    assert known is not None
    _record(core, 3)
    _tamper(core, known.seq + 2)
    broken = verify_audit_log(core, incremental=True)
    assert not broken.ok and broken.chain.first_bad_seq == known.seq + 2
    assert broken.full_at is None and core.verified_audit_prefix() is None


def test_a_rewritten_known_good_record_makes_it_verify_from_the_first(core: Harbourmaster) -> None:
    _record(core, 4)
    assert verify_audit_log(core, incremental=True).ok
    known = core.verified_audit_prefix()
    assert known is not None
    _tamper(core, known.seq)  # the anchor itself: its hash no longer matches what was known
    again = verify_audit_log(core, incremental=True)
    assert not again.ok and again.incremental_after is None and again.chain.first_bad_seq == known.seq


def test_an_earlier_rewrite_is_found_when_the_whole_chain_is_verified_again(core: Harbourmaster) -> None:
    clock = FixedClock(core.clock.now())
    core.clock = clock
    _record(core, 6)
    assert verify_audit_log(core, incremental=True).ok
    _tamper(core, 2)  # before the known-good record: an incremental look does not read it
    _record(core, 1)
    assert verify_audit_log(core, incremental=True).chain.ok
    assert not verify_audit_log(core).ok  # audit verify reads it all, at once
    assert verify_audit_log(core, incremental=True).chain.first_bad_seq == 2  # and forgot the prefix
    core.keep_verified_audit_prefix(None)
    _fix = "UPDATE audit_log SET actor = 't' WHERE seq = 2"
    with core.db.engine.begin() as conn:
        conn.execute(text(_fix))
    assert verify_audit_log(core, incremental=True).ok
    _tamper(core, 3)
    assert verify_audit_log(core, incremental=True).ok  # within the hour: not read again
    clock.advance(FULL_VERIFY_EVERY + dt.timedelta(seconds=1))
    late = verify_audit_log(core, incremental=True)
    assert not late.ok and late.chain.first_bad_seq == 3 and late.incremental_after is None


def test_checkpoints_before_the_known_record_are_still_checked(core: Harbourmaster) -> None:
    _record(core, 3)
    checkpoint = emit_checkpoint(core)
    _record(core, 2)
    full = verify_audit_log(core, incremental=True)
    assert full.ok and full.checkpoints.total == 1 and full.checkpoints.checked == 1
    _record(core, 2)
    later = verify_audit_log(core, incremental=True)
    assert later.incremental_after is not None and later.checkpoints.checked == 1 and later.ok
    # A deleted checkpointed record is found without reading the chain before the known record.
    assert later.incremental_after > checkpoint.seq
    with core.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log WHERE seq = :seq"), {"seq": checkpoint.seq})
    _record(core, 1)
    gone = verify_audit_log(core, incremental=True)
    assert gone.incremental_after is not None, "the known-good record is still there: an incremental look"
    assert not gone.checkpoints.ok
    assert f"record {checkpoint.seq} is not in the chain" in " ".join(gone.checkpoints.problems)
