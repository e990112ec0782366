"""The web UI on a unit core (fakes: in-memory store, memory vault, fake registries) with the example
model, a token per role's user, and a canary in every registry secret."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.domain.model import Role
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.tokens import create_token
from harbourmaster.settings import Settings
from harbourmaster.web.sessions import CSRF_FIELD
from tests.fakes.clock import FixedClock
from tests.fakes.core import unit_core
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

#: One user of each role in examples/governance.yaml.
ROLE_USERS = {
    Role.ADMINISTRATOR: "admin",
    Role.PLATFORM_ENGINEER: "platform",
    Role.AUDITOR: "auditor",
    Role.TEAM_MEMBER: "payments-dev",
}
#: The example model's registry secrets: each one a canary that must appear in no page.
CANARIES = {
    "HM_EXAMPLE_HARBOR_PAYMENTS_SECRET": "canary-harbor-payments-7Yq2Lw9Rk",
    "HM_EXAMPLE_HARBOR_WEB_SECRET": "canary-harbor-web-3Pz8Xn1Vb",
    "HM_EXAMPLE_ECR_SECRET": "canary-ecr-5Mt4Jd6Hc",
    "HM_EXAMPLE_GHCR_TOKEN": "canary-ghcr-8Ks1Qf2Ge",
}
_CSRF = re.compile(rf'name="{CSRF_FIELD}" value="([^"]+)"')


def csrf_of(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = _CSRF.search(html)
    assert found is not None, "the page has no form with a CSRF token"
    return found.group(1)


@dataclass
class Web:
    hm: Harbourmaster
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)
    token_ids: dict[str, int] = field(default_factory=dict)

    def issue(self, user: str, name: str = "web") -> str:
        issued = create_token(self.hm, user=user, name=name, actor="tests")
        self.tokens[user] = issued.token.reveal()
        self.token_ids[user] = issued.id
        return self.tokens[user]

    def sign_in(self, user: str) -> httpx.Response:
        """Sign ``user`` in with their token (a new one when they have none yet); the redirect answer."""
        token = self.tokens.get(user) or self.issue(user)
        self.client.cookies.clear()
        page = self.client.get("/ui/sign-in")
        answer: httpx.Response = self.client.post(
            "/ui/sign-in", data={CSRF_FIELD: csrf_of(page.text), "token": token}, follow_redirects=False)
        return answer

    def csrf(self, path: str = "/ui/") -> str:
        return csrf_of(self.client.get(path).text)


@pytest.fixture
def harbor() -> FakeRegistry:
    """harbor.corp, answering only the payments robot of the example model."""
    return FakeRegistry("harbor.corp", username="robot$payments+deployer",
                        password=CANARIES["HM_EXAMPLE_HARBOR_PAYMENTS_SECRET"])


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, harbor: FakeRegistry, clock: FixedClock
         ) -> Harbourmaster:
    for name, value in CANARIES.items():
        monkeypatch.setenv(name, value)
    # The session key is sealed into the data directory: a directory of this test's own.
    hm = unit_core(clock=clock, registries=(harbor,), settings=Settings(home=tmp_path / "home"))
    apply_example(hm)
    return hm


@pytest.fixture
def web(core: Harbourmaster) -> Iterator[Web]:
    with TestClient(create_app(core), base_url="http://testserver", raise_server_exceptions=False) as client:
        yield Web(core, client)


def audit_actions(hm: Harbourmaster) -> list[tuple[str, str, str]]:
    """Every audit record's (action, target, result), in order."""
    with hm.store.read() as tx:
        return [(e.action, e.target, e.result) for e in tx.audit.entries()]


def changes(hm: Harbourmaster) -> list[tuple[str, str, str]]:
    """The audit records that are not token uses: what a request changed or did."""
    return [a for a in audit_actions(hm) if a[0] != "token.use"]
