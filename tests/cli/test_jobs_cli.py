"""``job show``, ``job list``, ``job wait`` (exit 0: succeeded, 3: failed) and ``worker``, a real
process that runs jobs until SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.cli._common import local_principal
from harbourmaster.domain.authz import Permission
from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import JobKind, JobProgress
from harbourmaster.services.job_requests import get_job, submit_job, submit_sbom_generate
from harbourmaster.services.jobs import register_job_kind, run_one, unregister_job_kind
from harbourmaster.store.values import JobState, StoredJob


class Refused(Error):
    kind = "test-refused"


def _handler(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
    if job.payload.get("fail"):
        raise Refused("the payload says fail")
    return {"doubled": 2 * int(job.payload["n"])}  # type: ignore[call-overload]


@pytest.fixture
def core(applied: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harbourmaster]:
    monkeypatch.setenv("HARBOURMASTER_JOB_RETRY_SECONDS", "0")  # these tests run three attempts back to back
    register_job_kind(JobKind(name="test.cli", handler=_handler, permission=Permission.GOVERNANCE_WRITE))
    hm = Harbourmaster.from_environ()
    yield hm
    unregister_job_kind("test.cli")
    hm.db.dispose()


def test_show_list_and_wait(cli, core: Harbourmaster) -> None:  # type: ignore[no-untyped-def]
    ok = submit_job(core, local_principal(core), "test.cli", {"n": 21}).id
    bad = submit_job(core, local_principal(core), "test.cli", {"fail": True}).id
    for _ in range(4):
        run_one(core, owner="cli-test")
    shown = cli("job", "show", str(ok), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout) == get_job(core, local_principal(core), ok).model_dump(mode="json")
    assert json.loads(shown.stdout)["result"] == {"doubled": 42}
    text = cli("job", "show", str(bad))
    assert "failed" in text.stdout and "the payload says fail" in text.stdout and "3 of 3" in text.stdout
    listed = cli("job", "list", "--json")
    assert [j["id"] for j in json.loads(listed.stdout)] == [bad, ok]
    assert "test.cli" in cli("job", "list").stdout
    waited = cli("job", "wait", str(ok), "--json")
    assert waited.exit_code == 0 and json.loads(waited.stdout)["state"] == "succeeded"
    failed = cli("job", "wait", str(bad))
    assert failed.exit_code == 3
    assert f"job {bad} (test.cli) failed after 3 attempt(s): the payload says fail" in failed.stderr
    assert cli("job", "show", "999").exit_code == 2


def test_wait_times_out_with_exit_3(cli, core: Harbourmaster) -> None:  # type: ignore[no-untyped-def]
    job_id = submit_job(core, local_principal(core), "test.cli", {"n": 1}).id
    result = cli("job", "wait", str(job_id), "--timeout", "0.2")
    assert result.exit_code == 3 and "still queued" in result.stderr


def test_the_worker_command_runs_jobs_until_sigterm(core: Harbourmaster) -> None:
    # dev-local (127.0.0.1:5000) does not answer: the job's three attempts fail, each logged.
    job_id = submit_sbom_generate(core, local_principal(core), "127.0.0.1:5000/team/app:v1").id
    proc = subprocess.Popen(
        [sys.executable, "-m", "harbourmaster", "worker", "--poll-interval", "0.05", "--kinds",
         "sbom.generate"], env=dict(os.environ), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 90
        while get_job(core, local_principal(core), job_id).state is not JobState.FAILED:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline, "the worker did not run the job"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, stderr = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, stderr.decode()
    log = stderr.decode()
    assert f"job {job_id} (sbom.generate) started" in log
    assert f"job {job_id} (sbom.generate) failed" in log and "attempt 3 of 3" in log
    assert "stopping after the jobs in hand" in log
    job = get_job(core, local_principal(core), job_id)
    assert (job.state, job.attempts) == (JobState.FAILED, 3)


def test_an_unknown_kind_is_bad_input(cli, applied: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("worker", "--kinds", "no.such")
    assert result.exit_code == 2 and "no job kind 'no.such'" in result.stderr


def test_wait_on_a_terminal_shows_a_progress_bar(  # type: ignore[no-untyped-def]
    cli, core: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    import harbourmaster.cli.jobs as jobs_cli

    screen = io.StringIO()
    monkeypatch.setattr(jobs_cli, "stderr", Console(file=screen, force_terminal=True, width=100))
    job_id = submit_job(core, local_principal(core), "test.cli", {"n": 2}).id
    run_one(core, owner="cli-test")
    result = cli("job", "wait", str(job_id))
    assert result.exit_code == 0, result.output
    assert f"job {job_id} succeeded" in screen.getvalue() and "100%" in screen.getvalue()
    assert f"job {job_id} (test.cli) succeeded" in screen.getvalue()
