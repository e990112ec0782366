"""The exported policies give harbourmaster's answer on every tricky image, and have the documented shape.

Kyverno's rules are evaluated here as Kyverno does (each container's image against the anchored
regexes of its namespace's rule, with Python's ``re``; Go's ``regexp``, Kyverno's own engine, runs the
same table in ``tests/integration/test_export_engines.py``); Gatekeeper's Rego runs on regorus
(PyPI ``opa-eval``), the Rust implementation of OPA.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain.admission_rules import AdmissionRules, admission_rules
from harbourmaster.domain.exports.cilium import DOCKER_HUB_PULL_HOSTS, cilium_policies
from harbourmaster.domain.exports.gatekeeper import CONSTRAINT_KIND, REGO, constraint, constraint_template
from harbourmaster.domain.exports.kyverno import CONTAINER_LIST, kyverno_policy
from harbourmaster.domain.image_patterns import IMAGE_ID_REGEX, location_of_regex, location_regex
from harbourmaster.domain.matching import location_matches, parse_registry_location
from harbourmaster.domain.model import AdmissionMode
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.signing_trust import SigningTrust, TrustedIdentity, TrustedKey
from tests.domain._bypass_cases import ENVIRONMENTS, IMAGES, TENANTS, TODAY, snapshot, source_allowed

KEY = TrustedKey("release", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")
IDENTITY = TrustedIdentity(
    "ci", "https://token.actions.githubusercontent.com", r"https://github\.com/corp/.+"
)
TRUST = SigningTrust(keys=(KEY,), identities=(IDENTITY,))

#: Kyverno's variable syntax (pkg/engine/variables/regex): a key outside it is not evaluated at all.
KYVERNO_VARIABLE = re.compile(r"\{\{(\{[^{}]*\}|[^{}])*\}\}")
#: What the API server and runtimes do not let through anyway, and Kyverno's regexes cannot express:
#: a name over 255 characters after normalisation.
KYVERNO_KNOWN_GAP = {"harbor.corp/payments/" + "x" * 240}


def rules_of(environment: str, *, signers: tuple[str, ...] = (), required: str = "any") -> AdmissionRules:
    env = next(e for e in ENVIRONMENTS if e.name == environment)
    return admission_rules(
        snapshot(),
        env,
        trust=TRUST,
        require_signature=bool(signers),
        signers=signers,
        signers_required=required,
        fingerprint="sha256:" + "0" * 64,
        today=TODAY,
    )


# -- the regex of one location -----------------------------------------------------------------------


def _written_allowed(location_url: str, scope: str | None, image: str) -> bool:
    location = parse_registry_location(location_url, scope)
    try:
        ref = parse_reference(image)
    except ReferenceError:
        return False
    return location_matches(location, ref)


@pytest.mark.parametrize(
    ("url", "scope"),
    [
        ("https://harbor.corp", "payments"),
        ("https://harbor.corp", None),
        ("https://harbor.corp:443", "web"),
        ("https://docker.io", None),
        ("https://docker.io", "library"),
        ("https://docker.io", "library/nginx"),
        ("https://docker.io", "bitnami"),
        ("https://docker.io", "a.b"),
        ("https://docker.io", "localhost/x"),
        ("https://localhost", None),
        ("http://localhost:5000", "x"),
        ("https://[::1]:5000", "a/b"),
    ],
)
def test_a_location_regex_admits_exactly_what_the_matcher_admits(url: str, scope: str | None) -> None:
    location = parse_registry_location(url, scope)
    regex = location_regex(location)
    found = location_of_regex(regex)
    assert found is not None and found.prefix == location.prefix  # the scheme is not in an image name
    for image in (*IMAGES, "a.b/c", "docker.io/a.b/c", "localhost/x/y", "docker.io/localhost/x/y"):
        if len(image) > 255:
            continue
        exported = bool(re.fullmatch(regex, image)) and not re.fullmatch(IMAGE_ID_REGEX, image)
        assert exported == _written_allowed(url, scope, image), (url, scope, image)


_component = st.from_regex(r"[a-z0-9]{1,3}(?:[._-][a-z0-9]{1,2})?", fullmatch=True) | st.sampled_from(
    ["payments", "library", "nginx", "localhost", "bitnami", "web", "a", "b"]
)
_host = st.sampled_from(
    [
        "harbor.corp",
        "HARBOR.corp",
        "harbor.corp:443",
        "docker.io",
        "index.docker.io",
        "Registry-1.Docker.io",
        "localhost",
        "localhost:5000",
        "[::1]:5000",
        "",
    ]
)
_suffix = st.sampled_from(["", ":1", ":v1.2-x", "@sha256:" + "a" * 64, ":1@sha256:" + "a" * 64, ":", "@x"])


@settings(max_examples=400, deadline=None)
@given(
    host=_host,
    path=st.lists(_component, min_size=1, max_size=4),
    suffix=_suffix,
    location=st.sampled_from(
        [
            ("https://harbor.corp", "payments"),
            ("https://docker.io", "library"),
            ("https://docker.io", None),
            ("https://localhost", None),
            ("https://docker.io", "library/nginx"),
            ("https://harbor.corp:443", "web"),
        ]
    ),
)
def test_generated_references_get_the_matchers_answer(
    host: str, path: list[str], suffix: str, location: tuple[str, str | None]
) -> None:
    image = (f"{host}/" if host else "") + "/".join(path) + suffix
    regex = location_regex(parse_registry_location(*location))
    exported = bool(re.fullmatch(regex, image)) and not re.fullmatch(IMAGE_ID_REGEX, image)
    assert exported == _written_allowed(*location, image), image


# -- Kyverno -------------------------------------------------------------------------------------------


def _python_matches(regex: str, text: str) -> bool:
    # Go and Rust read "$" as the end of the text; re.fullmatch does the same for Python.
    return bool(re.fullmatch(regex, text))


def kyverno_allows(
    policy: dict[str, Any], namespace: str, image: str, matches: Callable[[str, str], bool] = _python_matches
) -> bool:
    """Kyverno's verdict on a pod with one container: every matching rule's foreach denies nothing
    (``matches``: the regex engine, Python's here and Go's in the integration test)."""
    for rule in policy["spec"]["rules"]:
        if "validate" not in rule or namespace not in rule["match"]["any"][0]["resources"]["namespaces"]:
            continue
        for each in rule["validate"]["foreach"]:
            assert each["list"] == CONTAINER_LIST
            conditions = each["deny"].get("conditions")
            if conditions is None:
                return False  # a deny without conditions denies every element
            results = []
            for key in ("all", "any"):
                for condition in conditions.get(key, []):
                    assert KYVERNO_VARIABLE.fullmatch(condition["key"]), condition["key"]
                    (regex,) = re.findall(r"regex_match\('(.*)', element\.image \|\| ''\)", condition["key"])
                    results.append((key, matches(regex, image) == condition["value"]))
            alls = [ok for key, ok in results if key == "all"]
            anys = [ok for key, ok in results if key == "any"]
            if (not alls or all(alls)) and (not anys or any(anys)):
                return False
    return True


def test_kyverno_gives_harbourmasters_answer_on_every_tricky_image() -> None:
    differences = set()
    for environment, namespace in TENANTS:
        policy = kyverno_policy(rules_of(environment), failure_policy="Fail")
        for image in IMAGES:
            if kyverno_allows(policy, namespace, image) != source_allowed(environment, namespace, image):
                differences.add(image)
    assert differences == KYVERNO_KNOWN_GAP


def test_kyverno_policy_shape_mode_and_signatures() -> None:
    rules = rules_of("prod", signers=("release", "ci"), required="any")
    policy = kyverno_policy(rules, failure_policy="Fail")
    assert (policy["apiVersion"], policy["kind"]) == ("kyverno.io/v1", "ClusterPolicy")
    assert (
        policy["spec"]["validationFailureAction"] == "Enforce" and policy["spec"]["failurePolicy"] == "Fail"
    )
    names = [r["name"] for r in policy["spec"]["rules"]]
    assert names == [
        "registries-payments",
        "registries-web",
        "registries-empty",
        "registries-hub",
        "signatures",
    ]
    empty = policy["spec"]["rules"][2]["validate"]["foreach"][0]["deny"]
    assert empty == {}  # nothing granted: every image denied
    (verify,) = policy["spec"]["rules"][-1]["verifyImages"]
    assert verify["imageReferences"] == ["*"] and verify["required"] is True
    (attestor,) = verify["attestors"]
    assert attestor["count"] == 1
    assert attestor["entries"][0]["keys"]["publicKeys"] == KEY.public_key_pem
    keyless = attestor["entries"][1]["keyless"]
    assert keyless == {"issuer": IDENTITY.issuer, "subjectRegExp": f"^(?:{IDENTITY.subject_regex})$"}
    every = kyverno_policy(rules_of("prod", signers=("release", "ci"), required="all"), failure_policy="Fail")
    attestors = every["spec"]["rules"][-1]["verifyImages"][0]["attestors"]
    assert len(attestors) == 2 and all("count" not in a for a in attestors)
    audit = kyverno_policy(
        AdmissionRules(**{**_fields(rules), "mode": AdmissionMode.AUDIT}), failure_policy="Ignore"
    )
    assert audit["spec"]["validationFailureAction"] == "Audit" and audit["spec"]["failurePolicy"] == "Ignore"


def _fields(rules: AdmissionRules) -> dict[str, Any]:
    return {name: getattr(rules, name) for name in AdmissionRules.__slots__}  # type: ignore[attr-defined]


def test_unusable_registries_are_not_exported() -> None:
    rules = rules_of("prod")
    web = rules.sources_of("web")
    assert web is not None and web.prefixes == ("harbor.corp/payments/team", "harbor.corp:443/web")
    hub = rules.sources_of("hub")
    assert hub is not None and hub.prefixes == ()  # Docker Hub is public: not on production (D-06)
    open_hub = rules_of("dev-open").sources_of("sandbox")
    assert open_hub is not None and open_hub.prefixes == ("docker.io",)


# -- Gatekeeper ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def regorus(tmp_path_factory: pytest.TempPathFactory) -> Any:
    opa_eval = pytest.importorskip("opa_eval", reason="pip install -e '.[test]' (opa-eval: regorus)")
    path: Path = tmp_path_factory.mktemp("rego") / "template.rego"
    path.write_text(REGO)
    return opa_eval.OpaEval(str(path), query="data.harbourmasterallowedregistries.violation")


def review(namespace: str, images: list[Any], *, kind: str = "Pod") -> dict[str, Any]:
    spec = {"containers": [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]}
    obj: dict[str, Any] = {"metadata": {"namespace": namespace}, "spec": spec}
    if kind == "Deployment":
        obj = {"metadata": {"namespace": namespace}, "spec": {"template": {"spec": spec}}}
    if kind == "CronJob":
        obj = {
            "metadata": {"namespace": namespace},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}},
        }
    return {"kind": {"group": "", "version": "v1", "kind": kind}, "namespace": namespace, "object": obj}


def test_gatekeeper_gives_harbourmasters_answer_on_every_tricky_image(regorus: Any) -> None:
    for environment, namespace in TENANTS:
        parameters = constraint(rules_of(environment))["spec"]["parameters"]
        for image in IMAGES:
            violations = regorus.evaluate_parsed(
                json.dumps({"review": review(namespace, [image]), "parameters": parameters})
            )
            assert (not violations) == source_allowed(environment, namespace, image), (
                environment,
                namespace,
                image,
                violations,
            )


def test_gatekeeper_reads_every_workload_shape_and_names_the_container(regorus: Any) -> None:
    parameters = constraint(rules_of("prod"))["spec"]["parameters"]
    for kind in ("Pod", "Deployment", "CronJob"):
        images = ["harbor.corp/payments/api:1", "harbor.corp/payments-evil/api:1", None]
        violations = regorus.evaluate_parsed(
            json.dumps({"review": review("payments", images, kind=kind), "parameters": parameters})
        )
        messages = sorted(v["msg"] for v in violations)
        assert messages == [
            "containers/c1: image harbor.corp/payments-evil/api:1 is not from a registry granted to "
            "namespace payments on environment prod",
            "containers/c2: image null is not from a registry granted to namespace payments on "
            "environment prod",
        ], kind


def test_gatekeeper_template_and_constraint_shape() -> None:
    template = constraint_template()
    assert (template["apiVersion"], template["kind"]) == ("templates.gatekeeper.sh/v1", "ConstraintTemplate")
    # Gatekeeper requires the template's name to be its constraint kind in lower case.
    assert template["metadata"]["name"] == template["spec"]["crd"]["spec"]["names"]["kind"].lower()
    (target,) = template["spec"]["targets"]
    assert target["target"] == "admission.k8s.gatekeeper.sh" and target["rego"] == REGO
    item = constraint(rules_of("prod"))
    assert (item["apiVersion"], item["kind"]) == ("constraints.gatekeeper.sh/v1beta1", CONSTRAINT_KIND)
    assert item["spec"]["enforcementAction"] == "deny"
    assert item["spec"]["match"]["namespaces"] == ["payments", "web", "empty", "hub"]
    schema = template["spec"]["crd"]["spec"]["validation"]["openAPIV3Schema"]
    jsonschema.validate(item["spec"]["parameters"], schema)
    assert item["spec"]["parameters"]["namespaces"][0] == {
        "name": "payments",
        "prefixes": [
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
            "[::1]:5000/a/b",
            "harbor.corp/payments",
        ],
    }


# -- Cilium --------------------------------------------------------------------------------------------


def test_cilium_allows_each_namespace_only_its_registry_hosts_and_dns() -> None:
    policies = {p["metadata"]["namespace"]: p for p in cilium_policies(rules_of("prod"))}
    assert set(policies) == {"payments", "web", "empty", "hub"}
    for policy in policies.values():
        assert (policy["apiVersion"], policy["kind"]) == ("cilium.io/v2", "CiliumNetworkPolicy")
        assert policy["spec"]["endpointSelector"] == {}
        dns = policy["spec"]["egress"][0]
        assert dns["toEndpoints"][0]["matchLabels"]["k8s:k8s-app"] == "kube-dns"
        assert dns["toPorts"][0]["rules"] == {"dns": [{"matchPattern": "*"}]}
    payments = policies["payments"]["spec"]["egress"][1:]
    assert payments == [
        {
            "toFQDNs": [
                {"matchName": "123456789012.dkr.ecr.eu-west-1.amazonaws.com"},
                {"matchName": "harbor.corp"},
            ],
            "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
        },
        {"toCIDR": ["::1/128"], "toPorts": [{"ports": [{"port": "5000", "protocol": "TCP"}]}]},
    ]
    assert policies["empty"]["spec"]["egress"][1:] == []
    dev = {p["metadata"]["namespace"]: p for p in cilium_policies(rules_of("dev"))}
    names = {m["matchName"] for rule in dev["library"]["spec"]["egress"][1:] for m in rule["toFQDNs"]}
    assert names == set(DOCKER_HUB_PULL_HOSTS)
    local = dev["local"]["spec"]["egress"][1:]
    assert {(r["toPorts"][0]["ports"][0]["port"], r["toFQDNs"][0]["matchName"]) for r in local} == {
        ("5000", "localhost"),
        ("443", "localhost"),
    }
