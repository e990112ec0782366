"""The web UI's server-side sessions on SQLAlchemy (table ``web_sessions``, migration 0017)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import delete, or_, update
from sqlalchemy.orm import Session

from harbourmaster.store.models import WebSessionRow
from harbourmaster.store.web_session_interface import WebSession, WebSessionRepository

__all__ = ["SqlWebSessionRepository"]


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite keeps the wall time without its zone: every stamp is written and read in UTC.
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def _session(row: WebSessionRow) -> WebSession:
    return WebSession(
        id_hash=row.id_hash, user=row.user, token_id=row.token_id, method=row.method,
        created_at=_utc(row.created_at), last_seen_at=_utc(row.last_seen_at), expires_at=_utc(row.expires_at),
        ended_at=_utc(row.ended_at) if row.ended_at is not None else None, ended_reason=row.ended_reason,
    )  # fmt: skip


class SqlWebSessionRepository(WebSessionRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def open(self, session: WebSession) -> None:
        self._session.add(WebSessionRow(
            id_hash=session.id_hash, user=session.user, token_id=session.token_id, method=session.method,
            created_at=_utc(session.created_at), last_seen_at=_utc(session.last_seen_at),
            expires_at=_utc(session.expires_at), ended_at=None, ended_reason=None,
        ))  # fmt: skip
        self._session.flush()

    def get(self, id_hash: str) -> WebSession | None:
        row = self._session.get(WebSessionRow, id_hash)
        return _session(row) if row is not None else None

    def touch(self, id_hash: str, *, at: dt.datetime) -> None:
        self._session.execute(
            update(WebSessionRow).where(WebSessionRow.id_hash == id_hash).values(last_seen_at=_utc(at))
        )

    def end(self, id_hash: str, *, at: dt.datetime, reason: str) -> bool:
        done = self._session.execute(
            update(WebSessionRow)
            .where(WebSessionRow.id_hash == id_hash, WebSessionRow.ended_at.is_(None))
            .values(ended_at=_utc(at), ended_reason=reason)
        )
        return bool(getattr(done, "rowcount", 0))

    def prune(self, *, before: dt.datetime) -> int:
        gone = self._session.execute(
            delete(WebSessionRow).where(
                or_(WebSessionRow.expires_at < _utc(before), WebSessionRow.ended_at < _utc(before))
            )
        )
        return int(getattr(gone, "rowcount", 0))
