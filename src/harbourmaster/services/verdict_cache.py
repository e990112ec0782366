"""Recent verdicts of a long-running enforcement point (the admission webhook, the pull gate), served
on the request's event loop without reading the store.

A verdict is kept ``ttl`` seconds, tagged with the model revision it was taken at, and served only
while that revision is known to be current:

- on a store that announces new revisions (PostgreSQL ``LISTEN``/``NOTIFY``, see
  :meth:`~harbourmaster.services.core.Harbourmaster.watch_model`), as long as the announced revision
  is the one last read (at most :data:`ANNOUNCED_RECHECK` seconds);
- otherwise (SQLite), for ``recheck`` seconds after the revision was last read.

Outside that, :meth:`RecentVerdicts.view` answers None and the caller takes its slow path, which reads
the revision (:meth:`RecentVerdicts.saw`) and judges.  A server keeps the view open with
:meth:`RecentVerdicts.keep_current` (the revision read on a thread every quarter of ``recheck``), so
its requests do not all take the slow path together each time the window closes.  So a change to the
model (a revoked grant, a tier's thresholds) is enforced at once on PostgreSQL and within ``recheck``
seconds on SQLite.

What a kept verdict may miss for up to ``ttl`` seconds are facts outside the model: a new kept scan,
a new signature, a tag moved to another digest.  Callers keep only settled verdicts (not those that
ran out of time or could not reach a registry).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from harbourmaster.domain.decision import GovernanceSnapshot
from harbourmaster.services.core import Harbourmaster

__all__ = ["ANNOUNCED_RECHECK", "REVISION_RECHECK", "RecentVerdicts"]

log = logging.getLogger(__name__)

#: Seconds the revision last read is trusted without an announcing store.
REVISION_RECHECK = 1.0
#: Seconds the revision last read is trusted while the store announces no newer one (the snapshot's
#: day and anything a missed announcement would hide are read again this often).
ANNOUNCED_RECHECK = 30.0

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class RecentVerdicts(Generic[K, V]):
    """Verdicts by key, each kept ``ttl`` seconds at the model revision it was taken at (at most
    ``limit`` of them: the whole set is dropped when full).  Thread-safe; reads nothing."""

    def __init__(
        self,
        hm: Harbourmaster,
        *,
        ttl: float,
        recheck: float = REVISION_RECHECK,
        limit: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._hm = hm
        self.ttl = ttl
        self._recheck = recheck
        self._limit = limit
        self._clock = clock
        self._seen: tuple[GovernanceSnapshot, float] | None = None
        self._kept: dict[K, tuple[float, int, V]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._refresher: threading.Thread | None = None

    def keep_current(self, *, name: str = "recent-verdicts") -> None:
        """Read the model's revision every quarter of ``recheck`` seconds on a daemon thread (named
        ``name``) until :meth:`close`.  A failed read is logged; the view then closes when its window
        ends, and callers take the slow path (which reports the failure)."""
        if self._refresher is not None:
            return
        self._stop.clear()
        period = self._recheck / 4

        def refresh() -> None:
            while not self._stop.wait(period):
                try:
                    self.saw(self._hm.snapshot())
                except Exception:  # the store is down: the slow path will say so
                    log.warning("%s: the model's revision could not be read", name, exc_info=True)

        self._refresher = threading.Thread(target=refresh, name=name, daemon=True)
        self._refresher.start()

    def close(self) -> None:
        """Stop :meth:`keep_current`'s thread."""
        refresher, self._refresher = self._refresher, None
        self._stop.set()
        if refresher is not None:
            refresher.join(timeout=5)

    def saw(self, snapshot: GovernanceSnapshot) -> None:
        """The slow path read the model: ``snapshot`` is current now."""
        self._seen = (snapshot, self._clock())

    def view(self) -> GovernanceSnapshot | None:
        """The snapshot known to be current without reading the store, or None (take the slow path)."""
        seen = self._seen
        if seen is None or self.ttl <= 0:
            return None
        snapshot, at = seen
        announced = self._hm.announced_revision()
        if announced is not None and announced != snapshot.revision:
            return None
        window = self._recheck if announced is None else max(self._recheck, ANNOUNCED_RECHECK)
        return snapshot if self._clock() - at < window else None

    def get(self, key: K) -> V | None:
        """The verdict kept for ``key`` at the current revision within ``ttl``, or None."""
        snapshot = self.view()
        if snapshot is None:
            return None
        with self._lock:
            kept = self._kept.get(key)
        if kept is None:
            return None
        at, revision, value = kept
        return value if revision == snapshot.revision and self._clock() - at < self.ttl else None

    def keep(self, key: K, revision: int, value: V) -> None:
        """Keep ``value`` for ``key``, taken at model ``revision`` now."""
        if self.ttl <= 0:
            return
        with self._lock:
            if len(self._kept) >= self._limit:
                self._kept.clear()
            self._kept[key] = (self._clock(), revision, value)

    def __len__(self) -> int:
        return len(self._kept)
