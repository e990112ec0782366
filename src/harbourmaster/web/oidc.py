"""Signing in with OpenID Connect (authorization code flow with PKCE), when an issuer is configured.

``GET /ui/oidc/login`` sends the browser to the issuer with a fresh state, nonce and PKCE challenge;
the state, nonce and verifier stay in the browser in a signed cookie of their own, never on the server.
That cookie is SameSite=Lax, unlike the session's (Strict): the issuer's redirect back is a navigation
from another site, on which a browser does not send a Strict cookie.  ``GET /ui/oidc/callback`` hands
them to :func:`harbourmaster.services.web_oidc.finish_sign_in` and opens a session for the model's user,
from a page of its own (again because a Strict cookie set while coming from another site is not sent on
a redirect that continues that navigation).

Every failure is a page that explains it, with its status; never the code, a token or the client secret.
"""

from __future__ import annotations

from typing import Final

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.responses import Response

from harbourmaster.errors import Error
from harbourmaster.services.web_oidc import (
    OidcClient,
    OidcNotConfigured,
    OidcRefused,
    PendingSignIn,
    finish_sign_in,
    oidc_client,
    start_sign_in,
)
from harbourmaster.services.web_sessions import open_session, session_key
from harbourmaster.web.access import core, session
from harbourmaster.web.auth import _next_page
from harbourmaster.web.pages import UI_PREFIX, Viewer, render
from harbourmaster.web.route import UiRoute
from harbourmaster.web.sessions import Session

__all__ = ["OIDC_CALLBACK", "OIDC_LOGIN", "PENDING_COOKIE", "router"]

OIDC_LOGIN: Final = f"{UI_PREFIX}/oidc/login"
OIDC_CALLBACK: Final = f"{UI_PREFIX}/oidc/callback"
#: The cookie that carries a started sign-in (state, nonce, PKCE verifier) to the callback.
PENDING_COOKIE: Final = "hm_oidc"
_PENDING_SECONDS: Final = 600
_SALT = "harbourmaster.web.oidc-pending.v1"

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _client(request: Request) -> OidcClient:
    hm = core(request)
    client = oidc_client(hm.settings, hm.identity_http)
    if client is None:
        raise OidcNotConfigured("sign-in with OpenID Connect is not configured here (no "
                                "HARBOURMASTER_OIDC_ISSUER): sign in with an API token")
    return client


def _redirect_uri(request: Request) -> str:
    base = core(request).settings.oidc_redirect_base
    root = base.rstrip("/") if base else str(request.base_url).rstrip("/")
    return f"{root}{OIDC_CALLBACK}"


def _serializer(request: Request) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(session_key(core(request)).reveal(), salt=_SALT)


def _failed(request: Request, exc: Error) -> Response:
    response = render(request, Viewer(session=session(request)), "error.html", {
        "status": exc.status, "title": "Sign-in failed", "message": exc.message, "details": exc.details,
    }, status=exc.status)
    response.delete_cookie(PENDING_COOKIE, path=OIDC_CALLBACK)
    return response


@router.get(OIDC_LOGIN)
def oidc_login(request: Request) -> Response:
    try:
        url, pending = start_sign_in(_client(request), redirect_uri=_redirect_uri(request),
                                     next_page=_next_page(request.query_params.get("next", "")))
    except Error as exc:
        return _failed(request, exc)
    response = RedirectResponse(url, status_code=303)
    value = _serializer(request).dumps([pending.state, pending.nonce, pending.verifier, pending.next])
    response.set_cookie(PENDING_COOKIE, value, max_age=_PENDING_SECONDS, path=OIDC_CALLBACK, httponly=True,
                        samesite="lax", secure=request.url.scheme == "https")
    return response


def _pending(request: Request) -> PendingSignIn | None:
    raw = request.cookies.get(PENDING_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer(request).loads(raw, max_age=_PENDING_SECONDS)
    except BadSignature:
        return None
    if not (isinstance(data, list) and len(data) == 4 and all(isinstance(v, str) for v in data)):
        return None
    return PendingSignIn(state=data[0], nonce=data[1], verifier=data[2], next=data[3])


@router.get(OIDC_CALLBACK)
def oidc_callback(request: Request) -> Response:
    query = request.query_params
    try:
        client = _client(request)
        if "error" in query:
            error = query["error"] if query["error"].replace("_", "").isalpha() else "an error"
            raise OidcRefused(f"{client.issuer} did not sign you in ({error}): start again from the "
                              "sign-in page")
        pending = _pending(request)
        principal = finish_sign_in(core(request), client, pending=pending, state=query.get("state", ""),
                                   code=query.get("code", ""), redirect_uri=_redirect_uri(request))
    except Error as exc:
        return _failed(request, exc)
    assert pending is not None
    # A new session: a new CSRF token, so none known before signing in is of use after.
    opened = Session.new(sid=open_session(core(request), principal, method="oidc"))
    request.state.ui_session = opened
    response = render(request, Viewer(session=opened, principal=principal), "oidc_signed_in.html",
                      {"next": pending.next})
    response.delete_cookie(PENDING_COOKIE, path=OIDC_CALLBACK)
    response.headers["Refresh"] = f"0; url={pending.next}"  # a same-site navigation: the cookie goes along
    return response
