"""The API's front door: authenticate before reading a body, and bound every body.

FastAPI reads and parses a request body before it resolves the dependencies
that authenticate the caller, so an anonymous client could make the server
buffer and parse any amount of JSON before the 401.  :class:`RequestGate`, a
pure ASGI middleware in front of the application, does it the other way round
for every route under the API prefix:

1. the bearer token is checked first (``401`` without reading the body); a
   registry's event notifications (:data:`REGISTRY_EVENTS_ROUTE`) carry that
   registry's notification secret instead of a token, checked the same way;
2. the route is matched to find its body limit (:data:`BODY_LIMITS`, by route
   template; :data:`DEFAULT_BODY_LIMIT` otherwise); a ``Content-Length`` over
   the limit is answered ``413`` at once, and a body streamed without one is
   read only up to the limit, then refused with ``413``: memory never holds
   more than the limit of one request;
3. the authenticated :class:`~harbourmaster.domain.authz.Principal` is put on
   the request scope, so the route's dependency does not authenticate again.

A node token (a kubelet credential provider) is refused with ``403`` on every route but
:data:`NODE_ROUTE`, before its body is read: whatever permission a route names, a node can reach
nothing else, also no route added later.

The OpenAPI document and the interactive docs are public; ``/healthz`` and
``/metrics`` sit outside the prefix and read no body.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from anyio import to_thread
from fastapi.routing import APIRoute
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.secret import Secret
from harbourmaster.errors import Error, Forbidden, Unauthenticated
from harbourmaster.logs import bound_ids
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.registry_notifications import authenticate_registry_events
from harbourmaster.services.tokens import authenticate

__all__ = [
    "BODY_LIMITS",
    "DEFAULT_BODY_LIMIT",
    "NODE_ROUTE",
    "PRINCIPAL_SCOPE_KEY",
    "REGISTRY_EVENTS_ROUTE",
    "ROUTE_SCOPE_KEY",
    "RequestGate",
    "RequestIds",
    "RouteTable",
]

MiB = 1024 * 1024
#: The body limit of a route not named in :data:`BODY_LIMITS`.
DEFAULT_BODY_LIMIT = 1 * MiB
#: Per route template (method, path): a governance document or deployment
#: content is a YAML text carried in JSON, where escaping can double its size.
BODY_LIMITS: Mapping[tuple[str, str], int] = {
    ("POST", "/api/v1/apply"): 33 * MiB,
    ("POST", "/api/v1/decisions"): 21 * MiB,
    ("POST", "/api/v1/environments/{environment}/deployments"): 21 * MiB,
    ("POST", "/api/v1/vulndb/records"): 64 * MiB,
    # A registry's event notifications: at most MAX_EVENTS small events.
    ("POST", "/api/v1/registry-events/{registry}"): 1 * MiB,
}
#: The route a registry POSTs its event notifications to: authenticated by that registry's
#: notification secret (``Authorization: Bearer <secret>``), not by an API token; still before
#: any of the body is read (see services/registry_notifications.py).
REGISTRY_EVENTS_ROUTE = "/registry-events/{registry}"
#: The one route (method, template under the prefix) a node token may call.
NODE_ROUTE = ("POST", "/environments/{environment}/pull-credentials")
#: The key under the ASGI scope's ``state`` that holds the authenticated caller.
PRINCIPAL_SCOPE_KEY = "principal"
#: ... and the route template (for metrics of requests the gate answers itself).
ROUTE_SCOPE_KEY = "route_template"

_PROBLEM = "application/problem+json"


class BodyTooLarge(Error):
    status = 413
    kind = "payload-too-large"


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


class RequestIds:
    """Pure ASGI middleware: every request gets an id, on every log line and in ``X-Request-ID``.

    A client's own ``X-Request-ID`` is kept when it is short and plain (it will be
    logged); otherwise a new one is made.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = scope.get("headers", ())
        given = next((bytes(v).decode("latin-1") for k, v in headers if k == b"x-request-id"), "")
        request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        encoded = request_id.encode("ascii")

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", encoded)]}
            await send(message)

        with bound_ids(request_id=request_id):
            await self.app(scope, receive, send_with_id)


class RouteTable:
    """Route templates by method and path, built from the API's routers (not from the
    framework's internal routing tables, which change between FastAPI versions)."""

    def __init__(self) -> None:
        self._routes: list[tuple[re.Pattern[str], frozenset[str], str]] = []

    def add(self, prefix: str, routes: Iterable[object]) -> None:
        for route in routes:
            if isinstance(route, APIRoute):
                template = prefix + route.path
                regex, _, _ = compile_path(template)
                self._routes.append((regex, frozenset(route.methods or ()), template))

    def template(self, method: str, path: str) -> str | None:
        """The template of the route serving ``method path`` (never the raw path: paths carry names)."""
        for regex, methods, template in self._routes:
            if method in methods and regex.match(path):
                return template
        return None


class RequestGate:
    """Pure ASGI middleware; see the module documentation."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        hm: Harbourmaster,
        prefix: str,
        public: frozenset[str],
        limits: Mapping[tuple[str, str], int],
        routes: RouteTable,
    ) -> None:
        self.app = app
        self.hm = hm
        self.prefix = prefix
        self.public = public
        self.limits = limits
        self.routes = routes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(self.prefix) or path in self.public:
            await self.app(scope, receive, send)
            return
        template = self.routes.template(scope.get("method", "GET"), path)
        state = scope.setdefault("state", {})
        state[ROUTE_SCOPE_KEY] = template
        try:
            principal = await to_thread.run_sync(self._authenticate, scope, template)
        except Error as exc:
            await _problem(send, exc)
            return
        method = scope.get("method", "GET")
        if isinstance(principal, Principal) and principal.is_node and (
            method != NODE_ROUTE[0] or template != self.prefix + NODE_ROUTE[1]
        ):
            await _problem(send, Forbidden(
                f"{principal.name} holds a node token: it may only ask for pull credentials "
                f"(POST {self.prefix}/environments/{principal.environment}/pull-credentials)"
            ))
            return
        state[PRINCIPAL_SCOPE_KEY] = principal
        if method in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        limit = self.limits.get((method, template or ""), DEFAULT_BODY_LIMIT)
        try:
            body = await _read_body(scope, receive, limit)
        except BodyTooLarge as exc:
            await _problem(send, exc)
            return
        if body is None:  # the client went away
            return
        await self.app(scope, _replay(body, receive), send)

    def _authenticate(self, scope: Scope, template: str | None) -> object:
        token = _bearer(scope)
        if template == self.prefix + REGISTRY_EVENTS_ROUTE:
            registry = str(scope.get("path", "")).rsplit("/", 1)[-1]
            client = scope.get("client")
            return authenticate_registry_events(self.hm, registry, None if token is None else Secret(token),
                                                source=client[0] if client else None)
        if token is None:
            raise Unauthenticated("a bearer token is required (Authorization: Bearer <token>)")
        return authenticate(self.hm, token, method=scope.get("method"), route=template)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            header: str = bytes(value).decode("latin-1")
            scheme, _, token = header.partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _read_body(scope: Scope, receive: Receive, limit: int) -> bytes | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                declared = -1
            if declared > limit:
                raise BodyTooLarge(_too_large(limit, declared))
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(_too_large(limit, None))
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


def _too_large(limit: int, declared: int | None) -> str:
    got = f" (Content-Length {declared})" if declared is not None else ""
    return f"the request body is larger than this route's limit of {limit} bytes{got}"


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _problem(send: Send, exc: Error) -> None:
    body: dict[str, Any] = {
        "type": f"https://harbourmaster.io/problems/{exc.kind}",
        "title": type(exc).__name__,
        "status": exc.status,
        "detail": exc.message,
    }
    if exc.details:
        body["errors"] = exc.details
    payload = json.dumps(body).encode("utf-8")
    headers = [(b"content-type", _PROBLEM.encode()), (b"content-length", str(len(payload)).encode())]
    if exc.status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    # Whatever body the client is still sending is never read: the connection cannot be reused.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": exc.status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
