from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from harbourmaster.api.app import create_app
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import IssuedToken, create_token
from harbourmaster.store.models import ApiTokenRow
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


def expire_token(hm: Harbourmaster, issued: IssuedToken) -> str:
    """Make an issued token expired (no lifetime in the past can be asked for), and return it."""
    with hm.db.transaction() as session:
        session.execute(
            update(ApiTokenRow)
            .where(ApiTokenRow.id == issued.id)
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1))
        )
    return issued.token.reveal()


@pytest.fixture
def api(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Api]:
    """The example model on each database, an app on it, and a token per role's user."""
    hm = core_on(database_url, tmp_path / "home")
    apply_example(hm, monkeypatch)
    tokens = {
        user: create_token(hm, user=user, name="test", actor="tests").token.reveal()
        for user in ROLE_USERS.values()
    }
    tokens["expired"] = expire_token(hm, create_token(hm, user="admin", name="old", actor="tests"))
    with TestClient(create_app(hm), raise_server_exceptions=True) as client:
        yield Api(hm, client, tokens)
    hm.db.dispose()
