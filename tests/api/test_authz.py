"""The API's authorisation matrix: every route, every role, no token and bad tokens.

The expectation for each route is written out here, from the permission
table in ``domain/authz.py``, independently of how the routes declare it.  A
route that appears in the OpenAPI document without a row here fails the test.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from harbourmaster.domain.authz import PERMISSIONS, Permission
from harbourmaster.domain.model import Role
from harbourmaster.store.models import AuditRow
from tests.api.conftest import ROLE_USERS, Api
from tests.integration.postgres import state_rows

P = "/api/v1"
#: Any authenticated caller (GET /me).
AUTHENTICATED = "authenticated"

APPLY_DOCUMENT = """\
apiVersion: harbourmaster.io/v1
kind: Governance
environments:
  - name: applied-env
    kind: swarm
    tier: development
"""


@dataclass(frozen=True)
class Call:
    permission: Permission | str
    ok: int
    path_params: dict[str, str] = field(default_factory=dict)
    json: Any = None
    params: dict[str, str] = field(default_factory=dict)


#: (method, path) -> how to call it and who may.  In an order where each call
#: by an allowed caller succeeds (create before update before delete).
ROUTES: dict[tuple[str, str], Call] = {
    ("GET", f"{P}/me"): Call(AUTHENTICATED, 200),
    ("GET", f"{P}/registries"): Call(Permission.GOVERNANCE_READ, 200),
    ("POST", f"{P}/registries"): Call(
        Permission.GOVERNANCE_WRITE,
        201,
        json={
            "name": "matrix-reg",
            "provider": "custom",
            "url": "https://matrix.example",
            "credential": {"username": "bot", "secret": "matrix-secret-value", "expires": "2030-01-01"},
        },
    ),
    ("GET", f"{P}/registries/{{name}}"): Call(Permission.GOVERNANCE_READ, 200, {"name": "harbor-payments"}),
    ("PATCH", f"{P}/registries/{{name}}"): Call(
        Permission.GOVERNANCE_WRITE, 200, {"name": "matrix-reg"}, json={"oci_artifacts": True}
    ),
    ("DELETE", f"{P}/registries/{{name}}"): Call(Permission.GOVERNANCE_WRITE, 200, {"name": "matrix-reg"}),
    # dev-local (http://127.0.0.1:5000) has nothing listening in these tests: the probe
    # reports "connection refused" (200), browsing it is a registry failure (502).
    ("POST", f"{P}/registries/{{name}}/test"): Call(Permission.REGISTRY_PROBE, 200, {"name": "dev-local"}),
    ("GET", f"{P}/registries/{{name}}/browse"): Call(
        Permission.REGISTRY_PROBE, 502, {"name": "dev-local"}, params={"repository": "team/app"}
    ),
    # harbor-payments of the example is not managed: refused as bad input (422) once authorised.
    ("POST", f"{P}/registries/{{name}}/harbor-sync"): Call(
        Permission.GOVERNANCE_WRITE, 422, {"name": "harbor-payments"}, params={"dry_run": "true"}
    ),
    ("POST", f"{P}/registries/{{name}}/rotate"): Call(
        Permission.GOVERNANCE_WRITE, 422, {"name": "harbor-payments"}
    ),
    ("GET", f"{P}/assessment"): Call(Permission.GOVERNANCE_READ, 200),
    ("PUT", f"{P}/registries/dockerhub-anonymous/visibility"): Call(
        Permission.GOVERNANCE_WRITE, 200, json={"hidden": True, "environment": "dev-docker"}
    ),
    ("GET", f"{P}/environments"): Call(Permission.GOVERNANCE_READ, 200),
    ("POST", f"{P}/environments"): Call(
        Permission.GOVERNANCE_WRITE, 201, json={"name": "matrix-env", "kind": "swarm", "tier": "development"}
    ),
    ("GET", f"{P}/environments/{{name}}"): Call(Permission.GOVERNANCE_READ, 200, {"name": "prod-eu"}),
    ("PATCH", f"{P}/environments/{{name}}"): Call(
        Permission.GOVERNANCE_WRITE, 200, {"name": "matrix-env"}, json={"group": "matrix"}
    ),
    ("DELETE", f"{P}/environments/{{name}}"): Call(Permission.GOVERNANCE_WRITE, 200, {"name": "matrix-env"}),
    ("GET", f"{P}/users"): Call(Permission.GOVERNANCE_READ, 200),
    ("PUT", f"{P}/users/{{name}}"): Call(
        Permission.IDENTITY_WRITE,
        200,
        {"name": "matrix-user"},
        json={"name": "matrix-user", "role": "auditor"},
    ),
    ("GET", f"{P}/teams"): Call(Permission.GOVERNANCE_READ, 200),
    ("PUT", f"{P}/teams/{{name}}"): Call(
        Permission.IDENTITY_WRITE,
        200,
        {"name": "matrix-team"},
        json={"name": "matrix-team", "members": ["matrix-user", "web-dev"]},
    ),
    ("DELETE", f"{P}/teams/{{name}}"): Call(Permission.IDENTITY_WRITE, 200, {"name": "matrix-team"}),
    ("DELETE", f"{P}/users/{{name}}"): Call(Permission.IDENTITY_WRITE, 200, {"name": "matrix-user"}),
    ("GET", f"{P}/access"): Call(Permission.GOVERNANCE_READ, 200),
    ("POST", f"{P}/access"): Call(
        Permission.GOVERNANCE_WRITE, 201, json={"environment": "dev-docker", "user": "web-dev"}
    ),
    ("GET", f"{P}/grants"): Call(Permission.GOVERNANCE_READ, 200),
    ("POST", f"{P}/grants"): Call(
        Permission.GOVERNANCE_WRITE,
        201,
        json={"registry": "ghcr-tools", "environment": "dev-docker", "user": "web-dev"},
    ),
    ("POST", f"{P}/grants/delete"): Call(
        Permission.GOVERNANCE_WRITE,
        200,
        json={"registry": "ghcr-tools", "environment": "dev-docker", "user": "web-dev"},
    ),
    ("POST", f"{P}/access/delete"): Call(
        Permission.GOVERNANCE_WRITE, 200, json={"environment": "dev-docker", "user": "web-dev"}
    ),
    ("GET", f"{P}/tiers"): Call(Permission.GOVERNANCE_READ, 200),
    ("PATCH", f"{P}/tiers/{{tier}}"): Call(
        Permission.GOVERNANCE_WRITE, 200, {"tier": "staging"}, json={"require_signature": True}
    ),
    ("POST", f"{P}/decisions"): Call(
        Permission.DECISION_CHECK,
        200,
        json={
            "environment": "dev-docker",
            "user": "payments-dev",
            "images": ["harbor.corp/payments/api:1.0"],
        },
    ),
    # An image given by digest resolves without asking the registry.
    ("GET", f"{P}/resolve"): Call(
        Permission.DECISION_CHECK,
        200,
        params={
            "image": "127.0.0.1:5000/team/app@sha256:" + "a" * 64,
            "environment": "dev-docker",
            "user": "payments-dev",
        },
    ),
    ("POST", f"{P}/apply"): Call(Permission.GOVERNANCE_WRITE, 200, json={"document": APPLY_DOCUMENT}),
    ("GET", f"{P}/export"): Call(Permission.GOVERNANCE_READ, 200),
    ("GET", f"{P}/audit/verify"): Call(Permission.AUDIT_READ, 200),
    ("GET", f"{P}/audit/export"): Call(Permission.AUDIT_READ, 200, params={"since": "0"}),
    # Signing the head is harmless, but the checkpoint and the key belong to those who audit.
    ("POST", f"{P}/audit/checkpoints"): Call(Permission.AUDIT_READ, 201),
    ("GET", f"{P}/audit/public-key"): Call(Permission.AUDIT_READ, 200),
    ("GET", f"{P}/credentials/expiring"): Call(Permission.GOVERNANCE_READ, 200, params={"within": "3650d"}),
    ("POST", f"{P}/tokens"): Call(Permission.TOKEN_CREATE, 201, json={"user": "web-dev", "name": "matrix"}),
    ("GET", f"{P}/tokens"): Call(Permission.TOKEN_ADMIN, 200),
    # Node tokens only (tests/api/test_node_tokens.py): every user role is refused.
    ("POST", f"{P}/environments/{{environment}}/pull-credentials"): Call(
        Permission.PULL_CREDENTIALS,
        200,
        {"environment": "prod"},
        json={"image": "registry.example/app@sha256:" + "0" * 64, "service_account_token": "a.b.c"},
    ),
    # Deployments: prod-eu has no api_server in the example, so every deployer's request is refused as
    # bad input (422) after the permission and access checks; there is no deployment to show or remove.
    ("POST", f"{P}/environments/{{environment}}/deployments"): Call(
        Permission.DEPLOY,
        422,
        {"environment": "prod-eu"},
        json={"content": "kind: Pod", "namespace": "payments"},
    ),
    ("GET", f"{P}/deployments"): Call(Permission.GOVERNANCE_READ, 200),
    ("GET", f"{P}/deployments/{{deployment}}"): Call(
        Permission.GOVERNANCE_READ, 404, {"deployment": "dep-0"}
    ),
    ("DELETE", f"{P}/deployments/{{deployment}}"): Call(Permission.DEPLOY, 404, {"deployment": "dep-0"}),
    # Token 5 is the fixture's expired token (created after one per role): no caller's own.
    ("DELETE", f"{P}/tokens/{{token_id}}"): Call(Permission.TOKEN_ADMIN, 200, {"token_id": "5"}),
    # dev-local (127.0.0.1:5000) has nothing listening: the registry operations are registry failures (502).
    ("POST", f"{P}/sboms/generate"): Call(
        Permission.REGISTRY_PROBE, 502, json={"image": "127.0.0.1:5000/team/app:v1"}
    ),
    ("POST", f"{P}/sboms/attach"): Call(
        Permission.REGISTRY_PROBE, 502, json={"image": "127.0.0.1:5000/team/app:v1", "format": "spdx-json"}
    ),
    ("POST", f"{P}/sboms/fetch"): Call(
        Permission.REGISTRY_PROBE, 502, json={"image": "127.0.0.1:5000/team/app:v1"}
    ),
    ("GET", f"{P}/sboms"): Call(Permission.GOVERNANCE_READ, 200),
    # Nothing is stored for this digest.
    ("GET", f"{P}/sboms/document"): Call(
        Permission.GOVERNANCE_READ, 404, params={"digest": "sha256:" + "b" * 64}
    ),
    ("POST", f"{P}/vulndb/records"): Call(
        Permission.VULNDB_WRITE,
        200,
        json={
            "records": [
                {
                    "id": "GHSA-matrix",
                    "modified": "2026-01-01T00:00:00Z",
                    "affected": [
                        {
                            "package": {"ecosystem": "npm", "name": "lodash"},
                            "ranges": [
                                {"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}
                            ],
                        }
                    ],
                }
            ]
        },
    ),
    ("GET", f"{P}/vulndb/status"): Call(Permission.GOVERNANCE_READ, 200),
    ("POST", f"{P}/scans"): Call(
        Permission.GOVERNANCE_READ,
        200,
        json={
            "document": '{"bomFormat": "CycloneDX", "specVersion": "1.6", "components": [{"type": "library", '
            '"name": "lodash", "version": "4.17.20", "purl": "pkg:npm/lodash@4.17.20"}]}',
            "environment": "prod-eu",
        },
    ),
    ("GET", f"{P}/vulns/affected"): Call(Permission.GOVERNANCE_READ, 200, params={"since": "1d"}),
    ("GET", f"{P}/policy"): Call(Permission.GOVERNANCE_READ, 200, params={"environment": "prod-eu"}),
    ("GET", f"{P}/policy/export"): Call(
        Permission.GOVERNANCE_READ, 200, params={"environment": "prod-eu", "format": "gatekeeper"}
    ),
    ("POST", f"{P}/signing-keys"): Call(Permission.IMAGE_SIGN, 201, json={"name": "matrix-key"}),
    ("GET", f"{P}/signing-keys"): Call(Permission.GOVERNANCE_READ, 200),
    ("GET", f"{P}/signing-keys/{{name}}"): Call(Permission.GOVERNANCE_READ, 404, {"name": "no-such-key"}),
    # dev-local (127.0.0.1:5000) has nothing listening: signing and verifying there are registry failures.
    ("POST", f"{P}/signatures/sign"): Call(
        Permission.IMAGE_SIGN, 502, json={"image": "127.0.0.1:5000/team/app:v1", "signing_key": "matrix-key"}
    ),
    ("POST", f"{P}/signatures/verify"): Call(
        Permission.SIGNATURE_VERIFY,
        502,
        json={"image": "127.0.0.1:5000/team/app@sha256:" + "a" * 64, "environment": "dev-docker"},
    ),
    ("POST", f"{P}/signatures/sign-blob"): Call(
        Permission.IMAGE_SIGN, 201, json={"data_base64": "aGVsbG8=", "signing_key": "matrix-key"}
    ),
    # Queued only (no worker runs here): the answer is the job and where to follow it.
    ("POST", f"{P}/jobs/sbom-generate"): Call(
        Permission.REGISTRY_PROBE, 202, json={"image": "127.0.0.1:5000/team/app:v1"}
    ),
    ("POST", f"{P}/jobs/sbom-attach"): Call(
        Permission.REGISTRY_PROBE, 202, json={"image": "127.0.0.1:5000/team/app:v1"}
    ),
    ("POST", f"{P}/jobs/scan"): Call(
        Permission.REGISTRY_PROBE, 202, json={"image": "127.0.0.1:5000/team/app:v1", "tier": "development"}
    ),
    ("POST", f"{P}/jobs/verify"): Call(
        Permission.REGISTRY_PROBE,
        202,
        json={"image": "127.0.0.1:5000/team/app:v1", "environment": "dev-docker"},
    ),
    ("GET", f"{P}/jobs"): Call(Permission.GOVERNANCE_READ, 200),
    # rotate: each allowed caller replaces the secret the one before made.
    ("POST", f"{P}/registries/{{name}}/notifications"): Call(
        Permission.GOVERNANCE_WRITE,
        200,
        {"name": "harbor-payments"},
        json={"url": "https://hm.corp", "rotate": True},
    ),
    # No such job (a refused caller queued none).
    ("GET", f"{P}/jobs/{{job_id}}"): Call(Permission.GOVERNANCE_READ, 404, {"job_id": "999999"}),
    ("POST", f"{P}/signatures/verify-blob"): Call(
        Permission.GOVERNANCE_READ,
        404,
        json={"data_base64": "aGVsbG8=", "signature": "AAAA", "signing_keys": ["no-such-key"]},
    ),
}


#: Routes authenticated by something else than an API token: a registry's notification secret (no token
#: opens them; tests/api/test_registry_events.py holds them to that).
SECRET_AUTHENTICATED = {("POST", f"{P}/registry-events/{{registry}}")}


def _allowed(role: Role, permission: Permission | str) -> bool:
    return permission == AUTHENTICATED or role in PERMISSIONS[Permission(permission)]


def _send(api: Api, method: str, path: str, call: Call, headers: dict[str, str]) -> httpx.Response:
    return api.client.request(
        method, path.format(**call.path_params), json=call.json, params=call.params, headers=headers
    )


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert {"type", "title", "status", "detail"} <= body.keys()
    assert body["status"] == status
    assert isinstance(body["type"], str) and body["type"].startswith("https://")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    return body


def _writes(api: Api) -> tuple[int, int]:
    """The model revision and the audit records other than token uses (every request makes one)."""
    with api.hm.store.read() as tx:
        audits = sum(1 for e in tx.audit.entries() if e.action != "token.use")
        return tx.governance.revision(), audits


def test_the_table_covers_every_route_in_the_openapi_document(api: Api) -> None:
    spec = api.client.get(f"{P}/openapi.json").json()
    assert spec == api.client.app.openapi()  # type: ignore[attr-defined]
    documented = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert documented, "no routes documented"
    missing = documented - ROUTES.keys() - SECRET_AUTHENTICATED
    assert not missing, f"routes without an authorisation expectation: {sorted(missing)}"
    assert ROUTES.keys() - documented == set(), "expectations for routes that do not exist"
    for permission in {c.permission for c in ROUTES.values()} - {AUTHENTICATED}:
        assert permission in PERMISSIONS


@pytest.mark.parametrize("role", list(ROLE_USERS), ids=[r.value for r in ROLE_USERS])
def test_each_role_gets_exactly_its_permissions(api: Api, role: Role) -> None:
    headers = api.headers(ROLE_USERS[role])
    for (method, path), call in ROUTES.items():
        before = _writes(api)
        response = _send(api, method, path, call, headers)
        where = f"{role.value}: {method} {path}"
        if _allowed(role, call.permission):
            assert response.status_code == call.ok, f"{where}: {response.status_code} {response.text}"
        else:
            body = assert_problem(response, 403)
            assert body["type"].endswith("/forbidden"), where
            assert role.value in body["detail"], where
            assert _writes(api) == before, f"{where}: a refused request wrote something"


CALLERS = {
    "no-token": {},
    "unknown-token": {"Authorization": "Bearer hm_0123456789abcdefghijklmnopqrstuvwxyzABCDEFG"},
    "not-a-token": {"Authorization": "Bearer not-a-harbourmaster-token"},
    "basic-auth": {"Authorization": "Basic YWRtaW46YWRtaW4="},
    "empty-bearer": {"Authorization": "Bearer "},
}


@pytest.mark.parametrize("caller", [*CALLERS, "expired-token"])
def test_unauthenticated_callers_get_401_everywhere(api: Api, caller: str) -> None:
    headers = (
        {"Authorization": f"Bearer {api.tokens['expired']}"} if caller == "expired-token" else CALLERS[caller]
    )
    rows = state_rows(api.hm.db.engine)
    uses_before = _token_uses(api)
    for (method, path), call in ROUTES.items():
        response = _send(api, method, path, call, headers)
        body = assert_problem(response, 401)
        assert body["type"].endswith("/unauthenticated"), f"{method} {path}"
        assert response.headers.get("www-authenticate") == "Bearer"
        if caller != "no-token":
            token = headers["Authorization"].partition(" ")[2]
            assert not token or token not in response.text
    assert state_rows(api.hm.db.engine) == rows
    refused = _token_uses(api)[len(uses_before) :]
    if caller == "expired-token":
        # A known token's refused use is audited, naming the token, the method and the route template.
        assert [(r, d["token_id"], d["reason"], d["method"], d["route"]) for r, d in refused] == [
            ("refused", 5, "expired", method, path) for method, path in ROUTES
        ]
    else:
        assert refused == []


def _token_uses(api: Api) -> list[tuple[str, dict[str, Any]]]:
    with api.hm.db.read() as session:
        rows = session.scalars(select(AuditRow).where(AuditRow.action == "token.use").order_by(AuditRow.seq))
        return [(r.result, dict(r.details)) for r in rows]


def test_a_team_member_may_check_only_where_they_have_access(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token_for('tools-dev')}"}  # access: dev-docker only
    ok = api.client.post(
        f"{P}/decisions",
        json={"environment": "dev-docker", "user": "tools-dev", "images": ["ghcr.io/corp-tools/cli:1"]},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.json()[0]["allowed"] is True
    refused = api.client.post(
        f"{P}/decisions",
        json={"environment": "prod-eu", "namespace": "web", "images": ["harbor.corp/web/app:1"]},
        headers=headers,
    )
    body = assert_problem(refused, 403)
    assert "tools-dev has no access to environment prod-eu" in body["detail"]


def test_routes_outside_the_api_document(api: Api) -> None:
    """Health and metrics are deliberately open (probes and scrapers carry no token)."""
    assert api.client.get("/healthz").json() == {"status": "ok"}
    assert api.client.get("/metrics").status_code == 200
    unknown = api.client.get(f"{P}/no-such-route", headers=api.headers("admin"))
    assert_problem(unknown, 404)


#: A sigstore trusted root as one YAML single-quoted line (keyless identities need one).
TRUSTED_ROOT = (
    (Path(__file__).resolve().parents[1] / "vectors" / "signing" / "bundles" / "trusted_root.production.json")
    .read_text()
    .replace("\n", " ")
    .replace("'", "''")
)
#: One small document per section of the governance document, each changing only that section.
APPLY_SECTIONS: dict[str, str] = {
    "registries": "registries: [{name: sec-reg, provider: custom, url: 'https://sec.example'}]",
    "environments": "environments: [{name: sec-env, kind: swarm, tier: development}]",
    "grants": "grants: [{registry: dev-local, environment: dev-docker, users: [tools-dev]}]",
    "tiers": "tiers: {development: {ignore_unfixed: true}}",
    "settings": "settings: {hide_dockerhub_anonymous: true}",
    "allowlist": "allowlist: [{id: CVE-2024-1111, expires: 2031-01-01, reason: accepted}]",
    "content": "content: {ignore_kinds: [{apiVersion: example.com/v1, kind: Widget}]}",
    "users": "users: [{name: sec-user, role: team-member}]",
    "teams": "teams: [{name: sec-team, members: [web-dev]}]",
    "access": "access: [{environment: prod-eu, user: tools-dev, role: team-member}]",
    "mirrors": "mirrors: [{name: sec-mirror, to: dev-local, schedule: '0 2 * * *', image_set: "
    '"apiVersion: harbourmaster.io/v1\\nkind: ImageSet\\nimages: [127.0.0.1:5000/team/app:v1]\\n"}]',
    "signing": "signing: {identities: [{name: sec-id, issuer: 'https://issuer.example', "
    f"subject_regex: '.*'}}], trusted_root: '{TRUSTED_ROOT}'}}",
}
#: The sections only an administrator may create, change or prune.
IDENTITY_SECTIONS = {"users", "teams", "access"}


def test_the_section_table_names_every_section() -> None:
    from harbourmaster.services.apply import SECTION_PERMISSIONS

    assert set(APPLY_SECTIONS) == set(SECTION_PERMISSIONS)
    assert {s for s, p in SECTION_PERMISSIONS.items() if p is Permission.IDENTITY_WRITE} == IDENTITY_SECTIONS


@pytest.mark.parametrize("section", sorted(APPLY_SECTIONS))
@pytest.mark.parametrize("role", list(Role))
def test_apply_is_authorised_per_section_and_role(api: Api, role: Role, section: str) -> None:
    document = f"apiVersion: harbourmaster.io/v1\nkind: Governance\n{APPLY_SECTIONS[section]}\n"
    before = model_revision_of(api)
    response = api.client.post(
        f"{P}/apply", json={"document": document}, headers=api.headers(ROLE_USERS[role])
    )
    may_write = role in PERMISSIONS[Permission.GOVERNANCE_WRITE]
    may_identity = role in PERMISSIONS[Permission.IDENTITY_WRITE]
    allowed = may_write and (section not in IDENTITY_SECTIONS or may_identity)
    if allowed:
        assert response.status_code == 200, response.text
        assert response.json()["applied"] is True
        assert model_revision_of(api) == before + 1
    else:
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        if may_write:
            assert section in response.json()["detail"]
        assert model_revision_of(api) == before


def model_revision_of(api: Api) -> int:
    with api.hm.store.read() as tx:
        return tx.governance.revision()
