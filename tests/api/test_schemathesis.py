"""The API against its own OpenAPI document, with schemathesis, as every role.

Every operation in ``/api/v1/openapi.json`` is called with generated requests
(valid and invalid ones) as each role's user and without a token, in process
through schemathesis' ASGI transport.  Each response must not be a server error
and must match what the document says: a documented status code, a documented
content type (``application/problem+json`` for errors), a body that validates
against the documented schema, and the documented headers.

Each operation runs, for each identity, on its own copy of a store with the
example model, so a mutation (a caller deleting its own token or user, a
pruning apply) never decides what the next operation sees.

Operations that talk to registries stay in.  The document's examples (an image
in ``harbor-payments``, the ``dev-local`` registry) lead generation to them; the
example's registry hosts do not resolve in the sandbox below and ``dev-local``
is moved to a closed port on 127.0.0.1, so those calls fail at once, with the
gateway problem the operation documents (502/504, a ``registry-*`` type),
instead of reaching a network.  That answer is the only 5xx accepted.

Generation is bounded and deterministic (``MAX_EXAMPLES`` per operation in the
fuzzing phase, the examples and coverage phases, a fixed seed, no example
database), so the file takes a bounded time and a failure reproduces.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.core.transport import Response
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harbourmaster.api.app import API_PREFIX, create_app
from harbourmaster.bootstrap import build
from harbourmaster.domain.model import Role
from harbourmaster.services.tokens import create_token
from harbourmaster.settings import Settings
from tests.api.conftest import ROLE_USERS
from tests.integration.postgres import core_on
from tests.store.support import apply_example

#: Generated requests per operation and generation phase.
MAX_EXAMPLES = 12
SEED = 8_2024

#: Every role's user, then no token at all.
IDENTITIES: list[Role | None] = [*ROLE_USERS, None]

#: schemathesis starts each app's lifespan and keeps it running to the end of the process:
#: no periodic checkpoint writer (a thread per app) is wanted there.
_NO_CHECKPOINTS = {"HARBOURMASTER_AUDIT_CHECKPOINT_INTERVAL": "0"}

#: Gateway statuses an operation may answer when the registry it talks to fails.
UPSTREAM_STATUSES = frozenset({502, 503, 504})
PROBLEM_TYPE_PREFIX = "https://harbourmaster.io/problems/"



def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _loopback_only(real: Callable[..., Any]) -> Callable[..., Any]:
    """``socket.getaddrinfo`` that resolves loopback names only.

    Registry URLs come from generated requests too (``POST /registries``), so
    without this a run could reach any host on the internet, or wait on DNS.
    """

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else str(host)
        if name == "localhost" or _is_loopback_address(name):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (network sandbox of the test)")

    return getaddrinfo


def _is_loopback_address(name: str) -> bool:
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def _is_upstream_problem(response: Response, case: Case) -> bool:
    """A gateway problem of an operation that documents them: its registry failed."""
    if response.status_code not in UPSTREAM_STATUSES:
        return False
    # Every operation documents 503 (the database); only registry operations document 502/504.
    if not {"502", "504"} <= set(case.operation.responses.status_codes):
        return False
    try:
        body = response.json()
    except ValueError:
        return False
    kind = str(body.get("type", "")) if isinstance(body, dict) else ""
    return kind.startswith(PROBLEM_TYPE_PREFIX + "registry-")


def not_a_server_error_but_upstream(ctx: Any, response: Response, case: Case) -> bool | None:
    """``not_a_server_error``, except the gateway problems of operations documented to give them.

    A 502/504 ``registry-*`` problem is the API working as documented (the
    registry, not harbourmaster, failed); any other 5xx fails the run.
    """
    if _is_upstream_problem(response, case):
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_upstream,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


def _document_app() -> Any:
    """An app whose only use is to serve the OpenAPI document (its store is never opened)."""
    environ = {"HARBOURMASTER_HOME": "unused", "HARBOURMASTER_DATABASE_URL": "sqlite://", **_NO_CHECKPOINTS}
    return create_app(build(Settings.from_environ(environ)))


#: Loaded once through the app (``GET /api/v1/openapi.json``, in process); every case is
#: sent to the app of its identity's own store.
schema = schemathesis.openapi.from_asgi(
    f"{API_PREFIX}/openapi.json",
    _document_app(),
    config=SchemathesisConfig.from_dict(
        {
            "seed": SEED,
            "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "database": "none"},
            # Stateful sequences would multiply the run time; each operation is covered on its own.
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)


@dataclass(frozen=True)
class Template:
    """A store with the example model and a token per role, to be copied for each test."""

    directory: Path
    tokens: dict[Role, str]


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Template]:
    directory = tmp_path_factory.mktemp("schemathesis-template")
    with pytest.MonkeyPatch.context() as mp:
        for name, value in _NO_CHECKPOINTS.items():
            mp.setenv(name, value)
        hm = core_on(_database_url(directory), directory / "home")
        apply_example(hm, mp)
        tokens = {
            role: create_token(hm, user=user, name="schemathesis", actor="tests").token.reveal()
            for role, user in ROLE_USERS.items()
        }
        with TestClient(create_app(hm)) as client:
            # The example's plain-HTTP development registry, moved to where nothing listens.
            moved = client.patch(
                f"{API_PREFIX}/registries/dev-local",
                json={"url": f"http://127.0.0.1:{_closed_port()}"},
                headers={"Authorization": f"Bearer {tokens[Role.ADMINISTRATOR]}"},
            )
            assert moved.status_code == 200, moved.text
        hm.db.dispose()
    yield Template(directory, tokens)


def _database_url(directory: Path) -> str:
    return f"sqlite:///{directory / 'harbourmaster.db'}"


@dataclass(frozen=True)
class Caller:
    """An app on a copy of the template store, and the headers one identity sends."""

    app: Any
    headers: dict[str, str]


@pytest.fixture(params=IDENTITIES, ids=lambda role: role.value if role else "unauthenticated")
def caller(
    request: pytest.FixtureRequest, template: Template, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Caller]:
    """A fresh store for each operation and identity: a DELETE of the caller's own user or
    token, or a pruning apply, must not decide what the next operation sees."""
    monkeypatch.setattr(socket, "getaddrinfo", _loopback_only(socket.getaddrinfo))
    monkeypatch.delenv("HARBOURMASTER_VULN_WEBHOOK_URL", raising=False)
    for name, value in _NO_CHECKPOINTS.items():
        monkeypatch.setenv(name, value)
    directory = tmp_path / "store"
    shutil.copytree(template.directory, directory)
    hm = core_on(_database_url(directory), directory / "home", init=False)
    role: Role | None = request.param
    headers = {} if role is None else {"Authorization": f"Bearer {template.tokens[role]}"}
    yield Caller(create_app(hm), headers)
    # schemathesis keeps each app it served alive: close the store's connections now.
    hm.db.dispose()


@schema.parametrize()
# The store is per operation on purpose, shared by that operation's examples.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_matches_the_document(case: Case, caller: Caller) -> None:
    case.call_and_validate(app=caller.app, headers=caller.headers, checks=CHECKS)
