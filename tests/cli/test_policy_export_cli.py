"""``policy export``, ``policy diff``, ``webhook manifests`` and ``install-manifests`` on the example model.

Kubernetes documents are checked against the official client's OpenAPI models (``_k8s_models``);
the webhook and gate fingerprint endpoints are played by a local HTTP stand-in.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from harbourmaster.domain.exports.kyverno import image_condition
from harbourmaster.domain.image_patterns import location_regex
from harbourmaster.domain.matching import parse_registry_location
from tests.cli._k8s_models import validate

CA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUYQ==\n-----END CERTIFICATE-----\n"


def export(cli: Any, tmp_path: Path, fmt: str, env: str = "prod-eu") -> Path:
    out = tmp_path / f"{fmt}.yaml"
    result = cli("policy", "export", "--env", env, "--format", fmt, "-o", str(out))
    assert result.exit_code == 0, result.output
    return out


def documents(path: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load_all(path.read_text()))


def fingerprint(cli: Any, env: str = "prod-eu") -> str:
    return str(json.loads(cli("policy", "show", "--env", env, "--json").stdout)["fingerprint"])


def test_untouched_exports_match_and_say_so(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    kyverno, gatekeeper = export(cli, tmp_path, "kyverno"), export(cli, tmp_path, "gatekeeper")
    result = cli(
        "policy", "diff", "--env", "prod-eu", "--kyverno", str(kyverno), "--gatekeeper", str(gatekeeper)
    )
    assert result.exit_code == 0, result.output
    assert f"kyverno, gatekeeper: all match environment prod-eu ({fingerprint(cli)})" in result.stdout
    (policy,) = documents(kyverno)
    assert policy["metadata"]["annotations"]["harbourmaster.io/policy-fingerprint"] == fingerprint(cli)
    # The example's production tier requires a signature and names no signer: nothing can satisfy it,
    # so the Kyverno export denies every image, as harbourmaster does.
    assert [r["name"] for r in policy["spec"]["rules"]] == [
        "registries-payments",
        "registries-web",
        "signatures-unverifiable",
    ]
    template, constraint = documents(gatekeeper)
    assert constraint["spec"]["parameters"]["namespaces"] == [
        {
            "name": "payments",
            "prefixes": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", "harbor.corp/payments"],
        },
        {"name": "web", "prefixes": ["123456789012.dkr.ecr.eu-west-1.amazonaws.com", "harbor.corp/web"]},
    ]
    cilium = documents(export(cli, tmp_path, "cilium-egress"))
    assert [(c["kind"], c["metadata"]["namespace"]) for c in cilium] == [
        ("CiliumNetworkPolicy", "payments"),
        ("CiliumNetworkPolicy", "web"),
    ]
    as_json = json.loads(
        cli("policy", "export", "--env", "prod-eu", "--format", "gatekeeper", "--json").stdout
    )
    assert as_json["documents"] == [template, constraint] and as_json["fingerprint"] == fingerprint(cli)


def test_hand_edited_kyverno_and_gatekeeper_files_are_refused_with_each_mismatch(  # type: ignore[no-untyped-def]
    cli, applied, tmp_path: Path
) -> None:
    kyverno = export(cli, tmp_path, "kyverno")
    (policy,) = documents(kyverno)
    payments = policy["spec"]["rules"][0]
    ghcr = location_regex(parse_registry_location("https://ghcr.io", "corp-tools"))
    payments["validate"]["foreach"][0]["deny"]["conditions"]["all"].append(
        {"key": image_condition(ghcr), "operator": "Equals", "value": False}
    )  # a registry added
    policy["spec"]["rules"][1]["match"]["any"][0]["resources"]["namespaces"] = ["web", "default"]  # widened
    kyverno.write_text(yaml.safe_dump(policy))

    gatekeeper = export(cli, tmp_path, "gatekeeper")
    template, constraint = documents(gatekeeper)
    constraint["spec"]["parameters"]["namespaces"][0]["prefixes"] = ["harbor.corp"]  # widened, ECR dropped
    gatekeeper.write_text(yaml.safe_dump_all([template, constraint]))

    result = cli(
        "policy", "diff", "--env", "prod-eu", "--kyverno", str(kyverno), "--gatekeeper", str(gatekeeper)
    )
    assert result.exit_code == 1
    lines = set(result.stdout.splitlines())
    assert lines >= {
        "kyverno: namespace payments: admits registry ghcr.io/corp-tools, which is not granted there",
        "kyverno: namespace default: is matched by rule registries-web but is not a namespace of environment "
        "prod-eu",
        "gatekeeper: namespace payments: admits registry harbor.corp, which is not granted there",
        "gatekeeper: namespace payments: does not admit registry harbor.corp/payments, which is granted "
        "there",
        "gatekeeper: namespace payments: does not admit registry "
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com, which is granted there",
    }
    assert "kyverno, gatekeeper: 5 mismatches with environment prod-eu" in result.stdout
    as_json = json.loads(
        cli("policy", "diff", "--env", "prod-eu", "--kyverno", str(kyverno), "--json").stdout
    )
    assert {m["layer"] for m in as_json["mismatches"]} == {"kyverno"} and len(as_json["mismatches"]) == 2


def test_an_export_from_before_a_grant_was_revoked_no_longer_matches(  # type: ignore[no-untyped-def]
    cli, applied, tmp_path: Path
) -> None:
    gatekeeper = export(cli, tmp_path, "gatekeeper")
    text = applied.read_text().replace(
        "namespaces: [payments, web]\n  - registry: ghcr-tools",
        "namespaces: [payments]\n  - registry: ghcr-tools",
    )
    changed = tmp_path / "governance.yaml"
    changed.write_text(text)
    assert cli("apply", "-f", str(changed), "--prune").exit_code == 0
    result = cli("policy", "diff", "--env", "prod-eu", "--gatekeeper", str(gatekeeper))
    assert result.exit_code == 1
    assert (
        "gatekeeper: namespace web: admits registry 123456789012.dkr.ecr.eu-west-1.amazonaws.com, which is "
        "not granted there"
    ) in result.stdout


class _PolicyStandIn(BaseHTTPRequestHandler):
    """A local stand-in for the webhook's and gate's ``GET /policy/{environment}`` (not the real servers)."""

    answer: dict[str, Any] = {}

    def do_GET(self) -> None:
        body = json.dumps(self.answer).encode()
        self.send_response(200 if self.path == "/policy/prod-eu" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stand_in() -> Iterator[tuple[str, type[_PolicyStandIn]]]:
    handler = type("Handler", (_PolicyStandIn,), {"answer": {}})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()


def test_a_layer_reporting_another_fingerprint_is_a_mismatch(  # type: ignore[no-untyped-def]
    cli, applied, stand_in: tuple[str, type[_PolicyStandIn]]
) -> None:
    url, handler = stand_in
    handler.answer = {"environment": "prod-eu", "tier": "production", "fingerprint": "sha256:" + "f" * 64}
    wrong = cli("policy", "diff", "--env", "prod-eu", "--webhook", url)
    assert wrong.exit_code == 1
    assert (
        f"webhook: {url}/policy/prod-eu: enforces rules with fingerprint sha256:{'f' * 64}; the governance "
        f"model's are {fingerprint(cli)}"
    ) in wrong.stdout
    handler.answer = {"environment": "prod-eu", "tier": "production", "fingerprint": fingerprint(cli)}
    right = cli("policy", "diff", "--env", "prod-eu", "--webhook", url, "--gate", url)
    assert right.exit_code == 0, right.stdout
    assert "webhook, gate: all match environment prod-eu" in right.stdout
    closed = cli("policy", "diff", "--env", "prod-eu", "--gate", "http://127.0.0.1:9")
    assert closed.exit_code == 1 and "gate: http://127.0.0.1:9/policy/prod-eu: no answer" in closed.stdout
    nothing = cli("policy", "diff", "--env", "prod-eu")
    assert nothing.exit_code == 2 and "--kyverno" in nothing.stderr


def test_exports_refuse_what_they_cannot_express(cli, applied, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    docker = cli("policy", "export", "--env", "dev-docker", "--format", "kyverno")
    assert docker.exit_code == 2 and "Kubernetes environments only" in docker.stderr
    typo = cli("policy", "export", "--env", "prod-uu", "--format", "kyverno")
    assert typo.exit_code == 2 and "did you mean prod-eu" in typo.stderr
    not_yaml = tmp_path / "bad.yaml"
    not_yaml.write_text("a: [")
    assert cli("policy", "diff", "--env", "prod-eu", "--kyverno", str(not_yaml)).exit_code == 2


def webhooks(cli: Any, *args: str) -> list[dict[str, Any]]:
    result = cli("webhook", "manifests", *args)
    assert result.exit_code == 0, result.output
    found = list(yaml.safe_load_all(result.stdout))
    for document in found:
        validate(document)
    return found


def test_webhook_manifests_validate_against_the_kubernetes_models(  # type: ignore[no-untyped-def]
    cli, applied, tmp_path: Path
) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text(CA)
    validating, mutating = webhooks(
        cli, "--env", "prod-eu", "--service", "hm/harbourmaster-webhook", "--ca-bundle", str(ca)
    )
    assert (validating["kind"], mutating["kind"]) == (
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    )
    (hook,) = validating["webhooks"]
    assert hook["clientConfig"]["service"] == {
        "namespace": "hm",
        "name": "harbourmaster-webhook",
        "path": "/validate/prod-eu",
        "port": 443,
    }
    assert base64.b64decode(hook["clientConfig"]["caBundle"]).decode() == CA
    assert mutating["webhooks"][0]["clientConfig"]["service"]["path"] == "/mutate/prod-eu"
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert hook["admissionReviewVersions"] == ["v1"] and 1 <= hook["timeoutSeconds"] <= 30
    assert hook["namespaceSelector"]["matchExpressions"] == [
        {"key": "kubernetes.io/metadata.name", "operator": "In", "values": ["payments", "web"]},
        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["hm", "kube-system"]},
    ]
    resources = {(g, r) for rule in hook["rules"] for g in rule["apiGroups"] for r in rule["resources"]}
    assert resources == {
        ("", "pods"),
        ("", "pods/ephemeralcontainers"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("apps", "replicasets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    }
    assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in hook["rules"])
    staging, _ = webhooks(cli, "--env", "staging-k8s", "--url", "https://hm.corp:8443/")
    assert staging["webhooks"][0]["failurePolicy"] == "Ignore"
    assert staging["webhooks"][0]["clientConfig"] == {"url": "https://hm.corp:8443/validate/staging-k8s"}
    assert "annotations" not in staging["metadata"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--env", "prod-eu"], "exactly one"),
        (["--env", "prod-eu", "--url", "https://a.corp", "--service", "a/b"], "exactly one"),
        (["--env", "prod-eu", "--url", "http://a.corp"], "https only"),
        (["--env", "prod-eu", "--service", "nameonly"], "NAMESPACE/NAME"),
        (["--env", "dev-docker", "--service", "a/b"], "Kubernetes only"),
        (["--env", "prod-eu", "--service", "a/b", "--timeout", "31"], "1 to 30"),
    ],
)
def test_webhook_manifests_bad_input(cli, applied, args: list[str], message: str) -> None:  # type: ignore[no-untyped-def]
    result = cli("webhook", "manifests", *args)
    assert result.exit_code == 2 and message in result.stderr


def test_install_manifests_are_a_complete_valid_deployment(cli, applied) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "install-manifests", "--namespace", "hm", "--image", "registry.corp/hm:1", "--database-secret", "pg"
    )
    assert result.exit_code == 0, result.output
    found = list(yaml.safe_load_all(result.stdout))
    models = {(d["kind"], d["metadata"]["name"]): validate(d) for d in found}
    assert set(models) >= {
        ("Namespace", "hm"),
        ("Deployment", "harbourmaster-api"),
        ("Service", "harbourmaster-api"),
        ("Deployment", "harbourmaster-webhook"),
        ("PodDisruptionBudget", "harbourmaster-webhook"),
        ("Service", "harbourmaster-webhook"),
        ("Deployment", "harbourmaster-worker"),
        ("ValidatingWebhookConfiguration", "harbourmaster-prod-eu"),
        ("MutatingWebhookConfiguration", "harbourmaster-staging-k8s"),
    }
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in found}
    webhook = by_name[("Deployment", "harbourmaster-webhook")]
    assert webhook["spec"]["replicas"] >= 2
    pdb = by_name[("PodDisruptionBudget", "harbourmaster-webhook")]
    assert pdb["spec"]["selector"]["matchLabels"] == webhook["spec"]["selector"]["matchLabels"]
    service = by_name[("Service", "harbourmaster-webhook")]["spec"]
    (container,) = webhook["spec"]["template"]["spec"]["containers"]
    assert service["ports"][0]["port"] == 443
    assert service["ports"][0]["targetPort"] == container["ports"][0]["name"]
    assert service["selector"] == webhook["spec"]["template"]["metadata"]["labels"]
    for name in ("harbourmaster-api", "harbourmaster-webhook", "harbourmaster-worker"):
        pod = by_name[("Deployment", name)]["spec"]["template"]["spec"]
        for each in pod["containers"] + pod.get("initContainers", []):
            assert each["image"] == "registry.corp/hm:1"
            env = {e["name"]: e for e in each["env"]}
            assert env["HARBOURMASTER_DATABASE_URL"]["valueFrom"]["secretKeyRef"]["name"] == "pg"
            assert "secretKeyRef" in env["HARBOURMASTER_MASTER_KEY"]["valueFrom"]
            security = each["securityContext"]
            assert security["runAsNonRoot"] and security["readOnlyRootFilesystem"]
            assert security["allowPrivilegeEscalation"] is False and each["resources"]["limits"]
    api = by_name[("Deployment", "harbourmaster-api")]["spec"]["template"]["spec"]["containers"][0]
    assert api["readinessProbe"]["httpGet"]["path"] == "/healthz" and "livenessProbe" in container
    hook = by_name[("ValidatingWebhookConfiguration", "harbourmaster-prod-eu")]
    assert hook["webhooks"][0]["clientConfig"]["service"]["name"] == "harbourmaster-webhook"
    assert hook["metadata"]["annotations"] == {"cert-manager.io/inject-ca-from": "hm/harbourmaster-webhook"}
    assert cli("install-manifests", "--webhook-replicas", "1").exit_code == 2
