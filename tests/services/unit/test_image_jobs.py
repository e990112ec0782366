"""The image jobs on the fakes: an image scanned (its scan kept for the verdict) and its signatures
verified in a worker, in the submitter's name; what submitting refuses at once.  (Attaching needs a
registry that takes uploads: tests/integration/test_sbom_registry.py.)"""

from __future__ import annotations

import pytest

from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import BadInput, Forbidden, NotFound
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.decisions import check_images
from harbourmaster.services.job_requests import get_job, submit_image_job
from harbourmaster.services.jobs import run_one
from harbourmaster.store.values import JobState
from tests.fakes.registry import FakeRegistry
from tests.services.unit._example import apply_example

ADMIN = Principal("admin", Role.ADMINISTRATOR)
AUDITOR = Principal("auditor", Role.AUDITOR)
IMAGE = "harbor.corp/payments/api:1.4"


@pytest.fixture
def applied(core: Harbourmaster, example_secrets: dict[str, str]) -> Harbourmaster:
    apply_example(core)
    return core


def _run(core: Harbourmaster, job_id: int) -> dict[str, object]:
    ended = run_one(core, owner="w")
    assert ended is not None and ended.id == job_id
    job = get_job(core, ADMIN, job_id)
    assert job.state is JobState.SUCCEEDED, job.error
    assert isinstance(job.result, dict)
    return job.result


def test_a_scan_job_keeps_the_scan_the_next_verdict_reads(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    job = submit_image_job(applied, ADMIN, "image.scan", IMAGE, environment="staging-k8s")
    assert job.state is JobState.QUEUED and job.payload == {"image": IMAGE, "environment": "staging-k8s"}
    result = _run(applied, job.id)
    assert result["environment"] == "staging-k8s"
    assert result["verdict"]["verdict"] == "allow" and result["blocking_count"] == 0  # type: ignore[index]
    assert result["image"]["digest"] == digest  # type: ignore[index]
    with applied.store.read() as tx:
        assert digest in tx.scans.latest([digest])
        actor = next(e.actor for e in tx.audit.entries() if e.action == "image.scan-recorded")
    assert actor == "admin"  # in the submitter's name
    (decision,) = check_images(
        applied, ADMIN, environment="staging-k8s", namespace="payments", images=[IMAGE]
    )
    assert decision.allowed and decision.verdict["vulnerabilities"]["status"] == "pass"  # type: ignore[index]


def test_a_verify_job_answers_the_environments_signer_policy(
    applied: Harbourmaster, harbor: FakeRegistry
) -> None:
    digest = harbor.push("payments/api", "1.4")
    job = submit_image_job(applied, ADMIN, "image.verify", IMAGE, environment="prod-eu")
    result = _run(applied, job.id)
    assert result["image_digest"] == digest and result["satisfied"] is False
    assert result["signatures"] == []


def test_submitting_refuses_at_once(applied: Harbourmaster) -> None:
    with pytest.raises(Forbidden):
        submit_image_job(applied, AUDITOR, "image.scan", IMAGE)
    with pytest.raises(BadInput, match="needs 'environment'"):
        submit_image_job(applied, ADMIN, "image.verify", IMAGE)
    with pytest.raises(NotFound, match="prod-ue"):
        submit_image_job(applied, ADMIN, "image.verify", IMAGE, environment="prod-ue")
    with pytest.raises(BadInput, match="not both"):
        submit_image_job(applied, ADMIN, "image.scan", IMAGE, environment="prod-eu", tier="production")
    with pytest.raises(BadInput, match="is not an image job"):
        submit_image_job(applied, ADMIN, "sbom.generate", IMAGE)
    with pytest.raises(Exception, match=r"elsewhere\.example"):
        submit_image_job(applied, ADMIN, "image.scan", "elsewhere.example/app:1")
    with applied.store.read() as tx:
        assert tx.jobs.recent(limit=10) == []  # nothing was queued
