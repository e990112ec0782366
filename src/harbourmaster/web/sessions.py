"""The web UI's session cookie: signed, HttpOnly, SameSite=Strict, Secure over HTTPS, with an expiry.

A session holds a CSRF token and, once signed in, the id of the API token it was opened with: never the
token itself (see :mod:`harbourmaster.services.web_sessions`, which checks that token again on every
request).  A session opened by OpenID Connect names the model's user instead, and its own expiry (see
:func:`harbourmaster.services.web_oidc.user_session_principal`, which checks that user on every
request).  A visitor who is not signed in gets a session too, so that the sign-in form carries a CSRF
token like every other form.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Final

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.web_sessions import session_key

__all__ = ["COOKIE", "CSRF_FIELD", "SESSION_SECONDS", "Session", "SessionCodec"]

#: The session cookie's name.
COOKIE: Final = "hm_session"
#: The hidden form field every form carries its CSRF token in.
CSRF_FIELD: Final = "csrf_token"
#: How long a session lasts after sign-in (it ends sooner when its API token does).
SESSION_SECONDS: Final = 8 * 3600
_SALT = "harbourmaster.web.session.v1"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    #: The API token the session was opened with, by id; None: not signed in.
    token_id: int | None = None
    #: True when the cookie must be (re)sent with this response.
    changed: bool = False
    #: The model's user a session opened by OpenID Connect stands on (it names no token), and when that
    #: session ends (Unix time); None: not such a session.
    user: str | None = None
    expires_at: int | None = None

    @classmethod
    def new(cls, *, token_id: int | None = None, user: str | None = None) -> Session:
        expires_at = int(time.time()) + SESSION_SECONDS if user is not None else None
        return cls(csrf=secrets.token_urlsafe(32), token_id=token_id, changed=True, user=user,
                   expires_at=expires_at)

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())

    def signed_out(self) -> Session:
        """A fresh anonymous session: a new CSRF token, no token id."""
        return Session.new()


class SessionCodec:
    """Reads and writes the session cookie with the installation's session key (loaded on first use)."""

    def __init__(self, hm: Harbourmaster) -> None:
        self._hm = hm
        self._serializer: URLSafeTimedSerializer | None = None
        self._lock = threading.Lock()

    def _signer(self) -> URLSafeTimedSerializer:
        with self._lock:
            if self._serializer is None:
                key = session_key(self._hm)
                self._serializer = URLSafeTimedSerializer(key.reveal(), salt=_SALT)
            return self._serializer

    def read(self, request: Request) -> Session:
        """The request's session; a new anonymous one when there is none, or it is forged or too old."""
        raw = request.cookies.get(COOKIE)
        if raw:
            try:
                data = self._signer().loads(raw, max_age=SESSION_SECONDS)
            except BadSignature:
                data = None
            if isinstance(data, dict) and isinstance(data.get("c"), str):
                token_id = data.get("t")
                user, expires_at = data.get("u"), data.get("x")
                if token_id is None and isinstance(user, str) and isinstance(expires_at, int):
                    if expires_at > time.time():
                        return Session(csrf=data["c"], user=user, expires_at=expires_at)
                elif token_id is None or (isinstance(token_id, int) and not isinstance(token_id, bool)):
                    return Session(csrf=data["c"], token_id=token_id)
        return Session.new()

    def write(self, request: Request, response: Response, session: Session) -> None:
        """Set the cookie on ``response`` when ``session`` changed."""
        if not session.changed:
            return
        payload: dict[str, object] = {"c": session.csrf, "t": session.token_id}
        if session.user is not None:
            payload.update(u=session.user, x=session.expires_at)
        value = self._signer().dumps(payload)
        response.set_cookie(
            COOKIE, value, max_age=SESSION_SECONDS, path="/ui", httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )
