"""The API served by uvicorn over a real socket, on PostgreSQL, under concurrent requests."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from harbourmaster.api.app import create_app
from harbourmaster.services.audit import verify_audit
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import create_token
from tests.components import free_port, wait_until
from tests.integration.postgres import PostgresCluster, core_on
from tests.store.support import apply_example

pytestmark = pytest.mark.integration

P = "/api/v1"
WORKERS = 6


@dataclass
class Served:
    hm: Harbourmaster
    base: str
    headers: dict[str, str]


@pytest.fixture
def served(postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    hm = core_on(postgres_url, tmp_path / "home")
    apply_example(hm, monkeypatch)
    token = create_token(hm, user="admin", name="served", actor="tests").token.reveal()
    port = free_port()
    config = uvicorn.Config(create_app(hm), host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: httpx.get(f"{base}/healthz", timeout=1).status_code == 200, what="uvicorn")
    try:
        yield Served(hm, base, {"Authorization": f"Bearer {token}"})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        hm.db.dispose()
    assert not thread.is_alive()


def test_concurrent_writes_over_http_all_land_in_one_audit_chain(served: Served) -> None:
    def create(i: int) -> int:
        with httpx.Client(base_url=served.base, headers=served.headers, timeout=30) as client:
            env = client.post(
                f"{P}/environments", json={"name": f"http-{i}", "kind": "swarm", "tier": "development"}
            )
            decision = client.post(
                f"{P}/decisions",
                json={
                    "environment": "prod-eu",
                    "namespace": "web",
                    "images": [f"harbor.corp/web/app:{i}"],
                    "source_only": True,
                },
            )
            assert decision.status_code == 200 and decision.json()[0]["allowed"] is True
            return env.status_code

    with ThreadPoolExecutor(WORKERS) as pool:
        statuses = list(pool.map(create, range(WORKERS * 2)))
    assert statuses == [201] * (WORKERS * 2)
    with httpx.Client(base_url=served.base, headers=served.headers, timeout=30) as client:
        names = {e["name"] for e in client.get(f"{P}/environments").json()}
        verdict = client.get(f"{P}/audit/verify").json()
        lines = client.get(f"{P}/audit/export").text.splitlines()
    assert {f"http-{i}" for i in range(WORKERS * 2)} <= names
    *records, checkpoint = lines  # the export ends with a checkpoint of its last record
    assert json.loads(checkpoint)["type"] == "audit.checkpoint"
    # The export also holds the token.use records of the requests from the verify on.
    assert verdict["ok"] is True and verdict["count"] < len(records)
    assert all('"action":"token.use"' in line for line in records[verdict["count"] :])
    with served.hm.store.read() as tx:
        assert verify_audit(tx.audit).ok
    assert sum('"environment.create"' in line for line in lines) == WORKERS * 2
    assert sum('"action":"decision"' in line for line in lines) == WORKERS * 2


def test_a_database_outage_is_a_problem_response_not_a_crash(
    served: Served, postgres_cluster: PostgresCluster
) -> None:
    """The database goes away under a running server: 503 problem+json, then recovery."""
    served.hm.db.engine.dispose()
    dbname = served.hm.db.engine.url.database

    def allow(allowed: bool) -> None:
        with postgres_cluster.admin_connection() as conn:
            conn.execute(f'ALTER DATABASE "{dbname}" ALLOW_CONNECTIONS {str(allowed).lower()}')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (dbname,)
            )

    allow(False)
    try:
        response = httpx.get(f"{served.base}{P}/registries", headers=served.headers, timeout=30)
        assert response.status_code == 503, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["status"] == 503 and body["type"].endswith("/store")
        assert dbname in body["detail"] and "Traceback" not in response.text
    finally:
        allow(True)
    recovered = httpx.get(f"{served.base}{P}/registries", headers=served.headers, timeout=30)
    assert recovered.status_code == 200
