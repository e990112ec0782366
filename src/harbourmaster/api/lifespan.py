"""What runs beside the API while it serves: the periodic audit checkpoint writer, and on SQLite an
embedded job worker."""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from harbourmaster.services.audit_checkpoints import CheckpointWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.jobs import WorkerThreads

__all__ = ["lifespan"]

log = logging.getLogger(__name__)


def lifespan(
    hm: Harbourmaster, *, embedded_worker: bool = False
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: start the checkpoint writer (every
    ``HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL`` seconds; 0 disables it) and, with ``embedded_worker``,
    one job worker thread; stop both on shutdown (the worker finishes the job in hand).

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
            if writer is not None:
                # Joining waits for a checkpoint being written; not on the event loop.
                await to_thread.run_sync(writer.stop)

    return run
