"""The FastAPI application: every route under /api/v1, errors as problem+json."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from harbourmaster import __version__
from harbourmaster.api.problems import install_problem_handlers
from harbourmaster.api.routes import environments, grants, identities, operations, registries
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
    for module in (registries, environments, identities, grants, operations):
        app.include_router(module.router, prefix=API_PREFIX)

    metrics = CollectorRegistry()

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> dict[str, str]:
        hm.db.ensure_current()
        return {"status": "ok"}

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(generate_latest(metrics), media_type=CONTENT_TYPE_LATEST)

    app.state.metrics = metrics
    return app
