"""The jobs pages: the recent jobs and one job's progress, result or error; the htmx fragment polls
while a job is not done and stops once it is; without JavaScript, a Refresh link."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pytest

from harbourmaster.domain.authz import Permission, Principal
from harbourmaster.domain.model import Role
from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import JobKind, JobProgress
from harbourmaster.services.job_requests import submit_job
from harbourmaster.services.jobs import MAX_RETRY_DELAY, register_job_kind, run_one, unregister_job_kind
from harbourmaster.store.values import JobState, StoredJob
from tests.fakes.clock import FixedClock
from tests.web.conftest import CANARIES, ROLE_USERS, Web, audit_actions

ADMIN = Principal("admin", Role.ADMINISTRATOR)
KIND = "test.web"
_HX = {"HX-Request": "true"}
_POLL = 'hx-trigger="every 2s"'


class Broken(Error):
    kind = "test-broken"


def _handler(core: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
    if job.payload.get("fail"):
        raise Broken("the layer blob <sha256:abc> could not be read")
    return {"copied": job.payload.get("n", 0)}


@pytest.fixture
def kind() -> Iterator[str]:
    register_job_kind(JobKind(name=KIND, handler=_handler, permission=Permission.GOVERNANCE_WRITE))
    yield KIND
    unregister_job_kind(KIND)


def _running(hm: Harbourmaster, *, progress: float, message: str) -> int:
    """Submit a job and lease it to worker w, which reports ``progress`` (as a worker's heartbeat does)."""
    job_id = submit_job(hm, ADMIN, KIND, {"n": 2}).id
    with hm.store.transaction() as tx:
        claimed = tx.jobs.claim(owner="w", now=hm.clock.now(), lease_seconds=600)
        assert claimed is not None and claimed.id == job_id
        assert tx.jobs.heartbeat(job_id, owner="w", now=hm.clock.now(), lease_seconds=600,
                                 progress=progress, message=message)
    return job_id


def _finish(hm: Harbourmaster, job_id: int, result: object) -> None:
    with hm.store.transaction() as tx:
        assert tx.jobs.complete(job_id, owner="w", now=hm.clock.now(), result=result)


@pytest.fixture
def three(web: Web, kind: str) -> dict[str, int]:
    """A succeeded, a running (at 40%) and a queued job, in that order."""
    done = submit_job(web.hm, ADMIN, kind, {"n": 7}).id
    assert run_one(web.hm, owner="w0") is not None
    running = _running(web.hm, progress=0.4, message="copying layer 2 of 5")
    queued = submit_job(web.hm, ADMIN, kind, {"n": 3}).id
    return {"succeeded": done, "running": running, "queued": queued}


def _row(html: str, job_id: int) -> str:
    found = re.search(rf'<th scope="row"><a href="/ui/jobs/{job_id}">Job {job_id}</a></th>.*?</tr>', html,
                      re.DOTALL)
    assert found is not None, job_id
    return found.group(0)


def test_the_list_shows_each_job_with_its_state_in_words(web: Web, three: dict[str, int]) -> None:
    web.sign_in("payments-dev")
    page = web.client.get("/ui/jobs")
    assert page.status_code == 200
    for state, job_id in three.items():
        row = _row(page.text, job_id)
        assert f">{state}</span>" in row
        assert f"<td>{KIND}</td>" in row and "<td>admin</td>" in row
    assert "40%" in _row(page.text, three["running"])
    assert "copying layer 2 of 5" in _row(page.text, three["running"])
    assert "100%" in _row(page.text, three["succeeded"])
    # Jobs not done: the list polls, and offers a plain Refresh link for a page without JavaScript.
    assert _POLL in page.text and 'hx-get="/ui/jobs"' in page.text
    assert '<a href="/ui/jobs">Refresh</a>' in page.text
    assert 'http-equiv="refresh"' not in page.text


def test_the_state_filter_narrows_the_list(web: Web, three: dict[str, int]) -> None:
    web.sign_in("auditor")
    page = web.client.get("/ui/jobs", params={"state": "succeeded"}).text
    assert f'href="/ui/jobs/{three["succeeded"]}"' in page
    for other in ("running", "queued"):
        assert f'href="/ui/jobs/{three[other]}"' not in page
    assert '<option value="succeeded" selected>' in page
    assert _POLL not in page  # nothing shown is still going on
    bad = web.client.get("/ui/jobs", params={"state": "sleeping"})
    assert bad.status_code in (400, 422) and "is not a job state" in bad.text


def test_a_running_job_shows_its_progress_bar_with_text(web: Web, three: dict[str, int]) -> None:
    web.sign_in("platform")
    page = web.client.get(f"/ui/jobs/{three['running']}")
    assert page.status_code == 200
    bar = '<progress id="job-progress" max="100" value="40">40%</progress> 40%: copying layer 2 of 5'
    assert bar in page.text
    assert '<label for="job-progress">Progress</label>' in page.text
    assert ">running</span>" in page.text and "worker w" in page.text
    assert _POLL in page.text and f'hx-get="/ui/jobs/{three["running"]}"' in page.text
    assert f'<a href="/ui/jobs/{three["running"]}">Refresh</a>' in page.text


def test_a_finished_job_shows_its_result_and_does_not_poll(web: Web, three: dict[str, int]) -> None:
    web.sign_in("platform")
    page = web.client.get(f"/ui/jobs/{three['succeeded']}").text
    assert ">succeeded</span>" in page
    assert "&#34;copied&#34;: 7" in page
    assert 'value="100">100%</progress>' in page
    assert _POLL not in page and "hx-get" not in page


def test_a_failed_job_shows_its_error(web: Web, kind: str, clock: FixedClock) -> None:
    job_id = submit_job(web.hm, ADMIN, kind, {"fail": True}).id
    for _ in range(3):  # every attempt fails, each after the wait the one before asked for
        run_one(web.hm, owner="w")
        clock.advance(MAX_RETRY_DELAY)
    web.sign_in("auditor")
    page = web.client.get(f"/ui/jobs/{job_id}").text
    assert ">failed</span>" in page
    assert "could not be read" in page and "&lt;sha256:abc&gt;" in page
    assert "<h2>Error</h2>" in page and _POLL not in page


def test_the_polled_fragment_stops_polling_once_the_job_is_done(web: Web, kind: str) -> None:
    job_id = _running(web.hm, progress=0.5, message="half way")
    web.sign_in("payments-dev")
    fragment = web.client.get(f"/ui/jobs/{job_id}", headers=_HX)
    assert fragment.status_code == 200
    assert fragment.text.lstrip().startswith('<div id="job-live"')
    assert "<html" not in fragment.text and "<nav" not in fragment.text
    assert _POLL in fragment.text and 'hx-swap="outerHTML"' in fragment.text
    listed = web.client.get("/ui/jobs", headers=_HX).text
    assert listed.lstrip().startswith('<div id="jobs-live"') and _POLL in listed
    _finish(web.hm, job_id, {"copied": 5})
    done = web.client.get(f"/ui/jobs/{job_id}", headers=_HX).text
    assert ">succeeded</span>" in done and "&#34;copied&#34;: 5" in done
    assert _POLL not in done and "hx-get" not in done
    assert _POLL not in web.client.get("/ui/jobs", headers=_HX).text


def test_polling_writes_no_audit_record(web: Web, kind: str) -> None:
    """A page polled every two seconds is a read: it writes nothing (thousands of records an hour)."""
    job_id = _running(web.hm, progress=0.1, message="starting")
    web.sign_in("payments-dev")
    before = len(audit_actions(web.hm))
    for _ in range(30):
        assert web.client.get(f"/ui/jobs/{job_id}", headers=_HX).status_code == 200
    assert audit_actions(web.hm)[before:] == []


def test_an_unknown_job_is_a_404_page(web: Web) -> None:
    web.sign_in("auditor")
    missing = web.client.get("/ui/jobs/999")
    assert missing.status_code == 404 and "no job 999" in missing.text
    assert web.client.get("/ui/jobs/nothing").status_code == 422


@pytest.mark.parametrize("user", ROLE_USERS.values())
def test_every_role_sees_jobs_and_no_secret(web: Web, three: dict[str, int], user: str) -> None:
    web.sign_in(user)
    nav = web.client.get("/ui/").text
    assert 'href="/ui/jobs"' in nav
    for path in ("/ui/jobs", *(f"/ui/jobs/{i}" for i in three.values())):
        text = web.client.get(path).text
        for canary in CANARIES.values():
            assert canary not in text


def test_jobs_need_a_signed_in_viewer(web: Web, three: dict[str, int]) -> None:
    for path in ("/ui/jobs", f"/ui/jobs/{three['running']}"):
        answer = web.client.get(path, headers=_HX)
        assert answer.status_code == 401
        assert "copying layer" not in answer.text


def test_times_are_shown(web: Web, three: dict[str, int]) -> None:
    web.sign_in("auditor")
    when = web.hm.clock.now().astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S")
    assert when in web.client.get(f"/ui/jobs/{three['queued']}").text


def test_a_job_waiting_to_be_tried_again_says_from_when(web: Web, kind: str) -> None:
    job_id = _running(web.hm, progress=0.2, message="reading")
    retry_at = web.hm.clock.now() + dt.timedelta(seconds=30)
    with web.hm.store.transaction() as tx:
        assert tx.jobs.fail(job_id, owner="w", now=web.hm.clock.now(), error="registry down",
                            retry_at=retry_at) is JobState.QUEUED
    web.sign_in("auditor")
    page = web.client.get(f"/ui/jobs/{job_id}").text
    assert "registry down" in page
    assert f"the next starts no earlier than <time datetime=\"{retry_at.isoformat()}\">" in page
