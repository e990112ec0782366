"""Audit entries written in batches off the request path, for the enforcement points that answer first
and record afterwards (the admission webhook's reviews, the pull gate's pulls).

Each entry is put on a queue, and one writer thread appends what has queued in one transaction, every
``flush_seconds`` or as soon as ``batch`` entries wait.  :meth:`AuditBatchWriter.close` (the server's
shutdown) writes everything still queued.  A failed write is logged and retried with the next batch,
so a database hiccup loses no entry while the process lives.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping
from typing import Protocol

from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import AuditEvent

__all__ = ["BATCH", "FLUSH_SECONDS", "AuditBatchWriter", "AuditQueue"]

log = logging.getLogger(__name__)

#: Seconds between writes while entries wait.
FLUSH_SECONDS = 0.1
#: Entries that make the writer write at once.
BATCH = 200
#: Entries kept queued while the database refuses them, at most (then the oldest are logged and dropped).
MAX_QUEUED = 100_000


class AuditQueue(Protocol):
    """Where an enforcement point queues its audit entries (a thread or a process writes them)."""

    def record(
        self, *, actor: str, action: str, target: str, result: str, details: Mapping[str, object]
    ) -> None: ...

    def put(self, event: AuditEvent) -> None: ...

    def close(self, timeout: float = ...) -> None: ...


class AuditBatchWriter:
    """A queue of audit events and the thread (named ``name``) that appends them to the log in batches."""

    def __init__(
        self,
        hm: Harbourmaster,
        *,
        name: str = "audit-batches",
        flush_seconds: float = FLUSH_SECONDS,
        batch: int = BATCH,
    ) -> None:
        self._hm = hm
        self._flush_seconds = flush_seconds
        self._batch = batch
        self._queue: queue.SimpleQueue[AuditEvent | None] = queue.SimpleQueue()
        self._pending: list[AuditEvent] = []
        self._tries = 0
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def record(
        self, *, actor: str, action: str, target: str, result: str, details: Mapping[str, object]
    ) -> None:
        """Queue one entry; returns at once."""
        self.put(AuditEvent(actor, action, target, result, dict(details)))

    def put(self, event: AuditEvent) -> None:
        """Queue ``event``; returns at once."""
        self._queue.put(event)

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop the writer."""
        if not self._closed.is_set():
            self._closed.set()
            self._queue.put(None)
            self._thread.join(timeout)

    def _run(self) -> None:
        stop = False
        while not stop:
            items: list[AuditEvent | None] = [self._queue.get()]
            self._drain(items)
            if None not in items and len(items) < self._batch:
                # Let what arrives within the flush interval wait in the queue, then take it in one go:
                # the writer is not woken for each entry (each wake-up takes the interpreter from the
                # threads answering requests).
                self._closed.wait(self._flush_seconds)
                self._drain(items)
            stop = None in items
            self._pending.extend(item for item in items if item is not None)
            self._write()
        while self._pending:  # closing: what a failed write kept gets a few more tries
            if not self._write(retry_wait=0.2) and self._tries > 5:
                log.error("dropping %d audit entries the database refused", len(self._pending))
                return

    def _drain(self, items: list[AuditEvent | None]) -> None:
        """Add what waits in the queue to ``items``, up to a batch (or up to the closing None)."""
        while None not in items and len(items) < self._batch:
            try:
                items.append(self._queue.get_nowait())
            except queue.Empty:
                return

    def _write(self, *, retry_wait: float = 0.0) -> bool:
        if not self._pending:
            return True
        events, self._pending = self._pending, []
        try:
            with self._hm.store.transaction() as tx:
                tx.audit.append_many(events)
        except Exception:  # the database failed: keep the entries for the next batch
            self._tries += 1
            log.exception("writing %d audit entries failed; retrying", len(events))
            self._pending = (events + self._pending)[-MAX_QUEUED:]
            time.sleep(retry_wait or self._flush_seconds)
            return False
        self._tries = 0
        return True
