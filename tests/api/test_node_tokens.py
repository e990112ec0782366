"""Node tokens: a Kubernetes node's kubelet credential provider may ask for its environment's pull
credentials and nothing else, on every route the API has."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
import yaml

from harbourmaster.api.gate import NODE_ROUTE, REGISTRY_EVENTS_ROUTE
from harbourmaster.cli._common import local_principal as local_admin
from harbourmaster.services.apply import apply_document
from harbourmaster.services.tokens import issue_node_token
from tests.api.conftest import Api
from tests.deploy._sa_tokens import SigningKey, bound_claims, issue, jwks
from tests.store.support import EXAMPLE

P = "/api/v1"
ISSUER = "https://staging-k8s.example"
KEY = SigningKey.rsa()
IMAGE = "harbor.example.com/payments/api@sha256:" + "a" * 64


def _node_token(api: Api, *, node: str = "worker-1", environment: str = "staging-k8s") -> str:
    issued = issue_node_token(api.hm, local_admin(api.hm), node=node, environment=environment)
    return issued.token.reveal()


def _with_issuer(api: Api) -> None:
    """staging-k8s gets the cluster's service-account issuer and JWKS."""
    document = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    for env in document["environments"]:
        if env["name"] == "staging-k8s":
            env.update(service_account_issuer=ISSUER, jwks=json.dumps(jwks(KEY)))
    apply_document(
        api.hm, local_admin(api.hm), yaml.safe_dump(document), source="test.yaml", host=api.hm.host_files()
    )


def _sa_token(**claims: Any) -> str:
    return issue(KEY, bound_claims(issuer=ISSUER, iat=int(time.time()) - 10, **claims))


def _pull(api: Api, token: str, *, environment: str = "staging-k8s", sa: str = "a.b.c") -> Any:
    return api.client.post(
        f"{P}/environments/{environment}/pull-credentials",
        json={"image": IMAGE, "service_account_token": sa},
        headers={"Authorization": f"Bearer {token}"},
    )


def _audit(api: Api, action: str) -> list[Any]:
    with api.hm.store.read() as tx:
        return [e for e in tx.audit.entries() if e.action == action]


def test_a_node_token_is_refused_on_every_route_but_its_pull_credentials(api: Api) -> None:
    token = _node_token(api)
    headers = {"Authorization": f"Bearer {token}"}
    # Every route of the app: the OpenAPI document lists them all (test_authz checks that each has
    # an authorisation expectation), the gate's table is built from the same routers.
    spec = api.client.app.openapi()  # type: ignore[attr-defined]
    routes = [(m.upper(), path) for path, ops in spec["paths"].items() for m in ops]
    assert len(routes) > 40
    allowed = (NODE_ROUTE[0], P + NODE_ROUTE[1])
    assert allowed in routes
    for method, template in routes:
        path = re.sub(r"\{[^}]+\}", "1", template)
        body = {"image": IMAGE, "service_account_token": "a.b.c"} if template == allowed[1] else {}
        response = api.client.request(method, path, headers=headers, json=body)
        where = f"{method} {template}"
        assert response.headers["content-type"] == "application/problem+json", where
        if template == P + REGISTRY_EVENTS_ROUTE:
            # Authenticated by the registry's notification secret, never an API token: a node token
            # is no credential at all there.
            assert response.status_code == 401, f"{where}: {response.status_code} {response.text}"
            continue
        assert response.status_code == 403, f"{where}: {response.status_code} {response.text}"
        if (method, template) == allowed:
            # Environment "1" is not the node's: refused by the service, not the gate.
            assert "pull credentials of environment 1" in response.json()["detail"], where
        else:
            assert "node token" in response.json()["detail"], where
    # Every refused use is audited under the node (the registry-events route takes no API token).
    uses = [e for e in _audit(api, "token.use") if e.actor == "node:worker-1"]
    assert len(uses) == len(routes) - 1
    assert all(e.details["environment"] == "staging-k8s" for e in uses)


def test_pull_credentials_of_another_environment_are_refused(api: Api) -> None:
    response = _pull(api, _node_token(api, environment="prod-eu"))
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert "prod-eu" in response.json()["detail"]
    (entry,) = _audit(api, "pull-credentials.issue")
    assert entry.result == "refused" and entry.actor == "node:worker-1"
    assert entry.details["node"] == "worker-1"


def test_an_environment_without_issuer_or_jwks_is_named(api: Api) -> None:
    response = _pull(api, _node_token(api))
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert "service_account_issuer" in detail and "jwks" in detail


def test_the_service_account_token_is_verified(api: Api) -> None:
    _with_issuer(api)
    token = _node_token(api)
    other = SigningKey.rsa()
    bad = {
        "not a jwt": "a.b.c",
        "another audience": _sa_token(audience=["kubernetes"]),
        "wrong signature": issue(
            other, bound_claims(issuer=ISSUER, iat=int(time.time()) - 10), header={"kid": KEY.kid}
        ),
        "expired": issue(KEY, bound_claims(issuer=ISSUER, iat=int(time.time()) - 7200)),
    }
    for what, sa in bad.items():
        response = _pull(api, token, sa=sa)
        assert response.status_code == 401, f"{what}: {response.text}"
        assert response.json()["type"].endswith("/invalid-service-account-token"), what
        assert sa not in response.text
    refusals = _audit(api, "pull-credentials.issue")
    assert len(refusals) == len(bad) and {e.result for e in refusals} == {"refused"}
    assert all(sa not in json.dumps(e.details) for e in refusals for sa in bad.values())


def test_a_namespace_outside_the_environment_gets_nothing(api: Api) -> None:
    _with_issuer(api)
    response = _pull(api, _node_token(api), sa=_sa_token(namespace="kube-system"))
    assert response.status_code == 403, response.text
    assert "kube-system" in response.json()["detail"]
    (entry,) = _audit(api, "pull-credentials.issue")
    assert entry.details["namespace"] == "kube-system" and entry.details["service_account"] == "api"


def test_an_ungranted_image_gets_nothing_and_the_verdict_says_why(api: Api) -> None:
    _with_issuer(api)
    response = api.client.post(
        f"{P}/environments/staging-k8s/pull-credentials",
        json={"image": "ghcr.io/someone/tool:1", "service_account_token": _sa_token(namespace="web")},
        headers={"Authorization": f"Bearer {_node_token(api)}"},
    )
    assert response.status_code == 403, response.text
    body = response.json()
    assert body["errors"], body
    (entry,) = _audit(api, "pull-credentials.issue")
    assert entry.result == "refused" and entry.details["namespace"] == "web"
    # The verdict was asked as the node itself: its decision record names it.
    decisions = [e for e in _audit(api, "decision") if e.actor == "node:worker-1"]
    assert decisions, "the verdict behind the refusal is not audited under the node's name"


def test_node_tokens_are_created_listed_and_revoked_by_administrators(api: Api) -> None:
    created = api.client.post(
        f"{P}/tokens",
        json={"node": "worker-2", "environment": "staging-k8s"},
        headers=api.headers("admin"),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["user"], body["node"], body["environment"], body["name"]) == (
        None, "worker-2", "staging-k8s", "worker-2"
    )
    listed = api.client.get(f"{P}/tokens", headers=api.headers("admin")).json()
    (row,) = [t for t in listed if t["id"] == body["id"]]
    assert (row["node"], row["environment"]) == ("worker-2", "staging-k8s")
    revoked = api.client.delete(f"{P}/tokens/{body['id']}", headers=api.headers("admin"))
    assert revoked.status_code == 200 and revoked.json()["revoked"] is True
    assert _pull(api, body["token"]).status_code == 401
    (made,) = [e for e in _audit(api, "token.create") if e.target == "node worker-2"]
    assert made.details["environment"] == "staging-k8s" and made.details["role"] == "node"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"node": "worker-2", "environment": "dev-docker"}, "Kubernetes"),
        ({"node": "Worker_2", "environment": "staging-k8s"}, "node name"),
        ({"node": "worker-2"}, "node and environment"),
        ({"node": "worker-2", "environment": "staging-k8s", "user": "admin"}, "no user"),
        ({"node": "worker-2", "environment": "nowhere"}, "nowhere"),
    ],
)
def test_bad_node_tokens_are_refused_naming_the_input(api: Api, body: dict[str, str], needle: str) -> None:
    response = api.client.post(f"{P}/tokens", json=body, headers=api.headers("admin"))
    assert response.status_code in (404, 422), response.text
    assert needle in response.json()["detail"]


def test_no_user_can_take_the_node_role(api: Api) -> None:
    response = api.client.put(f"{P}/users/sneaky", json={"role": "node"}, headers=api.headers("admin"))
    assert response.status_code == 422, response.text
    document = "apiVersion: harbourmaster.io/v1\nkind: Governance\nusers:\n  - {name: sneaky, role: node}\n"
    applied = api.client.post(f"{P}/apply", json={"document": document}, headers=api.headers("admin"))
    assert applied.status_code == 422, applied.text
    with api.hm.store.read() as tx:
        assert all(t.role.value != "node" for t in tx.tokens.tokens(user="sneaky"))
