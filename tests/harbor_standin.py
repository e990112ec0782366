"""A STAND-IN for Harbor's v2.0 REST API — not Harbor.

Harbor cannot run on the test machine (it ships as container images pulled from the internet), so
:mod:`harbourmaster.registry.harbor_api` is tested against this local HTTP server on 127.0.0.1. It
answers the paths harbourmaster uses the way Harbor's published swagger describes them (paths, bodies,
status codes, ``{"errors": [{"code", "message"}]}`` error bodies):

* ``GET /api/v2.0/projects[?name=]``, ``POST /api/v2.0/projects`` (201, ``Location``; 409 if taken);
* ``GET/PUT/DELETE /api/v2.0/projects/{project_name_or_id}`` (a name when ``X-Is-Resource-Name: true``
  or not numeric), with ``metadata`` (string values) and ``cve_allowlist`` ``{items: [{cve_id}],
  expires_at}``;
* ``POST /api/v2.0/robots`` (v2: ``name``, ``duration`` in days, -1 never, ``level`` project|system,
  ``permissions``), answering ``{id, name, secret, expires_at, creation_time}``; a project-level robot is
  named ``robot$<project>+<name>``, a system-level one ``robot$<name>``, as Harbor forms them;
* ``GET /api/v2.0/robots[?q=Level=project,ProjectID=N&page=&page_size=]`` (``X-Total-Count``),
  ``GET/DELETE /api/v2.0/robots/{id}``, ``PATCH /api/v2.0/robots/{id}`` with ``{secret}``: empty means
  "generate a new one", answering ``{secret}``.

HTTP Basic: the administrator may do everything; any other user in ``users`` is authenticated but
forbidden (403) everything but GET; anyone else gets 401.

Behind it, a **real distribution registry**: given that registry's htpasswd file, the stand-in rewrites
it (bcrypt, with ``htpasswd -Bbn`` from apache2-utils; the entries present at start are kept) each time
a robot is created, refreshed or deleted, so a robot secret minted or rotated here really authenticates
pulls there, and a deleted or replaced one is really refused. docker-registry (distribution 2.7+)
re-reads its htpasswd file whenever the file's modification time changes, so no restart is needed.
Unlike Harbor, the registry's htpasswd auth does not authorise per repository: a robot's
``permissions`` are stored and reported, but the registry behind lets any valid robot pull and push.

One host, as Harbor: given ``registry`` (that registry's ``host:port``, plain HTTP), every request whose
path is ``/v2`` or starts with ``/v2/`` is relayed to it verbatim (method, path and query, headers
including ``Authorization`` and the client's ``Host`` — so the registry's ``Location`` headers for blob
uploads point back at the stand-in — and the body, streamed, chunked or not), and the registry's answer
is relayed verbatim (status, headers, body streamed). Those requests bypass the Harbor API's auth: the
registry authenticates them itself against the htpasswd written here. Only hop-by-hop headers
(``Connection``, ``Transfer-Encoding``, ...) are not relayed, as HTTP requires of a proxy; the client's
connection stays keep-alive. ``/v2`` requests are recorded in ``requests`` as (method, path, query),
never with their headers.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import http.client
import itertools
import json
import os
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.components import ensure_binary

ADMIN = "admin"
PREFIX = "/api/v2.0"


class HarborFault(Exception):
    """An error the stand-in answers as Harbor's ``{"errors": [...]}``."""

    CODES = {
        400: "BAD_REQUEST",
        401: "UNAUTHORIZED",
        403: "FORBIDDEN",
        404: "NOT_FOUND",
        409: "CONFLICT",
        405: "METHOD_NOT_ALLOWED",
    }

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message

    def body(self) -> dict[str, Any]:
        return {"errors": [{"code": self.CODES.get(self.status, "UNKNOWN"), "message": self.message}]}


@dataclass
class _Project:
    project_id: int
    name: str
    metadata: dict[str, str]
    allowlist: dict[str, Any]
    creation_time: str


@dataclass
class _Robot:
    robot_id: int
    name: str
    description: str
    level: str
    duration: int
    expires_at: int
    permissions: list[dict[str, Any]]
    creation_time: str
    secret: str = field(repr=False)
    project_id: int = 0

    def public(self) -> dict[str, Any]:
        return {
            "id": self.robot_id,
            "name": self.name,
            "description": self.description,
            "level": self.level,
            "duration": self.duration,
            "expires_at": self.expires_at,
            "disable": False,
            "editable": True,
            "permissions": self.permissions,
            "creation_time": self.creation_time,
            "update_time": self.creation_time,
        }


def _now() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class HarborStandIn:
    """The stand-in's state and HTTP front; see the module docstring. Use as a context manager."""

    def __init__(
        self,
        *,
        admin_password: str,
        users: dict[str, str] | None = None,
        htpasswd: Path | None = None,
        registry: str | None = None,
    ) -> None:
        self.admin_password = admin_password
        self.users = dict(users or {})
        self.htpasswd = htpasswd
        self.registry = registry
        self._static = [
            line
            for line in (htpasswd.read_text().splitlines() if htpasswd and htpasswd.exists() else [])
            if line
        ]
        self._hashes: dict[tuple[str, str], str] = {}
        self.projects: dict[int, _Project] = {}
        self.robots: dict[int, _Robot] = {}
        #: Every robot secret handed out (created or refreshed), for canary searches.
        self.issued_secrets: list[str] = []
        #: Unix time now (robots' ``expires_at``); tests with a fake clock replace it.
        self.clock: Callable[[], float] = time.time
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._ids = itertools.count(1)
        self._robot_ids = itertools.count(1)
        self._lock = threading.RLock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HarborStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- authentication ---------------------------------------------------------------------------

    def _user(self, header: str | None) -> str:
        if not header or not header.startswith("Basic "):
            raise HarborFault(401, "UnAuthorize")
        try:
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise HarborFault(401, "UnAuthorize") from None
        expected = self.admin_password if user == ADMIN else self.users.get(user)
        if expected is None or not secrets.compare_digest(expected, password):
            raise HarborFault(401, "UnAuthorize")
        return user

    # -- htpasswd of the registry behind ----------------------------------------------------------

    def _write_htpasswd(self) -> None:
        if self.htpasswd is None:
            return
        binary = ensure_binary("htpasswd", "apache2-utils")
        lines = list(self._static)
        for robot in self.robots.values():
            key = (robot.name, robot.secret)
            if key not in self._hashes:
                out = subprocess.run(
                    [binary, "-Bbn", robot.name, robot.secret], check=True, capture_output=True, text=True
                ).stdout
                self._hashes[key] = out.strip()
            lines.append(self._hashes[key])
        tmp = self.htpasswd.with_name(self.htpasswd.name + ".tmp")
        tmp.write_text("\n".join(lines) + "\n")
        os.replace(tmp, self.htpasswd)  # atomic: the registry never reads half a file

    # -- projects ---------------------------------------------------------------------------------

    def _project(self, ref: str, by_name: bool) -> _Project:
        ref = unquote(ref)
        for p in self.projects.values():
            if (not by_name and ref.isdigit() and p.project_id == int(ref)) or p.name == ref:
                return p
        raise HarborFault(404, f"project {ref} not found")

    @staticmethod
    def _project_json(p: _Project) -> dict[str, Any]:
        return {
            "project_id": p.project_id,
            "name": p.name,
            "metadata": dict(p.metadata),
            "cve_allowlist": {"project_id": p.project_id, **p.allowlist},
            "creation_time": p.creation_time,
            "owner_name": ADMIN,
        }

    @staticmethod
    def _metadata(body: Any) -> dict[str, str]:
        metadata = body.get("metadata") or {}
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise HarborFault(400, "metadata values must be strings")
        return dict(metadata)

    @staticmethod
    def _allowlist(body: Any) -> dict[str, Any]:
        raw = body.get("cve_allowlist") or {}
        items = [{"cve_id": str(i["cve_id"])} for i in raw.get("items") or []]
        return {"items": items, "expires_at": raw.get("expires_at")}

    # -- routing ----------------------------------------------------------------------------------

    def handle(
        self, method: str, url: str, headers: dict[str, str], body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        split = urlsplit(url)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        self.requests.append((method, split.path, query))
        if not split.path.startswith(PREFIX + "/"):
            raise HarborFault(404, f"{split.path} is not a Harbor API path")
        user = self._user(headers.get("authorization"))
        if user != ADMIN and method != "GET":
            raise HarborFault(403, f"user {user} is not allowed to {method} {split.path}")
        parts = split.path[len(PREFIX) + 1 :].split("/")
        by_name = headers.get("x-is-resource-name", "").lower() == "true"
        with self._lock:
            if parts == ["projects"]:
                return self._projects(method, query, body)
            if len(parts) == 2 and parts[0] == "projects":
                return self._one_project(method, parts[1], by_name, body)
            if parts == ["robots"]:
                return self._robots(method, query, body)
            if len(parts) == 2 and parts[0] == "robots" and parts[1].isdigit():
                return self._one_robot(method, int(parts[1]), body)
        raise HarborFault(404, f"{method} {split.path} is not served by the Harbor stand-in")

    def _projects(self, method: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if method == "GET":
            found = [
                self._project_json(p) for p in self.projects.values() if query.get("name", p.name) == p.name
            ]
            return 200, found, {"X-Total-Count": str(len(found))}
        if method != "POST":
            raise HarborFault(405, f"{method} not allowed")
        name = str(body.get("project_name") or "")
        if not name or name != name.lower():
            raise HarborFault(400, "project name must be lower case and not empty")
        if any(p.name == name for p in self.projects.values()):
            raise HarborFault(409, f"The project named {name} already exists")
        project = _Project(next(self._ids), name, self._metadata(body), self._allowlist(body), _now())
        project.metadata.setdefault("public", "false")
        self.projects[project.project_id] = project
        return 201, None, {"Location": f"{PREFIX}/projects/{project.project_id}"}

    def _one_project(
        self, method: str, ref: str, by_name: bool, body: Any
    ) -> tuple[int, Any, dict[str, str]]:
        project = self._project(ref, by_name)
        if method == "GET":
            return 200, self._project_json(project), {}
        if method == "PUT":
            project.metadata.update(self._metadata(body))
            if "cve_allowlist" in body:
                project.allowlist = self._allowlist(body)
            return 200, None, {}
        if method == "DELETE":
            del self.projects[project.project_id]
            return 200, None, {}
        raise HarborFault(405, f"{method} not allowed")

    def _robots(self, method: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        if method == "GET":
            terms = dict(t.split("=", 1) for t in query.get("q", "").split(",") if "=" in t)
            found = [
                r
                for r in self.robots.values()
                if terms.get("Level", r.level) == r.level
                and ("ProjectID" not in terms or str(r.project_id) == terms["ProjectID"])
            ]
            page, size = int(query.get("page", "1")), int(query.get("page_size", "10"))
            chunk = found[(page - 1) * size : page * size]
            return 200, [r.public() for r in chunk], {"X-Total-Count": str(len(found))}
        if method != "POST":
            raise HarborFault(405, f"{method} not allowed")
        return 201, self._create_robot(body), {}

    def _create_robot(self, body: Any) -> dict[str, Any]:
        name, level, duration = str(body.get("name") or ""), body.get("level"), body.get("duration")
        permissions = body.get("permissions") or []
        if not name or level not in ("project", "system") or not isinstance(duration, int):
            raise HarborFault(400, "name, level (project|system) and duration are required")
        if duration == 0 or duration < -1:
            raise HarborFault(400, "bad request: duration must be -1 or positive")
        if not permissions or any(p.get("kind") != "project" for p in permissions):
            raise HarborFault(400, "bad request: permissions of kind project are required")
        projects = [self._project(str(p.get("namespace", "")), True) for p in permissions]
        if level == "project" and len(projects) != 1:
            raise HarborFault(400, "bad request: a project level robot has exactly one project")
        full = f"robot${projects[0].name}+{name}" if level == "project" else f"robot${name}"
        if any(r.name == full for r in self.robots.values()):
            raise HarborFault(409, f"robot account {full} already exists")
        expires = -1 if duration == -1 else int(self.clock()) + duration * 86400
        robot = _Robot(
            robot_id=next(self._robot_ids),
            name=full,
            description=str(body.get("description") or ""),
            level=level,
            duration=duration,
            expires_at=expires,
            permissions=permissions,
            creation_time=_now(),
            secret=secrets.token_urlsafe(24),
            project_id=projects[0].project_id if level == "project" else 0,
        )
        self.robots[robot.robot_id] = robot
        self.issued_secrets.append(robot.secret)
        self._write_htpasswd()
        return {
            "id": robot.robot_id,
            "name": robot.name,
            "secret": robot.secret,
            "expires_at": robot.expires_at,
            "creation_time": robot.creation_time,
        }

    def _one_robot(self, method: str, robot_id: int, body: Any) -> tuple[int, Any, dict[str, str]]:
        robot = self.robots.get(robot_id)
        if robot is None:
            raise HarborFault(404, f"robot {robot_id} not found")
        if method == "GET":
            return 200, robot.public(), {}
        if method == "PATCH":
            given = str((body or {}).get("secret") or "")
            robot.secret = given or secrets.token_urlsafe(24)
            self.issued_secrets.append(robot.secret)
            self._write_htpasswd()
            return 200, {"secret": robot.secret}, {}
        if method == "DELETE":
            del self.robots[robot_id]
            self._write_htpasswd()
            return 200, None, {}
        raise HarborFault(405, f"{method} not allowed")


def _handler(standin: HarborStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed ACK

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def _serve(self) -> None:
            split = urlsplit(self.path)
            if standin.registry and (split.path == "/v2" or split.path.startswith("/v2/")):
                query = {k: v[-1] for k, v in parse_qs(split.query).items()}
                standin.requests.append((self.command, split.path, query))  # never the headers
                _relay(self, standin.registry)
                return
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            try:
                body = json.loads(raw) if raw else {}
                status, answer, extra = standin.handle(self.command, self.path, headers, body)
            except HarborFault as fault:
                status, answer, extra = fault.status, fault.body(), {}
                if fault.status == 401:
                    extra = {"WWW-Authenticate": 'Basic realm="harbor"'}
            except (ValueError, KeyError, TypeError, AttributeError) as exc:
                bad = HarborFault(400, f"bad request: {type(exc).__name__}")
                status, answer, extra = 400, bad.body(), {}
            data = b"" if answer is None else json.dumps(answer).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            if data:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if data and self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _serve

    return Handler


# -- /v2: the distribution API, relayed to the real registry ---------------------------------------

# Hop-by-hop headers (RFC 9110 7.6.1) are the connection's, not the message's: a proxy drops them.
# ``Expect`` is answered to the client by BaseHTTPRequestHandler (100 Continue) already.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)
_CHUNK = 64 * 1024
_UPSTREAM_TIMEOUT = 300.0


class _ClientGone(Exception):
    """The client hung up inside its request body, or sent a malformed chunked body."""


def _chunks_in(rfile: Any) -> Any:
    """The data of a chunked request body read from ``rfile`` (trailers are read and dropped)."""
    while True:
        line = rfile.readline(65537)
        if not line:
            raise _ClientGone("client closed the connection inside a chunked body")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise _ClientGone("malformed chunk size") from None
        if size == 0:
            while rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                pass
            return
        left = size
        while left:
            data = rfile.read(min(left, _CHUNK))
            if not data:
                raise _ClientGone("client closed the connection inside a chunk")
            left -= len(data)
            yield data
        rfile.readline(65537)  # the CRLF closing the chunk


def _relay(handler: BaseHTTPRequestHandler, registry: str) -> None:
    """Relay ``handler``'s request to the registry at ``registry`` and its answer back, both streamed."""
    host, _, port = registry.rpartition(":")
    upstream = http.client.HTTPConnection(host, int(port), timeout=_UPSTREAM_TIMEOUT)
    chunked_in = "chunked" in handler.headers.get("Transfer-Encoding", "").lower()
    connection_tokens = {
        t.strip().lower() for v in handler.headers.get_all("Connection", []) for t in v.split(",")
    }
    try:
        try:
            upstream.putrequest(handler.command, handler.path, skip_host=True, skip_accept_encoding=True)
            for key, value in handler.headers.items():
                lower = key.lower()
                if lower in _HOP_BY_HOP or lower in connection_tokens:
                    continue
                if chunked_in and lower == "content-length":
                    continue  # RFC 9112 6.3: Transfer-Encoding overrides Content-Length
                upstream.putheader(key, value)
            if "Host" not in handler.headers:  # an HTTP/1.0 client: the registry must see this host
                address = handler.server.server_address
                upstream.putheader("Host", f"{address[0]}:{address[1]}")
            if chunked_in:
                upstream.putheader("Transfer-Encoding", "chunked")
            upstream.endheaders()
            if chunked_in:
                for data in _chunks_in(handler.rfile):
                    upstream.send(b"%x\r\n%b\r\n" % (len(data), data))
                upstream.send(b"0\r\n\r\n")
            else:
                left = int(handler.headers.get("Content-Length") or 0)
                while left:
                    data = handler.rfile.read(min(left, _CHUNK))
                    if not data:
                        raise _ClientGone("client closed the connection inside the body")
                    left -= len(data)
                    upstream.send(data)
            response = upstream.getresponse()
        except _ClientGone:  # (before OSError: a refused upstream connection is a 502, not this)
            handler.close_connection = True
            return
        except OSError as exc:
            # The registry could not be reached: a gateway error, as a reverse proxy answers.
            body = json.dumps(
                {"errors": [{"code": "UNKNOWN", "message": f"registry unreachable: {type(exc).__name__}"}]}
            ).encode()
            handler.send_response(502)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if handler.command != "HEAD":
                handler.wfile.write(body)
            return
        try:
            _relay_response(handler, response)
        except OSError:  # the client hung up while the answer was streamed
            handler.close_connection = True
    finally:
        upstream.close()


def _relay_response(handler: BaseHTTPRequestHandler, response: http.client.HTTPResponse) -> None:
    tokens = {t.strip().lower() for v in response.msg.get_all("Connection", []) or [] for t in v.split(",")}
    headers = [
        (k, v) for k, v in response.getheaders() if k.lower() not in _HOP_BY_HOP and k.lower() not in tokens
    ]
    no_body = handler.command == "HEAD" or response.status in (204, 304) or 100 <= response.status < 200
    framed = response.getheader("Content-Length") is not None
    # http.client de-chunks a chunked answer; re-chunk it to the client. An answer framed by the
    # registry closing its connection is framed for the client the same way.
    chunked_out = not no_body and not framed and response.chunked
    if not no_body and not framed and not chunked_out:
        handler.close_connection = True
    handler.send_response_only(response.status, response.reason)
    for key, value in headers:
        handler.send_header(key, value)
    if chunked_out:
        handler.send_header("Transfer-Encoding", "chunked")
    if handler.close_connection:
        handler.send_header("Connection", "close")
    handler.end_headers()
    if no_body:
        return
    while data := response.read1(_CHUNK):
        if chunked_out:
            handler.wfile.write(b"%x\r\n%b\r\n" % (len(data), data))
        else:
            handler.wfile.write(data)
    if chunked_out:
        handler.wfile.write(b"0\r\n\r\n")
    handler.wfile.flush()
