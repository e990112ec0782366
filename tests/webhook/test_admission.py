"""The admission webhooks over real HTTPS: ``webhook serve`` in a subprocess, AdmissionReviews posted.

The API server is not available here; these requests are what it sends (the vectors are real ones
from kubewarden and kubernetes), and the answers are checked against the AdmissionReview v1 contract.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import json
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from harbourmaster.services.admission import webhook_principal
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.policy import show_policy
from tests.webhook.conftest import CANARY, Site, TlsPair, Webhook, pod, review, running_webhook

pytestmark = pytest.mark.integration

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "admission"
DENIED = "docker.io/library/nginx:1.25"

WORKLOADS: dict[str, tuple[tuple[str, str, str], list[str]]] = {
    "Pod": (("", "v1", "Pod"), ["spec"]),
    "Deployment": (("apps", "v1", "Deployment"), ["spec", "template", "spec"]),
    "StatefulSet": (("apps", "v1", "StatefulSet"), ["spec", "template", "spec"]),
    "DaemonSet": (("apps", "v1", "DaemonSet"), ["spec", "template", "spec"]),
    "ReplicaSet": (("apps", "v1", "ReplicaSet"), ["spec", "template", "spec"]),
    "ReplicationController": (("", "v1", "ReplicationController"), ["spec", "template", "spec"]),
    "Job": (("batch", "v1", "Job"), ["spec", "template", "spec"]),
    "CronJob": (("batch", "v1", "CronJob"), ["spec", "jobTemplate", "spec", "template", "spec"]),
}


def workload(kind: str, pod_spec: dict[str, Any]) -> dict[str, Any]:
    (group, version, name), path = WORKLOADS[kind]
    obj: dict[str, Any] = {
        "apiVersion": f"{group}/{version}" if group else version,
        "kind": name,
        "metadata": {"name": "w", "namespace": "web"},
    }
    node = obj
    for key in path[:-1]:
        node = node.setdefault(key, {})
    node[path[-1]] = pod_spec
    return obj


def response(answer: Any, uid: str = "uid-1") -> dict[str, Any]:
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["apiVersion"] == "admission.k8s.io/v1" and body["kind"] == "AdmissionReview"
    assert body["response"]["uid"] == uid
    for warning in body["response"].get("warnings", []):
        assert len(warning) < 120
    return dict(body["response"])


def wrapped(path: Path) -> dict[str, Any]:
    data = json.loads(path.read_text())
    if "request" not in data:
        data = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": data}
    data["request"].setdefault("namespace", "default")
    return dict(data)


@pytest.mark.parametrize(
    "name",
    sorted(p.relative_to(VECTORS).as_posix() for p in VECTORS.rglob("*.json") if "kubewarden" in p.parts[-2]),
)
def test_upstream_vectors_are_judged_and_ungranted_images_denied(webhook: Webhook, name: str) -> None:
    vector = wrapped(VECTORS / name)
    out = response(webhook.post("/validate/dev", vector), vector["request"]["uid"])
    # None of the vectors' images (Docker Hub, ghcr.io) is granted on dev: each is denied by name.
    assert out["allowed"] is False
    assert out["status"]["code"] == 403
    message = out["status"]["message"]
    obj = vector["request"]["object"]
    spec = obj["spec"]["template"]["spec"] if "template" in obj["spec"] else obj["spec"]
    for field in ("initContainers", "containers"):
        for i, container in enumerate(spec.get(field, [])):
            assert container["image"] in message
            assert f"{field}[{i}].image" in message
    assert out["auditAnnotations"]["verdict"] == "denied"


def test_the_kubernetes_round_trip_fixture_gets_a_well_formed_answer(webhook: Webhook) -> None:
    vector = json.loads((VECTORS / "kubernetes" / "admission.k8s.io.v1.AdmissionReview.json").read_text())
    out = response(webhook.post("/validate/dev", vector), "uidValue")
    # Its operation ("operationValue") is neither CREATE nor UPDATE: allowed with no decision.
    assert out == {"uid": "uidValue", "allowed": True}


@pytest.mark.parametrize("kind", sorted(WORKLOADS))
def test_every_kind_allowed_and_denied_with_container_paths(webhook: Webhook, site: Site, kind: str) -> None:
    group_kind = WORKLOADS[kind][0]
    pinned = f"{site.image}@{site.digest}"
    good = workload(kind, {"containers": [{"name": "a", "image": pinned}]})
    out = response(webhook.post("/validate/dev", review(good, kind=group_kind)))
    assert out["allowed"] is True, out
    bad = workload(
        kind,
        {
            "initContainers": [{"name": "i", "image": pinned}],
            "containers": [{"name": "a", "image": pinned}, {"name": "b", "image": DENIED}],
        },
    )
    out = response(webhook.post("/validate/dev", review(bad, kind=group_kind, operation="UPDATE")))
    assert out["allowed"] is False
    prefix = ".".join(WORKLOADS[kind][1])
    assert f"image {DENIED} at {prefix}.containers[1].image" in out["status"]["message"]
    assert pinned not in out["status"]["message"]


def test_ephemeral_containers_and_the_subresource(webhook: Webhook, site: Site) -> None:
    pinned = f"{site.image}@{site.digest}"
    obj = pod(pinned, ephemeral=(DENIED,))
    for extra in ({}, {"subresource": "ephemeralcontainers"}):
        out = response(webhook.post("/validate/dev", review(obj, kind=("", "v1", "Pod"), **extra)))
        assert out["allowed"] is False
        assert "spec.ephemeralContainers[0].image" in out["status"]["message"]
    # Other subresources and operations are not decided.
    status = review(obj, kind=("", "v1", "Pod"), subresource="status")
    assert response(webhook.post("/validate/dev", status)) == {"uid": "uid-1", "allowed": True}
    delete = review(obj, kind=("", "v1", "Pod"), operation="DELETE")
    assert response(webhook.post("/validate/dev", delete)) == {"uid": "uid-1", "allowed": True}


def test_audit_mode_admits_with_warnings_and_dry_run_is_not_recorded(webhook: Webhook, site: Site) -> None:
    obj = pod(DENIED)
    enforced = response(
        webhook.post("/validate/dev", review(obj, kind=("", "v1", "Pod"), uid="u-enf")), "u-enf"
    )
    assert enforced["allowed"] is False and enforced["auditAnnotations"]["mode"] == "enforce"
    audited = response(
        webhook.post("/validate/dev-audit", review(obj, kind=("", "v1", "Pod"), uid="u-aud")), "u-aud"
    )
    assert audited["allowed"] is True and "status" not in audited
    assert audited["auditAnnotations"]["verdict"] == "denied"
    assert any(w.startswith("harbourmaster audit mode, would deny") for w in audited["warnings"])
    dry = response(
        webhook.post("/validate/dev", review(obj, kind=("", "v1", "Pod"), uid="u-dry", dryRun=True)), "u-dry"
    )
    assert dry["allowed"] is False
    assert dry["auditAnnotations"]["recorded"].startswith("false")
    ids = {a["auditAnnotations"]["decision-id"]: a for a in (enforced, audited, dry)}
    hm = Harbourmaster.from_environ(site.env)

    def recorded_now() -> dict[str, Any]:
        with hm.store.read() as tx:
            return {e.details["decision_id"]: e for e in tx.audit.entries() if e.action == "admission"}

    # The writer flushes every 0.1 s: the entries arrive without stopping the server (waited for, as a
    # loaded machine may take longer); the dry run, answered last, would have been written by then too.
    wanted = {enforced["auditAnnotations"]["decision-id"], audited["auditAnnotations"]["decision-id"]}
    deadline = time.monotonic() + 10
    while not wanted <= set(recorded_now()) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    recorded = recorded_now()
    assert enforced["auditAnnotations"]["decision-id"] in recorded
    assert audited["auditAnnotations"]["decision-id"] in recorded
    assert dry["auditAnnotations"]["decision-id"] not in recorded
    entry = recorded[enforced["auditAnnotations"]["decision-id"]]
    assert entry.actor == "webhook:dev"
    assert entry.result == "denied"
    assert entry.details["kubernetes_user"] == "alice"
    assert entry.details["kind"] == "Pod" and entry.details["operation"] == "CREATE"
    assert entry.details["namespace"] == "web" and entry.details["mode"] == "enforce"
    assert entry.details["images"][0]["field_path"] == "spec.containers[0].image"
    assert recorded[audited["auditAnnotations"]["decision-id"]].result.startswith("denied (admitted")
    assert len(ids) == 3


def apply_json_patch(document: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    """RFC 6902 ``replace`` operations (all the webhook emits), for the test only."""
    out = copy.deepcopy(document)
    for op in ops:
        assert op["op"] == "replace"
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node: Any = out
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key: Any = int(last) if isinstance(node, list) else last
        node[key]  # replace requires the target to exist
        node[key] = op["value"]
    return out


def test_mutate_pins_allowed_images_and_the_patched_object_is_allowed(webhook: Webhook, site: Site) -> None:
    spec = {
        "initContainers": [{"name": "i", "image": site.image}],
        "containers": [
            {"name": "a", "image": site.image},
            {"name": "b", "image": f"{site.image}@{site.digest}"},
            {"name": "c", "image": site.image},
        ],
    }
    obj = workload("Deployment", spec)
    out = response(webhook.post("/mutate/dev", review(obj, kind=("apps", "v1", "Deployment"))))
    assert out["allowed"] is True and out["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(out["patch"]))
    assert {op["path"] for op in ops} == {
        "/spec/template/spec/initContainers/0/image",
        "/spec/template/spec/containers/0/image",
        "/spec/template/spec/containers/2/image",
    }
    patched = apply_json_patch(obj, ops)
    for container in patched["spec"]["template"]["spec"]["containers"]:
        assert container["image"] == f"{site.image}@{site.digest}"
    again = response(webhook.post("/validate/dev", review(patched, kind=("apps", "v1", "Deployment"))))
    assert again["allowed"] is True, again
    # Mutating the patched object changes nothing more.
    assert "patch" not in response(
        webhook.post("/mutate/dev", review(patched, kind=("apps", "v1", "Deployment")))
    )
    # A denied object gets no patch: the validating webhook refuses it.
    spec["containers"].append({"name": "d", "image": DENIED})
    denied = response(webhook.post("/mutate/dev", review(obj, kind=("apps", "v1", "Deployment"))))
    assert denied == {"uid": "uid-1", "allowed": True}


def test_a_registry_that_never_answers_holds_the_review_only_for_the_budget(
    webhook: Webhook, site: Site
) -> None:
    obj = pod(f"{site.stall}/web/slow:1")
    started = time.monotonic()
    out = response(webhook.post("/validate/dev", review(obj, kind=("", "v1", "Pod"))))
    took = time.monotonic() - started
    assert took < 0.5 + 0.75, took  # HARBOURMASTER_ADMISSION_BUDGET_SECONDS=0.5, plus a margin
    # Development's unscanned rule is allow: admitted, saying the tag could not be pinned in time.
    assert out["allowed"] is True
    assert any("not pinned" in w and "time budget of 0.5 s" in w for w in out["warnings"]), out


def _all_text(webhook: Webhook, answers: list[str]) -> str:
    return "\n".join(answers) + webhook.log.read_text(errors="replace")


BAD_BODIES: dict[str, bytes] = {
    "not JSON": b"{not json",
    "truncated": json.dumps(review(pod(DENIED), kind=("", "v1", "Pod"))).encode()[:120],
    "a JSON list": b"[1, 2]",
    "no uid": json.dumps(
        {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {}}
    ).encode(),
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(BAD_BODIES))
def test_bodies_without_a_uid_get_a_400_json_error(webhook: Webhook, name: str) -> None:
    answer = webhook.post("/validate/dev", BAD_BODIES[name], headers={"content-type": "application/json"})
    assert answer.status_code == 400
    assert answer.headers["content-type"] == "application/json"
    assert answer.json()["error"]


def _bad_reviews(site: Site) -> dict[str, tuple[dict[str, Any], str]]:
    pinned = f"{site.image}@{site.digest}"
    no_object = review(None, kind=("", "v1", "Pod"))
    wrong_version = review(pod(pinned), kind=("", "v1", "Pod"))
    wrong_version["apiVersion"] = "admission.k8s.io/v1beta1"
    not_string = review(pod(pinned), kind=("", "v1", "Pod"))
    not_string["request"]["object"]["spec"]["containers"][0]["image"] = {"repository": "x", "tag": "1"}
    number = review(pod(pinned), kind=("", "v1", "Pod"))
    number["request"]["object"]["spec"]["containers"][0]["image"] = 42
    malformed = review(pod("UPPER/Case::bad"), kind=("", "v1", "Pod"))
    other_ns = review(pod(pinned), kind=("", "v1", "Pod"), namespace="kube-system")
    other_ns["request"]["object"]["metadata"]["namespace"] = "kube-system"
    return {
        "unknown kind": (
            review({"kind": "Widget", "spec": {"image": pinned}}, kind=("example.com", "v1", "Widget")),
            "Widget",
        ),
        "missing object": (no_object, "request.object"),
        "wrong apiVersion": (wrong_version, "admission.k8s.io/v1beta1"),
        "image is a mapping": (not_string, "spec.containers[0].image"),
        "image is a number": (number, "spec.containers[0].image"),
        "malformed reference": (malformed, "UPPER/Case::bad"),
        "namespace not of the environment": (other_ns, "kube-system"),
    }


def test_bad_reviews_are_denied_with_the_reason_and_never_a_500(webhook: Webhook, site: Site) -> None:
    answers = []
    for name, (body, words) in _bad_reviews(site).items():
        out = response(webhook.post("/validate/dev", body))
        answers.append(json.dumps(out))
        assert out["allowed"] is False, name
        assert out["status"]["code"] == 403
        assert words in out["status"]["message"], (name, out["status"]["message"])
        # The same review in audit mode is admitted with the reason as a warning.
        audited = response(webhook.post("/validate/dev-audit", body))
        if name != "wrong apiVersion":  # unreadable: the failure policy (Fail) decides, not the mode
            assert audited["allowed"] is True, name
    huge = review(pod(DENIED), kind=("", "v1", "Pod"), uid="big-1")
    huge["request"]["object"]["metadata"]["annotations"] = {"pad": "x" * (3 * 1024 * 1024)}
    started = time.monotonic()
    out = response(webhook.post("/validate/dev", huge), "big-1")
    assert time.monotonic() - started < 5
    assert out["allowed"] is False and "larger than" in out["status"]["message"]
    ignore = response(webhook.post("/validate/dev-ignore", huge), "big-1")
    assert ignore["allowed"] is True and "failurePolicy Ignore" in ignore["warnings"][0]
    unknown = response(webhook.post("/validate/prod-nowhere", review(pod(DENIED), kind=("", "v1", "Pod"))))
    assert unknown["allowed"] is False and "prod-nowhere" in unknown["status"]["message"]
    answers.append(json.dumps(unknown))
    assert CANARY not in _all_text(webhook, answers)


def test_status_message_is_bounded_and_names_every_denied_image(webhook: Webhook) -> None:
    images = [f"docker.io/library/img{i}:1" for i in range(200)]
    out = response(webhook.post("/validate/dev", review(pod(*images), kind=("", "v1", "Pod"))))
    assert out["allowed"] is False
    assert len(out["status"]["message"]) <= 4000
    assert "denied 200 image(s)" in out["status"]["message"]


def test_healthz_and_policy_fingerprint(webhook: Webhook, site: Site) -> None:
    assert webhook.client.get(f"{webhook.base}/healthz").json()["status"] == "ok"
    got = webhook.client.get(f"{webhook.base}/policy/dev").json()
    hm = Harbourmaster.from_environ(site.env)
    expected = show_policy(hm, webhook_principal("dev"), environment="dev")
    assert got == {"environment": "dev", "tier": "development", "fingerprint": expected.fingerprint}
    assert webhook.client.get(f"{webhook.base}/policy/nowhere").status_code == 404


def test_only_review_posts_take_the_review_lane(webhook: Webhook, site: Site) -> None:
    body = review(pod(f"{site.image}@{site.digest}"), kind=("", "v1", "Pod"))
    for path in ("/validate/dev", "/mutate/dev"):
        assert response(webhook.post(path, body))["allowed"] is True
        assert webhook.client.get(f"{webhook.base}{path}").status_code == 405  # not a review: Starlette's
    for path in ("/validate/", "/validate/dev/x", "/validate", "/review/dev"):
        answer = webhook.post(path, body)
        assert answer.status_code == 404, path
    # A review cut short by the client is not answered, and the server goes on answering.
    with socket_to(webhook) as raw:
        raw.sendall(b"POST /validate/dev HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b"Content-Length: 100000\r\n\r\n{\"apiVersion\":")
    assert response(webhook.post("/validate/dev", body))["allowed"] is True


@contextlib.contextmanager
def socket_to(webhook: Webhook) -> Iterator[ssl.SSLSocket]:
    host, port = webhook.base.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=10) as plain, context.wrap_socket(plain) as raw:
        yield raw


def test_no_registry_secret_in_answers_or_logs(webhook: Webhook, site: Site) -> None:
    answers = []
    for image in (f"{site.stall}/web/slow:2", f"{site.stall}/other/x:1", DENIED):
        for path in ("/validate/dev", "/mutate/dev"):
            answers.append(webhook.post(path, review(pod(image), kind=("", "v1", "Pod"))).text)
    assert CANARY not in _all_text(webhook, answers)


def test_with_a_client_ca_only_clients_with_its_certificate_are_answered(
    site: Site, tls_pair: TlsPair, tmp_path: Path
) -> None:
    # The TLS pair is its own CA (self-signed, CA:TRUE): it stands for the API server's client certificate.
    with running_webhook(
        site.env, tls_pair, tmp_path / "mtls.log", extra=("--client-ca", str(tls_pair.cert)), client_cert=True
    ) as mtls:
        answer = mtls.post(
            "/validate/dev", review(pod(f"{site.image}"), kind=("", "v1", "Pod"), uid="u-mtls")
        )
        assert response(answer, "u-mtls")["uid"] == "u-mtls"
        anonymous = httpx.Client(verify=ssl.create_default_context(cafile=str(tls_pair.cert)), timeout=10)
        with anonymous, pytest.raises(httpx.TransportError):
            anonymous.post(f"{mtls.base}/validate/dev", json=review(pod(site.image), kind=("", "v1", "Pod")))
    hm = Harbourmaster.from_environ(site.env)
    with hm.store.read() as tx:
        uids = {e.details.get("uid") for e in tx.audit.entries() if e.action == "admission"}
    assert "u-mtls" in uids and len(uids) == 1  # the refused client wrote nothing
