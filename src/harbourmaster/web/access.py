"""Who is asking, and whether they may: the session, the signed-in principal, forms and their CSRF token.

A page handler takes ``Annotated[Viewer, Depends(viewing(PAGE.permission))]``; a form handler takes
``Annotated[Acting, Depends(acting(permission))]``, which reads the form (bounded), refuses it without
the session's CSRF token before anything else happens, and only then looks at who is signed in.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.requests import Request

from harbourmaster.domain.authz import Permission, require
from harbourmaster.errors import BadInput, Error, Forbidden
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.web_sessions import session_principal
from harbourmaster.web.pages import Viewer
from harbourmaster.web.sessions import CSRF_FIELD, Session, SessionCodec

__all__ = [
    "FORM_LIMIT",
    "Acting",
    "Form",
    "SessionEnded",
    "SignInRequired",
    "acting",
    "checked_form",
    "core",
    "session",
    "viewing",
]

#: The largest form body read, in bytes (the registry forms of later pages are well under this).
FORM_LIMIT: Final = 64 * 1024
_FORM_TYPE = "application/x-www-form-urlencoded"


class SignInRequired(Error):
    """No one is signed in: the sign-in page is shown in place of the page asked for."""

    status = 401
    kind = "unauthenticated"


class SessionEnded(SignInRequired):
    """The session's token was revoked or has expired: the session is dropped."""


class FormTooLarge(Error):
    status = 413
    kind = "payload-too-large"


class NotAForm(Error):
    status = 415
    kind = "unsupported-media-type"


def core(request: Request) -> Harbourmaster:
    hm: Harbourmaster = request.app.state.hm
    return hm


def session(request: Request) -> Session:
    """The request's session (kept on the request: the route writes it back when it changed)."""
    found = getattr(request.state, "ui_session", None)
    if isinstance(found, Session):
        return found
    codec: SessionCodec = request.app.state.ui_sessions
    current = codec.read(request)
    request.state.ui_session = current
    return current


def _principal_of(request: Request, current: Session) -> Viewer:
    if current.sid is None:
        raise SignInRequired("sign in to continue")
    route = getattr(request.scope.get("route"), "path", None)
    try:
        principal = session_principal(core(request), current.sid, method=request.method, route=route)
    except Error as exc:
        request.state.ui_session = current.signed_out()
        raise SessionEnded(exc.message) from exc
    request.state.ui_principal = principal  # for the navigation of an error page
    return Viewer(session=current, principal=principal)


def viewing(permission: Permission) -> Callable[[Request], Viewer]:
    """A dependency: the signed-in viewer, who must hold ``permission`` (else Forbidden)."""

    def check(request: Request) -> Viewer:
        viewer = _principal_of(request, session(request))
        assert viewer.principal is not None
        require(viewer.principal, permission)
        return viewer

    check.permission = permission  # type: ignore[attr-defined]
    return check


@dataclass(frozen=True, slots=True)
class Form:
    """A submitted form's fields (each name's values, in order)."""

    fields: dict[str, list[str]]

    def get(self, name: str, default: str = "") -> str:
        """The one value of ``name`` (``default`` when absent).

        Raises:
            BadInput: the field was given more than once.
        """
        values = self.fields.get(name)
        if not values:
            return default
        if len(values) > 1:
            raise BadInput(f"form field {name!r} was given {len(values)} times")
        return values[0]


async def _read_form(request: Request) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != _FORM_TYPE:
        raise NotAForm(f"a form is sent as {_FORM_TYPE}, not {content_type or 'nothing'}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > FORM_LIMIT:
        raise FormTooLarge(f"the form is larger than {FORM_LIMIT} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > FORM_LIMIT:
            raise FormTooLarge(f"the form is larger than {FORM_LIMIT} bytes")
    try:
        text = bytes(body).decode("utf-8")
        return Form(parse_qs(text, keep_blank_values=True, max_num_fields=200))
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput("the form could not be read: it is not UTF-8 URL-encoded fields") from exc


async def checked_form(request: Request) -> Form:
    """The submitted form, once its CSRF token is the session's.

    Raises:
        Forbidden: the CSRF token is missing or wrong (nothing else is looked at).
        FormTooLarge, NotAForm, BadInput: the body is not a small URL-encoded form.
    """
    form = await _read_form(request)
    values = form.fields.get(CSRF_FIELD, [])
    if len(values) != 1 or not session(request).csrf_matches(values[0]):
        raise Forbidden("this form's CSRF token is missing or out of date: reload the page and send it again")
    return form


@dataclass(frozen=True, slots=True)
class Acting:
    viewer: Viewer
    form: Form


def acting(permission: Permission) -> Callable[[Request], Awaitable[Acting]]:
    """A dependency for a form: CSRF first, then the signed-in viewer, who must hold ``permission``."""

    async def check(request: Request) -> Acting:
        form = await checked_form(request)
        viewer = await to_thread.run_sync(viewing(permission), request)
        return Acting(viewer=viewer, form=form)

    check.permission = permission  # type: ignore[attr-defined]
    return check
