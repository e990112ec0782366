"""The web UI's session cookie: signed, HttpOnly, SameSite=Strict, Secure over HTTPS, with an expiry.

The cookie holds a CSRF token and, once signed in, the id of a server-side session
(:mod:`harbourmaster.services.web_sessions` keeps it, checks it on every request and ends it at sign-out):
never a token, a user name or a role.  A visitor who is not signed in gets a cookie too, so that the
sign-in form carries a CSRF token like every other form.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass, field
from typing import Final

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

from harbourmaster.domain.secret import Secret
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.web_sessions import SESSION_SECONDS, session_key

__all__ = ["COOKIE", "CSRF_FIELD", "Session", "SessionCodec"]

#: The session cookie's name.
COOKIE: Final = "hm_session"
#: The hidden form field every form carries its CSRF token in.
CSRF_FIELD: Final = "csrf_token"
_SALT = "harbourmaster.web.session.v2"


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    #: The server-side session's id; None: not signed in.
    sid: Secret | None = field(default=None, repr=False)
    #: True when the cookie must be (re)sent with this response.
    changed: bool = False

    @classmethod
    def new(cls, *, sid: Secret | None = None) -> Session:
        return cls(csrf=secrets.token_urlsafe(32), sid=sid, changed=True)

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented.encode(), self.csrf.encode())

    def signed_out(self) -> Session:
        """A fresh anonymous session: a new CSRF token, no session id."""
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
                sid = data.get("s")
                if sid is None or (isinstance(sid, str) and 0 < len(sid) <= 128):
                    return Session(csrf=data["c"], sid=Secret(sid) if sid else None)
        return Session.new()

    def write(self, request: Request, response: Response, session: Session) -> None:
        """Set the cookie on ``response`` when ``session`` changed."""
        if not session.changed:
            return
        payload = {"c": session.csrf, "s": session.sid.reveal() if session.sid is not None else None}
        value = self._signer().dumps(payload)
        response.set_cookie(
            COOKIE, value, max_age=SESSION_SECONDS, path="/ui", httponly=True, samesite="strict",
            secure=request.url.scheme == "https",
        )
