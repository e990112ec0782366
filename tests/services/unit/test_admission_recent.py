"""The admission webhook's recent verdicts, on the fakes: a review whose every image has a settled
verdict is answered without reading the store or asking a registry, exactly as the full path answers
it; what is unsettled is never kept; a model change, the verdict's age and the store's announcements
decide when the full path must answer again."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import RegistryGrant, Role
from harbourmaster.services.admission import AdmissionAnswer, AdmissionReviewer, Pending
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.governance import remove_grant
from harbourmaster.services.verdict_cache import ANNOUNCED_RECHECK, REVISION_RECHECK, RecentVerdicts
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("local:test", Role.ADMINISTRATOR)
ENV = "staging-k8s"
IMAGE = "harbor.corp/payments/api:1.4"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Recorder:
    """Stands in for the audit batch writer: keeps what a review queues."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def record(self, **entry: Any) -> None:
        self.records.append(entry)


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


@pytest.fixture
def ticks() -> Clock:
    """The recent verdicts' monotonic clock."""
    return Clock()


@pytest.fixture
def reviewer(applied: Harbourmaster, ticks: Clock) -> AdmissionReviewer:
    reviewer = AdmissionReviewer(applied, audit=Recorder())  # type: ignore[arg-type]
    reviewer.recent = RecentVerdicts(applied, ttl=30.0, clock=ticks)
    return reviewer


def body(uid: str, images: list[str], *, name: str = "api-1", namespace: str = "payments") -> bytes:
    containers = [{"name": f"c{i}", "image": image} for i, image in enumerate(images)]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
           "spec": {"containers": containers}}
    request = {"uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
               "namespace": namespace, "name": name, "userInfo": {"username": "alice"}, "object": pod}
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                       "request": request}).encode()


def refuse_reads(core: Harbourmaster, monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on, any read or write of the store fails the test."""

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the quick path read the store")

    monkeypatch.setattr(core.store, "read", refuse)
    monkeypatch.setattr(core.store, "transaction", refuse)


def comparable(answer: AdmissionAnswer) -> dict[str, Any]:
    """An answer without what differs per review: the uid and the decision id."""
    response = dict(answer.body["response"])
    response.pop("uid")
    annotations = dict(response.pop("auditAnnotations", {}))
    decision_id = annotations.pop("decision-id", "")
    if "status" in response:
        response["status"] = {**response["status"],
                              "message": response["status"]["message"].replace(decision_id, "ID")}
    return {**response, "auditAnnotations": annotations}


def full(reviewer: AdmissionReviewer, data: bytes, *, mutate: bool = False) -> AdmissionAnswer:
    first = reviewer.quick(environment=ENV, body=data, mutate=mutate)
    assert isinstance(first, Pending), "expected the full path"
    return reviewer.decide(first)


def test_a_settled_verdict_answers_the_next_review_without_reading_anything(
    reviewer: AdmissionReviewer, applied: Harbourmaster, harbor: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    harbor.push("payments/api", "1.4")
    judged = full(reviewer, body("u1", [IMAGE]))
    assert judged.body["response"]["allowed"] is True
    asked = len(harbor.requests)
    assert asked > 0
    # Another pod of the same image: answered on the event loop's path, with nothing read or asked.
    refuse_reads(applied, monkeypatch)
    again = reviewer.quick(environment=ENV, body=body("u2", [IMAGE], name="api-2"))
    assert isinstance(again, AdmissionAnswer)
    assert len(harbor.requests) == asked
    assert again.body["response"]["uid"] == "u2"
    assert comparable(again) == comparable(judged)
    # ... audited like any review, with its own decision id and the requesting user.
    records = reviewer.audit.records  # type: ignore[union-attr]
    assert len(records) == 2
    assert records[1]["details"]["uid"] == "u2" and records[1]["details"]["kubernetes_user"] == "alice"
    assert records[0]["details"]["decision_id"] != records[1]["details"]["decision_id"]
    (first,), (second,) = records[0]["details"]["images"], records[1]["details"]["images"]
    assert second.pop("source").startswith("Pod/api-2 ") and first.pop("source").startswith("Pod/api-1 ")
    assert second == first
    # The mutating webhook pins from the same verdict.
    patched = reviewer.quick(environment=ENV, body=body("u3", [IMAGE]), mutate=True)
    assert isinstance(patched, AdmissionAnswer) and patched.body["response"]["patchType"] == "JSONPatch"


def test_the_quick_answer_equals_the_full_one_for_allowed_and_denied_images(
    reviewer: AdmissionReviewer, applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    harbor.push("payments/api", "1.4")
    harbor.push("payments/worker", "2")
    images = [IMAGE, "harbor.corp/payments/worker:2", "docker.io/library/nginx:1.27"]
    judged = full(reviewer, body("u1", images))
    assert judged.body["response"]["allowed"] is False  # docker.io is not granted on staging-k8s
    message = judged.body["response"]["status"]["message"]
    assert "docker.io/library/nginx:1.27 at spec.containers[2].image" in message
    again = reviewer.quick(environment=ENV, body=body("u2", list(images), name="api-2"))
    assert isinstance(again, AdmissionAnswer)
    assert comparable(again) == comparable(judged)
    # Order and place come from the object, the verdicts from memory.
    swapped = reviewer.quick(environment=ENV, body=body("u3", images[::-1]))
    assert isinstance(swapped, AdmissionAnswer)
    message = swapped.body["response"]["status"]["message"]
    assert "docker.io/library/nginx:1.27 at spec.containers[0].image" in message


def test_a_revoked_grant_is_judged_again_once_the_revision_is_read(
    reviewer: AdmissionReviewer, applied: Harbourmaster, harbor: FakeRegistry, ticks: Clock
) -> None:
    harbor.push("payments/api", "1.4")
    assert full(reviewer, body("u1", [IMAGE])).body["response"]["allowed"] is True
    remove_grant(applied, ADMIN, RegistryGrant("harbor-payments", ENV, namespace="payments"))
    # Without an announcing store the revision read is trusted for REVISION_RECHECK seconds...
    ticks.now += REVISION_RECHECK / 2
    assert isinstance(reviewer.quick(environment=ENV, body=body("u2", [IMAGE])), AdmissionAnswer)
    # ... then the full path reads the new revision, and the kept verdict (of the old one) is not used.
    ticks.now += REVISION_RECHECK
    denied = full(reviewer, body("u3", [IMAGE]))
    assert denied.body["response"]["allowed"] is False
    again = reviewer.quick(environment=ENV, body=body("u4", [IMAGE]))
    assert isinstance(again, AdmissionAnswer) and again.body["response"]["allowed"] is False


def test_an_announcing_store_ends_the_view_at_once(
    reviewer: AdmissionReviewer, applied: Harbourmaster, harbor: FakeRegistry, ticks: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    harbor.push("payments/api", "1.4")
    full(reviewer, body("u1", [IMAGE]))
    revision = applied.snapshot().revision
    announced = [revision]
    monkeypatch.setattr(applied, "announced_revision", lambda: announced[0])
    ticks.now += ANNOUNCED_RECHECK / 2  # far past REVISION_RECHECK: the announcement vouches for it
    assert isinstance(reviewer.quick(environment=ENV, body=body("u2", [IMAGE])), AdmissionAnswer)
    announced[0] = revision + 1
    assert isinstance(reviewer.quick(environment=ENV, body=body("u3", [IMAGE])), Pending)
    announced[0] = revision
    ticks.now += ANNOUNCED_RECHECK
    assert isinstance(reviewer.quick(environment=ENV, body=body("u4", [IMAGE])), Pending)


def test_a_verdict_is_reused_only_for_its_time_to_live(
    applied: Harbourmaster, harbor: FakeRegistry, ticks: Clock
) -> None:
    harbor.push("payments/api", "1.4")
    reviewer = AdmissionReviewer(applied)
    reviewer.recent = RecentVerdicts(applied, ttl=2.0, recheck=60.0, clock=ticks)
    full(reviewer, body("u1", [IMAGE]))
    ticks.now += 1.5
    assert isinstance(reviewer.quick(environment=ENV, body=body("u2", [IMAGE])), AdmissionAnswer)
    ticks.now += 1.0
    assert isinstance(reviewer.quick(environment=ENV, body=body("u3", [IMAGE])), Pending)
    off = AdmissionReviewer(applied, verdict_seconds=0)
    assert off.review(environment=ENV, body=body("u4", [IMAGE])).body["response"]["allowed"] is True
    assert isinstance(off.quick(environment=ENV, body=body("u5", [IMAGE])), Pending)
    assert len(off.recent) == 0


def test_unsettled_verdicts_and_denials_by_what_an_image_is_always_take_the_full_path(
    reviewer: AdmissionReviewer, applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    # A tag the registry does not have: no digest, so no verdict to keep.
    missing = "harbor.corp/payments/ghost:1"
    judged = full(reviewer, body("u1", [missing]))
    assert judged.body["response"]["allowed"] is False
    assert len(reviewer.recent) == 0
    assert isinstance(reviewer.quick(environment=ENV, body=body("u2", [missing])), Pending)
    # A kept verdict does not answer for an object that also holds a placeholder image.
    harbor.push("payments/api", "1.4")
    full(reviewer, body("u3", [IMAGE]))
    assert len(reviewer.recent) == 1
    mixed = [IMAGE, "harbor.corp/payments/api:${TAG}"]
    assert isinstance(reviewer.quick(environment=ENV, body=body("u4", mixed)), Pending)
    # Nor for a namespace the environment does not have, or another namespace's tenant.
    assert isinstance(reviewer.quick(environment=ENV, body=body("u5", [IMAGE], namespace="web")), Pending)
    assert isinstance(reviewer.quick(environment=ENV, body=body("u6", [IMAGE], namespace="nope")), Pending)


def test_reviews_that_need_no_verdict_are_answered_from_the_model_alone(
    reviewer: AdmissionReviewer, applied: Harbourmaster, harbor: FakeRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    harbor.push("payments/api", "1.4")
    full(reviewer, body("u1", [IMAGE]))  # the revision is read once
    review = json.loads(body("u2", [IMAGE]))
    review["request"]["kind"] = {"group": "example.com", "version": "v1", "kind": "Widget"}
    refuse_reads(applied, monkeypatch)
    unknown = reviewer.quick(environment=ENV, body=json.dumps(review).encode())
    assert isinstance(unknown, AdmissionAnswer)
    assert unknown.body["response"]["allowed"] is False
    assert "kind example.com/Widget is not one the harbourmaster webhook judges" in (
        unknown.body["response"]["status"]["message"])
    gone = reviewer.quick(environment="nowhere", body=body("u3", [IMAGE]))
    assert isinstance(gone, AdmissionAnswer) and gone.body["response"]["allowed"] is False
    no_uid = reviewer.quick(environment=ENV, body=b"{}")
    assert isinstance(no_uid, AdmissionAnswer) and no_uid.status_code == 400


def test_keep_current_keeps_the_view_open_and_a_full_cache_starts_over(applied: Harbourmaster) -> None:
    recent: RecentVerdicts[str, int] = RecentVerdicts(applied, ttl=60.0, recheck=0.2, limit=3)
    assert recent.view() is None  # nothing read yet
    recent.keep_current(name="test-revision")
    try:
        deadline = time.monotonic() + 5
        while recent.view() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.5)  # well past the recheck window: the thread has read the revision again
        snapshot = recent.view()
        assert snapshot is not None and snapshot.revision == applied.snapshot().revision
        for i, key in enumerate("abc"):
            recent.keep(key, snapshot.revision, i)
        assert [recent.get(k) for k in "abc"] == [0, 1, 2]
        recent.keep("d", snapshot.revision, 3)  # the limit: everything kept before is dropped
        assert [recent.get(k) for k in "abcd"] == [None, None, None, 3]
        recent.keep("old", snapshot.revision - 1, 9)  # taken at another revision: never served
        assert recent.get("old") is None
    finally:
        recent.close()
    time.sleep(0.5)
    assert recent.view() is None  # nobody reads the revision any more: the window closed
