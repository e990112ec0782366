"""The request gate (issue 8, resource exhaustion): authenticate before reading a body,
bound every body per route, bound decisions and their audit records.

The ASGI-level tests count exactly what the application read from the client;
the last test runs a real ``harbourmaster serve`` and measures its memory
while an anonymous client sends 400 MB.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from sqlalchemy import select

from harbourmaster.api.gate import DEFAULT_BODY_LIMIT
from harbourmaster.services.decision_audit import AUDITED_IMAGES_IN_FULL
from harbourmaster.store.models import AuditRow
from tests.api.conftest import Api
from tests.components import running_serve

P = "/api/v1"


class _Client:
    """An ASGI client that records how many body bytes the application pulled."""

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = chunks
        self.pulled = 0
        self.calls = 0
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body = b""

    async def receive(self) -> dict[str, Any]:
        self.calls += 1
        if self.calls > len(self.chunks):
            return {"type": "http.disconnect"}
        chunk = self.chunks[self.calls - 1]
        self.pulled += len(chunk)
        return {"type": "http.request", "body": chunk, "more_body": self.calls < len(self.chunks)}

    async def send(self, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = {k.decode(): v.decode() for k, v in message["headers"]}
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")


def _call(api: Api, path: str, chunks: list[bytes], headers: dict[str, str]) -> _Client:
    client = _Client(chunks)
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    anyio.run(api.client.app, scope, client.receive, client.send)  # type: ignore[arg-type]
    return client


MIB = 1024 * 1024


def test_an_anonymous_body_is_never_read(api: Api) -> None:
    chunks = [b"x" * MIB] * 400
    client = _call(api, f"{P}/decisions", chunks, {"content-length": str(400 * MIB)})
    assert client.status == 401
    assert client.calls == 0 and client.pulled == 0
    assert client.headers["content-type"] == "application/problem+json"
    assert json.loads(client.body)["status"] == 401


def test_a_bad_token_is_refused_before_the_body(api: Api) -> None:
    client = _call(api, f"{P}/apply", [b"{}"] * 3, {"authorization": "Bearer hm_not-a-real-token"})
    assert client.status == 401 and client.calls == 0


def test_a_declared_oversize_body_is_refused_at_once(api: Api) -> None:
    token = api.tokens["payments-dev"]
    client = _call(
        api,
        f"{P}/decisions",
        [b"x" * MIB] * 30,
        {"authorization": f"Bearer {token}", "content-length": str(30 * MIB)},
    )
    assert client.status == 413 and client.calls == 0
    problem = json.loads(client.body)
    assert problem["status"] == 413 and "limit" in problem["detail"]


def test_a_streamed_oversize_body_is_read_only_up_to_the_limit(api: Api) -> None:
    token = api.tokens["platform"]
    chunk = 64 * 1024
    client = _call(
        api, f"{P}/registries", [b"x" * chunk] * 200, {"authorization": f"Bearer {token}"}
    )  # 12.5 MiB, no Content-Length
    assert client.status == 413
    assert client.pulled <= DEFAULT_BODY_LIMIT + chunk


def test_a_body_within_the_limit_reaches_the_route(api: Api) -> None:
    body = json.dumps({"environment": "prod-eu", "namespace": "payments", "images": ["nginx"]}).encode()
    client = _call(
        api,
        f"{P}/decisions",
        [body[:10], body[10:]],
        {"authorization": f"Bearer {api.tokens['payments-dev']}", "content-type": "application/json"},
    )
    assert client.status == 200, client.body
    assert json.loads(client.body)[0]["image"] == "nginx"


def test_openapi_stays_public(api: Api) -> None:
    assert api.client.get(f"{P}/openapi.json").status_code == 200


def test_too_many_images_in_one_decision_is_bad_input_and_writes_nothing(api: Api) -> None:
    with api.hm.db.read() as session:
        before = len(list(session.scalars(select(AuditRow.seq).where(AuditRow.action == "decision"))))
    started = time.perf_counter()
    response = api.client.post(
        f"{P}/decisions",
        json={"environment": "prod-eu", "namespace": "payments", "images": ["nginx"] * 200_000},
        headers=api.headers("payments-dev"),
    )
    assert response.status_code == 422
    assert "limit is 1000" in response.json()["detail"]
    assert time.perf_counter() - started < 10
    with api.hm.db.read() as session:
        after = len(list(session.scalars(select(AuditRow.seq).where(AuditRow.action == "decision"))))
    assert after == before


@pytest.mark.parametrize("source_only", [True, False], ids=["source-only", "verdict"])
def test_a_large_decision_keeps_a_bounded_audit_record(api: Api, source_only: bool) -> None:
    images = [f"harbor.corp/payments/app-{i}:1" for i in range(999)] + ["evil.example/x:1"]
    response = api.client.post(
        f"{P}/decisions",
        json={
            "environment": "prod-eu",
            "namespace": "payments",
            "images": images,
            "resolve": False,
            "source_only": source_only,
        },
        headers=api.headers("payments-dev"),
    )
    assert response.status_code == 200, response.text
    assert len(response.json()) == 1000
    with api.hm.db.read() as session:
        details = session.scalars(
            select(AuditRow.details).where(AuditRow.action == "decision").order_by(AuditRow.seq.desc())
        ).first()
    assert details is not None
    assert details["count"] == 1000
    assert len(details["images"]) == AUDITED_IMAGES_IN_FULL
    if source_only:
        assert details["images"][0]["image"] == "evil.example/x:1"  # denied ones are kept in full
    else:
        # Unpinned, none can be scanned or verified: production denies them all, each saying so.
        assert all(not row["allowed"] for row in details["images"])
        assert details["images"][0]["verdict"] == {
            "source": "allowed",
            "vulnerabilities": "unscanned",
            "signature": "unverified",
        }
    assert details["omitted"]["count"] == 1000 - AUDITED_IMAGES_IN_FULL
    assert len(details["omitted"]["sha256"]) == 64
    assert len(json.dumps(details)) < 64 * 1024


def test_an_oversize_sbom_is_refused_before_scanning(api: Api) -> None:
    pad = "x" * (api.hm.settings.max_sbom_bytes + 1)
    big = json.dumps({"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [], "pad": pad})
    started = time.perf_counter()
    response = api.client.post(f"{P}/scans", json={"document": big}, headers=api.headers("auditor"))
    assert response.status_code == 422, response.text[:300]
    assert response.headers["content-type"] == "application/problem+json"
    assert "HARBOURMASTER_MAX_SBOM_BYTES" in response.json()["detail"]
    assert time.perf_counter() - started < 10
    # Beyond twice the limit the body itself is refused unread.
    huge = "x" * (2 * api.hm.settings.max_sbom_bytes + 128 * 1024)
    refused = api.client.post(f"{P}/scans", json={"document": huge}, headers=api.headers("auditor"))
    assert refused.status_code == 413


# -- a real server's memory under an anonymous 400 MB body --------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


@pytest.fixture
def server(api: Api) -> Iterator[tuple[str, int]]:
    env = {**os.environ, **{k: str(v) for k, v in api.hm.settings.environ.items()}}
    env["HARBOURMASTER_HOME"] = str(api.hm.settings.home)
    env["HARBOURMASTER_DATABASE_URL"] = api.hm.settings.database_url
    with running_serve(env) as served:
        yield served


def test_a_real_server_does_not_buffer_an_anonymous_400_mb_body(server: tuple[str, int]) -> None:
    base, pid = server
    port = int(base.rsplit(":", 1)[1])
    before = _rss_kib(pid)
    sock = socket.create_connection(("127.0.0.1", port))
    sock.settimeout(5)
    total = 400 * MIB
    sock.sendall(
        b"POST /api/v1/decisions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {total}\r\n\r\n".encode()
    )
    chunk = b"[" * MIB
    sent = 0
    try:
        while sent < total:
            sock.sendall(chunk)
            sent += len(chunk)
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass
    try:
        reply = sock.recv(65536)
    except (ConnectionResetError, TimeoutError):
        reply = b""
    sock.close()
    after = _rss_kib(pid)
    assert reply.startswith(b"HTTP/1.1 401"), reply[:200]
    print(f"server RSS before {before} KiB, after an anonymous 400 MB body {after} KiB")
    assert after - before < 40 * 1024, f"server memory grew from {before} KiB to {after} KiB"
