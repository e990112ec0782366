"""Reading exported policies back: an untouched export matches; every hand edit is named."""

from __future__ import annotations

import copy
from typing import Any

from harbourmaster.domain.exports.drift import Drift, gatekeeper_drift, kyverno_drift
from harbourmaster.domain.exports.gatekeeper import constraint, constraint_template
from harbourmaster.domain.exports.kyverno import image_condition, kyverno_policy
from harbourmaster.domain.image_patterns import location_regex
from harbourmaster.domain.matching import parse_registry_location
from tests.domain.test_exports import KEY, rules_of

RULES = rules_of("prod", signers=("release", "ci"))


def kyverno() -> dict[str, Any]:
    return kyverno_policy(RULES, failure_policy="Fail")


def details(drifts: list[Drift]) -> set[tuple[str, str]]:
    return {(d.subject, d.detail) for d in drifts}


def rule(policy: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in policy["spec"]["rules"] if r["name"] == name)


def test_an_untouched_export_matches() -> None:
    assert kyverno_drift(RULES, [kyverno()], failure_policy="Fail") == []
    assert gatekeeper_drift(RULES, [constraint_template(), constraint(RULES)]) == []


def test_kyverno_a_registry_added_and_one_removed() -> None:
    policy = kyverno()
    conditions = rule(policy, "registries-payments")["validate"]["foreach"][0]["deny"]["conditions"]["all"]
    conditions.pop(0)  # the ECR registry
    evil = location_regex(parse_registry_location("https://harbor.corp", "payments-evil"))
    conditions.append({"key": image_condition(evil), "operator": "Equals", "value": False})
    assert details(kyverno_drift(RULES, [policy], failure_policy="Fail")) == {
        ("namespace payments", "admits registry harbor.corp/payments-evil, which is not granted there"),
        (
            "namespace payments",
            "does not admit registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com, which is granted there",
        ),
    }


def test_kyverno_a_pattern_edited_by_hand_cannot_be_named() -> None:
    policy = kyverno()
    condition = rule(policy, "registries-payments")["validate"]["foreach"][0]["deny"]["conditions"]["all"][2]
    condition["key"] = condition["key"].replace("payments(?:/", "payments(?:.*|/")
    found = details(kyverno_drift(RULES, [policy], failure_policy="Fail"))
    assert (
        "namespace payments",
        "does not admit registry harbor.corp/payments, which is granted there",
    ) in found
    assert any(
        subject == "rule registries-payments" and "not the pattern of any registry prefix" in detail
        for subject, detail in found
    )


def test_kyverno_a_namespace_widened_a_key_removed_and_the_mode_relaxed() -> None:
    policy = kyverno()
    rule(policy, "registries-web")["match"]["any"][0]["resources"]["namespaces"] = ["web", "default"]
    rule(policy, "registries-payments")["match"]["any"][0]["resources"]["namespaces"] = ["*"]
    attestor = rule(policy, "signatures")["verifyImages"][0]["attestors"][0]
    attestor["entries"] = [e for e in attestor["entries"] if "keys" not in e]
    policy["spec"]["validationFailureAction"] = "Audit"
    found = details(kyverno_drift(RULES, [policy], failure_policy="Fail"))
    assert found >= {
        ("namespace default", "is matched by rule registries-web but is not a namespace of environment prod"),
        ("rule registries-payments", "matches every namespace"),
        ("signatures", "key release is not required"),
        ("validationFailureAction", "is Audit; the environment's admission mode asks for Enforce"),
    }
    # registries-payments now also applies to web and empty and hub, narrowing them: named per namespace.
    assert ("namespace web", "admits registry harbor.corp/payments, which is not granted there") in found


def test_kyverno_an_extra_key_a_rule_removed_and_an_old_export() -> None:
    policy = kyverno()
    attestor = rule(policy, "signatures")["verifyImages"][0]["attestors"][0]
    attestor["entries"].append({"keys": {"publicKeys": KEY.public_key_pem.replace("MFkw", "MFkX")}})
    policy["spec"]["rules"] = [r for r in policy["spec"]["rules"] if r["name"] != "registries-hub"]
    policy["metadata"]["annotations"]["harbourmaster.io/policy-fingerprint"] = "sha256:old"
    found = details(kyverno_drift(RULES, [policy], failure_policy="Ignore"))
    assert found >= {
        ("signatures", "a public key that is not a signer of the tier is accepted"),
        ("namespace hub", "no rule restricts its registries"),
        ("failurePolicy", "is Fail; the environment's is Ignore"),
    }
    assert any("exported under rules with fingerprint sha256:old" in detail for _, detail in found)


def test_gatekeeper_a_prefix_widened_a_namespace_added_and_the_rego_changed() -> None:
    item = constraint(RULES)
    payments = item["spec"]["parameters"]["namespaces"][0]
    payments["prefixes"] = [p if p != "harbor.corp/payments" else "harbor.corp" for p in payments["prefixes"]]
    item["spec"]["parameters"]["namespaces"].append({"name": "default", "prefixes": ["ghcr.io"]})
    item["spec"]["match"]["namespaces"] = ["payments", "web", "empty"]
    template = copy.deepcopy(constraint_template())
    template["spec"]["targets"][0]["rego"] = template["spec"]["targets"][0]["rego"].replace(
        'concat("", [scope, "/"])', "scope"
    )
    item["spec"]["enforcementAction"] = "dryrun"
    assert details(gatekeeper_drift(RULES, [template, item])) == {
        ("namespace payments", "admits registry harbor.corp, which is not granted there"),
        ("namespace payments", "does not admit registry harbor.corp/payments, which is granted there"),
        ("namespace default", "has registry prefixes but is not a namespace of environment prod"),
        ("namespace hub", "is not matched by the constraint"),
        ("ConstraintTemplate harbourmasterallowedregistries", "its Rego is not the one harbourmaster writes"),
        ("enforcementAction", "is dryrun; the environment's admission mode asks for deny"),
    }


def test_a_file_without_the_policy_says_so() -> None:
    assert details(kyverno_drift(RULES, [{"kind": "ConfigMap"}], failure_policy="Fail")) == {
        ("file", "no Kyverno ClusterPolicy found")
    }
    assert ("file", "no ConstraintTemplate found") in details(gatekeeper_drift(RULES, [constraint(RULES)]))
