"""Audit entries written by a process of their own, for a server whose requests must not share the
interpreter with the audit log's writes (the admission webhook: hashing the chain and inserting the
records of thousands of reviews a second would take the interpreter lock from the event loop).

The server only appends each entry to a list; a sender thread hands what gathered to the writer
process every ``flush_seconds``, in one message over a pipe.  The writer process builds its own core
from the same environment and appends the entries through an
:class:`~harbourmaster.services.audit_batches.AuditBatchWriter` (batched, one transaction per batch,
failed writes retried).  :meth:`AuditWriterProcess.close` sends what is left, closes the pipe and
waits for the writer to write everything.  If the writer process is gone, the entries are written in
the server's own process from then on (logged once), so none is dropped while the server lives.
"""

from __future__ import annotations

import logging
import multiprocessing
import pickle
import signal
import threading
from collections.abc import Mapping
from multiprocessing.connection import Connection

from harbourmaster.services.audit_batches import FLUSH_SECONDS, AuditBatchWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import AuditEvent

__all__ = ["AuditWriterProcess"]

log = logging.getLogger(__name__)


def _write_from_pipe(pipe: Connection, name: str, flush_seconds: float) -> None:
    """The writer process: append what arrives on ``pipe`` until it closes, then write the rest."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a Ctrl-C stops the server, which closes the pipe
    hm = Harbourmaster.from_environ()
    writer = AuditBatchWriter(hm, name=name, flush_seconds=flush_seconds)
    try:
        while True:
            try:
                data = pipe.recv_bytes()
            except (EOFError, OSError):
                return
            for event in pickle.loads(data):  # noqa: S301 - from our own server process only
                writer.put(event)
    finally:
        writer.close(timeout=60)
        hm.db.dispose()


class AuditWriterProcess:
    """Queues audit entries for a writer process (see the module documentation).

    ``hm`` writes the entries itself if the process is gone; the process builds its core from this
    process's environment (as ``webhook serve --workers N`` builds each worker's).
    """

    def __init__(
        self, hm: Harbourmaster, *, name: str = "audit-writer", flush_seconds: float = FLUSH_SECONDS
    ) -> None:
        self._hm = hm
        self._name = name
        self._flush_seconds = flush_seconds
        context = multiprocessing.get_context("spawn")  # no fork of a threaded server
        receiver, self._pipe = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_write_from_pipe, args=(receiver, name, flush_seconds), name=name, daemon=True
        )
        self._process.start()
        receiver.close()
        self._gathered: list[AuditEvent] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._fallback: AuditBatchWriter | None = None
        self._sender = threading.Thread(target=self._run, name=f"{name}-sender", daemon=True)
        self._sender.start()

    @property
    def pid(self) -> int | None:
        """The writer process's id."""
        return self._process.pid

    def record(
        self, *, actor: str, action: str, target: str, result: str, details: Mapping[str, object]
    ) -> None:
        """Queue one entry; returns at once."""
        self.put(AuditEvent(actor, action, target, result, dict(details)))

    def put(self, event: AuditEvent) -> None:
        """Queue ``event``; returns at once."""
        with self._lock:
            self._gathered.append(event)

    def close(self, timeout: float = 30.0) -> None:
        """Send what is queued, then wait (up to ``timeout`` seconds) for everything to be written."""
        if self._closed.is_set():
            return
        self._closed.set()
        self._sender.join(timeout)
        self._pipe.close()
        self._process.join(timeout)
        if self._process.is_alive():
            log.error("audit writer process %s did not finish within %g s", self._name, timeout)
        if self._fallback is not None:
            self._fallback.close(timeout)

    def _run(self) -> None:
        while not self._closed.wait(self._flush_seconds):
            self._send()
        self._send()

    def _send(self) -> None:
        with self._lock:
            events, self._gathered = self._gathered, []
        if not events:
            return
        if self._fallback is None:
            try:
                self._pipe.send_bytes(pickle.dumps(events, protocol=pickle.HIGHEST_PROTOCOL))
                return
            except (OSError, ValueError):
                log.error(
                    "audit writer process %s (pid %s) is gone (exit code %s); writing audit entries "
                    "in this process from now on",
                    self._name, self._process.pid, self._process.exitcode,
                )  # fmt: skip
                self._fallback = AuditBatchWriter(self._hm, name=f"{self._name}-fallback",
                                                  flush_seconds=self._flush_seconds)  # fmt: skip
        for event in events:
            self._fallback.put(event)
