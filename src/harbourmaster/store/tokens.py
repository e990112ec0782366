"""The token repository on SQLAlchemy: API tokens stored as hashes, joined to their user (node tokens
have none)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from harbourmaster.domain.authz import NodeRole
from harbourmaster.domain.model import Role
from harbourmaster.store.interface import TokenRepository
from harbourmaster.store.models import ApiTokenRow, UserRow
from harbourmaster.store.values import StoredToken

__all__ = ["SqlTokenRepository"]

# Columns, not entities: finding a token runs on every request.
_COLUMNS = (
    ApiTokenRow.id,
    UserRow.name,
    UserRow.role,
    ApiTokenRow.name,
    ApiTokenRow.created_at,
    ApiTokenRow.expires_at,
    ApiTokenRow.revoked,
    ApiTokenRow.last_used_at,
    ApiTokenRow.node,
    ApiTokenRow.environment,
)


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


_TOKENS = select(*_COLUMNS).outerjoin(UserRow, UserRow.id == ApiTokenRow.user_id)


def _token(row: Any) -> StoredToken:
    token_id, user, role, name, created, expires, revoked, last_used, node, environment = row
    return StoredToken(
        id=token_id,
        user=user,
        role=NodeRole.NODE if node is not None else Role(role),
        name=name,
        created_at=_aware(created),
        expires_at=_aware(expires),
        revoked=revoked,
        last_used_at=_aware(last_used) if last_used is not None else None,
        node=node,
        environment=environment,
    )


class SqlTokenRepository(TokenRepository):
    def __init__(self, session: Session) -> None:
        self._session = session

    def create(
        self, *, user: str, name: str, token_hash: str, created_at: dt.datetime, expires_at: dt.datetime
    ) -> int | None:
        user_id = self._session.scalar(select(UserRow.id).where(UserRow.name == user))
        if user_id is None:
            return None
        row = ApiTokenRow(
            user_id=user_id,
            name=name,
            token_hash=token_hash,
            created_at=created_at,
            expires_at=expires_at,
            revoked=False,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def create_node(
        self,
        *,
        node: str,
        environment: str,
        name: str,
        token_hash: str,
        created_at: dt.datetime,
        expires_at: dt.datetime,
    ) -> int:
        row = ApiTokenRow(
            user_id=None,
            node=node,
            environment=environment,
            name=name,
            token_hash=token_hash,
            created_at=created_at,
            expires_at=expires_at,
            revoked=False,
        )
        self._session.add(row)
        self._session.flush()
        return row.id

    def find(self, token_hash: str) -> StoredToken | None:
        row = self._session.execute(_TOKENS.where(ApiTokenRow.token_hash == token_hash)).one_or_none()
        return None if row is None else _token(row)

    def get(self, token_id: int) -> StoredToken | None:
        row = self._session.execute(_TOKENS.where(ApiTokenRow.id == token_id)).one_or_none()
        return None if row is None else _token(row)

    def tokens(self, *, user: str | None = None) -> list[StoredToken]:
        query = _TOKENS
        if user is not None:
            query = query.where(UserRow.name == user)
        return [_token(row) for row in self._session.execute(query.order_by(ApiTokenRow.id))]

    def touch(self, token_id: int, *, at: dt.datetime) -> None:
        self._session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=at))

    def revoke(self, token_id: int) -> None:
        self._session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(revoked=True))
