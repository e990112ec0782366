"""The signing routes against the real CNCF distribution registry: vault keys, sign (tag and bundle),
verify by environment and by named keys (the same JSON as the CLI's ``--json``), who may do what,
detached blob signatures, and no private key material in any response."""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from harbourmaster.api.app import create_app
from harbourmaster.cli._common import local_principal
from harbourmaster.cli.main import app
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.signing_keys import open_signing_key
from harbourmaster.services.tokens import create_token
from harbourmaster.signing.keys import private_key_der
from tests.integration.postgres import core_on
from tests.integration.registry_fixtures import PASSWORD, skopeo, write_image_layout

if TYPE_CHECKING:
    from tests.integration.registry_fixtures import RunningRegistry

pytestmark = pytest.mark.integration

P = "/api/v1"
USERS = {"admin": "administrator", "platform": "platform-engineer", "stage-dev": "team-member"}


@dataclass
class SigningApi:
    hm: Harbourmaster
    client: TestClient
    registry: RunningRegistry
    repo: str
    digests: dict[str, str]
    tokens: dict[str, str]
    responses: list[str]

    def ref(self, tag: str) -> str:
        return f"{self.registry.host}/{self.repo}:{tag}"

    def call(self, method: str, path: str, user: str, body: dict[str, Any] | None = None) -> httpx.Response:
        response: httpx.Response = self.client.request(
            method, f"{P}{path}", json=body, headers={"Authorization": f"Bearer {self.tokens[user]}"}
        )
        self.responses.append(response.text)
        return response

    def apply(self, signing: dict[str, Any] | None = None, signers: list[str] | None = None) -> None:
        document = {
            "apiVersion": "harbourmaster.io/v1",
            "kind": "Governance",
            "registries": [
                {
                    "name": "lab-api",
                    "provider": "custom",
                    "url": f"http://{self.registry.host}",
                    "credential": {
                        "kind": "user",
                        "username": self.registry.username,
                        "secret": "env:HM_SIGN_API_SECRET",
                    },
                    "tls": {"insecure": True},
                }
            ],
            "environments": [
                {"name": "prod", "kind": "docker-standalone", "tier": "production"},
                # Development tier: the lab registry is plain HTTP, which only development may use.
                {"name": "stage", "kind": "docker-standalone", "tier": "development"},
            ],
            "users": [{"name": name, "role": role} for name, role in USERS.items()],
            "teams": [{"name": "apps", "members": ["stage-dev"]}],
            "access": [{"environment": "stage", "team": "apps"}],
            # A team member verifies only images of a registry granted where they have access.
            "grants": [{"registry": "lab-api", "environment": "stage", "teams": ["apps"]}],
            "tiers": {
                "production": {
                    "require_signature": True,
                    "signers": signers or [],
                    "signers_required": "any",
                },
                "development": {
                    "require_signature": True,
                    "signers": signers or [],
                    "signers_required": "any",
                },
            },
            "signing": signing or {},
        }
        apply_document(
            self.hm, local_principal(self.hm), json.dumps(document), source="lab", host=self.hm.host_files()
        )


@pytest.fixture
def api(
    database_url: str, registry_basic: RunningRegistry, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[SigningApi]:
    """A model whose registry is the real one, an app on it, a token per user; the CLI uses the same
    data directory and database."""
    home = tmp_path / "home"
    monkeypatch.setenv("HARBOURMASTER_HOME", str(home))
    monkeypatch.setenv("HARBOURMASTER_DATABASE_URL", database_url)
    monkeypatch.setenv("HM_SIGN_API_SECRET", PASSWORD)
    repo = f"hmsignapi/app-{os.urandom(3).hex()}"
    digests = {}
    for tag in ("v1", "v2"):
        write_image_layout(tmp_path / tag, seed=f"{repo}-{tag}")
        skopeo(
            registry_basic, "copy", f"oci:{tmp_path / tag}:v1", f"docker://{registry_basic.host}/{repo}:{tag}"
        )
        digests[tag] = skopeo(
            registry_basic,
            "inspect",
            "--format",
            "{{.Digest}}",
            f"docker://{registry_basic.host}/{repo}:{tag}",
        ).strip()
    hm = core_on(database_url, home)
    lab = SigningApi(hm, None, registry_basic, repo, digests, {}, [])  # type: ignore[arg-type]
    lab.apply()
    lab.tokens = {
        user: create_token(hm, user=user, name="test", actor="tests").token.reveal() for user in USERS
    }
    with TestClient(create_app(hm), raise_server_exceptions=True) as client:
        lab.client = client
        yield lab
    for text in lab.responses:
        assert PASSWORD not in text
    hm.db.dispose()


def _generate(lab: SigningApi, name: str) -> dict[str, Any]:
    created = lab.call("POST", "/signing-keys", "platform", {"name": name})
    assert created.status_code == 201, created.text
    key: dict[str, Any] = created.json()
    assert set(key) == {"name", "algorithm", "fingerprint", "public_key", "created_at", "created_by"}
    assert key["name"] == name and key["algorithm"] == "ecdsa-p256"
    assert key["public_key"].startswith("-----BEGIN PUBLIC KEY-----")
    return key


def _cli_verify(*args: str) -> tuple[int, dict[str, Any]]:
    result = CliRunner().invoke(app, ["verify", *args, "--json", "--no-cache"], catch_exceptions=False)
    assert result.exit_code in (0, 1), result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return result.exit_code, data


def _timeless(data: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in data.items() if k not in ("verified_at", "cached")}


def test_sign_and_verify_answer_what_the_cli_prints(api: SigningApi) -> None:
    rel = _generate(api, "rel")
    api.apply(signing={"keys": [{"name": "rel", "public_key": rel["public_key"]}]}, signers=["rel"])
    tag = api.call("POST", "/signatures/sign", "platform", {"image": api.ref("v1"), "signing_key": "rel"})
    assert tag.status_code == 201, tag.text
    signed = tag.json()
    assert signed["format"] == "tag" and signed["image_digest"] == api.digests["v1"]
    assert signed["key"] == "rel" and signed["key_fingerprint"] == rel["fingerprint"]
    bundle = api.call(
        "POST",
        "/signatures/sign",
        "admin",
        {"image": api.ref("v1"), "signing_key": "rel", "format": "bundle"},
    )
    assert bundle.status_code == 201, bundle.text
    assert bundle.json()["format"] == "bundle" and "@sha256:" in bundle.json()["location"]

    by_env = api.call("POST", "/signatures/verify", "admin", {"image": api.ref("v1"), "environment": "prod"})
    assert by_env.status_code == 200, by_env.text
    verdict = by_env.json()
    assert verdict["satisfied"] is True and verdict["verified_signers"] == ["rel"]
    assert sorted((s["form"], s["verified"]) for s in verdict["signatures"]) == [
        ("bundle", True),
        ("tag", True),
    ]
    code, cli = _cli_verify(api.ref("v1"), "--env", "prod")
    assert code == 0
    assert set(cli) == set(verdict)
    assert _timeless(cli) == _timeless(verdict)

    by_key = api.call(
        "POST",
        "/signatures/verify",
        "admin",
        {"image": api.ref("v1"), "signing_keys": ["rel"], "use_cache": False},
    )
    assert by_key.status_code == 200, by_key.text
    assert by_key.json()["trust"] == "rel" and by_key.json()["satisfied"] is True
    code, cli = _cli_verify(api.ref("v1"), "--signing-key", "rel")
    assert code == 0 and _timeless(cli) == _timeless(by_key.json())

    unsigned = api.call(
        "POST", "/signatures/verify", "admin", {"image": api.ref("v2"), "environment": "prod"}
    )
    assert unsigned.status_code == 200 and unsigned.json()["satisfied"] is False
    code, cli = _cli_verify(api.ref("v2"), "--env", "prod")
    assert code == 1 and _timeless(cli) == _timeless(unsigned.json())


def _problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["detail"]
    return body


def test_team_members_verify_only_where_they_have_access(api: SigningApi) -> None:
    rel = _generate(api, "rel")
    api.apply(signing={"keys": [{"name": "rel", "public_key": rel["public_key"]}]}, signers=["rel"])
    assert (
        api.call(
            "POST", "/signatures/sign", "admin", {"image": api.ref("v1"), "signing_key": "rel"}
        ).status_code
        == 201
    )
    allowed = api.call(
        "POST", "/signatures/verify", "stage-dev", {"image": api.ref("v1"), "environment": "stage"}
    )
    assert allowed.status_code == 200 and allowed.json()["satisfied"] is True

    elsewhere = api.call(
        "POST", "/signatures/verify", "stage-dev", {"image": api.ref("v1"), "environment": "prod"}
    )
    assert "prod" in _problem(elsewhere, 403)["detail"]
    named = api.call(
        "POST", "/signatures/verify", "stage-dev", {"image": api.ref("v1"), "signing_keys": ["rel"]}
    )
    assert "environment" in _problem(named, 403)["detail"]
    _problem(
        api.call("POST", "/signatures/sign", "stage-dev", {"image": api.ref("v1"), "signing_key": "rel"}), 403
    )
    _problem(api.call("POST", "/signing-keys", "stage-dev", {"name": "mine"}), 403)


def test_blob_signatures_round_trip_and_keys_never_show_their_private_half(api: SigningApi) -> None:
    _generate(api, "rel")
    _generate(api, "other")
    data = b'{"release": "2024.05", "images": ["a", "b"]}'
    signed = api.call(
        "POST",
        "/signatures/sign-blob",
        "platform",
        {"data_base64": base64.b64encode(data).decode(), "signing_key": "rel", "name": "release.json"},
    )
    assert signed.status_code == 201, signed.text
    signature = signed.json()["signature"]

    def verify(blob: bytes, keys: list[str]) -> dict[str, Any]:
        response = api.call(
            "POST",
            "/signatures/verify-blob",
            "stage-dev",  # any role may check a signature with public keys
            {"data_base64": base64.b64encode(blob).decode(), "signature": signature, "signing_keys": keys},
        )
        assert response.status_code == 200, response.text
        check: dict[str, Any] = response.json()
        return check

    assert verify(data, ["rel"])["verified"] is True
    assert verify(data, ["other", "rel"])["verified"] is True
    assert verify(data, ["other"])["verified"] is False
    assert verify(data + b" ", ["rel"])["verified"] is False

    listed = api.call("GET", "/signing-keys", "stage-dev")
    assert listed.status_code == 200 and sorted(k["name"] for k in listed.json()) == ["other", "rel"]
    one = api.call("GET", "/signing-keys/rel", "admin")
    assert one.status_code == 200 and one.json()["name"] == "rel"
    for name in ("rel", "other"):
        key, _ = open_signing_key(api.hm, name)
        der = private_key_der(key)
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        scalar = key.private_numbers().private_value.to_bytes(32, "big")
        secrets = [
            base64.b64encode(der).decode(),
            pem,
            der.hex(),
            scalar.hex(),
            base64.b64encode(scalar).decode(),
        ]
        for text in api.responses:
            assert "PRIVATE KEY" not in text
            for secret in secrets:
                assert secret not in text
