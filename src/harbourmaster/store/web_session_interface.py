"""The web UI's sessions, kept server-side (implemented by :mod:`harbourmaster.store.web_sessions`; the
service is :mod:`harbourmaster.services.web_sessions`).

A session is known by the SHA-256 of its id: the id itself lives only in the browser's signed cookie, so
reading this table opens no session.  Signing out ends the row; so do a revoked token, a user removed
from the model, the session's expiry and its idle time.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from dataclasses import dataclass

__all__ = ["WebSession", "WebSessionRepository"]


@dataclass(frozen=True, kw_only=True)
class WebSession:
    id_hash: str
    user: str
    #: The API token the session was opened with (None: opened by OpenID Connect).
    token_id: int | None
    #: token | oidc
    method: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    ended_at: dt.datetime | None = None
    ended_reason: str | None = None


class WebSessionRepository(ABC):
    @abstractmethod
    def open(self, session: WebSession) -> None:
        """Keep a new session."""

    @abstractmethod
    def get(self, id_hash: str) -> WebSession | None:
        """The session with this id hash, ended or not; None when there is none."""

    @abstractmethod
    def touch(self, id_hash: str, *, at: dt.datetime) -> None:
        """The session was used at ``at``."""

    @abstractmethod
    def end(self, id_hash: str, *, at: dt.datetime, reason: str) -> bool:
        """End the session (False: there is no such session, or it had ended)."""

    @abstractmethod
    def prune(self, *, before: dt.datetime) -> int:
        """Forget the sessions that expired or ended before ``before``; how many."""
