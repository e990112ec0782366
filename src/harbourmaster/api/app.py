"""The FastAPI application: every route under /api/v1, errors as problem+json."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest

from harbourmaster import __version__
from harbourmaster.api.problems import install_problem_handlers
from harbourmaster.api.routes import environments, grants, identities, operations, registries, sboms, vulns
from harbourmaster.services.core import Harbourmaster

__all__ = ["API_PREFIX", "create_app"]

API_PREFIX = "/api/v1"


def create_app(hm: Harbourmaster) -> FastAPI:
    app = FastAPI(
        title="harbourmaster",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.hm = hm
    install_problem_handlers(app)
    for module in (registries, environments, identities, grants, operations, sboms, vulns):
        app.include_router(module.router, prefix=API_PREFIX)

    metrics = CollectorRegistry()
    latency = Histogram(
        "harbourmaster_http_request_seconds",
        "HTTP request latency by route template, method and status",
        ["route", "method", "status"],
        registry=metrics,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, never the raw path: paths carry names chosen by users.
        template = getattr(route, "path", "unmatched")
        latency.labels(template, request.method, str(response.status_code)).observe(
            time.perf_counter() - start
        )
        return response

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        hm.db.ensure_current()
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    return app
