"""API tokens: created for a user, shown once, stored only as a SHA-256 hash."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import NotFound, Unauthenticated
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.models import ApiTokenRow, UserRow

__all__ = ["IssuedToken", "authenticate", "create_token"]

_PREFIX = "hm_"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    user: str
    name: str
    token: Secret
    expires_at: dt.datetime | None


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(
    hm: Harbourmaster, *, user: str, name: str, actor: str, lifetime: dt.timedelta | None = None
) -> IssuedToken:
    """Issue a bearer token for ``user``; the only time the token exists outside its hash.

    Raises:
        NotFound: no such user.
    """
    token = _PREFIX + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    expires = now + lifetime if lifetime is not None else None
    with hm.db.transaction() as session:
        row = session.scalars(select(UserRow).where(UserRow.name == user)).one_or_none()
        if row is None:
            raise NotFound(f"user {user} is not defined; add it with 'harbourmaster apply' first")
        session.add(
            ApiTokenRow(
                user_id=row.id, name=name, token_hash=_hash(token), created_at=now, expires_at=expires
            )
        )
        append_audit(
            session,
            actor=actor,
            action="token.create",
            target=f"user {user}",
            details={"name": name, "expires_at": expires.isoformat() if expires else None},
        )
    return IssuedToken(user, name, Secret(token), expires)


def authenticate(hm: Harbourmaster, token: str) -> Principal:
    """The principal a bearer token belongs to.

    Raises:
        Unauthenticated: unknown, revoked or expired token (the message never repeats it).
    """
    if not token.startswith(_PREFIX):
        raise Unauthenticated("invalid bearer token")
    with hm.db.read() as session:
        found = session.execute(
            select(ApiTokenRow, UserRow)
            .join(UserRow, UserRow.id == ApiTokenRow.user_id)
            .where(ApiTokenRow.token_hash == _hash(token))
        ).one_or_none()
        if found is None:
            raise Unauthenticated("invalid bearer token")
        tok, user = found
        expires = tok.expires_at
        if expires is not None and expires.tzinfo is None:
            expires = expires.replace(tzinfo=dt.UTC)
        if tok.revoked or (expires is not None and expires < dt.datetime.now(dt.UTC)):
            raise Unauthenticated("bearer token expired or revoked")
        return Principal(user.name, Role(user.role))
