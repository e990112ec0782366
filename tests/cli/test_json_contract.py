"""``--json`` is the data the API returns: one service result, printed by the CLI and served by the API."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import create_token

IMAGES = ["harbor.corp/payments/api:1.4", "nginx:1.27", "evil.io/x:1"]


@pytest.fixture
def served(applied: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """The API on the CLI's data directory, with an administrator's token."""
    hm = Harbourmaster.from_environ()
    token = create_token(hm, user="admin", name="contract", actor="tests").token.reveal()
    with TestClient(create_app(hm)) as client:
        yield client, {"Authorization": f"Bearer {token}"}


def _cli_json(cli: Any, *args: str) -> Any:
    result = cli(*args, "--json")
    assert result.exit_code in (0, 1), result.output
    return json.loads(result.stdout)


def test_registry_list(cli: Any, served: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = served
    api = client.get("/api/v1/registries", headers=auth)
    assert api.status_code == 200
    assert _cli_json(cli, "registry", "list") == api.json()
    assert any(r["grants"] for r in api.json())  # grants and credentials are compared, not only names


def test_check(cli: Any, served: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = served
    body = {"environment": "prod-eu", "namespace": "payments", "images": IMAGES, "resolve": False}
    api = client.post("/api/v1/decisions", json=body, headers=auth)
    assert api.status_code == 200, api.text
    local = _cli_json(cli, "check", "--env", "prod-eu", "-n", "payments", "--no-resolve", *IMAGES)
    assert local == api.json()
    assert [d["allowed"] for d in local].count(False) >= 1  # a denial, with its reasons, is compared too


def test_apply(cli: Any, served: tuple[TestClient, dict[str, str]], tmp_path: Path) -> None:
    client, auth = served
    exported = cli("export")
    assert exported.exit_code == 0
    document = tmp_path / "exported.yaml"
    document.write_text(exported.stdout)
    for dry_run in (True, False):
        api = client.post(
            "/api/v1/apply", json={"document": exported.stdout, "dry_run": dry_run}, headers=auth
        )
        assert api.status_code == 200, api.text
        flags = ["--dry-run"] if dry_run else []
        assert _cli_json(cli, "apply", "-f", str(document), *flags) == api.json()
        assert api.json()["dry_run"] is dry_run


def test_token_list(cli: Any, served: tuple[TestClient, dict[str, str]]) -> None:
    client, auth = served
    api = client.get("/api/v1/tokens", headers=auth)
    assert api.status_code == 200
    served_rows = api.json()
    local = _cli_json(cli, "token", "list")
    # The API's own request stamps its token's last use, after the API's listing: request-specific.
    for rows in (local, served_rows):
        for row in rows:
            row.pop("last_used_at")
    assert local == served_rows and local
