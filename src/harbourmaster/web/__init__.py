"""The web UI under ``/ui``: server-rendered pages on the same services as the API, with progressive
enhancement (htmx, served from this package); every page and form works without JavaScript.

:func:`mount_ui` adds it to the API's application.  ``static/htmx.min.js`` is htmx 2.0.11 as published on
npm (``htmx.org``, ``dist/htmx.min.js``, SHA-256
d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717), its licence beside it
(``static/htmx.LICENSE``); nothing is loaded from anywhere else.  Sessions: :mod:`harbourmaster.web.sessions`;
who may see and do what: :mod:`harbourmaster.web.access` and :mod:`harbourmaster.web.pages`.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import Message, Receive, Scope, Send

from harbourmaster.services.core import Harbourmaster
from harbourmaster.web import (
    artifacts,
    assessment,
    audit,
    auth,
    decisions,
    environments,
    grants,
    jobs,
    oidc,
    overview,
    registries,
    registry_browse,
    registry_forms,
    robots,
    vulns,
)
from harbourmaster.web.pages import SECURITY_HEADERS, UI_PREFIX
from harbourmaster.web.sessions import SessionCodec

__all__ = ["STATIC_PREFIX", "mount_ui"]

STATIC_PREFIX = f"{UI_PREFIX}/static"
_HEADERS = [(k.lower().encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]


class _StaticWithHeaders:
    """The package's static files, with the UI's security headers."""

    def __init__(self) -> None:
        self._files = StaticFiles(packages=[("harbourmaster.web", "static")])

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *_HEADERS,
                                                  (b"cache-control", b"public, max-age=3600")]}
            await send(message)

        await self._files(scope, receive, send_with_headers)


def mount_ui(app: FastAPI, hm: Harbourmaster) -> None:
    """Serve the web UI on ``app`` (whose ``state.hm`` is ``hm``)."""
    app.state.ui_sessions = SessionCodec(hm)
    app.state.ui_oidc_issuer = hm.settings.oidc_issuer  # the sign-in page offers it
    app.mount(STATIC_PREFIX, _StaticWithHeaders(), name="ui-static")
    app.include_router(oidc.router)
    for module in (auth, overview, registries, environments, jobs, audit, assessment,
                   decisions, vulns, artifacts,
                   registry_forms, registry_browse, grants, robots):
        app.include_router(module.router)
    app.include_router(overview.not_found_router)
