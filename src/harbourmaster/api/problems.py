"""Errors as RFC 9457 ``application/problem+json``, and their place in the OpenAPI document.

:func:`install_problem_handlers` renders every error as a problem: harbourmaster's
own errors with their status, invalid requests as 422, and any other exception
as a 500 that names a correlation id (logged with the traceback) and nothing of
the internals.  :func:`document_problems` writes those answers into the OpenAPI
document of every route, once, from what the route takes and who may call it.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import Any

import fastapi.routing
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from fastapi.security.base import SecurityBase
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from harbourmaster.domain.spelling import UNPRINTABLE, field_name
from harbourmaster.errors import Error
from harbourmaster.logs import REQUEST_ID

__all__ = [
    "PROBLEM_MEDIA_TYPE",
    "REGISTRY_PROBLEMS",
    "Problem",
    "document_problems",
    "install_problem_handlers",
    "problem_responses",
]

log = logging.getLogger(__name__)

_TYPE = "https://harbourmaster.io/problems/"
PROBLEM_MEDIA_TYPE = "application/problem+json"
_MEDIA = PROBLEM_MEDIA_TYPE


class Problem(BaseModel):
    """An RFC 9457 problem: the body of every error the API answers."""

    type: str = Field(description="A URI naming the kind of problem (https://harbourmaster.io/problems/...)")
    title: str = Field(description="The error class, stable for a kind")
    status: int = Field(ge=400, le=599, description="The HTTP status of this response")
    detail: str = Field(description="What went wrong and, where useful, what to do")
    errors: list[str] = Field(
        default_factory=list, description="One line per problem found (a field path, then the reason)"
    )
    correlation_id: str | None = Field(
        default=None, description="Unexpected errors (500) only: quote it to find the server's log record"
    )


def _problem(
    status: int,
    kind: str,
    title: str,
    detail: str,
    errors: list[str] | None = None,
    *,
    correlation_id: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, object] = {"type": _TYPE + kind, "title": title, "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    if correlation_id is not None:
        body["correlation_id"] = correlation_id
    sent = dict(headers or {})
    if status == 401:
        sent["WWW-Authenticate"] = "Bearer"
    return JSONResponse(body, status_code=status, media_type=_MEDIA, headers=sent or None)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(Error)
    async def _error(_request: Request, exc: Error) -> JSONResponse:
        return _problem(exc.status, exc.kind, type(exc).__name__, exc.message, exc.details)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        # Never echo the input: a rejected body may hold a secret, as a value or
        # pasted where a field name belongs, so an unknown field is named only when
        # it is identifier-shaped (domain/spelling.py).
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ()) if p != "body"]
            if e.get("type") == "extra_forbidden":
                where = ".".join(loc[:-1]) or "body"
                unknown = field_name(loc[-1]) if loc else UNPRINTABLE
                errors.append(f"{where}: unknown field {unknown} (see the OpenAPI document)")
            else:
                errors.append(f"{'.'.join(loc)}: {e.get('msg', 'invalid')}")
        return _problem(422, "bad-input", "BadInput", "the request body or parameters are invalid", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # The framework's own answers: an unknown route (404), a method the route
        # lacks (405, with its Allow header), a body that is not JSON (400).
        try:
            phrase = HTTPStatus(exc.status_code).phrase
        except ValueError:
            phrase = "HTTP Error"
        return _problem(
            exc.status_code,
            phrase.lower().replace(" ", "-"),
            phrase.replace(" ", ""),
            str(exc.detail),
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # A bug, not an error raised on purpose: its text may hold anything (paths, SQL,
        # input), so the client gets an id to quote and the log gets the traceback.
        # The request id when there is one (it is on every log line of this request too).
        correlation_id = REQUEST_ID.get() or str(uuid.uuid4())
        log.error(
            "unexpected error %s answering %s %s (correlation id %s)",
            type(exc).__name__,
            request.method,
            request.url.path,
            correlation_id,
            exc_info=exc,
        )
        return _problem(
            500,
            "internal",
            "InternalError",
            f"an unexpected error occurred; quote correlation id {correlation_id} to the operator",
            correlation_id=correlation_id,
        )


# -- the OpenAPI document ------------------------------------------------------------------------

_PROBLEM_REF = "#/components/schemas/Problem"

_DESCRIPTIONS = {
    400: "The request body cannot be parsed (not JSON, or not UTF-8)",
    401: "No bearer token, or one that is unknown, expired or revoked",
    403: "The caller's role does not allow this operation",
    404: "A named resource does not exist",
    409: "The request conflicts with the current state",
    413: "The request body is larger than this operation accepts",
    422: "The request body or parameters are invalid, or break a governance rule",
    500: "An unexpected error; the problem carries a correlation id",
    502: "The registry failed or refused (DNS, connection, TLS, protocol)",
    503: "The database, or the registry, is unavailable",
    504: "The registry did not answer in time",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for ``statuses``, each an ``application/problem+json`` Problem.

    Routes pass the statuses only they give (``responses=problem_responses(502, 504)``
    for those that talk to a registry); :func:`document_problems` adds the rest.
    """
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {
            "description": _DESCRIPTIONS.get(status, "A problem"),
            "content": {_MEDIA: {"schema": {"$ref": _PROBLEM_REF}}},
        }
        if status == 401:
            entry["headers"] = {
                "WWW-Authenticate": {
                    "description": "The scheme to authenticate with",
                    "required": True,
                    "schema": {"type": "string"},
                }
            }
        out[status] = entry
    return out


#: What an operation that talks to a registry answers when the registry fails, besides
#: the problems every operation documents (a registry's 503 is one of those).
REGISTRY_PROBLEMS = problem_responses(502, 504)


def _dependants(dependant: Dependant) -> Iterator[Dependant]:
    yield dependant
    for sub in dependant.dependencies:
        yield from _dependants(sub)


def _api_routes(app: FastAPI) -> Iterator[Any]:
    """Every route in the OpenAPI document, with its full path and dependencies (routers included)."""
    # FastAPI 0.16x keeps included routers whole; iter_route_contexts gives their effective routes.
    iter_contexts = getattr(fastapi.routing, "iter_route_contexts", None)
    routes: Iterable[Any] = iter_contexts(app.routes) if iter_contexts is not None else app.routes
    for route in routes:
        if isinstance(getattr(route, "original_route", route), APIRoute) and route.include_in_schema:
            yield route


def _route_problems(route: Any) -> list[int]:
    """The problem statuses ``route`` can answer, from what it takes and who may call it."""
    dependants = list(_dependants(route.dependant))
    calls = [d.call for d in dependants]
    has_body = route.body_field is not None
    takes_input = has_body or any(d.path_params or d.query_params for d in dependants)
    statuses = [500, 503]
    if any(isinstance(call, SecurityBase) for call in calls):
        statuses.append(401)
    # RequirePermission marks its check with the permission it demands.
    if any(hasattr(call, "permission") for call in calls):
        statuses.append(403)
    if takes_input or not set(route.methods) <= {"GET", "HEAD"}:
        statuses += [404, 409, 422]
    if has_body:
        statuses.append(400)
    # The request gate reads (and bounds) the body of every method but these.
    if not set(route.methods) <= {"GET", "HEAD", "OPTIONS"}:
        statuses.append(413)
    return sorted(statuses)


def _uses(document: dict[str, Any], ref: str) -> bool:
    return f'"{ref}"' in json.dumps(document)


def document_problems(app: FastAPI) -> None:
    """Write the problem answers of every route into the app's OpenAPI document.

    Each operation gets 401/403 when it authenticates or checks a role,
    404/409/422 when it takes input or changes something, 400 when it takes a
    body (which may not parse), 413 when it may be sent one (every method but
    GET, HEAD and OPTIONS: the request gate bounds them), and 500/503 always;
    each as ``application/problem+json`` with the :class:`Problem` schema.
    Statuses a route declares itself (:func:`problem_responses`) are kept.
    FastAPI's default 422 (``HTTPValidationError``) is replaced: it is not what
    the API answers.
    """
    build: Callable[[], dict[str, Any]] = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        paths = document.get("paths", {})
        for route in _api_routes(app):
            operations = paths.get(route.path_format, {})
            for method in route.methods:
                operation = operations.get(method.lower())
                if operation is None:
                    continue
                responses = operation.setdefault("responses", {})
                validation = responses.get("422", {}).get("content", {}).get("application/json", {})
                if validation.get("schema", {}).get("$ref", "").endswith("/HTTPValidationError"):
                    del responses["422"]
                for status, entry in problem_responses(*_route_problems(route)).items():
                    responses.setdefault(str(status), entry)
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas["Problem"] = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
        for unused in ("HTTPValidationError", "ValidationError"):
            if unused in schemas and not _uses(document, f"#/components/schemas/{unused}"):
                del schemas[unused]
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
