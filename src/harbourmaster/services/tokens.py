"""API tokens: created for a user, shown once, stored only as a SHA-256 hash.

Every token expires: after :data:`DEFAULT_TOKEN_LIFETIME` unless its creator
chose another lifetime, up to :data:`~harbourmaster.domain.durations.MAX_TOKEN_LIFETIME`.
A token can be revoked at any time.  Every use is audited under the token's
id (``token.use``), refused uses of a known token included, and the time of
the last successful use (to the minute) is kept on the token for ``token list``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from typing import Final

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.domain.durations import (
    MAX_TOKEN_LIFETIME,
    DurationError,
    describe_duration,
    parse_duration,
)
from harbourmaster.domain.model import Role
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import BadInput, NotFound, Unauthenticated
from harbourmaster.services.audit import append_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.models import ApiTokenRow, UserRow

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MIN_TOKEN_LIFETIME",
    "IssuedToken",
    "TokenInfo",
    "authenticate",
    "create_token",
    "list_tokens",
    "parse_token_lifetime",
    "revoke_token",
]

#: The lifetime of a token whose creator did not choose one.
DEFAULT_TOKEN_LIFETIME: Final = dt.timedelta(days=90)
#: The shortest lifetime a token may be given.
MIN_TOKEN_LIFETIME: Final = dt.timedelta(hours=1)

_PREFIX = "hm_"
# Issued tokens are 46 characters; anything much longer is not one of ours
# and is not worth hashing.
_MAX_TOKEN_LENGTH = 256
_NAME_MAX_LENGTH = 128
# ``last_used_at`` is rewritten at most this often (the audit log has every use's time):
# most requests then skip the UPDATE.
_LAST_USED_PRECISION = dt.timedelta(minutes=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedToken:
    id: int
    user: str
    name: str
    token: Secret
    expires_at: dt.datetime


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenInfo:
    """What may be known about a token: never the token or its hash."""

    id: int
    user: str
    name: str
    created_at: dt.datetime
    expires_at: dt.datetime
    revoked: bool
    expired: bool
    last_used_at: dt.datetime | None

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "user": self.user,
            "name": self.name,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked": self.revoked,
            "expired": self.expired,
            "last_used_at": self.last_used_at.isoformat() if self.last_used_at else None,
        }


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _aware(value: dt.datetime) -> dt.datetime:
    # SQLite gives back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def _info(tok: ApiTokenRow, user: str, now: dt.datetime) -> TokenInfo:
    expires = _aware(tok.expires_at)
    return TokenInfo(
        id=tok.id,
        user=user,
        name=tok.name,
        created_at=_aware(tok.created_at),
        expires_at=expires,
        revoked=tok.revoked,
        expired=expires < now,
        last_used_at=_aware(tok.last_used_at) if tok.last_used_at is not None else None,
    )


def parse_token_lifetime(text: str, *, field: str = "--expires-in") -> dt.timedelta:
    """A token lifetime as written on the command line (``30d``, ``12w``, ``8h``).

    Raises:
        DurationError: (a BadInput) not a duration, shorter than an hour or longer than 10 years.
    """
    return parse_duration(text, field=field, maximum=MAX_TOKEN_LIFETIME, minimum=MIN_TOKEN_LIFETIME)


def _check_lifetime(lifetime: dt.timedelta) -> None:
    if not MIN_TOKEN_LIFETIME <= lifetime <= MAX_TOKEN_LIFETIME:
        raise DurationError(
            f"token lifetime: must be from {describe_duration(MIN_TOKEN_LIFETIME)} "
            f"to {describe_duration(MAX_TOKEN_LIFETIME)}"
        )


def create_token(
    hm: Harbourmaster, *, user: str, name: str, actor: str, lifetime: dt.timedelta | None = None
) -> IssuedToken:
    """Issue a bearer token for ``user``; the only time the token exists outside its hash.

    ``lifetime`` defaults to :data:`DEFAULT_TOKEN_LIFETIME`.

    Raises:
        NotFound: no such user.
        BadInput: ``lifetime`` is shorter than an hour or longer than 10 years,
            or ``name`` is empty or longer than 128 characters.
    """
    lifetime = DEFAULT_TOKEN_LIFETIME if lifetime is None else lifetime
    _check_lifetime(lifetime)
    if not name or len(name) > _NAME_MAX_LENGTH:
        raise BadInput(f"token name: must be 1 to {_NAME_MAX_LENGTH} characters, not {len(name)}")
    token = _PREFIX + secrets.token_urlsafe(32)
    now = dt.datetime.now(dt.UTC)
    expires = now + lifetime
    with hm.db.transaction() as session:
        row = session.scalars(select(UserRow).where(UserRow.name == user)).one_or_none()
        if row is None:
            raise NotFound(f"user {user} is not defined; add it with 'harbourmaster apply' first")
        tok = ApiTokenRow(
            user_id=row.id,
            name=name,
            token_hash=_hash(token),
            created_at=now,
            expires_at=expires,
            revoked=False,
        )
        session.add(tok)
        session.flush()
        append_audit(
            session,
            actor=actor,
            action="token.create",
            target=f"user {user}",
            details={"token_id": tok.id, "name": name, "expires_at": expires.isoformat()},
        )
    return IssuedToken(id=tok.id, user=user, name=name, token=Secret(token), expires_at=expires)


def authenticate(
    hm: Harbourmaster, token: str, *, method: str | None = None, route: str | None = None
) -> Principal:
    """The principal a bearer token belongs to; the use is audited as ``token.use``.

    Called once per request.  ``method`` and ``route`` (the route template,
    never the raw path) are recorded when given.  A known token that is
    expired or revoked is recorded as a refused use; an unknown token is not
    recorded (there is nothing to name it by).

    Raises:
        Unauthenticated: unknown, revoked or expired token (the message never repeats it).
    """
    if not token.startswith(_PREFIX) or len(token) > _MAX_TOKEN_LENGTH:
        raise Unauthenticated("invalid bearer token")
    now = dt.datetime.now(dt.UTC)
    with hm.db.transaction() as session:
        # Columns, not entities: this runs on every request.
        found = session.execute(
            select(
                ApiTokenRow.id,
                ApiTokenRow.name,
                ApiTokenRow.revoked,
                ApiTokenRow.expires_at,
                ApiTokenRow.last_used_at,
                UserRow.name,
                UserRow.role,
            )
            .join(UserRow, UserRow.id == ApiTokenRow.user_id)
            .where(ApiTokenRow.token_hash == _hash(token))
        ).one_or_none()
        if found is None:
            raise Unauthenticated("invalid bearer token")
        token_id, token_name, revoked, expires_at, last_used, user, role = found
        refusal = "revoked" if revoked else "expired" if _aware(expires_at) < now else None
        details: dict[str, object] = {"token_id": token_id, "user": user, "name": token_name}
        if method is not None:
            details["method"] = method
        if route is not None:
            details["route"] = route
        if refusal is not None:
            details["reason"] = refusal
        elif last_used is None or now - _aware(last_used) >= _LAST_USED_PRECISION:
            session.execute(update(ApiTokenRow).where(ApiTokenRow.id == token_id).values(last_used_at=now))
        append_audit(
            session,
            actor=user,
            action="token.use",
            target=f"token {token_id}",
            result="ok" if refusal is None else "refused",
            details=details,
        )
    # Raised after the commit: the refusal must stay in the log.
    if refusal == "revoked":
        raise Unauthenticated("bearer token was revoked")
    if refusal == "expired":
        raise Unauthenticated("bearer token has expired; ask an administrator for a new one")
    return Principal(user, Role(role), token_id=token_id)


def list_tokens(hm: Harbourmaster, principal: Principal, *, user: str | None = None) -> list[TokenInfo]:
    """Every token (or ``user``'s), oldest first: metadata only.

    Raises:
        Forbidden: the principal may not administer tokens.
    """
    require(principal, Permission.TOKEN_ADMIN)
    now = dt.datetime.now(dt.UTC)
    query = select(ApiTokenRow, UserRow.name).join(UserRow, UserRow.id == ApiTokenRow.user_id)
    if user is not None:
        query = query.where(UserRow.name == user)
    with hm.db.read() as session:
        return [_info(tok, name, now) for tok, name in session.execute(query.order_by(ApiTokenRow.id))]


def _token(session: Session, token_id: int) -> tuple[ApiTokenRow, str]:
    found = session.execute(
        select(ApiTokenRow, UserRow.name)
        .join(UserRow, UserRow.id == ApiTokenRow.user_id)
        .where(ApiTokenRow.id == token_id)
    ).one_or_none()
    if found is None:
        raise NotFound(f"token {token_id} does not exist; 'harbourmaster token list' shows the tokens")
    return found[0], found[1]


def revoke_token(hm: Harbourmaster, principal: Principal, *, token_id: int) -> TokenInfo:
    """Revoke a token: it is refused from now on.  Revoking a revoked token changes nothing.

    Raises:
        Forbidden: the principal may not administer tokens.
        NotFound: no token has that id.
    """
    require(principal, Permission.TOKEN_ADMIN)
    now = dt.datetime.now(dt.UTC)
    with hm.db.transaction() as session:
        tok, user = _token(session, token_id)
        if not tok.revoked:
            tok.revoked = True
            append_audit(
                session,
                actor=principal.audit_name,
                action="token.revoke",
                target=f"token {tok.id}",
                details={"token_id": tok.id, "user": user, "name": tok.name},
            )
        return _info(tok, user, now)
