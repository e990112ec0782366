"""Jobs: the recent background jobs (scans, mirrors, imports, SBOMs) and one job's progress, result or
error, live.

Live without a script of our own: while a job shown is not done, the page's fragment carries
``hx-get``/``hx-trigger="every 2s"`` and htmx swaps it for a fresh one (``HX-Request``: only the
fragment is rendered); once every job shown is done the fresh fragment carries no trigger, and polling
stops.  Without JavaScript the page has a "Refresh" link; it never refreshes itself (WCAG 2.2.1).
Each poll is an authenticated page view, so it is audited (``token.use``) like any other.
"""

from __future__ import annotations

import json
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Query, Request
from starlette.responses import Response

from harbourmaster.errors import BadInput
from harbourmaster.services.job_requests import JobPublic, get_job, list_jobs
from harbourmaster.store.values import JobState
from harbourmaster.web.access import core, viewing
from harbourmaster.web.pages import JOBS, Viewer, render
from harbourmaster.web.route import UiRoute

__all__ = ["LISTED", "POLL_SECONDS", "RESULT_SHOWN", "router", "state_tone"]

#: How many of the newest jobs the list shows.
LISTED: Final = 50
#: How often htmx asks for a fresh fragment while a job shown is not done.
POLL_SECONDS: Final = 2
#: The most characters of a job's result shown on its page (the API gives the whole of it).
RESULT_SHOWN: Final = 20_000

router = APIRouter(route_class=UiRoute, include_in_schema=False)

_TONES = {JobState.QUEUED: "none", JobState.RUNNING: "expiring", JobState.SUCCEEDED: "set",
          JobState.FAILED: "expired"}


def state_tone(state: JobState) -> str:
    """The colour class of a job state's badge (the state is always also written in words)."""
    return _TONES[state]


def _state(text: str) -> JobState | None:
    """The state filter's value ("" for any).

    Raises:
        BadInput: not a job state.
    """
    if not text:
        return None
    try:
        return JobState(text)
    except ValueError:
        known = ", ".join(s.value for s in JobState)
        raise BadInput(f"{text!r} is not a job state: one of {known}") from None


def _live(jobs: list[JobPublic]) -> bool:
    return any(not job.state.terminal for job in jobs)


@router.get(JOBS.path)
def jobs_page(request: Request, viewer: Annotated[Viewer, Depends(viewing(JOBS.permission))],
              state: Annotated[str, Query(max_length=16)] = "") -> Response:
    principal = viewer.principal
    assert principal is not None
    wanted = _state(state)
    jobs = list_jobs(core(request), principal, limit=LISTED, state=wanted)
    return render(request, viewer, "jobs.html", {
        "page": JOBS, "jobs": jobs, "live": _live(jobs), "state": wanted, "states": list(JobState),
        "tone": state_tone, "poll": POLL_SECONDS,
    })


@router.get(JOBS.path + "/{job_id}")
def job_page(request: Request, job_id: Annotated[int, Path(ge=1, le=2**62)],
             viewer: Annotated[Viewer, Depends(viewing(JOBS.permission))]) -> Response:
    principal = viewer.principal
    assert principal is not None
    job = get_job(core(request), principal, job_id)  # NotFound: a 404 page
    result = None
    if job.result is not None:
        result = json.dumps(job.result, indent=2, sort_keys=True, ensure_ascii=False)
    truncated = result is not None and len(result) > RESULT_SHOWN
    return render(request, viewer, "job.html", {
        "page": JOBS, "job": job, "live": not job.state.terminal, "tone": state_tone, "poll": POLL_SECONDS,
        "payload": json.dumps(job.payload, indent=2, sort_keys=True, ensure_ascii=False),
        "result": result[:RESULT_SHOWN] if result is not None else None, "truncated": truncated,
        "percent": round(max(0.0, min(job.progress, 1.0)) * 100),
    })
