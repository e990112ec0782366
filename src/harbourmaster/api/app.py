"""The FastAPI application: every route under /api/v1, errors as problem+json."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator

from fastapi import FastAPI, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from harbourmaster import __version__
from harbourmaster.api.gate import BODY_LIMITS, ROUTE_SCOPE_KEY, RequestGate, RequestIds, RouteTable
from harbourmaster.api.lifespan import lifespan
from harbourmaster.api.problems import document_problems, install_problem_handlers
from harbourmaster.api.routes import (
    assessment,
    deployments,
    environments,
    grants,
    identities,
    jobs,
    operations,
    pull_credentials,
    registries,
    registry_events,
    sboms,
    signatures,
    tokens,
    vulns,
)
from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.robot_rotation import credential_expiries
from harbourmaster.web import mount_ui

__all__ = ["API_PREFIX", "create_app"]

log = logging.getLogger(__name__)

API_PREFIX = "/api/v1"


def create_app(hm: Harbourmaster, *, embedded_worker: bool = False, freeze_heap: bool = False) -> FastAPI:
    """The API on ``hm``; with ``embedded_worker`` a job worker runs beside it while it serves
    (``serve`` on SQLite, where no separate worker process is needed); with ``freeze_heap`` the process's
    long-lived objects are kept out of the garbage collector's full passes (``serve``, which owns its
    process: see :class:`~harbourmaster.api.lifespan.HeapFreezer`)."""
    app = FastAPI(
        title="harbourmaster",
        version=__version__,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        lifespan=lifespan(hm, embedded_worker=embedded_worker, freeze_heap=freeze_heap),
    )
    app.state.hm = hm
    install_problem_handlers(app)
    # Authenticate before any body is read, and bound every body (see api/gate.py).
    routes = RouteTable()
    sbom_body = 2 * hm.settings.max_sbom_bytes + 64 * 1024  # JSON escaping can double a document
    app.add_middleware(
        RequestGate,
        hm=hm,
        prefix=API_PREFIX,
        public=frozenset(f"{API_PREFIX}/{p}" for p in ("openapi.json", "docs", "docs/oauth2-redirect")),
        limits={**BODY_LIMITS, ("POST", f"{API_PREFIX}/scans"): sbom_body},
        routes=routes,
    )
    modules = (
        registries, environments, identities, grants, operations, tokens, sboms, vulns, signatures, jobs,
        registry_events, pull_credentials, deployments, assessment,
    )
    for module in modules:
        app.include_router(module.router, prefix=API_PREFIX)
        routes.add(API_PREFIX, module.router.routes)
    document_problems(app)
    # The web UI under /ui: outside the API prefix, so the bearer-token gate leaves it to its sessions.
    mount_ui(app, hm)

    metrics = CollectorRegistry()
    latency = Histogram(
        "harbourmaster_http_request_seconds",
        "HTTP request latency by route template, method and status",
        ["route", "method", "status"],
        registry=metrics,
        buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    )

    metrics.register(CredentialExpiryCollector(hm))

    @app.middleware("http")
    async def _measure(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        # The route template, never the raw path: paths carry names chosen by users.
        # The gate noted the API route's full template (also for the 401s and 413s it answers
        # itself, before routing); other routes name theirs.
        gated = request.scope.get("state", {}).get(ROUTE_SCOPE_KEY)
        template = gated or getattr(route, "path", None) or "unmatched"
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
    # Outermost: every log line of a request, and its response, carry the request id.
    app.add_middleware(RequestIds)
    return app


class CredentialExpiryCollector(Collector):
    """``harbourmaster_credential_expiry_seconds``: the seconds until each credential expires (negative:
    expired), labelled by registry, credential (a managed robot's harbourmaster name, ``static`` or
    ``token``) and kind.  /metrics needs no token: no user name, access key id or Harbor account name is
    in a label.  Read at each scrape."""

    def __init__(self, hm: Harbourmaster) -> None:
        self._hm = hm

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "harbourmaster_credential_expiry_seconds",
            "Seconds until a registry credential, managed robot account or minted provider token expires",
            labels=["registry", "credential", "kind"],
        )
        now = self._hm.clock.now()
        try:
            expiries = credential_expiries(self._hm)
        except Error as exc:  # the store is down: the scrape still answers the other metrics
            log.warning("credential expiry metric unavailable: %s", exc.message)
            expiries = []
        for c in expiries:
            gauge.add_metric([c.registry, c.label, c.kind], c.seconds_left(now))
        yield gauge
