"""The webhook's ASGI app: read the body (bounded), call the service, send its answer.

A review whose images all have recent verdicts is answered on the event loop
(:meth:`~harbourmaster.services.admission.AdmissionReviewer.quick`, which reads nothing); any other
runs in the thread pool (the verdict may wait for a registry within its budget).  The audit entries
reviews queue are written by an :class:`~harbourmaster.services.audit_process.AuditWriterProcess`
(``webhook serve``) or an :class:`~harbourmaster.services.audit_batches.AuditBatchWriter`, started
and flushed with the app's lifespan.

``POST /validate/ENV`` and ``POST /mutate/ENV`` — thousands a second — are taken straight off the ASGI
interface by :class:`_ReviewLane` (no routing, request or response objects: a third of a warm review's
cost); everything else (the lifespan, other methods and paths, ``/healthz``, ``/policy/ENV``) goes
to the Starlette app behind it, whose review routes answer the same way.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

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

log = logging.getLogger(__name__)
_JSON_HEADERS = [(b"content-type", b"application/json")]
_REVIEW_PATHS = (("/validate/", False), ("/mutate/", True))


async def _bounded_body(receive: Receive) -> bytes | None:
    """The body, read up to one byte past :data:`MAX_BODY_BYTES` (the service refuses what is over);
    None when the client went away."""
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY_BYTES:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)[: MAX_BODY_BYTES + 1]


def _encoded(answer: AdmissionAnswer) -> bytes:
    return json.dumps(answer.body, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


async def _answer(
    reviewer: AdmissionReviewer, environment: str, body: bytes, *, mutate: bool
) -> AdmissionAnswer:
    """The review's answer: from recent verdicts on the loop, or judged in full on a worker thread."""
    result = reviewer.quick(environment=environment, body=body, mutate=mutate)
    if not isinstance(result, AdmissionAnswer):
        result = await run_in_threadpool(reviewer.decide, result)
    return result


class _ReviewLane:
    """``POST /validate/ENV`` and ``POST /mutate/ENV`` on the bare ASGI interface; the rest to ``app``."""

    def __init__(self, app: ASGIApp, reviewer: AdmissionReviewer) -> None:
        self._app = app
        self._reviewer = reviewer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path: str = scope["path"]
            for prefix, mutate in _REVIEW_PATHS:
                environment = path[len(prefix):] if path.startswith(prefix) else ""
                if environment and "/" not in environment:
                    await self._review(environment, mutate, receive, send)
                    return
        await self._app(scope, receive, send)

    async def _review(self, environment: str, mutate: bool, receive: Receive, send: Send) -> None:
        body = await _bounded_body(receive)
        if body is None:
            return  # the client went away: nobody to answer
        try:
            answer = await _answer(self._reviewer, environment, body, mutate=mutate)
            status, payload = answer.status_code, _encoded(answer)
        except Exception as exc:  # a defect: a JSON error the API server treats as a failed call
            log.exception("admission review for %s failed", environment)
            status = 500
            payload = json.dumps({"error": f"harbourmaster failed ({type(exc).__name__})"}).encode()
        headers = [*_JSON_HEADERS, (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})


def webhook_app_from_environ() -> ASGIApp:
    """The webhook app on a core built from this process's environment: each worker process of
    ``webhook serve --workers N`` builds its own (uvicorn calls this factory in each)."""
    hm = Harbourmaster.from_environ()
    hm.db.ensure_current()
    return create_webhook_app(hm, audit_process=True)


def create_webhook_app(hm: Harbourmaster, *, audit_process: bool = False) -> ASGIApp:
    """The webhook app on ``hm``; its audit writer lives as long as the app serves: a thread, or with
    ``audit_process`` a process of its own built from this process's environment (what ``webhook
    serve`` runs: the event loop then never waits for the interpreter while the log is written)."""
    reviewer = AdmissionReviewer(hm)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        hm.current()  # compile the policy snapshot before the first review
        # On PostgreSQL the core follows NOTIFYs of new model revisions; elsewhere (SQLite) a thread
        # reads the revision every 0.25 s (keep_current), so replicas stay in step either way.
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

    async def answer(request: Request, *, mutate: bool) -> Response:
        body = await _bounded_body(request.receive)
        if body is None:
            return Response(status_code=400)
        result = await _answer(reviewer, request.path_params["environment"], body, mutate=mutate)
        return Response(_encoded(result), status_code=result.status_code, media_type="application/json")

    async def validate(request: Request) -> Response:
        return await answer(request, mutate=False)

    async def mutate(request: Request) -> Response:
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

    app = Starlette(
        routes=[
            Route("/validate/{environment}", validate, methods=["POST"]),
            Route("/mutate/{environment}", mutate, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/policy/{environment}", policy, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    return _ReviewLane(app, reviewer)
