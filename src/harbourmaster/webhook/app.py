"""The webhook's ASGI app (Starlette): read the body (bounded), call the service, send its answer.

A review whose images all have recent verdicts is answered on the event loop
(:meth:`~harbourmaster.services.admission.AdmissionReviewer.quick`, which reads nothing); any other
runs in the thread pool (the verdict may wait for a registry within its budget).  The audit entries
reviews queue are written by one
:class:`~harbourmaster.services.audit_batches.AuditBatchWriter`, started and flushed with the
app's lifespan.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from harbourmaster.errors import Error
from harbourmaster.services.admission import (
    MAX_BODY_BYTES,
    AdmissionAnswer,
    AdmissionReviewer,
    webhook_principal,
)
from harbourmaster.services.audit_batches import AuditBatchWriter, AuditQueue
from harbourmaster.services.audit_process import AuditWriterProcess
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.policy import show_policy

__all__ = ["create_webhook_app", "webhook_app_from_environ"]


async def _bounded_body(request: Request) -> bytes:
    """The body, read up to one byte past :data:`MAX_BODY_BYTES` (the service refuses what is over)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            break
    return b"".join(chunks)[: MAX_BODY_BYTES + 1]


def webhook_app_from_environ() -> Starlette:
    """The webhook app on a core built from this process's environment: each worker process of
    ``webhook serve --workers N`` builds its own (uvicorn calls this factory in each)."""
    hm = Harbourmaster.from_environ()
    hm.db.ensure_current()
    return create_webhook_app(hm, audit_process=True)


def create_webhook_app(hm: Harbourmaster, *, audit_process: bool = False) -> Starlette:
    """The webhook app on ``hm``; its audit writer lives as long as the app serves: a thread, or with
    ``audit_process`` a process of its own built from this process's environment (what ``webhook
    serve`` runs: the event loop then never waits for the interpreter while the log is written)."""
    reviewer = AdmissionReviewer(hm)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        hm.current()  # compile the policy snapshot before the first review
        # On PostgreSQL the core follows NOTIFYs of new model revisions; elsewhere (SQLite) it reads
        # the revision per review (one indexed read), so replicas stay in step either way.
        await run_in_threadpool(hm.watch_model)
        writer: AuditQueue = (
            await run_in_threadpool(AuditWriterProcess, hm, name="admission-audit")
            if audit_process
            else AuditBatchWriter(hm, name="admission-audit")
        )
        reviewer.audit = writer
        reviewer.recent.keep_current(name="admission-revision")
        try:
            yield
        finally:
            reviewer.recent.close()
            await run_in_threadpool(writer.close)
            reviewer.audit = None
            await run_in_threadpool(hm.stop_watching_model)

    async def answer(request: Request, *, mutate: bool) -> JSONResponse:
        body = await _bounded_body(request)
        result = reviewer.quick(environment=request.path_params["environment"], body=body, mutate=mutate)
        if not isinstance(result, AdmissionAnswer):
            result = await run_in_threadpool(reviewer.decide, result)
        return JSONResponse(result.body, status_code=result.status_code)

    async def validate(request: Request) -> JSONResponse:
        return await answer(request, mutate=False)

    async def mutate(request: Request) -> JSONResponse:
        return await answer(request, mutate=True)

    async def healthz(_: Request) -> JSONResponse:
        try:
            snapshot = await run_in_threadpool(hm.snapshot)
        except Error as exc:
            return JSONResponse({"status": "unavailable", "error": exc.message}, status_code=503)
        return JSONResponse({"status": "ok", "revision": snapshot.revision})

    async def policy(request: Request) -> JSONResponse:
        environment = request.path_params["environment"]
        try:
            rules = await run_in_threadpool(
                show_policy, hm, webhook_principal(environment), environment=environment
            )
        except Error as exc:
            return JSONResponse({"error": exc.message}, status_code=404)
        return JSONResponse(
            {"environment": rules.environment, "tier": rules.tier, "fingerprint": rules.fingerprint}
        )

    return Starlette(
        routes=[
            Route("/validate/{environment}", validate, methods=["POST"]),
            Route("/mutate/{environment}", mutate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/policy/{environment}", policy, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
