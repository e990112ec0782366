"""The registry pull gate: an OCI distribution proxy in front of one registry, for one environment.

- Manifest ``GET``/``HEAD``: fetched upstream with the client's own ``Authorization``, its digest
  learnt (the reference when pulled by digest, else ``Docker-Content-Digest``) and checked against the
  body, then judged (:class:`~harbourmaster.services.pull_gate.PullGate`); denied: ``412`` with an OCI
  error ``DENIED`` naming the policy and the reasons; allowed: the manifest, byte for byte, with the
  upstream's ``Content-Type``, ``Docker-Content-Digest`` and ``Content-Length``.
- Blobs stream through unmodified, hashed as they pass; the last chunk is held back until the hash
  is checked, and a blob that does not match its digest is cut (the connection is aborted short of
  its ``Content-Length``), so a client never receives a whole corrupted blob.
- ``/v2/`` and the authentication challenges pass through untouched (``WWW-Authenticate`` and its
  realm too: clients fetch tokens from the upstream's token service themselves).
- Anything outside the distribution API is ``404`` with an OCI error; pushes are ``405``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Iterable

import httpx
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from harbourmaster.domain.digest import Digest, DigestError
from harbourmaster.errors import Error
from harbourmaster.gate._paths import ApiPath, oci_error, parse_api_path
from harbourmaster.registry.passthrough import FORWARDED_REQUEST_HEADERS, ContentDigest, Upstream
from harbourmaster.services.pull_gate import DENIED_CODE, GateVerdict, PullGate

__all__ = ["BlobDigestMismatch", "create_gate_app"]

log = logging.getLogger(__name__)

#: The largest manifest (or other small API answer) read whole; the distribution registry's own limit.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
                         "proxy-authenticate", "proxy-authorization", "content-length", "date", "server"})
#: The least a piece of a blob relayed to the client holds: reads of the upstream smaller than this are
#: joined up to it (one copy); larger ones (plain HTTP hands over up to 256 KiB a read) pass as they are.
RELAY_CHUNK = 128 * 1024


class BlobDigestMismatch(Error):
    """A blob passing through the gate does not hash to its digest; its stream was cut."""


def _relayed(headers: httpx.Headers, *, keep_length: bool = False) -> dict[str, str]:
    out = {k: v for k, v in headers.items() if k.lower() not in _HOP_BY_HOP}
    if keep_length and "content-length" in headers:
        out["content-length"] = headers["content-length"]
    return out


async def _read_limited(response: httpx.Response) -> bytes | None:
    """The body, or None when it is larger than :data:`MAX_MANIFEST_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_raw():
        size += len(chunk)
        if size > MAX_MANIFEST_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class _Gate:
    def __init__(self, gate: PullGate, transport: httpx.AsyncBaseTransport | None) -> None:
        self.gate = gate
        self.transport = transport
        self._upstream: Upstream | None = None

    @property
    def upstream(self) -> Upstream:
        assert self._upstream is not None, "the gate's upstream opens with the application"
        return self._upstream

    @contextlib.asynccontextmanager
    async def lifespan(self, _app: Starlette) -> AsyncIterator[None]:
        g = self.gate
        self._upstream = Upstream(g.endpoint, development_only=g.development_only,
                                  anonymous_provider=g.anonymous_provider, transport=self.transport)
        try:
            yield
        finally:
            await self._upstream.aclose()
            await run_in_threadpool(g.close)

    # -- forwarding ---------------------------------------------------------------------------------

    @staticmethod
    def _headers(request: Request, *, drop: Iterable[str] = ()) -> list[tuple[str, str]]:
        dropped = set(drop)
        out = [(k, v) for k, v in request.headers.items()
               if k in FORWARDED_REQUEST_HEADERS and k not in dropped]
        out.append(("accept-encoding", "identity"))  # bodies pass as stored: digests hash them
        return out

    async def send(self, request: Request, *, method: str | None = None, repository: str | None,
                   drop: Iterable[str] = (), follow_redirects: bool = False) -> httpx.Response:
        """Forward ``request`` upstream; an anonymous client of a gate with a stored credential is
        authenticated with it (the credential never reaches the client)."""
        headers = self._headers(request, drop=drop)
        method = method or request.method
        path, query = request.url.path, request.url.query
        lend = self.upstream.authenticates_anonymous and "authorization" not in request.headers
        if lend:
            preemptive = await self.upstream.preemptive_authorization(repository=repository)
            if preemptive is not None:
                headers.append(("authorization", preemptive))
        response = await self.upstream.send(method, path, query=query, headers=headers,
                                            follow_redirects=follow_redirects)
        if lend and response.status_code == 401:
            await response.aclose()
            answer = await self.upstream.answer_challenge(response.headers, repository=repository)
            headers = [h for h in headers if h[0] != "authorization"] + [("authorization", answer)]
            response = await self.upstream.send(method, path, query=query, headers=headers,
                                                follow_redirects=follow_redirects)
        return response

    async def relay(self, response: httpx.Response, *, head: bool) -> Response:
        """The upstream's answer as it is (small bodies only: errors, challenges, lists)."""
        try:
            body = b"" if head else await _read_limited(response)
        finally:
            await response.aclose()
        if body is None:
            return oci_error(502, "UNSUPPORTED", "the registry's answer is larger than the gate relays")
        return Response(body, status_code=response.status_code,
                        headers=_relayed(response.headers, keep_length=head))

    # -- routes -------------------------------------------------------------------------------------

    async def dispatch(self, request: Request) -> Response:
        api = parse_api_path(request.url.path)
        if api is None:
            return oci_error(404, "UNSUPPORTED", f"{request.url.path[:200]} is not a path of the OCI "
                             "distribution API served by this pull gate",
                             head=request.method == "HEAD")
        if request.method not in ("GET", "HEAD"):
            return oci_error(405, "UNSUPPORTED", "this is a pull gate: only GET and HEAD are served "
                             f"(push to registry {self.gate.registry.name} directly)",
                             head=request.method == "HEAD")
        refusal = self.gate.refusal(api.kind, api.repository)
        if refusal is not None:
            return oci_error(404, "NAME_UNKNOWN", refusal, head=request.method == "HEAD")
        try:
            if api.kind == "manifests":
                return await self.manifest(request, api)
            if api.kind == "blobs":
                return await self.blob(request, api)
            response = await self.send(request, repository=api.repository)
            return await self.relay(response, head=request.method == "HEAD")
        except Error as exc:
            log.warning("gate request %s failed: %s", request.url.path, exc.message)
            return oci_error(503, "UNAVAILABLE", f"the pull gate could not reach registry "
                             f"{self.gate.registry.name}: {exc.message}", head=request.method == "HEAD")

    async def manifest(self, request: Request, api: ApiPath) -> Response:
        assert api.repository is not None and api.reference is not None
        head = request.method == "HEAD"
        by_digest = ":" in api.reference
        try:
            asked = Digest(api.reference) if by_digest else None
        except DigestError as exc:
            return oci_error(400, "DIGEST_INVALID", exc.message, head=head)
        response = await self.send(request, repository=api.repository)
        if response.status_code != 200:
            return await self.relay(response, head=head)
        headers = response.headers
        announced = headers.get("docker-content-digest")
        if head and asked is None and announced is None:
            # Nothing names the digest: read the manifest to learn it.
            await response.aclose()
            response = await self.send(request, method="GET", repository=api.repository)
            if response.status_code != 200:
                return await self.relay(response, head=True)
            head_only = True
        else:
            head_only = head
        body = b""
        if not head_only:
            read = await _read_limited(response)
            await response.aclose()
            if read is None:
                return oci_error(502, "MANIFEST_INVALID", "the manifest is larger than 4 MiB", head=head)
            body = read
        else:
            await response.aclose()
        problem, digest = _manifest_digest(body if not head_only else None, asked, announced)
        if problem is not None or digest is None:
            log.error("manifest %s:%s from %s: %s", api.repository, api.reference,
                      self.gate.registry.name, problem)
            return oci_error(502, "MANIFEST_INVALID", problem or "no digest", head=head)
        try:
            verdict = self.gate.cached_verdict(api.repository, digest)
            if verdict is None:
                verdict = await run_in_threadpool(self.gate.verdict, api.repository, digest)
        except Exception:  # fail closed: a verdict that cannot be taken denies the pull
            log.exception("the verdict on %s@%s failed", api.repository, digest)
            return oci_error(503, "UNAVAILABLE", "harbourmaster could not decide on this image; the pull "
                             "is refused until it can", head=head)
        self._record(request, api, verdict)
        if not verdict.allowed:
            return oci_error(412, DENIED_CODE, verdict.message(self.gate.environment), head=head)
        out: dict[str, str] = {"docker-content-digest": str(digest)}
        if "content-type" in headers:
            out["content-type"] = headers["content-type"]
        if "etag" in headers:
            out["etag"] = headers["etag"]
        out["content-length"] = headers.get("content-length", str(len(body))) if head else str(len(body))
        return Response(b"" if head else body, status_code=200, headers=out)

    def _record(self, request: Request, api: ApiPath, verdict: GateVerdict) -> None:
        if request.method == "HEAD" and verdict.allowed:
            return  # a pull is its GET; an allowed HEAD transfers nothing
        assert api.repository is not None and api.reference is not None
        self.gate.record_pull(verdict, repository=api.repository, reference=api.reference,
                              client=request.client.host if request.client else None,
                              user_agent=request.headers.get("user-agent"), method=request.method)

    async def blob(self, request: Request, api: ApiPath) -> Response:
        assert api.reference is not None
        head = request.method == "HEAD"
        try:
            digest = Digest(api.reference)
        except DigestError as exc:
            return oci_error(400, "DIGEST_INVALID", exc.message, head=head)
        # Range is dropped: only a whole blob can be checked (a 200 for a range request is valid HTTP,
        # and clients restart the blob). Redirects to the registry's storage are followed here.
        response = await self.send(request, repository=api.repository, drop=("range",),
                                   follow_redirects=True)
        if head or response.status_code != 200:
            return await self.relay(response, head=head)
        return StreamingResponse(self._verified(response, digest), status_code=200,
                                 headers=_relayed(response.headers, keep_length=True))

    async def _verified(self, response: httpx.Response, digest: Digest) -> AsyncIterator[bytes]:
        check = ContentDigest(digest)
        held: bytes | None = None  # the latest piece: sent only when the next one came, or the hash matched
        pending: list[bytes] = []
        pending_size = 0
        try:
            # Each read as the upstream connection hands it over (up to UPSTREAM_READ_BYTES, one socket
            # read over plain HTTP): no re-chunking copy. Only smaller reads (TLS records, a slow
            # upstream) are joined, up to RELAY_CHUNK, so that a write to the client is never tiny.
            async for chunk in response.aiter_raw():
                check.update(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size < RELAY_CHUNK:
                    continue
                if held is not None:
                    yield held
                held = pending[0] if len(pending) == 1 else b"".join(pending)
                pending, pending_size = [], 0
            if pending:
                if held is not None:
                    yield held
                held = pending[0] if len(pending) == 1 else b"".join(pending)
            if not check.matches():
                log.error("blob %s from registry %s does not match its digest: stream cut", digest,
                          self.gate.registry.name)
                raise BlobDigestMismatch(f"blob {digest} from registry {self.gate.registry.name} does not "
                                         "match its digest; the stream was cut")
            if held is not None:
                yield held
        finally:
            await response.aclose()

    async def healthz(self, _request: Request) -> Response:
        return JSONResponse({"status": "ok", "registry": self.gate.registry.name,
                             "environment": self.gate.environment})

    async def policy(self, request: Request) -> Response:
        environment = request.path_params.get("environment", self.gate.environment)
        if environment != self.gate.environment:
            return oci_error(404, "UNSUPPORTED", f"this gate serves environment {self.gate.environment}, "
                             f"not {environment}")
        rules = await run_in_threadpool(self.gate.policy)
        return JSONResponse({"environment": rules.environment, "tier": rules.tier,
                             "fingerprint": rules.fingerprint, "registry": self.gate.registry.name})


def _manifest_digest(body: bytes | None, asked: Digest | None,
                     announced: str | None) -> tuple[str | None, Digest | None]:
    """(problem, digest): the manifest's digest, checked against the body when there is one."""
    try:
        header = Digest(announced) if announced else None
    except DigestError as exc:
        return f"the registry announced a malformed digest: {exc.message}", None
    if body is None:  # HEAD: the reference, else the header
        return None, asked or header
    algorithm = (asked or header or Digest.of(b"")).algorithm
    computed = Digest.of(body, algorithm)
    if asked is not None and computed != asked:
        return f"the manifest does not match the digest it was asked by ({computed} != {asked})", None
    if header is not None and header.algorithm == algorithm and header != computed:
        return f"the manifest does not match its Docker-Content-Digest ({computed} != {header})", None
    return None, computed


def create_gate_app(gate: PullGate, *, transport: httpx.AsyncBaseTransport | None = None) -> Starlette:
    """The gate as an ASGI application (``transport``: httpx's seam to the upstream, for tests)."""
    state = _Gate(gate, transport)
    methods = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]
    return Starlette(
        routes=[
            Route("/healthz", state.healthz, methods=["GET"]),
            Route("/harbourmaster/policy", state.policy, methods=["GET"]),
            Route("/policy/{environment}", state.policy, methods=["GET"]),
            Route("/{path:path}", state.dispatch, methods=methods),
        ],
        lifespan=state.lifespan,
    )
