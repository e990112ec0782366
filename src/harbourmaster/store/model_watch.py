"""The model's revision announced on PostgreSQL (``LISTEN``/``NOTIFY``), so long-running processes
(``serve``, the webhook, the gate) keep their cached policy snapshot in step without asking the
database on every decision.

Saving the model notifies :data:`CHANNEL` with the new revision in the saving transaction (PostgreSQL
delivers it on commit, never before).  :class:`ModelWatch` listens on its own connection: once
listening it reads the current revision (so no change between the two is missed), then reports each
notified revision; when the connection fails it reports ``None`` (the caller goes back to reading the
revision itself) and connects again.  SQLite has no notifications: there the revision is read per
decision, which is cheap.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

__all__ = ["CHANNEL", "ModelWatch", "notify_model_revision"]

log = logging.getLogger(__name__)

#: The notification channel of model revisions.
CHANNEL = "harbourmaster_model"
#: How long one wait for notifications lasts (so a stop is seen within it), and the pause before a
#: connection is tried again.
_WAIT_SECONDS = 1.0
_RETRY_SECONDS = 1.0


def notify_model_revision(session: Session, revision: int) -> None:
    """Announce ``revision`` on :data:`CHANNEL` when the caller's transaction commits (PostgreSQL only)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(
            text("SELECT pg_notify(:channel, :revision)"), {"channel": CHANNEL, "revision": str(revision)}
        )


def _revision_of(value: Any) -> int:
    if isinstance(value, str):
        value = json.loads(value)
    return int(value["revision"]) if isinstance(value, dict) else 0


class ModelWatch:
    """A thread listening for model revisions on database ``url`` (``postgresql+psycopg://...``),
    reporting each to ``on_revision`` (``None``: not listening now)."""

    def __init__(self, url: str, on_revision: Callable[[int | None], None]) -> None:
        self._conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
        self._on_revision = on_revision
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="model-watch", daemon=True)
        self.backend_pid: int | None = None

    def start(self) -> ModelWatch:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)
        self._on_revision(None)

    def _run(self) -> None:
        import psycopg

        while not self._stop.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.backend_pid = conn.info.backend_pid
                    row = conn.execute("SELECT value FROM meta WHERE key = 'revision'").fetchone()
                    self._on_revision(_revision_of(row[0]) if row else 0)
                    while not self._stop.is_set():
                        for note in conn.notifies(timeout=_WAIT_SECONDS):
                            self._on_revision(int(note.payload))
            except Exception as exc:  # the connection failed: read the revision per call until back
                self._on_revision(None)
                self.backend_pid = None
                if self._stop.is_set():
                    return
                log.warning("model revision notifications lost (%s); listening again", type(exc).__name__)
                self._stop.wait(_RETRY_SECONDS)
