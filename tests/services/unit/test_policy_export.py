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


def test_a_tier_admitting_only_approved_content_is_not_exported_to_kyverno_or_gatekeeper(
    applied: Harbourmaster,
) -> None:
    import yaml

    from harbourmaster.domain.model import Tier
    from harbourmaster.services.governance import update_tier

    admin = Principal("admin", Role.ADMINISTRATOR)
    kyverno = export_policy(applied, AUDITOR, environment="staging-k8s", format=ExportFormat.KYVERNO)
    gatekeeper = export_policy(applied, AUDITOR, environment="staging-k8s", format=ExportFormat.GATEKEEPER)
    update_tier(applied, admin, Tier.STAGING, require_approved_content=True)
    for fmt, engine in ((ExportFormat.KYVERNO, "Kyverno"), (ExportFormat.GATEKEEPER, "Gatekeeper")):
        with pytest.raises(BadInput) as err:
            export_policy(applied, AUDITOR, environment="staging-k8s", format=fmt)
        message = err.value.message
        assert "environment staging-k8s" in message and "require_approved_content: true" in message
        assert f"{engine} policy would admit images harbourmaster denies" in message
        assert "webhook manifests --env staging-k8s" in message
    # Egress rules are not an image policy: they are still written.
    egress = export_policy(applied, AUDITOR, environment="staging-k8s", format=ExportFormat.CILIUM_EGRESS)
    assert egress.documents
    # A file exported before the tier required approved content is a mismatch: it admits what is denied.
    result = diff_policy(
        applied,
        AUDITOR,
        environment="staging-k8s",
        kyverno=("kyverno.yaml", yaml.safe_dump_all(kyverno.documents)),
        gatekeeper=("gatekeeper.yaml", yaml.safe_dump_all(gatekeeper.documents)),
    )
    gaps = [m for m in result.mismatches if m.subject == "approved content"]
    assert [m.layer for m in gaps] == ["kyverno", "gatekeeper"]
    assert all("admits images harbourmaster denies" in m.detail for m in gaps)
    # A running webhook still on the old rules reports the old fingerprint: a mismatch too.
    old = LayerAnswer(
        "webhook",
        "https://hm/policy/staging-k8s",
        body={"environment": "staging-k8s", "tier": "staging", "fingerprint": kyverno.fingerprint},
    )
    assert diff_policy(applied, AUDITOR, environment="staging-k8s", answers=[old]).mismatches
