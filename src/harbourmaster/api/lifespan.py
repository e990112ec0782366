"""What runs beside the API while it serves: the periodic audit checkpoint writer, the just-in-time
Secret reaper, and on SQLite an embedded job worker."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from harbourmaster.errors import Error
from harbourmaster.services.audit_checkpoints import CheckpointWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.jit import JitReaper
from harbourmaster.services.jobs import WorkerThreads

__all__ = ["ReaperLoop", "lifespan"]

log = logging.getLogger(__name__)


def lifespan(
    hm: Harbourmaster, *, embedded_worker: bool = False
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: start the checkpoint writer (every
    ``HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL`` seconds; 0 disables it) and, with ``embedded_worker``,
    one job worker thread; stop both on shutdown (the worker finishes the job in hand).

    The just-in-time Secret reaper passes over the Kubernetes environments every
    ``HARBOURMASTER_JIT_REAP_SECONDS`` (0 disables it); it is on ``app.state.jit_reaper``.

    The writer is on ``app.state.checkpoint_writer`` (``None`` when disabled), the worker on
    ``app.state.job_workers`` (``None`` without one).
    """

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        interval = hm.settings.audit_checkpoint_interval
        writer = CheckpointWriter(hm, interval=interval) if interval > 0 else None
        app.state.checkpoint_writer = writer
        if writer is None:
            log.info("periodic audit checkpoints are off (HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL=0)")
        else:
            writer.start()
        reap_every = hm.settings.jit_reap_seconds
        reaper = ReaperLoop(hm, interval=reap_every) if reap_every > 0 else None
        app.state.jit_reaper = reaper
        if reaper is None:
            log.info("the just-in-time Secret reaper is off (HARBOURMASTER_JIT_REAP_SECONDS=0)")
        else:
            reaper.start()
        name = f"{socket.gethostname()}:{os.getpid()}:serve"
        workers = WorkerThreads(hm, name=name, concurrency=1) if embedded_worker else None
        app.state.job_workers = workers
        if workers is not None:
            log.info("running an embedded job worker")
            workers.start()
        if hm.watch_model():
            log.info("following model changes announced by the database (LISTEN/NOTIFY)")
        try:
            yield
        finally:
            await to_thread.run_sync(hm.stop_watching_model)
            if workers is not None:
                await to_thread.run_sync(workers.stop)
            if reaper is not None:
                await to_thread.run_sync(reaper.stop)
            if writer is not None:
                # Joining waits for a checkpoint being written; not on the event loop.
                await to_thread.run_sync(writer.stop)

    return run


class ReaperLoop:
    """Runs :meth:`JitReaper.reap_all` every ``interval`` seconds on a thread of its own,
    until stopped; the reaper logs and audits what it did, and nothing stops the loop."""

    def __init__(self, hm: Harbourmaster, *, interval: float) -> None:
        self.reaper = JitReaper(hm)
        self.interval = interval
        #: Completed passes (tests wait on it).
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="jit-reaper", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.reaper.reap_all()
            except Error as exc:  # the model could not be read: try again next time
                log.warning("just-in-time Secret reaper pass failed: %s", exc.message)
            except Exception as exc:  # the loop outlives any one failure; its text may be anything
                log.error("just-in-time Secret reaper pass failed (%s)", type(exc).__name__)
            self.passes += 1

    def stop(self, timeout: float = 30) -> None:
        """Stop after the pass in hand, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
