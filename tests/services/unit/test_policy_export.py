"""policy export and diff, webhook manifests on the fakes: the services answer from the model and name
every difference a running layer reports."""

from __future__ import annotations

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.exports import ExportFormat
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.manifests import webhook_manifests
from harbourmaster.services.policy import show_policy
from harbourmaster.services.policy_export import LayerAnswer, diff_policy, export_policy
from tests.services.unit._example import apply_example

AUDITOR = Principal("auditor", Role.AUDITOR)


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def test_an_export_carries_the_rules_fingerprint_and_the_grants(applied: Harbourmaster) -> None:
    result = export_policy(applied, AUDITOR, environment="staging-k8s", format=ExportFormat.GATEKEEPER)
    assert result.fingerprint == show_policy(applied, AUDITOR, environment="staging-k8s").fingerprint
    _, constraint = result.documents
    assert constraint["spec"]["parameters"]["namespaces"] == [
        {"name": "payments", "prefixes": ["harbor.corp/payments"]},
        {"name": "web", "prefixes": ["harbor.corp/web"]},
    ]
    # staging: Ignore unless the environment says otherwise; the admission mode defaults to enforce.
    (kyverno,) = export_policy(
        applied, AUDITOR, environment="staging-k8s", format=ExportFormat.KYVERNO
    ).documents
    assert kyverno["spec"]["failurePolicy"] == "Ignore"
    assert kyverno["spec"]["validationFailureAction"] == "Enforce"
    with pytest.raises(NotFound):
        export_policy(applied, AUDITOR, environment="nowhere", format=ExportFormat.KYVERNO)


def test_layers_answering_other_rules_or_nothing_are_mismatches(applied: Harbourmaster) -> None:
    fingerprint = show_policy(applied, AUDITOR, environment="prod-eu").fingerprint
    answers = [
        LayerAnswer(
            "webhook",
            "https://hm/policy/prod-eu",
            body={"environment": "prod-eu", "tier": "production", "fingerprint": fingerprint},
        ),
        LayerAnswer(
            "gate",
            "https://gate/policy/prod-eu",
            body={"environment": "prod-eu", "tier": "staging", "fingerprint": "sha256:0"},
        ),
        LayerAnswer("gate", "https://gate2/policy/prod-eu", error="ConnectError: refused"),
    ]
    result = diff_policy(applied, AUDITOR, environment="prod-eu", answers=answers)
    assert result.layers == ["webhook", "gate", "gate"]
    assert [(m.subject, m.detail) for m in result.mismatches] == [
        ("https://gate/policy/prod-eu", "enforces tier staging; environment prod-eu is production"),
        (
            "https://gate/policy/prod-eu",
            f"enforces rules with fingerprint sha256:0; the governance model's are {fingerprint}",
        ),
        ("https://gate2/policy/prod-eu", "no answer on its policy endpoint: ConnectError: refused"),
    ]
    with pytest.raises(BadInput, match="at least one layer"):
        diff_policy(applied, AUDITOR, environment="prod-eu")


def test_webhook_manifests_exclude_the_webhooks_own_namespace(applied: Harbourmaster) -> None:
    validating, _ = webhook_manifests(applied, AUDITOR, environment="prod-eu", service="payments/hm")
    selector = validating["webhooks"][0]["namespaceSelector"]["matchExpressions"]
    assert selector[0]["values"] == ["web"] and selector[1]["values"] == ["kube-system", "payments"]
    with pytest.raises(BadInput, match="BEGIN CERTIFICATE"):
        webhook_manifests(applied, AUDITOR, environment="prod-eu", service="a/b", ca_bundle_pem="not pem")
