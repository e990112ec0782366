"""The route class of every UI page: errors become HTML pages with their status, the session cookie is
written back when it changed, and every answer carries the security headers.

A service's :class:`~harbourmaster.errors.Error` is shown with its message and details; anything else is
logged (with the request id) and shown as a 500 page that says only that it happened.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from harbourmaster.errors import Error
from harbourmaster.logs import REQUEST_ID
from harbourmaster.web.access import SignInRequired, session
from harbourmaster.web.pages import SECURITY_HEADERS, Viewer, render
from harbourmaster.web.sessions import Session

__all__ = ["UiRoute", "error_page", "finish"]

log = logging.getLogger(__name__)


def _session_or_none(request: Request) -> Session | None:
    """The request's session; None when it cannot be read (no session key: the error is shown)."""
    try:
        return session(request)
    except Error:
        return None


def finish(request: Request, response: Response, *, write_session: bool = True) -> Response:
    """Write the session back when it changed, and add the security headers.

    Raises:
        Error: the session cannot be written (no session key).
    """
    current = _session_or_none(request)
    if current is not None and write_session:
        request.app.state.ui_sessions.write(request, response, current)
    response.headers.update(SECURITY_HEADERS)
    response.headers["Cache-Control"] = "no-store"
    return response


def error_page(request: Request, exc: Exception) -> Response:
    """``exc`` as a page: the sign-in form (401), or the error's status, message and details."""
    # Without a session (no session key) the page has no form to protect: a throwaway token fills in.
    current = _session_or_none(request) or Session.new()
    if isinstance(exc, SignInRequired):
        return render(request, Viewer(session=current), "sign_in.html", {
            "message": None if type(exc) is SignInRequired else exc.message,
            "next": request.url.path if request.method == "GET" else "",
        }, status=401)
    details: list[str] = []
    if isinstance(exc, Error):
        status, message, details = exc.status, exc.message, exc.details
    elif isinstance(exc, RequestValidationError):
        status, message = 422, "the request is not valid"
    elif isinstance(exc, HTTPException):
        status, message = exc.status_code, str(exc.detail)
    else:
        log.exception("web UI request failed")
        status = 500
        message = f"the server could not answer this request (request id {REQUEST_ID.get() or 'unknown'})"
    viewer = Viewer(session=current, principal=getattr(request.state, "ui_principal", None))
    return render(request, viewer, "error.html", {
        "status": status, "title": _TITLES.get(status, "Error"), "message": message, "details": details,
    }, status=status)


_TITLES = {
    401: "Sign in required", 403: "Not allowed", 404: "Not found", 409: "Conflict", 413: "Too large",
    415: "Not a form", 422: "Bad input", 500: "Something went wrong", 502: "Registry error",
    504: "Registry timeout",
}


class UiRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def ui_handler(request: Request) -> Response:
            try:
                response = await handler(request)
            except Exception as exc:  # every failure is a page, never a traceback
                response = error_page(request, exc)
            try:
                return finish(request, response)
            except Error as exc:  # no session key: say so, without a session
                return finish(request, error_page(request, exc), write_session=False)

        return ui_handler
