"""Web UI sessions: signing in with an API token, the sessions themselves (kept server-side), and the key
that signs session cookies.

A session is a row of the store (:mod:`harbourmaster.store.web_session_interface`) known by the SHA-256
of a random id; the browser holds the id in its signed cookie, never a token.  Every request checks the
session again (:func:`session_principal`): it must be open, within :data:`SESSION_SECONDS` of its start
and :data:`IDLE_SECONDS` of its last use; a session opened with an API token needs that token still
valid (revoking it ends its sessions), one opened by OpenID Connect needs its user still in the model.
Signing out ends the row (:func:`end_session`), so a copied cookie is of no use afterwards.

Audit: opening a session is audited by its sign-in (``token.use`` for a token, ``web.sign-in`` for OpenID
Connect), signing out as ``web.sign-out``, each form a token session sends as a ``token.use`` naming its
route (and the action as the service's own record), each refused use as a refused ``token.use``.  Page
views are reads and are not recorded one by one: a page polled every two seconds would write thousands
of records an hour.

The session signing key is 32 random bytes made once per installation (:func:`session_key`), sealed by
the vault (record :data:`SESSION_KEY_RECORD`, field :data:`SESSION_KEY_FIELD`) and kept in the store,
which ``keys rotate`` rewraps.  A key that no longer opens is replaced by a new one: everyone signs in
again.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from typing import Final

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Forbidden, Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import authenticate
from harbourmaster.store.web_session_interface import WebSession
from harbourmaster.vault.interface import SealedSecret, VaultError

__all__ = [
    "IDLE_SECONDS",
    "SESSION_KEY_FIELD",
    "SESSION_KEY_RECORD",
    "SESSION_SECONDS",
    "end_session",
    "open_session",
    "role_of",
    "session_key",
    "session_principal",
    "sign_in",
]

log = logging.getLogger(__name__)

#: The vault binding of the session signing key.
SESSION_KEY_RECORD: Final = "web-session"
SESSION_KEY_FIELD: Final = "signing_key"
_KEY_BYTES = 32
#: How long a session lasts after sign-in, and without being used (it ends sooner when its token does).
SESSION_SECONDS: Final = 8 * 3600
IDLE_SECONDS: Final = 3600
#: A session's last use is written at most this often (a page polled every two seconds writes nothing).
_TOUCH_EVERY = dt.timedelta(seconds=60)
#: Ended and expired sessions are forgotten this long after.
_KEEP_ENDED = dt.timedelta(days=1)
_READS = frozenset({"GET", "HEAD"})


def sign_in(hm: Harbourmaster, token: str, *, route: str) -> Principal:
    """The principal an API token belongs to, for opening a web session; the use is audited
    (``token.use``) as :func:`~harbourmaster.services.tokens.authenticate` does.

    Raises:
        Unauthenticated: unknown, revoked or expired token.
        Forbidden: a node token: it belongs to a kubelet, not to a person.
    """
    principal = authenticate(hm, token, method="POST", route=route)
    if principal.is_node:
        raise Forbidden("a node token cannot sign in: sign in with a user's API token")
    return principal


def _id_hash(session_id: Secret) -> str:
    return hashlib.sha256(session_id.reveal().encode()).hexdigest()


def open_session(hm: Harbourmaster, principal: Principal, *, method: str) -> Secret:
    """A new session for ``principal`` (just signed in by ``method``: ``token`` or ``oidc``): its id, for
    the browser's cookie only.  Sessions that ended or expired a day ago are forgotten meanwhile."""
    session_id = Secret(secrets.token_urlsafe(32))
    now = hm.clock.now()
    with hm.store.transaction() as tx:
        tx.web_sessions.prune(before=now - _KEEP_ENDED)
        tx.web_sessions.open(WebSession(
            id_hash=_id_hash(session_id), user=principal.name, token_id=principal.token_id, method=method,
            created_at=now, last_seen_at=now, expires_at=now + dt.timedelta(seconds=SESSION_SECONDS),
        ))  # fmt: skip
    return session_id


def _ended(found: WebSession | None, now: dt.datetime) -> str | None:
    """Why a session cannot be used at ``now`` (None: it can)."""
    if found is None:
        return "your session has ended: sign in again"
    if found.ended_at is not None:
        return f"your session has ended ({found.ended_reason or 'ended'}): sign in again"
    if found.expires_at <= now:
        return "your session has expired: sign in again"
    if now - found.last_seen_at > dt.timedelta(seconds=IDLE_SECONDS):
        return f"your session has ended after {IDLE_SECONDS // 60} minutes without use: sign in again"
    return None


def session_principal(hm: Harbourmaster, session_id: Secret, *, method: str, route: str | None) -> Principal:
    """The principal of the open session ``session_id``, checked again: its token still valid (a token
    session), its user still in the model (an OpenID Connect session).  A form (any method but GET and
    HEAD) of a token session is audited as ``token.use`` with its route; a refused use as refused.

    Raises:
        Unauthenticated: the session is unknown, ended, expired or idle too long, its token is revoked
            or expired, or its user is gone (the session is ended then).
    """
    now = hm.clock.now()
    id_hash = _id_hash(session_id)
    with hm.store.read() as tx:
        found = tx.web_sessions.get(id_hash)
        token = tx.tokens.get(found.token_id) if found is not None and found.token_id is not None else None
    why = _ended(found, now)
    if why is not None:
        raise Unauthenticated(why)
    assert found is not None
    refusal: str | None = None
    principal: Principal | None = None
    if found.token_id is not None:
        if token is None or token.user is None:
            refusal = "gone"
        else:
            refusal = "revoked" if token.revoked else "expired" if token.expires_at < now else None
            principal = Principal(token.user, token.role, token_id=token.id)
    else:
        role = role_of(hm, found.user)
        refusal = "user removed" if role is None else None
        principal = Principal(found.user, role) if role is not None else None
    audit_use = token is not None and (refusal is not None or method not in _READS)
    touch = refusal is None and now - found.last_seen_at >= _TOUCH_EVERY
    if refusal is not None or audit_use or touch:
        with hm.store.transaction() as tx:
            if refusal is not None:
                reason = f"token {refusal}" if token is not None else refusal
                tx.web_sessions.end(id_hash, at=now, reason=reason)
            elif touch:
                tx.web_sessions.touch(id_hash, at=now)
                used = token.last_used_at if token is not None else None
                if token is not None and (used is None or now - used >= _TOUCH_EVERY):
                    tx.tokens.touch(token.id, at=now)
            if audit_use and token is not None:
                details: dict[str, object] = {"token_id": token.id, "user": token.user, "name": token.name,
                                              "method": method, "session": "web"}
                if route is not None:
                    details["route"] = route
                if refusal is not None:
                    details["reason"] = refusal
                tx.audit.append(actor=token.user or found.user, action="token.use",
                                target=f"token {token.id}", result="ok" if refusal is None else "refused",
                                details=details)
    if refusal == "revoked":
        raise Unauthenticated("your session has ended: its API token was revoked")
    if refusal == "expired":
        raise Unauthenticated("your session has ended: its API token has expired; ask an administrator "
                              "for a new one")
    if refusal == "user removed":
        raise Unauthenticated(f"your session has ended: user {found.user} is no longer defined")
    if refusal is not None or principal is None:
        raise Unauthenticated("your session has ended: sign in again")
    return principal


def end_session(hm: Harbourmaster, session_id: Secret) -> None:
    """Sign out: end the session (a copy of its cookie opens nothing afterwards); audited as
    ``web.sign-out``.  An unknown or ended session is left as it is."""
    now = hm.clock.now()
    id_hash = _id_hash(session_id)
    with hm.store.transaction() as tx:
        found = tx.web_sessions.get(id_hash)
        if found is None or not tx.web_sessions.end(id_hash, at=now, reason="signed out"):
            return
        details: dict[str, object] = {"method": found.method}
        if found.token_id is not None:
            details["token_id"] = found.token_id
        tx.audit.append(actor=found.user, action="web.sign-out", target=f"user {found.user}", details=details)


def role_of(hm: Harbourmaster, name: str) -> Role | None:
    """The role of the model's user ``name`` as the model says now (None: no such user)."""
    _, state = hm.current()  # cached per model revision: no store read when nothing changed
    for user in state.users:
        if user.name == name:
            return user.role
    return None


def session_key(hm: Harbourmaster) -> Secret:
    """The key that signs session cookies: made on first need, sealed by the vault and kept in the store,
    so every process of the installation (every API replica) signs with the same key, and a master key
    rotation rewraps it.  A stored key that no longer opens is replaced: everyone signs in again.

    Raises:
        VaultError: the key cannot be sealed (no master key).
        StoreError: the store cannot be reached.
    """
    with hm.store.read() as tx:
        stored = tx.governance.web_session_key()
    if stored is not None:
        try:
            return _open(hm, stored)
        except VaultError as exc:
            log.warning("the web session key does not open (%s): a new one is made, every web session ends",
                        exc.message)  # fmt: skip
    key = Secret(secrets.token_hex(_KEY_BYTES))
    sealed = hm.vault.seal(key, record=SESSION_KEY_RECORD, field=SESSION_KEY_FIELD).to_bytes()
    with hm.store.transaction() as tx:
        kept = tx.governance.claim_web_session_key(sealed, replacing=stored)
    return key if kept == sealed else _open(hm, kept)


def _open(hm: Harbourmaster, blob: bytes) -> Secret:
    return hm.vault.open(SealedSecret.from_bytes(blob), record=SESSION_KEY_RECORD, field=SESSION_KEY_FIELD)
