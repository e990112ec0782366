"""What a newcomer sends by mistake gets a problem naming the input, never a 500."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_authz import assert_problem

P = "/api/v1"

DOCUMENT = """\
apiVersion: harbourmaster.io/v1
kind: Governance
environments:
  - name: applied-swarm
    kind: swarm
    tier: development
allowlist:
  - id: CVE-2024-1234
    expires: 2025-13-01
    reason: an impossible date
grants:
  - registry: harbor-paymnts
    environment: applied-swarm
    users: [tools-dev]
"""


def test_apply_with_an_impossible_date_is_a_422_with_every_path(api: Api) -> None:
    response = api.client.post(f"{P}/apply", json={"document": DOCUMENT}, headers=api.headers("admin"))
    problem = assert_problem(response, 422)
    errors = problem["errors"]
    assert any(e.startswith("allowlist[0].expires:") and "month" in e for e in errors), errors
    # The reference problem comes in the same answer, with the closest name.
    assert (
        "grants[0].users[0].registry: registry harbor-paymnts is not defined (did you mean harbor-payments?)"
        in errors
    )


def test_decisions_name_a_misspelt_environment_and_a_missing_namespace(api: Api) -> None:
    h = api.headers("admin")
    body = {"environment": "prod-us", "namespace": "payments", "images": ["nginx"]}
    unknown = assert_problem(api.client.post(f"{P}/decisions", json=body, headers=h), 404)
    assert "environment prod-us is not defined (did you mean prod-eu?)" in unknown["detail"]
    body = {"environment": "prod-eu", "images": ["nginx"]}
    no_namespace = assert_problem(api.client.post(f"{P}/decisions", json=body, headers=h), 422)
    assert "is Kubernetes" in no_namespace["detail"]


def test_decisions_say_why_a_digest_is_unknown(api: Api) -> None:
    """dev-local (http://127.0.0.1:5000) has nothing listening: allowed, not pinned, and the reason."""
    response = api.client.post(
        f"{P}/decisions",
        json={"environment": "dev-docker", "user": "payments-dev", "images": ["127.0.0.1:5000/team/app:1"]},
        headers=api.headers("admin"),
    )
    assert response.status_code == 200, response.text
    (decision,) = response.json()
    assert decision["allowed"] is True and decision["digest"] is None
    assert "127.0.0.1:5000" in decision["digest_error"]
    unasked = api.client.post(
        f"{P}/decisions",
        json={
            "environment": "dev-docker",
            "user": "payments-dev",
            "images": ["127.0.0.1:5000/team/app:1"],
            "resolve": False,
        },
        headers=api.headers("admin"),
    )
    assert unasked.json()[0]["digest_error"] is None


def test_an_unknown_field_in_a_body_is_named_only_when_identifier_shaped(api: Api) -> None:
    h = api.headers("admin")
    body = {"name": "x", "kind": "swarm", "tier": "development", "teir": "staging"}
    named = assert_problem(api.client.post(f"{P}/environments", json=body, headers=h), 422)
    assert "body: unknown field 'teir' (see the OpenAPI document)" in named["errors"]
    pasted = {"name": "x", "kind": "swarm", "tier": "development", "hunter2 pasted secret!": 1}
    hidden = assert_problem(api.client.post(f"{P}/environments", json=pasted, headers=h), 422)
    assert "body: unknown field <unprintable> (see the OpenAPI document)" in hidden["errors"]
    assert "hunter2" not in str(hidden)


def test_an_unknown_environment_in_a_path_names_the_closest(api: Api) -> None:
    missing = api.client.get(f"{P}/environments/prod-us", headers=api.headers("admin"))
    detail = assert_problem(missing, 404)["detail"]
    assert "environment prod-us is not defined (did you mean prod-eu?)" in detail
