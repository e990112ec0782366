"""POST /api/v1/decisions with deployment content: what is not understood is a denied entry, not allowed."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.api.test_authz import assert_problem

P = "/api/v1"

CONTENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: payments}
spec:
  template:
    spec:
      containers: [{name: api, image: "harbor.corp/payments/api:1.2"}]
---
apiVersion: batch.volcano.sh/v1alpha1
kind: Job
metadata: {name: train, namespace: payments}
spec:
  tasks:
    - name: w
      template: {spec: {containers: [{name: w, image: "evil.io/miner:1"}]}}
---
apiVersion: example.com/v1
kind: Widget
metadata: {name: w, namespace: payments}
spec:
  steps: [{name: s, command: [run]}]
"""


def test_content_decisions_fail_closed(api: Api) -> None:
    h = api.headers("payments-dev")
    # The extraction is under test: the source decides.
    body = {
        "environment": "prod-eu",
        "namespace": "payments",
        "content": CONTENT,
        "resolve": False,
        "source_only": True,
    }
    response = api.client.post(f"{P}/decisions", json=body, headers=h)
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [(r["image"], r["allowed"], r["extraction"]) for r in rows] == [
        ("harbor.corp/payments/api:1.2", True, "known"),
        ("evil.io/miner:1", False, "fallback"),
        (None, False, "not-understood"),
    ]
    assert rows[1]["source"].startswith("batch.volcano.sh/v1alpha1 Job/train")
    denied = rows[2]
    assert denied["field_path"] == "spec.steps"
    assert denied["source"] == "example.com/v1 Widget/w in namespace payments (document 3)"
    assert "does not understand this object, so it is denied" in denied["reasons"][0]
    assert "content.ignore_kinds" in denied["reasons"][0]


def test_content_include_is_refused_through_the_api(api: Api) -> None:
    h = api.headers("payments-dev")
    compose = "include: [common.yaml]\nservices: {web: {image: nginx}}\n"
    response = api.client.post(
        f"{P}/decisions",
        json={"environment": "dev-docker", "user": "payments-dev", "content": compose},
        headers=h,
    )
    problem = assert_problem(response, 422)
    assert "request: compose file: include[0]: 'common.yaml' cannot be followed" in problem["detail"]
