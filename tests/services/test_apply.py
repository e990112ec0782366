"""apply: idempotent, dry-run diff, prune, all-or-nothing with paths for every error."""

from __future__ import annotations

import os

import pytest
import yaml

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.model import Tier
from harbourmaster.services.apply import apply_document
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.document import DocumentInvalid
from harbourmaster.services.export import export_yaml


def apply(hm: Harbourmaster, text: str, **kw: bool):  # type: ignore[no-untyped-def]
    return apply_document(hm, local_principal(hm), text, source="test.yaml", host=hm.host_files(), **kw)


def audit_count(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        return sum(1 for _ in tx.audit.entries())


def test_apply_creates_everything_then_second_apply_changes_nothing(
    hm: Harbourmaster, example_text: str
) -> None:
    first = apply(hm, example_text)
    assert first.applied
    assert "+ registry harbor-payments" in first.changes
    assert "+ grant harbor-payments -> prod-eu namespace payments" in first.changes
    state = hm.state()
    assert {r.name for r in state.registries} >= {
        "harbor-payments",
        "harbor-web",
        "ecr-prod",
        "dockerhub-anonymous",
    }
    assert state.registry("harbor-payments").scope == "payments"  # type: ignore[union-attr]
    assert state.tiers[Tier.PRODUCTION].require_signature
    records = audit_count(hm)
    second = apply(hm, example_text)
    assert second.changes == [] and not second.applied
    assert second.revision == first.revision
    assert audit_count(hm) == records, "a no-op apply must not write"


def test_dry_run_shows_the_diff_and_writes_nothing(hm: Harbourmaster, example_text: str) -> None:
    apply(hm, example_text)
    before = hm.state()
    doc = yaml.safe_load(example_text)
    doc["environments"][0]["group"] = "changed"
    doc["grants"] = [g for g in doc["grants"] if g["registry"] != "harbor-web"]
    doc["registries"][1]["credential"]["expires"] = "2029-01-01"
    result = apply(hm, yaml.safe_dump(doc), dry_run=True)
    assert not result.applied and result.dry_run
    assert "~ environment dev-docker: group: 'development' -> 'changed'" in result.changes
    assert any(
        c.startswith("~ registry harbor-web: credential.expires: 2028-03-31 -> 2029-01-01")
        for c in result.changes
    )
    # Without --prune, grants the file no longer names are kept.
    assert not any(c.startswith("- grant") for c in result.changes)
    assert hm.state() == before


def test_prune_removes_what_the_file_no_longer_names(hm: Harbourmaster, example_text: str) -> None:
    apply(hm, example_text)
    doc = yaml.safe_load(example_text)
    doc["registries"] = [r for r in doc["registries"] if r["name"] != "ghcr-tools"]
    doc["grants"] = [g for g in doc["grants"] if g["registry"] != "ghcr-tools"]
    kept = apply(hm, yaml.safe_dump(doc))
    assert kept.changes == []
    assert hm.state().registry("ghcr-tools") is not None
    pruned = apply(hm, yaml.safe_dump(doc), prune=True)
    assert "- registry ghcr-tools" in pruned.changes
    assert "- grant ghcr-tools -> dev-docker team payments" in pruned.changes
    state = hm.state()
    assert state.registry("ghcr-tools") is None
    assert state.registry("dockerhub-anonymous") is not None, "the built-in registry is never pruned"


def test_bad_file_reports_every_error_with_its_path_and_writes_nothing(
    hm: Harbourmaster, example_text: str
) -> None:
    apply(hm, example_text)
    before, records = hm.state(), audit_count(hm)
    doc = yaml.safe_load(example_text)
    doc["registries"][2]["url"] = "ftp://nope"
    doc["registries"].append({"name": "hub", "provider": "dockerhub", "url": "https://docker.io"})
    doc["grants"].append({"registry": "hub", "environment": "prod-eu", "namespaces": ["payments"]})
    doc["grants"].append({"registry": "harbor-web", "environment": "dev-docker", "teams": ["nobody-team"]})
    doc["grants"].append({"registry": "harbor-web", "environment": "prod-eu", "namespaces": ["missing"]})
    doc["environments"][1]["tier"] = "qa"
    doc["users"].append({"name": "x", "role": "superuser", "extra": 1})
    doc["users"].append({"name": "y", "api key ghp_0123456789abcdefghij": "z"})
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc, sort_keys=False))
    details = "\n".join(err.value.details)
    # Schema, value and reference problems come together, in the document's order.
    paths = [d.split(":")[0] for d in err.value.details]
    assert paths.index("registries[2].url") < paths.index("environments[1].tier")
    assert paths.index("environments[1].tier") < paths.index("users[6].role")
    assert paths.index("users[6].role") < paths.index("grants[8].namespaces[0]")
    assert "registries[2].url:" in details and "ftp" in details
    assert "environments[1].tier" in details
    assert "users[6].role" in details
    # An identifier-shaped unknown key is named; anything else might be a pasted secret and is not.
    assert "users[6]: unknown field 'extra'" in details
    assert "users[7]: unknown field <unprintable>" in details
    assert "ghp_0123456789" not in details and "superuser" not in details
    assert "grants[8].namespaces[0]: registry hub is public" in details and "D-06" in details
    assert "grants[9].teams[0]: team nobody-team is not defined" in details
    assert "grants[10].namespaces[0]: namespace missing is not a namespace of environment prod-eu" in details
    # Entries with problems of their own are not reported again where they are referenced.
    assert "ecr-prod is not defined" not in details and "staging-k8s is not defined" not in details
    assert hm.state() == before and audit_count(hm) == records


def test_docker_grant_to_identity_without_access_names_the_rule(hm: Harbourmaster, example_text: str) -> None:
    doc = yaml.safe_load(example_text)
    doc["grants"].append(
        {"registry": "dev-local", "environment": "dev-docker", "users": ["payments-dev", "auditor"]}
    )
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    (only,) = err.value.details
    assert only.startswith("grants[8].users[1]: user auditor has no access to environment dev-docker")
    assert "grant-requires-access" in only


def test_robot_credential_without_expiry_cannot_reach_production(
    hm: Harbourmaster, example_text: str
) -> None:
    doc = yaml.safe_load(example_text)
    del doc["registries"][0]["credential"]["expires"]
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    assert any("D-08" in d and "harbor-payments" in d for d in err.value.details)


def test_expired_credential_is_refused(hm: Harbourmaster, example_text: str) -> None:
    doc = yaml.safe_load(example_text)
    doc["registries"][1]["credential"]["expires"] = "2020-01-01"
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    assert any(d.startswith("registries[1].credential.expires") and "expired" in d for d in err.value.details)


def test_plain_http_needs_insecure_and_development_tier(hm: Harbourmaster, example_text: str) -> None:
    doc = yaml.safe_load(example_text)
    del doc["registries"][4]["tls"]
    doc["grants"].append({"registry": "dev-local", "environment": "staging-k8s", "namespaces": ["web"]})
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    details = "\n".join(err.value.details)
    assert "registries[4].url" in details and "insecure" in details
    doc["registries"][4]["tls"] = {"insecure": True}
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    assert any("insecure" in d and "staging" in d for d in err.value.details)


def test_inline_secret_and_missing_variable_are_errors(
    hm: Harbourmaster, example_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    doc = yaml.safe_load(example_text)
    doc["registries"][0]["credential"]["secret"] = "hunter2-inline"
    monkeypatch.delenv("HM_EXAMPLE_ECR_SECRET")
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    details = "\n".join(err.value.details)
    assert "registries[0].credential.secret" in details and "never inline" in details
    assert "hunter2-inline" not in details
    assert "HM_EXAMPLE_ECR_SECRET is not set" in details


def test_secret_change_is_detected_without_revealing_it(
    hm: Harbourmaster, example_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    apply(hm, example_text)
    monkeypatch.setenv("HM_EXAMPLE_HARBOR_WEB_SECRET", "rotated-value-xyz")
    result = apply(hm, example_text)
    assert result.changes == ["~ registry harbor-web: secret replaced"]
    assert "rotated-value-xyz" not in repr(result)
    assert apply(hm, example_text).changes == []


def test_credential_without_secret_keeps_the_stored_one(hm: Harbourmaster, example_text: str) -> None:
    from harbourmaster.services.credentials import use_credential

    apply(hm, example_text)
    doc = yaml.safe_load(example_text)
    del doc["registries"][0]["credential"]["secret"]
    assert apply(hm, yaml.safe_dump(doc)).changes == []
    use = use_credential(hm, registry="harbor-payments", actor="t", purpose="test")
    assert use is not None and use.secret.reveal() == os.environ["HM_EXAMPLE_HARBOR_PAYMENTS_SECRET"]


def test_new_credential_without_secret_is_an_error(hm: Harbourmaster, example_text: str) -> None:
    doc = yaml.safe_load(example_text)
    del doc["registries"][0]["credential"]["secret"]
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    assert any(d.startswith("registries[0].credential.secret: required") for d in err.value.details)


def test_export_applies_back_as_a_no_op(hm: Harbourmaster, example_text: str) -> None:
    apply(hm, example_text)
    exported = export_yaml(hm.state())
    assert "secret" not in exported.replace("secret_", "")
    assert apply(hm, exported).changes == []
    assert apply(hm, exported, prune=True).changes == []


def test_malformed_yaml_names_line_and_column(hm: Harbourmaster) -> None:
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, "apiVersion: harbourmaster.io/v1\nkind: Governance\nregistries: [\n  - {name: a\n")
    assert "line" in err.value.details[0] and "invalid YAML" in err.value.details[0]
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, "apiVersion: v0\nkind: Governance\n")
    assert err.value.details[0].startswith("apiVersion:")


def test_tier_overrides_are_validated(hm: Harbourmaster, example_text: str) -> None:
    doc = yaml.safe_load(example_text)
    doc["tiers"]["staging"] = {"block_severity": "catastrophic"}
    doc["tiers"]["development"] = {"block_severity": "medium", "advisory_severity": "high"}
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    details = "\n".join(err.value.details)
    assert "tiers.staging" in details and "catastrophic" in details
    assert "tiers.development" in details and "above the block severity" in details


def test_allowlist_applies_exports_and_is_validated(hm: Harbourmaster, example_text: str) -> None:
    apply(hm, example_text)
    (entry,) = hm.state().allowlist
    assert (entry.advisory, entry.registry, entry.expires.isoformat()) == (
        "CVE-2023-4911",
        "harbor-payments",
        "2027-03-31",
    )
    exported = yaml.safe_load(export_yaml(hm.state()))
    assert exported["allowlist"][0]["id"] == "CVE-2023-4911"
    doc = yaml.safe_load(example_text)
    doc["allowlist"].append(
        {"id": "GHSA-aaaa-bbbb-cccc", "expires": "2027-01-01", "reason": "vendor VEX pending"}
    )
    result = apply(hm, yaml.safe_dump(doc))
    assert result.changes == ["+ allowlist GHSA-aaaa-bbbb-cccc"]
    doc["allowlist"].append({"id": "not an id", "registry": "ghost", "expires": "2027-01-01", "reason": " "})
    with pytest.raises(DocumentInvalid) as err:
        apply(hm, yaml.safe_dump(doc))
    details = "\n".join(err.value.details)
    assert "allowlist[2].id" in details and "allowlist[2].registry: registry ghost is not defined" in details
    assert "allowlist[2].reason" in details


def test_environment_admission_settings_apply_export_and_default_by_tier(
    hm: Harbourmaster, example_text: str
) -> None:
    doc = yaml.safe_load(example_text)
    for env in doc["environments"]:
        if env["name"] == "staging-k8s":
            env.update(admission="audit", failure_policy="Fail")
    report = apply(hm, yaml.safe_dump(doc))
    assert any("staging-k8s" in line for line in report.changes)
    envs = {e.name: e for e in hm.state().environments}
    staging, prod = envs["staging-k8s"], envs["prod-eu"]
    assert (staging.admission.value, staging.effective_failure_policy.value) == ("audit", "Fail")
    # Omitted: enforce, and the tier's failure policy (Fail on production, Ignore elsewhere).
    assert (prod.admission.value, prod.failure_policy, prod.effective_failure_policy.value) == (
        "enforce",
        None,
        "Fail",
    )
    assert envs["dev-docker"].effective_failure_policy.value == "Ignore"
    exported = yaml.safe_load(export_yaml(hm.state()))
    shown = {e["name"]: e for e in exported["environments"]}
    assert shown["staging-k8s"]["admission"] == "audit" and shown["staging-k8s"]["failure_policy"] == "Fail"
    assert "admission" not in shown["prod-eu"] and "failure_policy" not in shown["prod-eu"]
    assert apply(hm, export_yaml(hm.state())).changes == []  # the export applies back as a no-op
    doc["environments"][0]["admission"] = "sometimes"
    with pytest.raises(DocumentInvalid) as refused:
        apply(hm, yaml.safe_dump(doc))
    assert any("environments[0].admission" in d for d in refused.value.details), refused.value.details


def test_require_approved_content_applies_persists_and_exports_back_as_a_no_op(
    hm: Harbourmaster, example_text: str
) -> None:
    apply(hm, example_text)
    assert not hm.state().tiers[Tier.PRODUCTION].require_approved_content
    doc = yaml.safe_load(example_text)
    doc["tiers"].setdefault("production", {})["require_approved_content"] = True
    result = apply(hm, yaml.safe_dump(doc))
    assert "~ tier production: require_approved_content: False -> True" in result.changes
    assert hm.state().tiers[Tier.PRODUCTION].require_approved_content
    assert not hm.state().tiers[Tier.STAGING].require_approved_content
    exported = yaml.safe_load(export_yaml(hm.state()))
    assert exported["tiers"]["production"]["require_approved_content"] is True
    assert apply(hm, export_yaml(hm.state())).changes == []
    # Omitting it keeps the stored value; false turns it off.
    del doc["tiers"]["production"]["require_approved_content"]
    assert apply(hm, yaml.safe_dump(doc)).changes == []
    doc["tiers"]["production"]["require_approved_content"] = False
    assert apply(hm, yaml.safe_dump(doc)).changes == [
        "~ tier production: require_approved_content: True -> False"
    ]
