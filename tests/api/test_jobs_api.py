"""Background jobs over the API: a long operation answers 202 with the job's Location, and the job
reaches its end (its result or its error) once a worker runs: a worker thread beside the app, or the
worker embedded in the app (``serve`` on SQLite)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from harbourmaster.api.app import create_app
from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.job_kinds import JobKind, JobProgress
from harbourmaster.services.job_requests import submit_job
from harbourmaster.services.jobs import register_job_kind, run_worker, unregister_job_kind
from harbourmaster.store.values import StoredJob
from tests.api.conftest import Api
from tests.integration.postgres import core_on
from tests.store.support import apply_example

P = "/api/v1"
#: dev-local: the example's plain-HTTP registry on 127.0.0.1:5000, where nothing listens in the tests.
UNREACHABLE_IMAGE = "127.0.0.1:5000/team/app:v1"



@pytest.fixture(autouse=True)
def _quick_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """A failed attempt waits 0.2 s, then 0.4 s, before the next (30 s by default): these tests follow
    a failing job through its three attempts on the real clock."""
    monkeypatch.setenv("HARBOURMASTER_JOB_RETRY_SECONDS", "0.2")

@pytest.fixture
def worker(api: Api) -> Iterator[None]:
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, kwargs={
        "hm": api.hm, "owner": "api-test-worker", "stop_event": stop, "poll_interval": 0.05})
    thread.start()
    yield
    stop.set()
    thread.join(60)
    assert not thread.is_alive()


def _follow(client: TestClient, location: str, headers: dict[str, str],
            timeout: float = 90) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        response = client.get(location, headers=headers)
        assert response.status_code == 200, response.text
        if response.json()["state"] in ("succeeded", "failed"):
            return dict(response.json())
        time.sleep(0.05)
    raise AssertionError(f"{location} did not end within {timeout}s")


def test_sbom_generate_is_accepted_and_followed_to_its_end(api: Api, worker: None) -> None:
    headers = api.headers("platform")
    response = api.client.post(f"{P}/jobs/sbom-generate", json={"image": UNREACHABLE_IMAGE}, headers=headers)
    assert response.status_code == 202, response.text
    body = response.json()
    assert response.headers["location"] == f"{P}/jobs/{body['id']}"
    assert (body["kind"], body["state"], body["created_by"], body["payload"]) == (
        "sbom.generate", "queued", "platform", {"image": UNREACHABLE_IMAGE})
    ended = _follow(api.client, response.headers["location"], api.headers("auditor"))
    # The registry does not answer: each of the three attempts fails, and the job keeps the last error.
    assert (ended["state"], ended["attempts"], ended["result"]) == ("failed", 3, None)
    assert "127.0.0.1:5000" in ended["error"]
    listed = api.client.get(f"{P}/jobs", params={"state": "failed"}, headers=headers).json()
    assert [j["id"] for j in listed] == [body["id"]]


def test_a_job_that_succeeds_shows_its_result(api: Api, worker: None) -> None:
    def answer(hm: Any, job: StoredJob, progress: JobProgress) -> object:
        progress(0.5, "thinking")
        return {"answer": job.payload["question"] * 2}

    register_job_kind(JobKind(name="test.answer", handler=answer, permission=Permission.GOVERNANCE_WRITE))
    try:
        job = submit_job(api.hm, Principal("admin", Role.ADMINISTRATOR), "test.answer", {"question": 21})
        ended = _follow(api.client, f"{P}/jobs/{job.id}", api.headers("payments-dev"))
    finally:
        unregister_job_kind("test.answer")
    assert (ended["state"], ended["result"], ended["progress"], ended["error"]) == (
        "succeeded", {"answer": 42}, 1.0, None)


def test_an_unknown_job_and_bad_input(api: Api) -> None:
    headers = api.headers("admin")
    missing = api.client.get(f"{P}/jobs/424242", headers=headers)
    assert missing.status_code == 404 and "no job 424242" in missing.json()["detail"]
    outside = api.client.post(f"{P}/jobs/sbom-generate", json={"image": "elsewhere.example/app:1"},
                              headers=headers)
    assert outside.status_code == 422, outside.text
    assert api.client.get(f"{P}/jobs", headers=headers).json() == []


def test_serve_on_sqlite_runs_an_embedded_worker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from harbourmaster.services.tokens import create_token

    hm = core_on(f"sqlite:///{tmp_path / 'hm.db'}", tmp_path / "home")
    apply_example(hm, monkeypatch)
    token = create_token(hm, user="admin", name="test", actor="tests").token.reveal()
    headers = {"Authorization": f"Bearer {token}"}
    app = create_app(hm, embedded_worker=True)
    try:
        with TestClient(app) as client:
            assert app.state.job_workers.running
            response = client.post(f"{P}/jobs/sbom-generate", json={"image": UNREACHABLE_IMAGE},
                                   headers=headers)
            assert response.status_code == 202, response.text
            ended = _follow(client, response.headers["location"], headers)
            assert (ended["state"], ended["attempts"]) == ("failed", 3)
        assert not app.state.job_workers.running  # stopped with the app
    finally:
        hm.db.dispose()


@pytest.mark.parametrize(
    ("route", "body", "kind"),
    [
        ("sbom-attach", {"image": UNREACHABLE_IMAGE}, "sbom.attach"),
        ("scan", {"image": UNREACHABLE_IMAGE, "tier": "development"}, "image.scan"),
        ("verify", {"image": UNREACHABLE_IMAGE, "environment": "dev-docker"}, "image.verify"),
    ],
)
def test_image_jobs_are_accepted_and_end_with_the_registrys_error(
    api: Api, worker: None, route: str, body: dict[str, str], kind: str
) -> None:
    headers = api.headers("platform")
    response = api.client.post(f"{P}/jobs/{route}", json=body, headers=headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == kind and job["payload"] == body
    assert response.headers["Location"] == f"{P}/jobs/{job['id']}"
    ended = _follow(api.client, response.headers["Location"], headers)
    # Nothing listens at dev-local's address: the job fails after its tries, naming the registry.
    assert ended["state"] == "failed" and "127.0.0.1:5000" in ended["error"]
    assert api.client.post(f"{P}/jobs/{route}", json=body, headers=api.headers("auditor")).status_code == 403


def test_image_jobs_refuse_bad_bodies(api: Api) -> None:
    headers = api.headers("platform")
    for route, body in [
        ("verify", {"image": UNREACHABLE_IMAGE}),  # no environment
        ("scan", {"image": UNREACHABLE_IMAGE, "tier": "sometimes"}),
        ("sbom-attach", {"image": UNREACHABLE_IMAGE, "extra": 1}),
    ]:
        answer = api.client.post(f"{P}/jobs/{route}", json=body, headers=headers)
        assert answer.status_code == 422, answer.text
        assert answer.headers["content-type"] == "application/problem+json"
    missing = api.client.post(f"{P}/jobs/verify", json={"image": UNREACHABLE_IMAGE, "environment": "nope"},
                              headers=headers)
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]
    with api.hm.store.read() as tx:
        assert tx.jobs.recent(limit=10) == []
