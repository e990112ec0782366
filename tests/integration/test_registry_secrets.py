"""A planted canary password must never surface in a log record, exception or repr."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import TYPE_CHECKING, Any

import pytest

from harbourmaster.domain.secret import Secret
from harbourmaster.registry import RegistryClient, RegistryError, UsernamePassword, probe
from harbourmaster.registry.providers import Acr, Ecr, Harbor
from tests.registry.standin import Reply, Seen, stand_in

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytest_plugins = ["tests.integration.registry_fixtures"]
pytestmark = pytest.mark.integration

CANARY = "canary-wrong-5d1e77b2-secret"


def _texts(obj: Any) -> list[str]:
    out = [repr(obj), str(obj)]
    if isinstance(obj, BaseException):
        out += [repr(a) for a in obj.args]
        if isinstance(obj, RegistryError):
            out.append(obj.diagnostics())
        for linked in (obj.__cause__, obj.__context__):
            if linked is not None:
                out += _texts(linked)
    return out


def test_canary_never_leaks(
    registry_basic: RunningRegistry, registry_token: RunningRegistry, caplog: pytest.LogCaptureFixture
) -> None:
    real_password = registry_basic.password
    assert real_password is not None
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []

    async def attempt(reg: RunningRegistry, provider: Any) -> None:
        client = RegistryClient(reg.endpoint(), provider=provider, development_only=True)
        seen.extend([repr(client), repr(provider), repr(client._session.auth)])
        async with client:
            try:
                await client.tags("hm/secret-test")
            except RegistryError as exc:
                seen.extend(_texts(exc))
            report = await probe(reg.endpoint(), provider=provider, development_only=True)
            seen.append(repr(report))

    async def go() -> None:
        for reg in (registry_basic, registry_token):
            await attempt(reg, UsernamePassword(reg.username or "", Secret(CANARY)))  # refused
            await attempt(reg, UsernamePassword(reg.username or "", Secret(real_password)))  # accepted
            await attempt(reg, Harbor("robot$hm+ci", Secret(CANARY)))

    asyncio.run(go())

    def route(r: Seen) -> Reply:
        if r.path == "/":  # ECR stand-in handing out the canary as the registry password
            token = base64.b64encode(f"AWS:{CANARY}".encode()).decode()
            return Reply(
                200,
                {},
                json.dumps({"authorizationData": [{"authorizationToken": token, "expiresAt": 2e9}]}).encode(),
            )
        return Reply(401, {}, b'{"error": "invalid_client", "error_description": "nope"}')

    async def providers(url: str) -> None:
        import httpx

        acr = Acr(
            registry="r.azurecr.io",
            tenant_id="t",
            client_id="c",
            client_secret=Secret(CANARY),
            registry_url=url,
            authority=url,
        )
        ecr = Ecr(
            access_key_id="AKIAIOSFODNN7EXAMPLE",
            secret_access_key=Secret(CANARY),
            region="eu-west-1",
            endpoint_url=f"{url}/",
        )
        async with httpx.AsyncClient() as http:
            for provider in (acr, ecr):
                seen.append(repr(provider))
                try:
                    creds = await provider.credentials(http=http)
                    seen.extend([repr(creds), str(creds)])
                except RegistryError as exc:
                    seen.extend(_texts(exc))

    with stand_in(route) as s:
        asyncio.run(providers(s.url))

    assert len(seen) > 20
    for text in seen:
        assert CANARY not in text and real_password not in text, text
    for record in caplog.records:
        message = record.getMessage() + repr(record.args)
        assert CANARY not in message and real_password not in message, message
        assert base64.b64encode(f"hm-tester:{real_password}".encode()).decode() not in message
