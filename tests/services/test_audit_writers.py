"""The audit writers of the enforcement points, on a real SQLite data directory: a thread that writes
what queued in batches, and a process of its own (what ``webhook serve`` runs).  Every entry queued is
in the log, in order, on a chain that verifies; a writer process that dies hands over to the server's
own process without losing what comes after."""

from __future__ import annotations

import logging
import os
import signal
import time

import pytest

from harbourmaster.services.audit_batches import AuditBatchWriter
from harbourmaster.services.audit_checkpoints import verify_audit_log
from harbourmaster.services.audit_process import AuditWriterProcess
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import AuditEvent


def events(prefix: str, n: int) -> list[AuditEvent]:
    details = {"images": [{"a": 1}]}
    return [AuditEvent("webhook:test", "admission", f"{prefix}-{i}", "allowed", {"i": i, **details})
            for i in range(n)]


def logged(hm: Harbourmaster, action: str = "admission") -> list[str]:
    with hm.store.read() as tx:
        return [e.target for e in tx.audit.entries() if e.action == action]


def chain_ok(hm: Harbourmaster) -> bool:
    return verify_audit_log(hm).chain.ok


def test_the_thread_writer_writes_every_entry_in_order_in_few_transactions(core: Harbourmaster) -> None:
    writer = AuditBatchWriter(core, name="test-audit", flush_seconds=0.05, batch=200)
    for event in events("t", 450):
        writer.put(event)
    writer.record(actor="webhook:test", action="admission", target="last", result="denied",
                  details={"x": [1]})
    writer.close()
    assert logged(core) == [f"t-{i}" for i in range(450)] + ["last"]
    assert chain_ok(core)
    with core.store.read() as tx:
        times = {e.time for e in tx.audit.entries() if e.action == "admission"}
    assert 3 <= len(times) <= 10  # one timestamp per batch: written 200 at a time, not one by one


def test_the_thread_writer_waits_for_a_batch_only_when_few_entries_wait(core: Harbourmaster) -> None:
    writer = AuditBatchWriter(core, name="test-audit", flush_seconds=0.3, batch=1000)
    started = time.monotonic()
    writer.put(events("one", 1)[0])
    deadline = started + 5
    while not logged(core) and time.monotonic() < deadline:
        time.sleep(0.02)
    waited = time.monotonic() - started
    writer.close()
    assert logged(core) == ["one-0"]
    assert 0.25 <= waited < 5  # a lone entry waits the flush interval for company, then is written


def test_the_writer_process_writes_every_entry_and_finishes_on_close(core: Harbourmaster) -> None:
    writer = AuditWriterProcess(core, name="test-audit-process", flush_seconds=0.05)
    assert writer.pid is not None and writer.pid != os.getpid()
    for event in events("p", 300):
        writer.put(event)
    writer.record(actor="webhook:test", action="admission", target="last", result="ok", details={})
    writer.close()
    assert logged(core) == [f"p-{i}" for i in range(300)] + ["last"]
    assert chain_ok(core)
    with pytest.raises(ProcessLookupError):  # the writer has exited
        os.kill(writer.pid, 0)


def test_a_dead_writer_process_hands_over_to_this_process(
    core: Harbourmaster, caplog: pytest.LogCaptureFixture
) -> None:
    writer = AuditWriterProcess(core, name="test-audit-process", flush_seconds=0.05)
    for event in events("before", 5):
        writer.put(event)
    deadline = time.monotonic() + 30
    while len(logged(core)) < 5 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert logged(core) == [f"before-{i}" for i in range(5)]
    assert writer.pid is not None
    os.kill(writer.pid, signal.SIGKILL)
    while time.monotonic() < deadline:
        try:
            os.kill(writer.pid, 0)
        except ProcessLookupError:
            break
        if writer._process.exitcode is not None:  # reaped
            break
        time.sleep(0.02)
    with caplog.at_level(logging.ERROR, logger="harbourmaster.services.audit_process"):
        for event in events("after", 7):
            writer.put(event)
        writer.close()
    assert logged(core) == [f"before-{i}" for i in range(5)] + [f"after-{i}" for i in range(7)]
    assert chain_ok(core)
    assert any("is gone" in r.getMessage() for r in caplog.records)
