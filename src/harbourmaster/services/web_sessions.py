"""Web UI sessions: signing in with an API token, the token a session stands on, and the key that signs
session cookies.

A session cookie names the id of the token it was opened with, never the token: every request checks
again that the token still exists and is neither revoked nor expired (:func:`session_principal`), so
revoking a token signs its sessions out, and is audited as a use of that token like an API request.

The session signing key is 32 random bytes made once per installation (:func:`session_key`), sealed by
the vault (record :data:`SESSION_KEY_RECORD`, field :data:`SESSION_KEY_FIELD`) and kept in the store,
which ``keys rotate`` rewraps.  A key that no longer opens is replaced by a new one: everyone signs in
again.
"""

from __future__ import annotations

import logging
import secrets
from typing import Final

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Forbidden, Unauthenticated
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import authenticate
from harbourmaster.vault.interface import SealedSecret, VaultError

__all__ = [
    "SESSION_KEY_FIELD",
    "SESSION_KEY_RECORD",
    "session_key",
    "session_principal",
    "sign_in",
]

log = logging.getLogger(__name__)

#: The vault binding of the session signing key.
SESSION_KEY_RECORD: Final = "web-session"
SESSION_KEY_FIELD: Final = "signing_key"
_KEY_BYTES = 32


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


def session_principal(hm: Harbourmaster, token_id: int, *, method: str, route: str | None) -> Principal:
    """The principal of a web session opened with token ``token_id``, when that token is still valid;
    the use is audited as ``token.use`` (with ``"session": "web"``) and refused uses too.

    Raises:
        Unauthenticated: the token is gone, revoked or expired, or is a node token (the session ends).
    """
    now = hm.clock.now()
    with hm.store.transaction() as tx:
        found = tx.tokens.get(token_id)
        if found is None or found.user is None:  # gone, or a node token (which never signs in)
            raise Unauthenticated("your session has ended: sign in again")
        refusal = "revoked" if found.revoked else "expired" if found.expires_at < now else None
        details: dict[str, object] = {
            "token_id": found.id, "user": found.user, "name": found.name, "method": method, "session": "web",
        }
        if route is not None:
            details["route"] = route
        if refusal is not None:
            details["reason"] = refusal
        elif found.last_used_at is None or (now - found.last_used_at).total_seconds() >= 60:
            tx.tokens.touch(found.id, at=now)
        tx.audit.append(actor=found.user, action="token.use", target=f"token {found.id}",
                        result="ok" if refusal is None else "refused", details=details)
    if refusal == "revoked":
        raise Unauthenticated("your session has ended: its API token was revoked")
    if refusal == "expired":
        raise Unauthenticated("your session has ended: its API token has expired; ask an administrator "
                              "for a new one")
    return Principal(found.user, found.role, token_id=found.id)


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
