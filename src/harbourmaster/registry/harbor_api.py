"""A client for Harbor's v2.0 REST API (``/api/v2.0``): projects, their settings, robot accounts.

The distribution protocol (pull, push) goes through :class:`~harbourmaster.registry.client.RegistryClient`;
this module speaks Harbor's own management API, as published in its swagger:

* projects: ``GET/POST /projects``, ``GET/PUT /projects/{project_name_or_id}`` (names are sent with
  ``X-Is-Resource-Name: true``), whose ``metadata`` values are strings (``"true"``/``"false"``,
  ``severity``) and whose ``cve_allowlist`` is ``{items: [{cve_id}], expires_at}``;
* robot accounts v2: ``POST /robots``, ``GET /robots[?q=...]``, ``GET/PATCH/DELETE /robots/{id}``;
  ``PATCH`` with an empty ``secret`` makes Harbor generate a new one.

It authenticates with HTTP Basic: an administrator, a project administrator, or a robot with the
permissions needed.  The password and every robot secret are :class:`Secret` values: they travel only
in the ``Authorization`` header or are handed back wrapped, and no message or ``repr`` contains them.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal
from urllib.parse import quote

import httpx

from harbourmaster.domain.secret import Secret
from harbourmaster.registry.client import RegistryEndpoint
from harbourmaster.registry.errors import RegistryError, translate_transport_error
from harbourmaster.registry.tls import check_transport, verify_context

__all__ = [
    "CreatedRobot",
    "CveAllowlist",
    "HarborApi",
    "HarborApiError",
    "HarborAuthenticationFailed",
    "HarborAuthorizationDenied",
    "HarborConflict",
    "HarborNotFound",
    "HarborProject",
    "HarborRobot",
    "HarborUnreachable",
    "RobotAction",
]

RobotAction = Literal["pull", "push"]
_PAGE_SIZE = 100
_MAX_PAGES = 1_000


# -- errors ---------------------------------------------------------------------------------------


class HarborApiError(RegistryError):
    """Harbor's API refused or failed a request; ``status_code`` is the HTTP status (0: no answer)."""

    kind = "harbor-api"

    def __init__(
        self, message: str, *, registry: str, status_code: int = 0, details: list[str] | None = None
    ) -> None:
        super().__init__(message, registry=registry, details=details)
        self.status_code = status_code


class HarborAuthenticationFailed(HarborApiError):
    """Harbor refused the credentials (401)."""

    status = 401
    kind = "harbor-unauthenticated"


class HarborAuthorizationDenied(HarborApiError):
    """Harbor knows the account but it lacks the permission (403)."""

    status = 403
    kind = "harbor-forbidden"


class HarborNotFound(HarborApiError):
    """The project or robot account does not exist (404)."""

    status = 404
    kind = "harbor-not-found"


class HarborConflict(HarborApiError):
    """The project or robot account already exists (409)."""

    status = 409
    kind = "harbor-conflict"


class HarborUnreachable(HarborApiError):
    """No HTTP answer at all: DNS, refused connection, TLS, timeout."""

    status = 503
    kind = "harbor-unreachable"


_BY_STATUS: dict[int, type[HarborApiError]] = {
    401: HarborAuthenticationFailed,
    403: HarborAuthorizationDenied,
    404: HarborNotFound,
    409: HarborConflict,
}
_HINTS = {
    401: "check the Harbor user name and the password stored in the vault",
    403: "the account needs the administrator or project-admin role (or a robot with this permission)",
}


# -- values ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CveAllowlist:
    """A project's CVE allowlist; ``expires_at`` is a Unix time, None for no expiry."""

    cve_ids: tuple[str, ...] = ()
    expires_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"items": [{"cve_id": c} for c in self.cve_ids], "expires_at": self.expires_at}

    @classmethod
    def from_json(cls, body: Mapping[str, Any] | None) -> CveAllowlist:
        body = body or {}
        items = tuple(str(i["cve_id"]) for i in body.get("items") or () if i.get("cve_id"))
        expires = body.get("expires_at")
        return cls(cve_ids=items, expires_at=int(expires) if expires else None)


@dataclass(frozen=True)
class HarborProject:
    """A Harbor project: its id, name, metadata (string values, as Harbor keeps them) and allowlist."""

    project_id: int
    name: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    cve_allowlist: CveAllowlist = field(default_factory=CveAllowlist)


@dataclass(frozen=True)
class HarborRobot:
    """A robot account as Harbor lists it (never with its secret).

    ``expires_at`` is a Unix time, -1 for never; ``access`` holds ``(project, action)`` pairs.
    """

    robot_id: int
    name: str
    level: str
    description: str = ""
    disabled: bool = False
    duration_days: int | None = None
    expires_at: int = -1
    creation_time: str | None = None
    access: tuple[tuple[str, str], ...] = ()

    @property
    def projects(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p for p, _ in self.access))


@dataclass(frozen=True)
class CreatedRobot:
    """The answer to creating a robot: the only time Harbor shows the secret unasked."""

    robot_id: int
    name: str
    expires_at: int
    creation_time: str | None
    secret: Secret = field(repr=False)


def _metadata_json(metadata: Mapping[str, str | bool]) -> dict[str, str]:
    return {k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in metadata.items()}


def _robot(body: Mapping[str, Any]) -> HarborRobot:
    access = tuple(
        (str(p.get("namespace", "")), str(a.get("action", "")))
        for p in body.get("permissions") or ()
        for a in p.get("access") or ()
    )
    return HarborRobot(
        robot_id=int(body["id"]),
        name=str(body["name"]),
        level=str(body.get("level", "")),
        description=str(body.get("description") or ""),
        disabled=bool(body.get("disable", False)),
        duration_days=body.get("duration"),
        expires_at=int(body.get("expires_at", -1)),
        creation_time=body.get("creation_time"),
        access=access,
    )


# -- the client -----------------------------------------------------------------------------------


class HarborApi:
    """Async client of one Harbor's ``/api/v2.0``; use it as an async context manager."""

    def __init__(
        self,
        endpoint: RegistryEndpoint,
        *,
        username: str,
        password: Secret,
        development_only: bool = False,
        timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """Raises:
        InsecureTransportRefused: plain HTTP / skipped verification without ``development_only``,
            or the CA bundle or client certificate cannot be loaded.
        """
        check_transport(endpoint.security, registry=endpoint.host, development_only=development_only)
        self.endpoint = endpoint
        self.username = username
        self._password = password
        verify: ssl.SSLContext | bool = verify_context(endpoint.security, registry=endpoint.host)
        self._http = httpx.AsyncClient(
            base_url=f"{endpoint.base_url}/api/v2.0",
            verify=verify,
            timeout=httpx.Timeout(timeout),
            transport=transport,
            trust_env=False,
            follow_redirects=False,
            headers={"User-Agent": "harbourmaster", "Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"HarborApi({self.endpoint.base_url!r}, username={self.username!r})"

    async def __aenter__(self) -> HarborApi:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- projects ---------------------------------------------------------------------------------

    async def project(self, name: str) -> HarborProject:
        """The project named ``name``.

        Raises:
            HarborNotFound: no such project.  HarborApiError: any other failure.
        """
        body = (
            await self._send("GET", _project_path(name), by_name=True, what=f"read project {name}")
        ).json()
        return HarborProject(
            project_id=int(body["project_id"]),
            name=str(body["name"]),
            metadata={str(k): str(v) for k, v in (body.get("metadata") or {}).items()},
            cve_allowlist=CveAllowlist.from_json(body.get("cve_allowlist")),
        )

    async def create_project(
        self,
        name: str,
        metadata: Mapping[str, str | bool],
        *,
        cve_allowlist: CveAllowlist | None = None,
    ) -> HarborProject:
        """Create project ``name`` (private unless ``metadata`` says ``public``) and read it back.

        Raises:
            HarborConflict: it exists already.  HarborApiError: any other failure.
        """
        body: dict[str, Any] = {"project_name": name, "metadata": _metadata_json(metadata)}
        if cve_allowlist is not None:
            body["cve_allowlist"] = cve_allowlist.to_json()
        await self._send("POST", "/projects", json=body, what=f"create project {name}")
        return await self.project(name)

    async def update_project(
        self,
        name: str,
        *,
        metadata: Mapping[str, str | bool] | None = None,
        cve_allowlist: CveAllowlist | None = None,
    ) -> HarborProject:
        """Set the given metadata keys and/or replace the CVE allowlist, then read the project back.

        Idempotent: the same call twice leaves the project as after the first.

        Raises:
            HarborNotFound: no such project.  HarborApiError: any other failure.
        """
        body: dict[str, Any] = {}
        if metadata is not None:
            body["metadata"] = _metadata_json(metadata)
        if cve_allowlist is not None:
            body["cve_allowlist"] = cve_allowlist.to_json()
        await self._send("PUT", _project_path(name), by_name=True, json=body, what=f"update project {name}")
        return await self.project(name)

    # -- robots -----------------------------------------------------------------------------------

    async def robots(self, project: str | None = None) -> list[HarborRobot]:
        """Every robot account, or those of ``project`` (project level) when given.

        Raises:
            HarborNotFound: ``project`` does not exist.  HarborApiError: any other failure.
        """
        params: dict[str, str | int] = {"page_size": _PAGE_SIZE}
        if project is not None:
            project_id = (await self.project(project)).project_id
            params["q"] = f"Level=project,ProjectID={project_id}"
        found: list[HarborRobot] = []
        for page in range(1, _MAX_PAGES + 1):
            response = await self._send(
                "GET", "/robots", params={**params, "page": page}, what="list robot accounts"
            )
            batch = response.json() or []
            found.extend(_robot(r) for r in batch)
            total = response.headers.get("X-Total-Count")
            if len(batch) < _PAGE_SIZE or (total is not None and len(found) >= int(total)):
                break
        return found

    async def robot(self, robot_id: int) -> HarborRobot:
        """Robot account ``robot_id``.

        Raises:
            HarborNotFound: no such robot.  HarborApiError: any other failure.
        """
        response = await self._send("GET", f"/robots/{int(robot_id)}", what=f"read robot {robot_id}")
        return _robot(response.json())

    async def create_robot(
        self,
        name: str,
        *,
        projects: Iterable[str],
        actions: Iterable[RobotAction],
        duration_days: int,
        description: str = "",
    ) -> CreatedRobot:
        """Create a robot with ``actions`` on the repositories of ``projects`` only.

        One project gives a project-level robot (Harbor names it ``robot$<project>+<name>``), several
        a system-level one.  ``duration_days`` is its lifetime; -1 means it never expires.

        Raises:
            ValueError: no project, no action, or a duration of 0 or below -1.
            HarborConflict: the name is taken.  HarborApiError: any other failure.
        """
        scope = list(dict.fromkeys(projects))
        wanted = list(dict.fromkeys(actions))
        if not scope or not wanted:
            raise ValueError("a robot account needs at least one project and one action")
        if duration_days == 0 or duration_days < -1:
            raise ValueError("duration_days must be positive, or -1 for a robot that never expires")
        body = {
            "name": name,
            "description": description,
            "duration": duration_days,
            "level": "project" if len(scope) == 1 else "system",
            "disable": False,
            "permissions": [
                {
                    "kind": "project",
                    "namespace": p,
                    "access": [{"resource": "repository", "action": a} for a in wanted],
                }
                for p in scope
            ],
        }
        created = (await self._send("POST", "/robots", json=body, what=f"create robot {name}")).json()
        return CreatedRobot(
            robot_id=int(created["id"]),
            name=str(created["name"]),
            expires_at=int(created.get("expires_at", -1)),
            creation_time=created.get("creation_time"),
            secret=Secret(str(created["secret"])),
        )

    async def refresh_robot_secret(self, robot_id: int) -> Secret:
        """Have Harbor generate a new secret for robot ``robot_id``; the old one stops working.

        Raises:
            HarborNotFound: no such robot.  HarborApiError: any other failure (the old secret
                then still works).
        """
        response = await self._send(
            "PATCH", f"/robots/{int(robot_id)}", json={"secret": ""}, what=f"refresh robot {robot_id}"
        )
        secret = (response.json() or {}).get("secret")
        if not isinstance(secret, str) or not secret:
            raise HarborApiError(
                f"refresh robot {robot_id}: Harbor's answer holds no secret",
                registry=self.endpoint.host,
                status_code=response.status_code,
            )
        return Secret(secret)

    async def delete_robot(self, robot_id: int) -> None:
        """Delete robot ``robot_id``; its secret stops working.

        Raises:
            HarborNotFound: no such robot.  HarborApiError: any other failure.
        """
        await self._send("DELETE", f"/robots/{int(robot_id)}", what=f"delete robot {robot_id}")

    # -- transport --------------------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        by_name: bool = False,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
    ) -> httpx.Response:
        headers = {"X-Is-Resource-Name": "true"} if by_name else {}
        try:
            response = await self._http.request(
                method,
                path,
                json=json,
                params=params,
                headers=headers,
                auth=httpx.BasicAuth(self.username, self._password.reveal()),
            )
        except (httpx.TransportError, ssl.SSLError) as exc:
            cause = translate_transport_error(exc, registry=self.endpoint.host)
            raise HarborUnreachable(
                f"{what}: Harbor's API is unreachable: {cause.reason}",
                registry=self.endpoint.host,
                details=[f"check that {self.endpoint.base_url}/api/v2.0 is Harbor's address", *cause.details],
            ) from None
        if response.is_success:
            return response
        raise self._status_error(response, what=what)

    def _status_error(self, response: httpx.Response, *, what: str) -> HarborApiError:
        code = response.status_code
        try:
            errors = response.json().get("errors") or []
            messages = [f"{e.get('code', '')}: {e.get('message', '')}".strip(": ") for e in errors]
        except (ValueError, AttributeError):
            messages = []
        said = "; ".join(m for m in messages if m) or response.reason_phrase or "no message"
        said = said.replace(self._password.reveal(), "<redacted>") if self._password else said
        cls = _BY_STATUS.get(code, HarborApiError)
        hint = _HINTS.get(code)
        return cls(
            f"{what}: Harbor answered {code} ({said[:500]})",
            registry=self.endpoint.host,
            status_code=code,
            details=[hint] if hint else None,
        )


def _project_path(name: str) -> str:
    return f"/projects/{quote(name, safe='')}"
