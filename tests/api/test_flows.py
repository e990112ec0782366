"""API flows on SQLite and PostgreSQL: CRUD, grants, decisions, apply, tokens, expired credentials."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from harbourmaster.errors import BadInput
from harbourmaster.services.credentials import use_credential
from harbourmaster.services.tokens import create_token
from harbourmaster.store.models import AuditRow
from tests.api.conftest import Api
from tests.api.test_authz import assert_problem
from tests.fakes.clock import FixedClock
from tests.integration.postgres import state_rows

P = "/api/v1"


def _audit(api: Api, action: str) -> list[tuple[str, str, str, dict[str, Any]]]:
    with api.hm.db.read() as session:
        return [
            (r.actor, r.target, r.result, dict(r.details))
            for r in session.scalars(select(AuditRow).where(AuditRow.action == action).order_by(AuditRow.seq))
        ]


def _recorded(api: Api) -> int:
    """Audit records other than token uses (every request makes one)."""
    with api.hm.db.read() as session:
        return len(list(session.scalars(select(AuditRow.seq).where(AuditRow.action != "token.use"))))


def _get(api: Api, path: str, user: str = "admin", **params: str) -> Any:
    response = api.client.get(f"{P}{path}", headers=api.headers(user), params=params)
    assert response.status_code == 200, response.text
    return response.json()


def test_registry_create_update_delete(api: Api) -> None:
    h = api.headers("platform")
    body = {
        "name": "quay-team",
        "provider": "quay",
        "url": "https://quay.corp",
        "scope": "team",
        "credential": {"kind": "robot", "username": "team+bot", "secret": "s3cr3t", "expires": "2031-01-01"},
    }
    created = api.client.post(f"{P}/registries", json=body, headers=h)
    assert created.status_code == 201, created.text
    view = created.json()
    assert view["host"] == "quay.corp" and view["scope"] == "team"
    assert view["credential"] == {
        "kind": "robot",
        "username": "team+bot",
        "secret_set": True,
        "expires": "2031-01-01",
        "expired": False,
    }
    assert "s3cr3t" not in created.text
    assert _get(api, "/registries/quay-team") == view

    assert_problem(api.client.post(f"{P}/registries", json=body, headers=h), 409)

    patched = api.client.patch(f"{P}/registries/quay-team", json={"oci_artifacts": True}, headers=h)
    assert patched.status_code == 200, patched.text
    assert patched.json()["oci_artifacts"] is True
    assert patched.json()["credential"]["secret_set"] is True  # kept without a new secret
    assert use_credential(api.hm, registry="quay-team", actor="t", purpose="p").secret.reveal() == "s3cr3t"  # type: ignore[union-attr]

    # The secret is bound to its origin: a new scope without a new secret drops it.
    moved = api.client.patch(f"{P}/registries/quay-team", json={"scope": "team/sub"}, headers=h)
    assert moved.status_code == 200, moved.text
    assert moved.json()["scope"] == "team/sub"
    assert moved.json()["credential"]["secret_set"] is False
    assert use_credential(api.hm, registry="quay-team", actor="t", purpose="p") is None
    rebound = api.client.patch(
        f"{P}/registries/quay-team", json={"credential": {"secret": "s3cr3t"}}, headers=h
    )
    assert rebound.json()["credential"]["secret_set"] is True

    rows = state_rows(api.hm.db.engine)
    invalid = api.client.patch(f"{P}/registries/quay-team", json={"url": "http://quay.corp"}, headers=h)
    problem = assert_problem(invalid, 422)
    assert any("plain http://" in e for e in problem["errors"])
    assert state_rows(api.hm.db.engine) == rows

    assert_problem(api.client.patch(f"{P}/registries/nope", json={"scope": "x"}, headers=h), 404)
    deleted = api.client.delete(f"{P}/registries/quay-team", headers=h)
    assert deleted.status_code == 200 and deleted.json()["changes"]
    assert_problem(api.client.get(f"{P}/registries/quay-team", headers=h), 404)
    assert [(a, t) for a, t, _, _ in _audit(api, "registry.create")] == [("platform", "quay-team")]
    updates = _audit(api, "registry.update")
    assert [(a, t) for a, t, _, _ in updates] == [("platform", "quay-team")] * 3
    assert any("stored secret dropped (origin changed" in str(u) for u in updates)
    assert [(a, t) for a, t, _, _ in _audit(api, "registry.delete")] == [("platform", "quay-team")]


def test_deleting_a_registry_removes_its_grants_and_builtins_stay(api: Api) -> None:
    h = api.headers("admin")
    assert any(g["registry"] == "harbor-web" for g in _get(api, "/grants"))
    assert api.client.delete(f"{P}/registries/harbor-web", headers=h).status_code == 200
    assert not any(g["registry"] == "harbor-web" for g in _get(api, "/grants"))
    builtin = api.client.delete(f"{P}/registries/dockerhub-anonymous", headers=h)
    assert "built in" in assert_problem(builtin, 422)["detail"]


def test_environment_flow_and_its_dependents(api: Api) -> None:
    h = api.headers("admin")
    created = api.client.post(
        f"{P}/environments",
        json={"name": "qa-k8s", "kind": "kubernetes", "tier": "staging", "namespaces": ["payments", "qa"]},
        headers=h,
    )
    assert created.status_code == 201, created.text
    assert created.json()["namespaces"] == ["payments", "qa"]
    grant = {"registry": "harbor-payments", "environment": "qa-k8s", "namespace": "qa"}
    assert api.client.post(f"{P}/grants", json=grant, headers=h).status_code == 201
    registry = _get(api, "/registries/harbor-payments")
    assert {
        "registry": "harbor-payments",
        "environment": "qa-k8s",
        "namespace": "qa",
        "user": None,
        "team": None,
    } in registry["grants"]

    rows = state_rows(api.hm.db.engine)
    dropping = api.client.patch(f"{P}/environments/qa-k8s", json={"namespaces": ["payments"]}, headers=h)
    problem = assert_problem(dropping, 422)
    assert any("namespace qa is not a namespace of environment qa-k8s" in e for e in problem["errors"])
    assert state_rows(api.hm.db.engine) == rows

    patched = api.client.patch(
        f"{P}/environments/qa-k8s", json={"group": "eu", "tier": "production"}, headers=h
    )
    assert patched.status_code == 200 and patched.json()["tier"] == "production"
    assert patched.json()["namespaces"] == ["payments", "qa"]

    access = {"environment": "qa-k8s", "team": "payments"}
    assert api.client.post(f"{P}/access", json=access, headers=h).status_code == 201
    assert api.client.delete(f"{P}/environments/qa-k8s", headers=h).status_code == 200
    assert not any(g["environment"] == "qa-k8s" for g in _get(api, "/grants"))
    assert not any(a["environment"] == "qa-k8s" for a in _get(api, "/access"))
    assert_problem(api.client.get(f"{P}/environments/qa-k8s", headers=h), 404)


def test_grants_follow_the_environment_kind_and_access(api: Api) -> None:
    h = api.headers("platform")
    grant = {"registry": "harbor-web", "environment": "dev-docker", "user": "auditor"}
    rows = state_rows(api.hm.db.engine)
    refused = assert_problem(api.client.post(f"{P}/grants", json=grant, headers=h), 422)
    assert any("auditor has no access to environment dev-docker" in e for e in refused["errors"]), refused
    on_k8s = {"registry": "harbor-web", "environment": "prod-eu", "user": "web-dev"}
    refused = assert_problem(api.client.post(f"{P}/grants", json=on_k8s, headers=h), 422)
    assert any("rule D-05" in e for e in refused["errors"]), refused
    namespace_on_docker = {"registry": "harbor-web", "environment": "dev-docker", "namespace": "web"}
    assert_problem(api.client.post(f"{P}/grants", json=namespace_on_docker, headers=h), 422)
    assert state_rows(api.hm.db.engine) == rows

    access = {"environment": "dev-docker", "user": "auditor"}
    assert api.client.post(f"{P}/access", json=access, headers=h).status_code == 201
    added = api.client.post(f"{P}/grants", json=grant, headers=h)
    assert added.status_code == 201, added.text
    assert added.json()["changes"] == ["+ grant harbor-web -> dev-docker user auditor"]
    assert {**grant, "namespace": None, "team": None} in _get(api, "/grants")
    assert api.client.post(f"{P}/grants/delete", json=grant, headers=h).status_code == 200
    assert_problem(api.client.post(f"{P}/grants/delete", json=grant, headers=h), 404)
    assert api.client.post(f"{P}/access/delete", json=access, headers=h).status_code == 200
    assert_problem(api.client.post(f"{P}/access/delete", json=access, headers=h), 404)
    assert [r for _, _, r, _ in _audit(api, "grant.add")] == ["ok"]


def test_decisions(api: Api) -> None:
    h = api.headers("payments-dev")
    body = {"environment": "prod-eu", "namespace": "payments", "images": ["harbor.corp/payments/api:1.2"]}
    allowed = api.client.post(f"{P}/decisions", json={**body, "source_only": True}, headers=h)
    assert allowed.status_code == 200, allowed.text
    [decision] = allowed.json()
    assert decision["allowed"] is True and decision["registry"] == "harbor-payments"
    assert decision["normalized"] == "harbor.corp/payments/api:1.2"
    assert decision["verdict"] is None

    # The full verdict: harbor.corp cannot be reached from a test, so the tag is pinned to no digest,
    # which can be neither scanned nor verified; production requires both, so it is denied, saying why.
    full = api.client.post(f"{P}/decisions", json=body, headers=h)
    assert full.status_code == 200, full.text
    [verdict] = full.json()
    assert verdict["allowed"] is False and verdict["digest"] is None
    parts = verdict["verdict"]
    assert parts["tier"] == "production" and parts["policy_fingerprint"].startswith("sha256:")
    assert (parts["source"]["status"], parts["vulnerabilities"]["status"], parts["signature"]["status"]) == (
        "allowed",
        "unscanned",
        "unverified",
    )
    assert parts["vulnerabilities"]["unscanned_rule"] == "scan"
    assert any("its digest is not known" in r for r in verdict["reasons"])
    policy = api.client.get(f"{P}/policy", params={"environment": "prod-eu"}, headers=h).json()
    assert policy["fingerprint"] == parts["policy_fingerprint"]  # the rules it enforced, visibly

    denied = api.client.post(
        f"{P}/decisions",
        json={
            "environment": "prod-eu",
            "namespace": "payments",
            "images": ["harbor.corp/web/site:1", "nginx"],
        },
        headers=h,
    )
    assert denied.status_code == 200
    assert [d["allowed"] for d in denied.json()] == [False, False]
    assert all(d["reasons"] and d["reasons"][-1] == "denied by default" for d in denied.json())

    manifest = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: payments}
spec:
  template:
    spec:
      containers:
        - {name: api, image: harbor.corp/payments/api:1.2}
      initContainers:
        - {name: init, image: harbor.corp/web/init:1}
"""
    content = api.client.post(
        f"{P}/decisions", json={"environment": "prod-eu", "content": manifest, "source_only": True}, headers=h
    )
    assert content.status_code == 200, content.text
    by_image = {d["image"]: d for d in content.json()}
    assert by_image["harbor.corp/payments/api:1.2"]["allowed"] is True
    assert by_image["harbor.corp/web/init:1"]["allowed"] is False
    assert all(d["source"] and d["field_path"] for d in content.json())

    malformed = api.client.post(
        f"{P}/decisions", json={"environment": "prod-eu", "images": ["UPPER/Case::bad"]}, headers=h
    )
    assert_problem(malformed, 422)
    both = api.client.post(
        f"{P}/decisions", json={"environment": "prod-eu", "images": ["a"], "content": manifest}, headers=h
    )
    assert "either images or content" in assert_problem(both, 422)["detail"]

    results = [(actor, target, result) for actor, target, result, _ in _audit(api, "decision")]
    assert ("payments-dev", "prod-eu/namespace payments", "allowed") in results
    assert ("payments-dev", "prod-eu/namespace payments", "denied") in results


APPLY_DOC = """\
apiVersion: harbourmaster.io/v1
kind: Governance
environments:
  - name: applied-swarm
    kind: swarm
    tier: development
users:
  - name: applied-user
    role: auditor
"""


def test_apply_through_the_api(api: Api) -> None:
    # The document adds a user: only an administrator may (issue 8, escalation through apply).
    refused = api.client.post(f"{P}/apply", json={"document": APPLY_DOC}, headers=api.headers("platform"))
    assert_problem(refused, 403)
    assert "users" in refused.json()["detail"]
    h = api.headers("admin")
    revision = _recorded(api)
    dry = api.client.post(f"{P}/apply", json={"document": APPLY_DOC, "dry_run": True}, headers=h)
    assert dry.status_code == 200, dry.text
    assert dry.json()["applied"] is False and dry.json()["dry_run"] is True
    assert "+ environment applied-swarm" in "\n".join(dry.json()["changes"])
    assert_problem(api.client.get(f"{P}/environments/applied-swarm", headers=h), 404)
    assert _recorded(api) == revision

    done = api.client.post(f"{P}/apply", json={"document": APPLY_DOC}, headers=h)
    assert done.status_code == 200 and done.json()["applied"] is True
    assert _get(api, "/environments/applied-swarm")["kind"] == "swarm"
    assert {"name": "applied-user", "role": "auditor"} in _get(api, "/users")
    again = api.client.post(f"{P}/apply", json={"document": APPLY_DOC}, headers=h)
    assert again.json() == {**again.json(), "applied": False, "changes": []}

    broken = APPLY_DOC.replace("tier: development", "tier: testing")
    problem = assert_problem(api.client.post(f"{P}/apply", json={"document": broken}, headers=h), 422)
    assert any(e.startswith("environments[0].tier") for e in problem["errors"]), problem

    exported = api.client.get(f"{P}/export", headers=h)
    assert exported.status_code == 200 and "applied-swarm" in exported.text
    reapplied = api.client.post(f"{P}/apply", json={"document": exported.text}, headers=h)
    assert reapplied.status_code == 200, reapplied.text
    assert reapplied.json()["changes"] == []  # export -> apply is a no-op


def test_tokens(api: Api) -> None:
    issued = api.client.post(
        f"{P}/tokens",
        json={"user": "web-dev", "name": "ci", "expires_in_days": 30},
        headers=api.headers("admin"),
    )
    assert issued.status_code == 201, issued.text
    token = issued.json()["token"]
    assert token.startswith("hm_") and issued.json()["user"] == "web-dev"
    expires = dt.datetime.fromisoformat(issued.json()["expires_at"])
    assert dt.timedelta(days=29) < expires - dt.datetime.now(dt.UTC) <= dt.timedelta(days=30)
    me = api.client.get(f"{P}/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json() == {"name": "web-dev", "role": "team-member"}
    unknown = api.client.post(f"{P}/tokens", json={"user": "ghost"}, headers=api.headers("admin"))
    assert_problem(unknown, 404)
    too_long = api.client.post(
        f"{P}/tokens", json={"user": "web-dev", "expires_in_days": 99999}, headers=api.headers("admin")
    )
    assert_problem(too_long, 422)
    exported = api.client.get(f"{P}/audit/export", headers=api.headers("auditor"))
    assert exported.status_code == 200 and '"token.create"' in exported.text
    assert token not in exported.text
    with api.hm.db.read() as session:
        from harbourmaster.store.models import ApiTokenRow

        hashes = list(session.scalars(select(ApiTokenRow.token_hash)))
    assert token not in hashes and all(len(h) == 64 for h in hashes)


def test_expired_credentials_are_refused(api: Api) -> None:
    api.hm.clock = FixedClock.on(dt.date(2028, 7, 1))  # harbor-payments expired on 2028-06-30
    # The tokens issued in 2026 have expired by then too: the administrator gets a new one.
    api.tokens["admin"] = create_token(api.hm, user="admin", name="2028", actor="tests").token.reveal()
    view = _get(api, "/registries/harbor-payments")
    assert view["credential"]["expired"] is True
    expiring = _get(api, "/credentials/expiring", within="1d")
    assert {"registry": "harbor-payments", "expired": True, "days_left": -1}.items() <= next(
        c for c in expiring if c["registry"] == "harbor-payments"
    ).items()
    with pytest.raises(BadInput) as info:
        use_credential(api.hm, registry="harbor-payments", actor="deployer", purpose="pull")
    assert "expired on 2028-06-30" in info.value.message
    assert _audit(api, "credential.use")[-1] == (
        "deployer",
        "harbor-payments",
        "refused",
        {"purpose": "pull", "reason": "expired"},
    )
    decision = api.client.post(
        f"{P}/decisions",
        json={"environment": "prod-eu", "namespace": "payments", "images": ["harbor.corp/payments/api:1"]},
        headers=api.headers("admin"),
    ).json()[0]
    assert decision["allowed"] is False
    assert any("expired on 2028-06-30" in r for r in decision["reasons"])
    refused = api.client.post(
        f"{P}/registries",
        json={
            "name": "old",
            "provider": "custom",
            "url": "https://old.example",
            "credential": {"username": "u", "secret": "s", "expires": "2028-01-01"},
        },
        headers=api.headers("admin"),
    )
    assert any("expired credentials are refused" in e for e in assert_problem(refused, 422)["errors"])
