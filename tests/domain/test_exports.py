"""The exported policies give harbourmaster's answer on every tricky image, and have the documented shape.

Kyverno's rules are evaluated here as Kyverno does (every condition key of the exported policy is a
JMESPath expression run with Kyverno's ``regex_match`` and ``regex_replace_all`` on Go's regex
semantics, see ``_kyverno_emulation``; Go's ``regexp``, Kyverno's own engine, runs the same table in
``tests/integration/test_export_engines.py``); Gatekeeper's Rego runs on regorus (PyPI ``opa-eval``),
the Rust implementation of OPA.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain.admission_rules import AdmissionRules, NamespaceSources, admission_rules
from harbourmaster.domain.exports.cilium import DOCKER_HUB_PULL_HOSTS, blob_hosts, cilium_policies
from harbourmaster.domain.exports.drift import kyverno_drift
from harbourmaster.domain.exports.gatekeeper import CONSTRAINT_KIND, REGO, constraint, constraint_template
from harbourmaster.domain.exports.kyverno import (
    NAME_LENGTH_KEY,
    UNVERIFIABLE_RULE,
    kyverno_policy,
    signature_gap,
)
from harbourmaster.domain.image_patterns import IMAGE_ID_REGEX, location_of_regex, location_regex
from harbourmaster.domain.matching import location_matches, parse_registry_location
from harbourmaster.domain.model import AdmissionMode, Provider
from harbourmaster.domain.reference import ReferenceError, parse_reference
from harbourmaster.domain.signing_trust import SigningTrust, TrustedIdentity, TrustedKey
from tests.domain._bypass_cases import (
    DIGEST512,
    ENVIRONMENTS,
    IMAGES,
    TENANTS,
    TODAY,
    snapshot,
    source_allowed,
)
from tests.domain._kyverno_emulation import PythonGoRegex, evaluate_key, kyverno_allows

KEY = TrustedKey("release", "-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")
IDENTITY = TrustedIdentity(
    "ci", "https://token.actions.githubusercontent.com", r"https://github\.com/corp/.+"
)
TRUST = SigningTrust(keys=(KEY,), identities=(IDENTITY,))

#: (written prefix, the prefix it normalises to) of each way to write a name on the tenants' registries.
_NAME_FORMS = (
    ("harbor.corp/payments/", "harbor.corp/payments/"),
    ("HARBOR.CORP/payments/team/", "harbor.corp/payments/team/"),
    ("harbor.corp:443/web/", "harbor.corp:443/web/"),
    ("[::1]:5000/a/b/", "[::1]:5000/a/b/"),
    ("123456789012.dkr.ecr.eu-west-1.amazonaws.com/", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/"),
    ("", "docker.io/library/"),
    ("library/", "docker.io/library/"),
    ("docker.io/", "docker.io/library/"),
    ("index.docker.io/", "docker.io/library/"),
    ("docker.io/library/", "docker.io/library/"),
    ("bitnami/", "docker.io/bitnami/"),
    ("registry.hub.docker.com/bitnami/", "docker.io/bitnami/"),
    ("REGISTRY-1.DOCKER.IO/bitnami/", "docker.io/bitnami/"),
    ("someone/", "docker.io/someone/"),
    ("docker.io/localhost/", "docker.io/localhost/"),
    ("localhost/", "localhost/"),
    ("localhost:5000/", "localhost:5000/"),
)

#: Names of 255 and 256 characters after normalisation (a 255-character one may be written longer,
#: ``registry.hub.docker.com/bitnami/...``, or shorter, ``xxx...``), bare and with a tag and a digest.
LONG_NAMES = tuple(
    f"{written}{'x' * (length - len(normalised))}{suffix}"
    for written, normalised in _NAME_FORMS
    for length in (255, 256)
    for suffix in ("", f":{'t' * 128}@{DIGEST512}")
)


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


def test_the_long_names_straddle_the_limit() -> None:
    lengths = set()
    for image in LONG_NAMES:
        try:
            lengths.add(len(parse_reference(image).repository))
        except ReferenceError:
            lengths.add(256)
    assert lengths == {255, 256}
    assert any(
        len(image.partition(":t")[0]) > 255 and source_allowed("dev", "bitnami", image)
        for image in LONG_NAMES
    )


def test_kyverno_gives_harbourmasters_answer_on_every_tricky_image() -> None:
    differences = set()
    for environment, namespace in TENANTS:
        policy = kyverno_policy(rules_of(environment), failure_policy="Fail")
        for image in (*IMAGES, *LONG_NAMES):
            if kyverno_allows(policy, namespace, image) != source_allowed(environment, namespace, image):
                differences.add((environment, namespace, image))
    assert differences == set()


def _name_length(image: str) -> int | None:
    try:
        return len(parse_reference(image).repository)
    except ReferenceError:
        return None


@settings(max_examples=400, deadline=None)
@given(
    host=_host | st.sampled_from(["registry.hub.docker.com", "DOCKER.IO", "docker.io:443", "a.b", "x-y"]),
    path=st.lists(_component, min_size=1, max_size=4),
    filler=st.integers(min_value=0, max_value=260),
    suffix=_suffix,
)
def test_the_name_length_key_is_the_normalised_names_length(
    host: str, path: list[str], filler: int, suffix: str
) -> None:
    path[-1] += "x" * filler
    image = (f"{host}/" if host else "") + "/".join(path) + suffix
    expected = _name_length(image)
    if expected is not None:  # what the steps make of an invalid reference does not decide anything
        assert evaluate_key(NAME_LENGTH_KEY, image, PythonGoRegex()) == expected, image


def test_the_name_length_key_on_the_tricky_images() -> None:
    for image in (*IMAGES, *LONG_NAMES):
        expected = _name_length(image)
        if expected is not None:
            assert evaluate_key(NAME_LENGTH_KEY, image, PythonGoRegex()) == expected, image
    assert evaluate_key(NAME_LENGTH_KEY, None, PythonGoRegex()) == len("docker.io/library/")


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
        {
            "toFQDNs": [
                {"matchName": "prod-eu-west-1-starport-layer-bucket.s3.amazonaws.com"},
                {"matchName": "prod-eu-west-1-starport-layer-bucket.s3.eu-west-1.amazonaws.com"},
            ],
            "toPorts": [{"ports": [{"port": "443", "protocol": "TCP"}]}],
        },
    ]
    description = policies["payments"]["spec"]["description"]
    assert "123456789012.dkr.ecr.eu-west-1.amazonaws.com (ecr): prod-eu-west-1-starport" in description
    assert policies["empty"]["spec"]["egress"][1:] == []
    dev = {p["metadata"]["namespace"]: p for p in cilium_policies(rules_of("dev"))}
    names = {m["matchName"] for rule in dev["library"]["spec"]["egress"][1:] for m in rule["toFQDNs"]}
    assert names == set(DOCKER_HUB_PULL_HOSTS)
    local = dev["local"]["spec"]["egress"][1:]
    assert {(r["toPorts"][0]["ports"][0]["port"], r["toFQDNs"][0]["matchName"]) for r in local} == {
        ("5000", "localhost"),
        ("443", "localhost"),
    }


#: Cilium's validation of FQDN selectors (pkg/policy/api/fqdn.go).
_CILIUM_MATCH_NAME = re.compile(r"^[-a-zA-Z0-9_.]+$")
_CILIUM_MATCH_PATTERN = re.compile(r"^[-a-zA-Z0-9_.*]+$")


def _cilium_fqdn_matches(selector: dict[str, str], host: str) -> bool:
    """Cilium's FQDN matching: a name exactly, a pattern's ``*`` within one DNS label."""
    if "matchName" in selector:
        return selector["matchName"].lower() == host.lower()
    regex = "".join("[-a-zA-Z0-9_]*" if c == "*" else re.escape(c) for c in selector["matchPattern"])
    return re.fullmatch(regex, host, re.IGNORECASE) is not None


#: (registry URL, its provider, blob hosts a pull is redirected to that the export must allow).
_SERVICES = (
    ("https://ghcr.io", Provider.GHCR, ["pkg-containers.githubusercontent.com"]),
    ("https://quay.io", Provider.QUAY, ["cdn.quay.io", "cdn01.quay.io", "cdn03.quay.io"]),
    (
        "https://210987654321.dkr.ecr.us-east-2.amazonaws.com",
        Provider.ECR,
        ["prod-us-east-2-starport-layer-bucket.s3.us-east-2.amazonaws.com"],
    ),
    ("https://eu.gcr.io", Provider.GAR, ["storage.googleapis.com"]),
    ("https://corpreg.azurecr.io", Provider.ACR, ["corpreg.westeurope.data.azurecr.io"]),
    ("https://registry.gitlab.com", Provider.GITLAB, ["cdn.registry.gitlab-static.net"]),
    ("https://docker.io", Provider.DOCKERHUB, ["production.cloudflare.docker.com"]),
)


def _one_namespace(*urls: str) -> AdmissionRules:
    locations = tuple(parse_registry_location(url) for url in urls)
    return AdmissionRules(
        **{**_fields(rules_of("prod")), "namespaces": (NamespaceSources("apps", locations),)}
    )


def test_cilium_allows_the_blob_hosts_each_registry_service_redirects_to() -> None:
    (policy,) = cilium_policies(_one_namespace(*(url for url, _, _ in _SERVICES)))
    egress = policy["spec"]["egress"][1:]
    selectors = [s for rule in egress for s in rule.get("toFQDNs", [])]
    for selector in selectors:
        if "matchName" in selector:
            assert _CILIUM_MATCH_NAME.fullmatch(selector["matchName"]), selector
        else:
            assert _CILIUM_MATCH_PATTERN.fullmatch(selector["matchPattern"]), selector
            assert "**" not in selector["matchPattern"] and selector["matchPattern"] != "*"
    blob_rule = egress[-1]
    assert blob_rule["toPorts"] == [{"ports": [{"port": "443", "protocol": "TCP"}]}]
    for url, provider, hosts in _SERVICES:
        name = url.removeprefix("https://")
        found = blob_hosts(name)
        assert found is not None and found.provider is provider, url
        for host in hosts:
            assert any(_cilium_fqdn_matches(s, host) for s in blob_rule["toFQDNs"]), (url, host)
        assert f"{name} ({provider.value}):" in policy["spec"]["description"]
    # Nothing that opens a whole cloud's storage, or another tenant's data endpoint.
    for host in (
        "evil.blob.core.windows.net",
        "attacker-bucket.s3.amazonaws.com",
        "d1234.cloudfront.net",
        "other.westeurope.data.azurecr.io",
        "cdn.quay.io.evil.io",
        "prod-us-east-1-starport-layer-bucket.s3.us-east-1.amazonaws.com",
    ):
        assert not any(_cilium_fqdn_matches(s, host) for s in selectors), host


def test_cilium_self_hosted_registries_get_no_blob_hosts() -> None:
    (policy,) = cilium_policies(
        _one_namespace(
            "https://harbor.corp",
            "https://quay.corp",
            "https://gitlab.corp:5050",
            "https://europe-docker.pkg.dev",
        )
    )
    names = [s for rule in policy["spec"]["egress"][1:] for s in rule["toFQDNs"]]
    assert names == [  # port 443, then 5050
        {"matchName": "europe-docker.pkg.dev"},
        {"matchName": "harbor.corp"},
        {"matchName": "quay.corp"},
        {"matchName": "gitlab.corp"},
    ]
    assert "Blob downloads" not in policy["spec"]["description"]
    assert blob_hosts("123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn") is not None
    assert blob_hosts("123.dkr.ecr.us-east-1.amazonaws.com") is None  # not an account number
    assert blob_hosts("ghcr.io.evil.io") is None and blob_hosts("evilquay.io") is None


def test_kyverno_drift_names_a_missing_length_guard() -> None:
    rules = rules_of("prod")
    policy = kyverno_policy(rules, failure_policy="Fail")
    assert kyverno_drift(rules, [policy], failure_policy="Fail") == []
    guards = policy["spec"]["rules"][0]["validate"]["foreach"][1]["deny"]["conditions"]["any"]
    guards[1]["value"] = 300
    found = {(d.subject, d.detail) for d in kyverno_drift(rules, [policy], failure_policy="Fail")}
    assert ("rule registries-payments", "does not deny names over 255 characters") in found
    assert any("has a condition harbourmaster did not write" in detail for _, detail in found)
    guards.pop()
    found = {(d.subject, d.detail) for d in kyverno_drift(rules, [policy], failure_policy="Fail")}
    assert found == {("rule registries-payments", "does not deny names over 255 characters")}


@pytest.mark.parametrize(
    ("signers", "required", "gap"),
    [
        (("notary-release",), "any", "are Notation trust policies"),
        (("release", "notary-release"), "all", "requires every signer, and notary-release"),
        ((), "any", "names no signer"),
        (("release", "notary-release"), "any", None),  # Kyverno checks the key: stricter, never looser
        (("release", "ci"), "all", None),
    ],
)
def test_kyverno_denies_every_image_where_it_cannot_check_the_signature_rule(
    signers: tuple[str, ...], required: str, gap: str | None
) -> None:
    rules = rules_of("prod", signers=signers, required=required)
    rules = AdmissionRules(**{**_fields(rules), "require_signature": True})
    policy = kyverno_policy(rules, failure_policy="Fail")
    names = [r["name"] for r in policy["spec"]["rules"]]
    granted = "harbor.corp/payments/api:1.0"
    assert source_allowed("prod", "payments", granted)
    if gap is None:
        assert UNVERIFIABLE_RULE not in names
        assert kyverno_allows(policy, "payments", granted)  # the source rules alone admit it
        return
    assert names[-1] == UNVERIFIABLE_RULE
    rule = policy["spec"]["rules"][-1]
    assert gap in rule["validate"]["message"]
    assert rule["match"]["any"][0]["resources"]["namespaces"] == [ns.namespace for ns in rules.namespaces]
    for namespace in ("payments", "web", "hub"):
        assert not kyverno_allows(policy, namespace, granted)
    assert kyverno_drift(rules, [policy], failure_policy="Fail") == []
    policy["spec"]["rules"].pop()  # a site that drops the deny-all: policy diff says what it admits
    found = {(d.subject, d.detail) for d in kyverno_drift(rules, [policy], failure_policy="Fail")}
    assert found == {("signatures", f"admits images harbourmaster denies: {signature_gap(rules)}")}
