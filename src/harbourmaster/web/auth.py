"""Signing in with an API token, and signing out."""

from __future__ import annotations

from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse
from starlette.responses import Response

from harbourmaster.errors import Forbidden, Unauthenticated
from harbourmaster.services.web_sessions import end_session, open_session, sign_in
from harbourmaster.web.access import Form, checked_form, core, session
from harbourmaster.web.pages import OVERVIEW, UI_PREFIX, Viewer, render
from harbourmaster.web.route import UiRoute
from harbourmaster.web.sessions import Session

__all__ = ["SIGN_IN", "SIGN_OUT", "router"]

SIGN_IN = f"{UI_PREFIX}/sign-in"
SIGN_OUT = f"{UI_PREFIX}/sign-out"

router = APIRouter(route_class=UiRoute, include_in_schema=False)


def _next_page(value: str) -> str:
    """Where to go after signing in: a page of the UI only (never another site)."""
    if value.startswith(f"{UI_PREFIX}/") and not value.startswith("//") and "\\" not in value \
            and value != SIGN_IN:
        return value
    return OVERVIEW.path


@router.get(SIGN_IN)
def sign_in_page(request: Request, current: Annotated[Session, Depends(session)]) -> Response:
    return render(request, Viewer(session=current), "sign_in.html",
                  {"message": None, "next": request.query_params.get("next", "")})


@router.post(SIGN_IN)
async def sign_in_form(request: Request, form: Annotated[Form, Depends(checked_form)]) -> Response:
    token = form.get("token").strip()
    try:
        principal = await to_thread.run_sync(lambda: sign_in(core(request), token, route=SIGN_IN))
    except (Unauthenticated, Forbidden) as exc:
        return render(request, Viewer(session=session(request)), "sign_in.html",
                      {"message": exc.message, "next": form.get("next")}, status=exc.status)
    # A new session: a new CSRF token, so none known before signing in is of use after.
    sid = await to_thread.run_sync(lambda: open_session(core(request), principal, method="token"))
    request.state.ui_session = Session.new(sid=sid)
    return RedirectResponse(_next_page(form.get("next")), status_code=303)


@router.post(SIGN_OUT)
async def sign_out(request: Request, form: Annotated[Form, Depends(checked_form)]) -> Response:
    current = session(request)
    if current.sid is not None:
        sid = current.sid
        await to_thread.run_sync(lambda: end_session(core(request), sid))
    request.state.ui_session = current.signed_out()
    return RedirectResponse(SIGN_IN, status_code=303)
