"""Robot credentials minted and rotated through the Harbor stand-in really authenticate pulls from
the real distribution registry behind it (the stand-in writes the registry's htpasswd)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import AuthenticationFailed, RegistryEndpoint, TransportSecurity, UsernamePassword
from harbourmaster.registry.harbor_api import HarborApi
from tests.components import stop_process
from tests.harbor_standin import ADMIN, HarborStandIn
from tests.integration.registry_fixtures import RunningRegistry, skopeo, start_registry, write_image_layout

pytestmark = pytest.mark.integration

ADMIN_PASSWORD = "canary-Harbor-admin-1c7d3e55"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=120))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[RunningRegistry]:
    reg = start_registry(tmp_path / "registry", auth="htpasswd")
    try:
        write_image_layout(tmp_path / "layout", tag="v1")
        skopeo(reg, "copy", f"oci:{tmp_path / 'layout'}:v1", f"docker://{reg.host}/payments/api:v1")
        yield reg
    finally:
        assert reg.proc is not None
        stop_process(reg.proc)


@pytest.fixture
def harbor(registry: RunningRegistry) -> Iterator[HarborStandIn]:
    with HarborStandIn(admin_password=ADMIN_PASSWORD, htpasswd=registry.root / "htpasswd") as standin:
        yield standin


async def pulls(registry: RunningRegistry, username: str, secret: Secret) -> bool:
    """Whether ``username``/``secret`` can fetch the manifest of payments/api:v1; False on a 401."""
    client = registry.client(provider=UsernamePassword(username, secret))
    async with client:
        try:
            fetched = await client.get_manifest("payments/api", "v1")
        except AuthenticationFailed:
            return False
    assert fetched.raw
    return True


def test_robot_secrets_authenticate_pulls_until_refreshed_or_deleted(
    registry: RunningRegistry, harbor: HarborStandIn
) -> None:
    endpoint = RegistryEndpoint(harbor.host, TransportSecurity(plain_http=True))

    async def scenario() -> None:
        async with HarborApi(
            endpoint, username=ADMIN, password=Secret(ADMIN_PASSWORD), development_only=True
        ) as api:
            await api.create_project("payments", {"auto_scan": True, "prevent_vul": True, "severity": "high"})
            robot = await api.create_robot(
                "deploy", projects=["payments"], actions=["pull"], duration_days=30
            )
            assert robot.name == "robot$payments+deploy"
            assert await pulls(registry, robot.name, robot.secret)
            assert not await pulls(registry, robot.name, Secret("not-the-secret"))

            fresh = await api.refresh_robot_secret(robot.robot_id)
            assert not await pulls(registry, robot.name, robot.secret)
            assert await pulls(registry, robot.name, fresh)

            again = await api.refresh_robot_secret(robot.robot_id)
            assert not await pulls(registry, robot.name, fresh)
            assert await pulls(registry, robot.name, again)

            await api.delete_robot(robot.robot_id)
            assert not await pulls(registry, robot.name, again)
            # The registry's own account, present before the stand-in wrote the file, still works.
            assert await pulls(registry, registry.username or "", Secret(registry.password or ""))

    run(scenario())
    assert ADMIN_PASSWORD not in (registry.root / "htpasswd").read_text()
