"""Errors as RFC 9457 ``application/problem+json``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from harbourmaster.errors import Error

__all__ = ["install_problem_handlers"]

_TYPE = "https://harbourmaster.io/problems/"
_MEDIA = "application/problem+json"


def _problem(
    status: int, kind: str, title: str, detail: str, errors: list[str] | None = None
) -> JSONResponse:
    body: dict[str, object] = {"type": _TYPE + kind, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=_MEDIA, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Error)
    async def _error(_request: Request, exc: Error) -> JSONResponse:
        return _problem(exc.status, exc.kind, type(exc).__name__, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input: a rejected body may hold a secret, as a value or
        # pasted where a field name belongs, so unknown fields are not named.
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            if e.get("type") == "extra_forbidden":
                where = ".".join(loc[:-1]) or "body"
                errors.append(
                    f"{where}: has a field that is not part of the schema (see the OpenAPI document)"
                )
            else:
                errors.append(f"{'.'.join(loc)}: {e.get('msg', 'invalid')}")
        return _problem(422, "bad-input", "BadInput", "the request body or parameters are invalid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, "http", "HTTPException", str(exc.detail))
