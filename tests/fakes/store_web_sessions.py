"""The web UI's server-side sessions in memory (mirrors :mod:`harbourmaster.store.web_sessions`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from harbourmaster.store.web_session_interface import WebSession, WebSessionRepository


@dataclass
class WebSessionTables:
    rows: dict[str, WebSession] = field(default_factory=dict)


class MemoryWebSessionRepository(WebSessionRepository):
    def __init__(self, tables: WebSessionTables) -> None:
        self._tables = tables

    def open(self, session: WebSession) -> None:
        if session.id_hash in self._tables.rows:
            raise ValueError("a session with this id exists")
        self._tables.rows[session.id_hash] = session

    def get(self, id_hash: str) -> WebSession | None:
        return self._tables.rows.get(id_hash)

    def touch(self, id_hash: str, *, at: dt.datetime) -> None:
        found = self._tables.rows.get(id_hash)
        if found is not None:
            self._tables.rows[id_hash] = replace(found, last_seen_at=at)

    def end(self, id_hash: str, *, at: dt.datetime, reason: str) -> bool:
        found = self._tables.rows.get(id_hash)
        if found is None or found.ended_at is not None:
            return False
        self._tables.rows[id_hash] = replace(found, ended_at=at, ended_reason=reason)
        return True

    def prune(self, *, before: dt.datetime) -> int:
        gone = [h for h, s in self._tables.rows.items()
                if s.expires_at < before or (s.ended_at is not None and s.ended_at < before)]
        for id_hash in gone:
            del self._tables.rows[id_hash]
        return len(gone)
