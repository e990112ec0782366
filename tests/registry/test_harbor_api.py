"""The Harbor v2.0 API client against the local Harbor stand-in (projects, robots, errors)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import InsecureTransportRefused, RegistryEndpoint, TransportSecurity
from harbourmaster.registry.harbor_api import (
    CveAllowlist,
    HarborApi,
    HarborApiError,
    HarborAuthenticationFailed,
    HarborAuthorizationDenied,
    HarborConflict,
    HarborNotFound,
    HarborUnreachable,
)
from tests.components import free_port
from tests.harbor_standin import ADMIN, HarborStandIn

# Canaries: searched for in every message, detail and log record.
ADMIN_PASSWORD = "canary-Harbor-admin-5d1e0b77"
GUEST_PASSWORD = "canary-Harbor-guest-9a4c2f10"


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, timeout=60))


@pytest.fixture
def harbor() -> Iterator[HarborStandIn]:
    with HarborStandIn(admin_password=ADMIN_PASSWORD, users={"guest": GUEST_PASSWORD}) as standin:
        yield standin


def api(host: str, *, user: str = ADMIN, password: str = ADMIN_PASSWORD) -> HarborApi:
    endpoint = RegistryEndpoint(host, TransportSecurity(plain_http=True))
    return HarborApi(endpoint, username=user, password=Secret(password), development_only=True)


def _text(exc: HarborApiError) -> str:
    return " ".join([str(exc), exc.diagnostics(), repr(exc), *exc.details])


TIER: dict[str, str | bool] = {
    "auto_scan": True,
    "prevent_vul": True,
    "severity": "high",
    "enable_content_trust_cosign": True,
}


def test_create_read_and_update_a_project_idempotently(harbor: HarborStandIn) -> None:
    async def scenario() -> None:
        async with api(harbor.host) as client:
            created = await client.create_project(
                "payments",
                {**TIER, "reuse_sys_cve_allowlist": False},
                cve_allowlist=CveAllowlist(("CVE-2024-0001",), expires_at=1_900_000_000),
            )
            assert created.name == "payments" and created.project_id > 0
            assert created.metadata["auto_scan"] == "true"
            assert created.metadata["prevent_vul"] == "true"
            assert created.metadata["severity"] == "high"
            assert created.metadata["enable_content_trust_cosign"] == "true"
            assert created.metadata["reuse_sys_cve_allowlist"] == "false"
            assert created.metadata["public"] == "false"
            assert created.cve_allowlist == CveAllowlist(("CVE-2024-0001",), 1_900_000_000)
            assert await client.project("payments") == created

            allowlist = CveAllowlist(("CVE-2024-0002", "CVE-2023-9999"), expires_at=None)
            first = await client.update_project(
                "payments", metadata={"severity": "critical", "auto_scan": False}, cve_allowlist=allowlist
            )
            second = await client.update_project(
                "payments", metadata={"severity": "critical", "auto_scan": False}, cve_allowlist=allowlist
            )
            assert first == second
            assert first.metadata["severity"] == "critical" and first.metadata["auto_scan"] == "false"
            assert first.metadata["prevent_vul"] == "true"  # untouched keys stay
            assert first.cve_allowlist == allowlist

            with pytest.raises(HarborConflict) as conflict:
                await client.create_project("payments", {})
            assert conflict.value.status_code == 409 and "already exists" in str(conflict.value)

    run(scenario())
    puts = [r for r in harbor.requests if r[0] == "PUT"]
    assert all(path == "/api/v2.0/projects/payments" for _, path, _ in puts)


def test_robot_lifecycle_in_the_api(harbor: HarborStandIn) -> None:
    async def scenario() -> None:
        async with api(harbor.host) as client:
            await client.create_project("payments", TIER)
            await client.create_project("other", {})
            robot = await client.create_robot(
                "deploy-prod", projects=["payments"], actions=["pull"], duration_days=30, description="prod"
            )
            assert robot.name == "robot$payments+deploy-prod"
            assert robot.secret.reveal() and "secret" not in repr(robot)
            assert robot.secret.reveal() not in repr(robot)
            ci = await client.create_robot(
                "ci", projects=["payments", "other"], actions=["pull", "push"], duration_days=-1
            )
            assert ci.name == "robot$ci" and ci.expires_at == -1

            listed = await client.robots("payments")
            assert [r.name for r in listed] == ["robot$payments+deploy-prod"]
            assert listed[0].access == (("payments", "pull"),) and listed[0].level == "project"
            assert listed[0].expires_at == robot.expires_at > 0 and listed[0].duration_days == 30
            assert {r.name for r in await client.robots()} == {robot.name, ci.name}
            assert (await client.robot(ci.robot_id)).projects == ("payments", "other")

            new = await client.refresh_robot_secret(robot.robot_id)
            assert isinstance(new, Secret) and not new.equals(robot.secret)
            await client.delete_robot(robot.robot_id)
            assert [r.name for r in await client.robots()] == [ci.name]

            with pytest.raises(ValueError, match="duration_days"):
                await client.create_robot("x", projects=["payments"], actions=["pull"], duration_days=0)

    run(scenario())


def test_many_robots_are_listed_across_pages(harbor: HarborStandIn) -> None:
    async def scenario() -> None:
        async with api(harbor.host) as client:
            await client.create_project("p", {})
            for i in range(105):
                await client.create_robot(f"r{i}", projects=["p"], actions=["pull"], duration_days=1)
            assert len(await client.robots("p")) == 105

    run(scenario())


def test_errors_are_clear_and_never_carry_a_secret(
    harbor: HarborStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)

    async def scenario() -> list[HarborApiError]:
        seen: list[HarborApiError] = []
        async with api(harbor.host, password="canary-wrong-password-3b9e") as wrong:
            with pytest.raises(HarborAuthenticationFailed) as unauthenticated:
                await wrong.project("payments")
            seen.append(unauthenticated.value)
        async with api(harbor.host, user="guest", password=GUEST_PASSWORD) as guest:
            with pytest.raises(HarborAuthorizationDenied) as forbidden:
                await guest.create_project("payments", {})
            seen.append(forbidden.value)
        async with api(harbor.host) as client:
            with pytest.raises(HarborNotFound) as missing_project:
                await client.project("nope")
            with pytest.raises(HarborNotFound) as missing_robot:
                await client.refresh_robot_secret(4242)
            seen += [missing_project.value, missing_robot.value]
        async with api(f"127.0.0.1:{free_port()}") as nowhere:
            with pytest.raises(HarborUnreachable) as unreachable:
                await nowhere.robots()
            seen.append(unreachable.value)
        return seen

    unauthenticated, forbidden, missing_project, missing_robot, unreachable = run(scenario())
    assert unauthenticated.status_code == 401 and unauthenticated.status == 401
    assert "read project payments: Harbor answered 401" in str(unauthenticated)
    assert "password" in unauthenticated.diagnostics()
    assert forbidden.status_code == 403 and "FORBIDDEN" in str(forbidden)
    assert "project-admin" in forbidden.diagnostics()
    assert missing_project.status_code == 404 and "project nope not found" in str(missing_project)
    assert "refresh robot 4242" in str(missing_robot) and "robot 4242 not found" in str(missing_robot)
    assert unreachable.status_code == 0 and "unreachable" in str(unreachable)
    assert "connection refused" in str(unreachable)
    assert not isinstance(unreachable, HarborAuthenticationFailed | HarborNotFound)
    everything = " ".join(_text(e) for e in (unauthenticated, forbidden, missing_project, missing_robot))
    everything += _text(unreachable) + caplog.text
    for canary in (ADMIN_PASSWORD, GUEST_PASSWORD, "canary-wrong-password-3b9e"):
        assert canary not in everything
    assert ADMIN_PASSWORD not in repr(api(harbor.host))


def test_plain_http_is_refused_outside_development() -> None:
    endpoint = RegistryEndpoint("harbor.example", TransportSecurity(plain_http=True))
    with pytest.raises(InsecureTransportRefused):
        HarborApi(endpoint, username=ADMIN, password=Secret(ADMIN_PASSWORD))
