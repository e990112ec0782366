"""What runs beside the API while it serves: the periodic audit checkpoint writer."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI

from harbourmaster.services.audit_checkpoints import CheckpointWriter
from harbourmaster.services.core import Harbourmaster

__all__ = ["lifespan"]

log = logging.getLogger(__name__)


def lifespan(hm: Harbourmaster) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: start the checkpoint writer (every
    ``HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL`` seconds; 0 disables it) and stop it on shutdown.

    The writer is on ``app.state.checkpoint_writer`` (``None`` when disabled).
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
        try:
            yield
        finally:
            if writer is not None:
                # Joining waits for a checkpoint being written; not on the event loop.
                await to_thread.run_sync(writer.stop)

    return run
