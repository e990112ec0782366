from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import create_token
from tests.integration.postgres import core_on
from tests.store.support import apply_example

#: One user of each role in examples/governance.yaml.
ROLE_USERS = {
    Role.ADMINISTRATOR: "admin",
    Role.PLATFORM_ENGINEER: "platform",
    Role.AUDITOR: "auditor",
    Role.TEAM_MEMBER: "payments-dev",
}


@dataclass
class Api:
    hm: Harbourmaster
    client: TestClient
    tokens: dict[str, str]

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def token_for(self, user: str) -> str:
        if user not in self.tokens:
            self.tokens[user] = create_token(self.hm, user=user, name="test", actor="tests").token.reveal()
        return self.tokens[user]


@pytest.fixture
def api(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The example model on each database, an app on it, and a token per role's user."""
    hm = core_on(database_url, tmp_path / "home")
    apply_example(hm, monkeypatch)
    tokens = {
        user: create_token(hm, user=user, name="test", actor="tests").token.reveal()
        for user in ROLE_USERS.values()
    }
    tokens["expired"] = create_token(
        hm, user="admin", name="old", actor="tests", lifetime=dt.timedelta(seconds=-1)
    ).token.reveal()
    with TestClient(create_app(hm), raise_server_exceptions=True) as client:
        yield Api(hm, client, tokens)
    hm.db.dispose()
