"""What runs beside the API while it serves: the periodic audit checkpoint writer, the just-in-time
Secret reaper, the mirror scheduler, and on SQLite an embedded job worker."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Final

from anyio import to_thread
from fastapi import FastAPI

from harbourmaster.errors import Error
from harbourmaster.services.audit_checkpoints import CheckpointWriter
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.jit import JitReaper
from harbourmaster.services.jobs import WorkerThreads

__all__ = ["HeapFreezer", "PeriodicLoop", "lifespan", "mirror_scheduler_loop", "reaper_loop", "rotation_loop"]

log = logging.getLogger(__name__)


def lifespan(
    hm: Harbourmaster, *, embedded_worker: bool = False, freeze_heap: bool = False
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The app's lifespan: start the checkpoint writer (every
    ``HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL`` seconds; 0 disables it) and, with ``embedded_worker``,
    one job worker thread; stop both on shutdown (the worker finishes the job in hand).

    The just-in-time Secret reaper passes over the Kubernetes environments every
    ``HARBOURMASTER_JIT_REAP_SECONDS`` (0 disables it); it is on ``app.state.jit_reaper``.  The mirror
    scheduler queues the scheduled mirrors that are due every ``HARBOURMASTER_MIRROR_SCHEDULER_SECONDS``
    (0 disables it); it is on ``app.state.mirror_scheduler``.  Managed robot accounts are rotated, replaced
    ones retired and expiry alerts raised every ``HARBOURMASTER_ROTATION_SECONDS`` (0 disables it); on
    ``app.state.credential_rotation``.

    The writer is on ``app.state.checkpoint_writer`` (``None`` when disabled), the worker on
    ``app.state.job_workers`` (``None`` without one).  With ``freeze_heap`` a :class:`HeapFreezer` runs
    (``app.state.heap_freezer``, else ``None``).
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
        loops: list[PeriodicLoop] = []
        s = hm.settings
        for attribute, every, make, off in (
            ("jit_reaper", s.jit_reap_seconds, reaper_loop,
             "the just-in-time Secret reaper is off (HARBOURMASTER_JIT_REAP_SECONDS=0)"),
            ("mirror_scheduler", s.mirror_scheduler_seconds, mirror_scheduler_loop,
             "scheduled mirrors are off (HARBOURMASTER_MIRROR_SCHEDULER_SECONDS=0)"),
            ("credential_rotation", s.rotation_seconds, rotation_loop,
             "robot rotation and expiry alerts are off (HARBOURMASTER_ROTATION_SECONDS=0)"),
        ):  # fmt: skip
            loop = make(hm, interval=every) if every > 0 else None
            setattr(app.state, attribute, loop)
            if loop is None:
                log.info(off)
            else:
                loop.start()
                loops.append(loop)
        name = f"{socket.gethostname()}:{os.getpid()}:serve"
        workers = WorkerThreads(hm, name=name, concurrency=1) if embedded_worker else None
        app.state.job_workers = workers
        if workers is not None:
            log.info("running an embedded job worker")
            workers.start()
        if hm.watch_model():
            log.info("following model changes announced by the database (LISTEN/NOTIFY)")
        freezer = HeapFreezer(hm) if freeze_heap else None
        app.state.heap_freezer = freezer
        if freezer is not None:
            await to_thread.run_sync(freezer.freeze)  # the model loaded and kept out of full passes
            freezer.loop.start()
            loops.append(freezer.loop)
        try:
            yield
        finally:
            await to_thread.run_sync(hm.stop_watching_model)
            if workers is not None:
                await to_thread.run_sync(workers.stop)
            for loop in loops:
                await to_thread.run_sync(loop.stop)
            if writer is not None:
                # Joining waits for a checkpoint being written; not on the event loop.
                await to_thread.run_sync(writer.stop)

    return run


class HeapFreezer:
    """Keeps the process's long-lived objects (the governance model and its snapshot, the read models the
    pages share, compiled templates) out of the garbage collector's full passes.

    With 1,000 registries and 20,000 grants those are millions of objects, and a full (generation 2) pass
    over them stops every request for 150-200 ms, several times a minute under load.  ``freeze`` collects
    what is garbage, then moves every surviving object to the permanent generation (:func:`gc.freeze`),
    which passes never examine; objects that die later are still freed by reference counting.  It runs at
    start-up (after loading the model) and every :data:`FREEZE_EVERY` seconds, so a new model and the
    read models built from it are frozen too; a pass then examines only what was made since the last one.
    Every :data:`THAW_EVERY` seconds everything is thawed first and one full pass runs, so cycles among
    frozen objects that have died since are collected after all.  ``serve`` owns its process and turns
    this on; an application embedded elsewhere (the tests) does not.
    """

    FREEZE_EVERY: Final = 30.0
    THAW_EVERY: Final = 3600.0

    def __init__(self, hm: Harbourmaster) -> None:
        self.hm = hm
        self._thawed_at = time.monotonic()
        self.loop = PeriodicLoop(name="heap-freezer", interval=self.FREEZE_EVERY, work=self.freeze,
                                 what="heap freezer")  # fmt: skip

    def freeze(self) -> int:
        """Collect, then freeze what survives; how many objects are frozen now."""
        with contextlib.suppress(Error):
            self.hm.current()  # the current model is loaded (and kept) before freezing
        if time.monotonic() - self._thawed_at >= self.THAW_EVERY:
            gc.unfreeze()
            self._thawed_at = time.monotonic()
        gc.collect()
        gc.freeze()
        return gc.get_freeze_count()


class PeriodicLoop:
    """Runs ``work`` every ``interval`` seconds on a thread of its own (named ``name``), until stopped.
    ``work`` logs and audits what it did; a failed pass is logged (as ``what``) and nothing stops the
    loop."""

    def __init__(self, *, name: str, interval: float, work: Callable[[], object], what: str) -> None:
        self.name = name
        self.interval = interval
        self.work = work
        self.what = what
        #: Completed passes (tests wait on it).
        self.passes = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.work()
            except Error as exc:  # the store could not be reached: try again next time
                log.warning("%s pass failed: %s", self.what, exc.message)
            except Exception as exc:  # the loop outlives any one failure; its text may be anything
                log.error("%s pass failed (%s)", self.what, type(exc).__name__)
            self.passes += 1

    def stop(self, timeout: float = 30) -> None:
        """Stop after the pass in hand, if any."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None


def reaper_loop(hm: Harbourmaster, *, interval: float) -> PeriodicLoop:
    """:meth:`JitReaper.reap_all` every ``interval`` seconds (the reaper remembers failures across passes)."""
    reaper = JitReaper(hm)
    return PeriodicLoop(name="jit-reaper", interval=interval, work=reaper.reap_all,
                        what="just-in-time Secret reaper")  # fmt: skip


def mirror_scheduler_loop(hm: Harbourmaster, *, interval: float) -> PeriodicLoop:
    """:func:`~harbourmaster.services.mirror_schedule.enqueue_due` every ``interval`` seconds."""

    def work() -> None:
        from harbourmaster.services.mirror_schedule import enqueue_due  # the registry client, at first use

        for queued in enqueue_due(hm):
            log.info("scheduled mirror %s: job %d queued for %s", queued.schedule, queued.job_id,
                     queued.slot.isoformat())  # fmt: skip

    return PeriodicLoop(name="mirror-scheduler", interval=interval, work=work, what="mirror scheduler")


def rotation_loop(hm: Harbourmaster, *, interval: float) -> PeriodicLoop:
    """:func:`~harbourmaster.services.robot_rotation.rotation_tick` every ``interval`` seconds."""

    def work() -> None:
        from harbourmaster.services.robot_rotation import rotation_tick

        report = rotation_tick(hm)
        for line in report.rotated:
            log.info("robot rotated: %s", line)
        for line in report.failed:
            log.warning("robot rotation failed (the old secret is kept): %s", line)
        for line in report.retired:
            log.info("replaced robot retired: %s", line)
        for line in report.alerts:
            log.warning("credential expiring: %s", line)

    return PeriodicLoop(name="credential-rotation", interval=interval, work=work, what="robot rotation")
