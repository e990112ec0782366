"""Opt-in: ``harbor sync`` and robot rotation against a REAL Harbor, when ``HARBOURMASTER_E2E_HARBOR_URL`` is
set (``https://harbor.example``), with ``HARBOURMASTER_E2E_HARBOR_USER`` (default ``admin``) and
``HARBOURMASTER_E2E_HARBOR_PASSWORD``; ``HARBOURMASTER_E2E_HARBOR_CA`` names a CA bundle file if its
certificate is not publicly trusted.

Harbor cannot run on the test machine, so ``.ci/run`` tests the protocol against the stand-in
(``test_harbor_managed.py``). Like the Kubernetes end-to-end test, without the URL this module defines
no test under CI (nothing is collected, nothing skips) and one test that skips, saying how to opt in,
elsewhere.

It syncs a fresh project (``hm-e2e-<random>``), checks Harbor holds the tier's settings and the two
robots with pull-only and push permissions on it alone, checks the pull robot authenticates to the
registry (``GET /v2/``), rotates it (the replaced robot still authenticates during its grace; Harbor's
refresh makes the old secret fail), and deletes the robots it made. The project is left (Harbor refuses
to delete a project while it holds repositories; it is empty and named for the run).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.bootstrap import build
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.harbor import PULL_ROBOT
from harbourmaster.domain.model import Role
from harbourmaster.domain.secret import Secret
from harbourmaster.registry import AuthenticationFailed, RegistryEndpoint, TransportSecurity, UsernamePassword
from harbourmaster.registry.client import RegistryClient
from harbourmaster.registry.harbor_api import HarborApi
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.credentials import use_credential
from harbourmaster.services.harbor_robots import retire_robot
from harbourmaster.services.harbor_sync import harbor_sync
from harbourmaster.services.robot_rotation import rotate_credential
from harbourmaster.settings import Settings
from tests.components import IN_CI

pytestmark = pytest.mark.integration

URL = os.environ.get("HARBOURMASTER_E2E_HARBOR_URL", "").rstrip("/")
USER = os.environ.get("HARBOURMASTER_E2E_HARBOR_USER", "admin")
PASSWORD = os.environ.get("HARBOURMASTER_E2E_HARBOR_PASSWORD", "")
CA = os.environ.get("HARBOURMASTER_E2E_HARBOR_CA", "")
ADMIN = Principal("admin", Role.ADMINISTRATOR)


def _run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


@pytest.fixture
def managed(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Harbourmaster, str]]:
    project = f"hm-e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("HM_E2E_HARBOR_PASSWORD", PASSWORD)
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
    monkeypatch.setenv("HARBOURMASTER_ROBOT_GRACE_SECONDS", "0")
    hm = build(Settings.from_environ())
    hm.init()
    tls = f"\n    tls: {{ca_bundle: {CA}}}" if CA else ""
    apply_document(hm, ADMIN, f"""\
apiVersion: harbourmaster.io/v1
kind: Governance
registries:
  - name: harbor-e2e
    provider: harbor
    url: {URL}
    scope: {project}{tls}
    credential: {{kind: user, username: "{USER}", secret: env:HM_E2E_HARBOR_PASSWORD}}
    manage: true
    management: {{robot_lifetime_days: 7}}
environments:
  - {{name: prod, kind: kubernetes, tier: production, namespaces: [apps]}}
grants:
  - {{registry: harbor-e2e, environment: prod, namespaces: [apps]}}
""", source="e2e.yaml", host=hm.host_files())  # fmt: skip
    try:
        yield hm, project
    finally:
        reg = hm.state().registry("harbor-e2e")
        assert reg is not None
        with hm.store.read() as tx:
            robots = tx.robots.robots("harbor-e2e")

        async def cleanup() -> None:
            async with _api() as api:
                for robot in robots:
                    await retire_robot(hm, api, reg, robot, actor="e2e-cleanup")

        _run(cleanup())
        hm.db.dispose()


def _endpoint() -> RegistryEndpoint:
    host = URL.split("://", 1)[1]
    ca = Path(CA).read_text() if CA else None
    return RegistryEndpoint(host, TransportSecurity(plain_http=URL.startswith("http://"), ca_bundle_pem=ca))


def _api() -> HarborApi:
    return HarborApi(_endpoint(), username=USER, password=Secret(PASSWORD), development_only=False)


def _authenticates(username: str, secret: Secret) -> bool:
    async def ping() -> bool:
        async with RegistryClient(_endpoint(), provider=UsernamePassword(username, secret)) as client:
            try:
                await client.ping()
            except AuthenticationFailed:
                return False
            return True

    return bool(_run(ping()))


def _e2e(managed: tuple[Harbourmaster, str]) -> None:
    hm, project = managed
    first = harbor_sync(hm, ADMIN, "harbor-e2e")
    assert first.actions[0].action == "create-project"
    assert harbor_sync(hm, ADMIN, "harbor-e2e").actions == [], "sync is idempotent against Harbor too"

    async def read() -> Any:
        async with _api() as api:
            return await api.project(project), await api.robots(project)

    found, robots = _run(read())
    assert found.metadata.get("severity") == "high" and found.metadata.get("prevent_vul") == "true"
    assert found.metadata.get("enable_content_trust_cosign") == "true"
    assert found.metadata.get("auto_scan") == "true"
    pull = next(r for r in robots if r.name.endswith("+harbourmaster-pull-1"))
    assert set(pull.access) == {(project, "pull")}
    assert pull.expires_at > dt.datetime.now(dt.UTC).timestamp()

    use = use_credential(hm, registry="harbor-e2e", actor="e2e", purpose="deploy e2e")
    assert use is not None and use.username == pull.name
    assert _authenticates(use.username, use.secret)

    rotated = rotate_credential(hm, ADMIN, "harbor-e2e", robot=PULL_ROBOT)
    assert [r.outcome for r in rotated.robots] == ["rotated"]
    assert _authenticates(use.username, use.secret), "the replaced robot works until its grace ends"
    fresh = use_credential(hm, registry="harbor-e2e", actor="e2e", purpose="deploy e2e")
    assert fresh is not None and fresh.username.endswith("-2")
    assert _authenticates(fresh.username, fresh.secret)

    rotate_credential(hm, ADMIN, "harbor-e2e", robot=PULL_ROBOT, refresh=True)
    assert not _authenticates(fresh.username, fresh.secret), "Harbor's refresh refuses the old secret"


if URL and PASSWORD:

    def test_sync_and_rotation_against_a_real_harbor(managed: tuple[Harbourmaster, str]) -> None:
        _e2e(managed)

elif not IN_CI:

    def test_opt_in() -> None:
        pytest.skip("opt-in: set HARBOURMASTER_E2E_HARBOR_URL and _PASSWORD (see the module docstring)")
