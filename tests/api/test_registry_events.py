"""A registry's event notifications over the API: its own secret, the envelope, pulls audited, pushes
queued once, artifacts ignored, and the secret seen nowhere but where it is made."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import yaml

from harbourmaster.services.registry_events import EVENTS_MEDIA_TYPE, MAX_EVENTS
from harbourmaster.store.values import JobState
from tests.api.conftest import Api

DIGEST = "sha256:" + "a" * 64
OTHER_DIGEST = "sha256:" + "b" * 64
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
EVENTS = "/api/v1/registry-events/{}"


def _snippet(api: Api, registry: str, *, rotate: bool = False) -> tuple[str, dict[str, Any]]:
    answer = api.client.post(f"/api/v1/registries/{registry}/notifications", headers=api.headers("admin"),
                             json={"url": "https://hm.corp", "rotate": rotate})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    (endpoint,) = yaml.safe_load(body["config"])["notifications"]["endpoints"]
    scheme, _, secret = endpoint["headers"]["Authorization"][0].partition(" ")
    assert scheme == "Bearer" and len(secret) >= 40
    return secret, {**body, "endpoint": endpoint}


def _event(action: str = "push", *, digest: str = DIGEST, repository: str = "payments/api",
           tag: str | None = "1.0", media_type: str = OCI_MANIFEST, **extra: Any) -> dict[str, Any]:
    target = {"mediaType": media_type, "digest": digest, "size": 528, "length": 528,
              "repository": repository, "url": f"https://harbor.corp/v2/{repository}/manifests/{digest}"}
    if tag is not None:
        target["tag"] = tag
    return {"id": "ev-1", "timestamp": "2026-11-29T10:00:00.123456789Z", "action": action, "target": target,
            "request": {"id": "rq-1", "addr": "10.1.2.3:51234", "host": "harbor.corp", "method": "PUT",
                        "useragent": "skopeo/1.9.3"},
            "actor": {"name": "alice"}, "source": {"addr": "harbor-1:5000", "instanceID": "i-1"}, **extra}


def _post(api: Api, registry: str, secret: str | None, body: object, *,
          media_type: str = EVENTS_MEDIA_TYPE) -> Any:
    headers = {"Content-Type": media_type}
    if secret is not None:
        headers["Authorization"] = f"Bearer {secret}"
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return api.client.post(EVENTS.format(registry), content=data, headers=headers)


def _audit(api: Api, action: str) -> list[Any]:
    with api.hm.store.read() as tx:
        return [e for e in tx.audit.entries() if e.action == action]


def _push_jobs(api: Api) -> list[Any]:
    with api.hm.store.read() as tx:
        return [j for j in tx.jobs.recent(limit=500) if j.kind == "registry.push"]


# -- the snippet --------------------------------------------------------------------------------


def test_the_snippet_is_shown_when_made_and_only_then(api: Api) -> None:
    secret, body = _snippet(api, "harbor-payments")
    endpoint = body["endpoint"]
    assert endpoint["url"] == "https://hm.corp/api/v1/registry-events/harbor-payments"
    assert endpoint["ignoredmediatypes"] == ["application/octet-stream"]
    assert {"timeout", "threshold", "backoff", "name"} <= set(endpoint)
    again = api.client.post("/api/v1/registries/harbor-payments/notifications", headers=api.headers("admin"),
                            json={"url": "https://hm.corp"})
    assert again.status_code == 409
    assert "write-only" in again.json()["detail"] and "--rotate" in again.json()["detail"]
    rotated, _ = _snippet(api, "harbor-payments", rotate=True)
    assert rotated != secret
    assert _post(api, "harbor-payments", secret, {"events": []}).status_code == 401
    assert _post(api, "harbor-payments", rotated, {"events": []}).status_code == 200


@pytest.mark.parametrize("user", ["auditor", "payments-dev"])
def test_only_registry_operators_make_a_secret(api: Api, user: str) -> None:
    answer = api.client.post("/api/v1/registries/harbor-payments/notifications", headers=api.headers(user),
                             json={})
    assert answer.status_code == 403


def test_an_unknown_registry_is_named_with_the_closest_name(api: Api) -> None:
    answer = api.client.post("/api/v1/registries/harbor-paymnts/notifications", headers=api.headers("admin"),
                             json={})
    assert answer.status_code == 404
    assert "harbor-paymnts" in answer.json()["detail"] and "harbor-payments" in answer.json()["detail"]


# -- authentication -----------------------------------------------------------------------------


def test_events_need_the_registrys_own_secret(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    web_secret, _ = _snippet(api, "harbor-web")
    body = {"events": [_event("pull")]}
    for presented in (None, "wrong-" + secret, web_secret, api.tokens["admin"]):
        answer = _post(api, "harbor-payments", presented, body)
        assert answer.status_code == 401, presented
        assert answer.headers["content-type"] == "application/problem+json"
    assert _post(api, "no-such-registry", secret, body).status_code == 401
    assert _post(api, "ecr-prod", secret, body).status_code == 401  # a registry without a secret
    assert _audit(api, "registry.pull") == []
    refused = _audit(api, "registry.event.unauthenticated")
    assert len(refused) == 6
    reasons = {e.details["reason"] for e in refused}
    assert reasons >= {"no secret presented", "wrong secret", "unknown registry", "no notification secret"}


def test_a_removed_registrys_secret_goes_with_it(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-web")
    admin = api.headers("admin")
    shown = api.client.get("/api/v1/registries/harbor-web", headers=admin).json()
    assert api.client.delete("/api/v1/registries/harbor-web", headers=admin).status_code < 300
    # Defined again under the same name and at the same origin, it starts without a secret.
    again = {k: shown[k] for k in ("name", "provider", "url") if k in shown}
    created = api.client.post("/api/v1/registries", json=again, headers=admin)
    assert created.status_code < 300, created.text
    assert _post(api, "harbor-web", secret, {"events": [_event("pull")]}).status_code == 401
    (refused,) = _audit(api, "registry.event.unauthenticated")
    assert refused.details["reason"] == "no notification secret"
    fresh, _ = _snippet(api, "harbor-web")  # a new one is made without --rotate
    assert fresh != secret


def test_the_secret_is_checked_before_the_body_is_read(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    huge = b"{" * (2 * 1024 * 1024)
    answer = _post(api, "harbor-payments", None, huge)
    assert answer.status_code == 401  # not 413, not 400: nothing was read
    assert _post(api, "harbor-payments", secret, huge).status_code == 413


def test_an_event_token_opens_no_other_route(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    answer = api.client.get("/api/v1/registries", headers={"Authorization": f"Bearer {secret}"})
    assert answer.status_code == 401


# -- the envelope -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "status", "named"),
    [
        (b"not json", 400, "not JSON"),
        ({"event": []}, 422, "events"),
        ({"events": [{"action": "push"}]}, 422, "events.0.target"),
        ({"events": [_event(digest="latest")]}, 422, "events[0].target.digest"),
        ({"events": [_event(repository="")]}, 422, "events[0].target.repository"),
        ({"events": [_event()] * (MAX_EVENTS + 1)}, 422, "events"),
    ],
)
def test_malformed_envelopes_are_refused_naming_what_is_wrong(api: Api, body: object, status: int,
                                                              named: str) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    answer = _post(api, "harbor-payments", secret, body)
    assert answer.status_code == status, answer.text
    problem = answer.json()
    assert named in json.dumps(problem)
    assert _push_jobs(api) == []


def test_the_media_type_must_be_the_envelopes(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    assert _post(api, "harbor-payments", secret, {"events": []}, media_type="text/plain").status_code == 415
    plain = _post(api, "harbor-payments", secret, {"events": []}, media_type="application/json")
    assert plain.status_code == 200


def test_unknown_fields_are_tolerated(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    event = _event("pull", newfield={"x": 1})
    event["target"]["references"] = []
    answer = _post(api, "harbor-payments", secret, {"events": [event], "extra": True})
    assert answer.status_code == 200, answer.text
    assert answer.json()["pulls_audited"] == 1


# -- pulls and pushes ---------------------------------------------------------------------------


def test_a_pull_is_audited_with_who_and_what(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    answer = _post(api, "harbor-payments", secret, {"events": [_event("pull")]})
    assert answer.status_code == 200
    (record,) = _audit(api, "registry.pull")
    assert record.actor == "registry:harbor-payments"
    assert record.target == f"harbor.corp/payments/api@{DIGEST}"
    assert record.details["digest"] == DIGEST
    assert record.details["repository"] == "payments/api"
    assert record.details["tag"] == "1.0"
    assert record.details["actor"] == "alice"
    assert record.details["addr"] == "10.1.2.3:51234"
    assert _push_jobs(api) == []


def test_a_push_queues_one_job_however_often_it_is_delivered(api: Api) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    first = _post(api, "harbor-payments", secret, {"events": [_event()]}).json()
    assert len(first["pushes_queued"]) == 1
    again = _post(api, "harbor-payments", secret, {"events": [_event(), _event()]}).json()
    assert again["pushes_queued"] == [] and again["duplicates"] == 2
    (job,) = _push_jobs(api)
    assert job.id == first["pushes_queued"][0]
    assert job.state is JobState.QUEUED
    assert job.created_by == "registry:harbor-payments"
    assert job.payload["image"] == f"harbor.corp/payments/api@{DIGEST}"
    pushes = _audit(api, "registry.push")
    assert pushes[0].details["job"] == job.id
    assert pushes[0].details["actor"] == "alice" and pushes[0].details["addr"] == "10.1.2.3:51234"
    other = _post(api, "harbor-payments", secret, {"events": [_event(digest=OTHER_DIGEST)]}).json()
    assert len(other["pushes_queued"]) == 1
    assert len(_push_jobs(api)) == 2


@pytest.mark.parametrize(
    "event",
    [
        _event(tag="sha256-" + "c" * 64 + ".sig"),
        _event(tag="sha256-" + "c" * 64 + ".att"),
        _event(tag="sha256-" + "c" * 64 + ".sbom"),
        _event(tag="sha256-" + "c" * 64, media_type="application/vnd.oci.image.index.v1+json"),
        _event(media_type="application/octet-stream"),
        _event(media_type="application/vnd.oci.image.layer.v1.tar+gzip"),
        _event("delete"),
        _event("mount"),
    ],
)
def test_artifact_and_blob_pushes_start_nothing(api: Api, event: dict[str, Any]) -> None:
    secret, _ = _snippet(api, "harbor-payments")
    answer = _post(api, "harbor-payments", secret, {"events": [event]}).json()
    assert answer["pushes_queued"] == [] and len(answer["ignored"]) == 1
    assert _push_jobs(api) == []


def test_one_registrys_secret_does_not_make_harbourmaster_read_another(api: Api) -> None:
    # harbor-payments and harbor-web share the host harbor.corp; harbor-payments' events may name only
    # its own scope.
    secret, _ = _snippet(api, "harbor-payments")
    answer = _post(api, "harbor-payments", secret, {"events": [_event(repository="web/site")]}).json()
    assert answer["pushes_queued"] == []
    assert "outside the scope" in answer["ignored"][0]["reason"]
    assert _push_jobs(api) == []


# -- the canary ---------------------------------------------------------------------------------


def test_the_secret_appears_nowhere_but_in_its_snippet(api: Api, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret, made = _snippet(api, "harbor-payments")
    answers = [
        _post(api, "harbor-payments", secret, {"events": [_event("pull"), _event()]}),
        _post(api, "harbor-payments", secret + "x", {"events": []}),
        _post(api, "harbor-payments", secret, b"not json"),
        _post(api, "harbor-payments", secret, {"events": [_event(digest="latest")]}),
        api.client.post("/api/v1/registries/harbor-payments/notifications", headers=api.headers("admin"),
                        json={}),
        api.client.get("/api/v1/registries/harbor-payments", headers=api.headers("admin")),
        api.client.get("/api/v1/audit", headers=api.headers("admin")),
    ]
    assert secret in made["config"]
    for answer in answers:
        assert secret not in answer.text
    with api.hm.store.read() as tx:
        audit = json.dumps([(e.actor, e.action, e.target, dict(e.details)) for e in tx.audit.entries()])
        jobs = json.dumps([j.payload for j in tx.jobs.recent(limit=500)])
    assert secret not in audit and secret not in jobs
    assert secret not in caplog.text
