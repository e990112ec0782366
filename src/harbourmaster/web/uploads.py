"""Forms that may carry a file: ``multipart/form-data`` (or URL-encoded, without the file), read whole
up to :data:`UPLOAD_LIMIT` bytes before anything is parsed, with the session's CSRF token checked before
anything else is looked at, exactly as :func:`harbourmaster.web.access.acting` does for plain forms.

The multipart body is parsed with the standard library's MIME parser (no parser dependency), and only
``form-data`` parts are kept: at most :data:`MAX_PARTS`, one value per name.
"""

from __future__ import annotations

import email.policy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Final
from urllib.parse import parse_qs

from anyio import to_thread
from starlette.requests import Request

from harbourmaster.domain.authz import Permission
from harbourmaster.errors import BadInput, Error, Forbidden
from harbourmaster.web.access import Form, session, viewing
from harbourmaster.web.pages import Viewer
from harbourmaster.web.sessions import CSRF_FIELD

__all__ = ["MAX_PARTS", "UPLOAD_LIMIT", "Upload", "UploadForm", "uploading"]

#: The largest body of a form with a file, in bytes: a manifest or compose file is far smaller.
UPLOAD_LIMIT: Final = 1024 * 1024
#: The most fields (files included) one such form may have.
MAX_PARTS: Final = 32
_URLENCODED = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"


class UploadTooLarge(Error):
    status = 413
    kind = "payload-too-large"


class NotAnUploadForm(Error):
    status = 415
    kind = "unsupported-media-type"


@dataclass(frozen=True, slots=True)
class Upload:
    """A file sent in a form: its name as the browser gave it (never used as a path) and its bytes."""

    filename: str
    content: bytes


@dataclass(frozen=True, slots=True)
class UploadForm:
    """The signed-in viewer, the form's text fields and its files (by field name; empty file inputs are
    left out)."""

    viewer: Viewer
    form: Form
    files: dict[str, Upload] = field(default_factory=dict)


async def _body(request: Request) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > UPLOAD_LIMIT:
        raise UploadTooLarge(f"the form is larger than {UPLOAD_LIMIT} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body.extend(chunk)
        if len(body) > UPLOAD_LIMIT:
            raise UploadTooLarge(f"the form is larger than {UPLOAD_LIMIT} bytes")
    return bytes(body)


def _multipart(content_type: str, body: bytes) -> tuple[Form, dict[str, Upload]]:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = BytesParser(policy=email.policy.HTTP).parsebytes(head + body)
    if not isinstance(message, EmailMessage) or not message.is_multipart():
        raise BadInput("the form could not be read: it is not multipart form data")
    fields: dict[str, list[str]] = {}
    files: dict[str, Upload] = {}
    parts = list(message.iter_parts())
    if len(parts) > MAX_PARTS:
        raise BadInput(f"the form has {len(parts)} fields; at most {MAX_PARTS} are read")
    for part in parts:
        if part.get_content_disposition() != "form-data":
            continue
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            if name in files:
                raise BadInput(f"form field {name!r} was given more than once")
            if filename or data:
                files[name] = Upload(filename=filename, content=data)
            continue
        try:
            fields.setdefault(name, []).append(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise BadInput(f"form field {name!r} is not UTF-8 text") from exc
    return Form(fields), files


async def _read(request: Request) -> tuple[Form, dict[str, Upload]]:
    content_type = request.headers.get("content-type", "")
    kind = content_type.split(";")[0].strip().lower()
    if kind not in (_URLENCODED, _MULTIPART):
        raise NotAnUploadForm(f"a form is sent as {_MULTIPART} or {_URLENCODED}, not {kind or 'nothing'}")
    body = await _body(request)
    if kind == _MULTIPART:
        return _multipart(content_type, body)
    try:
        return Form(parse_qs(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_PARTS)), {}
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadInput("the form could not be read: it is not UTF-8 URL-encoded fields") from exc


def uploading(permission: Permission) -> Callable[[Request], Awaitable[UploadForm]]:
    """A dependency for a form that may carry a file: the body is read (bounded), then the CSRF token is
    checked before anything else, then the signed-in viewer, who must hold ``permission``.

    Raises:
        Forbidden: the CSRF token is missing or wrong; or the viewer may not use ``permission``.
        UploadTooLarge, NotAnUploadForm, BadInput: the body is not a small form.
    """

    async def check(request: Request) -> UploadForm:
        form, files = await _read(request)
        values = form.fields.get(CSRF_FIELD, [])
        if len(values) != 1 or not session(request).csrf_matches(values[0]):
            raise Forbidden(
                "this form's CSRF token is missing or out of date: reload the page and send it again"
            )
        viewer = await to_thread.run_sync(viewing(permission), request)
        return UploadForm(viewer=viewer, form=form, files=files)

    check.permission = permission  # type: ignore[attr-defined]
    return check
