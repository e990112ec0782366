"""``worker``, ``job show``, ``job list``, ``job wait``: background jobs and the workers that run them."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from types import FrameType

import typer

from harbourmaster.cli._common import (
    ExitCode,
    GuardedGroup,
    JsonOption,
    emit_json,
    local_principal,
    open_core,
    print_table,
    stderr,
    stdout,
)
from harbourmaster.services.job_requests import JobPublic, get_job, list_jobs, wait_for_job
from harbourmaster.services.results import json_of
from harbourmaster.store.values import JobState

job_app = typer.Typer(cls=GuardedGroup, help="Background jobs: their state, progress and outcome.",
                      no_args_is_help=True)
worker_app = typer.Typer(cls=GuardedGroup)

log = logging.getLogger(__name__)


@worker_app.command()
def worker(
    concurrency: int = typer.Option(1, "--concurrency", min=1, max=64, help="Jobs run at once (threads)."),
    kinds: list[str] = typer.Option(
        [], "--kinds", help="Run only jobs of these kinds (repeat the option; default: every kind)."
    ),
    lease_seconds: float = typer.Option(
        60.0, "--lease-seconds", min=1.0, help="How long a claimed job is held without a heartbeat."
    ),
    poll_interval: float = typer.Option(1.0, "--poll-interval", min=0.05, help="Seconds between looks."),
) -> None:
    """Run background jobs until stopped (SIGTERM or SIGINT let the jobs in hand finish).

    Any number of workers may share a PostgreSQL database; on SQLite 'serve' runs one itself.
    """
    from harbourmaster.logs import configure_logging
    from harbourmaster.services.jobs import WorkerThreads

    hm = open_core()
    configure_logging(level=hm.settings.log_level or "info", fmt=hm.settings.log_format)
    workers = WorkerThreads(hm, name=f"{socket.gethostname()}:{os.getpid()}", concurrency=concurrency,
                            kinds=kinds or None, poll_interval=poll_interval, lease_seconds=lease_seconds)
    stop = threading.Event()

    def _stop(signum: int, _frame: FrameType | None) -> None:
        log.info("%s: stopping after the jobs in hand", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    log.info("job worker started: %d thread(s), kinds %s", concurrency, ", ".join(kinds) or "all")
    workers.start()
    try:
        while not stop.wait(0.5):
            pass
    finally:
        workers.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("job worker stopped")


def _print_job(job: JobPublic) -> None:
    rows = [
        ("id", job.id),
        ("kind", job.kind),
        ("state", job.state.value),
        ("attempts", f"{job.attempts} of {job.max_attempts}"),
        ("progress", f"{job.progress:.0%}" + (f" ({job.progress_message})" if job.progress_message else "")),
        ("created", f"{job.created_at.isoformat(timespec='seconds')} by {job.created_by}"),
        ("updated", job.updated_at.isoformat(timespec="seconds")),
    ]
    if job.lease_owner:
        rows.append(("worker", job.lease_owner))
    if job.error:
        rows.append(("error", job.error))
    for label, value in rows:
        stdout.print(f"{label + ':':10} {value}", markup=False, highlight=False)
    if job.result is not None:
        stdout.print("result:", markup=False)
        emit_json(job.result)


@job_app.command()
def show(
    job_id: int = typer.Argument(..., min=1, help="The job's id."), json_output: bool = JsonOption
) -> None:
    """Show a job: its state, progress, and its result or error."""
    hm = open_core()
    job = get_job(hm, local_principal(hm), job_id)
    if json_output:
        emit_json(json_of(job))
    else:
        _print_job(job)


@job_app.command("list")
def list_(
    limit: int = typer.Option(50, "--limit", min=1, max=500, help="How many (newest first)."),
    state: JobState | None = typer.Option(None, "--state", help="Only jobs in this state."),
    json_output: bool = JsonOption,
) -> None:
    """List the most recent jobs, newest first."""
    hm = open_core()
    jobs = list_jobs(hm, local_principal(hm), limit=limit, state=state)
    if json_output:
        emit_json(json_of(jobs))
        return
    print_table(
        "jobs",
        ["id", "kind", "state", "attempts", "progress", "created", "by", "error"],
        [(j.id, j.kind, j.state.value, f"{j.attempts}/{j.max_attempts}", f"{j.progress:.0%}",
          j.created_at.isoformat(timespec="seconds"), j.created_by, j.error or "") for j in jobs],
    )


@job_app.command()
def wait(
    job_id: int = typer.Argument(..., min=1, help="The job's id."),
    timeout: float | None = typer.Option(None, "--timeout", min=0.0, help="Give up after this many seconds."),
    json_output: bool = JsonOption,
) -> None:
    """Wait for a job to end. Exit 0: it succeeded; 3: it failed (or the wait timed out)."""
    hm = open_core()
    principal = local_principal(hm)
    if json_output or not stderr.is_terminal:
        job = wait_for_job(hm, principal, job_id, timeout=timeout)
    else:
        from rich.progress import BarColumn, Progress, TextColumn

        columns = (TextColumn("job {task.fields[job]} {task.fields[state]}"), BarColumn(),
                   TextColumn("{task.percentage:>3.0f}% {task.description}"))
        with Progress(*columns, console=stderr, transient=False) as bar:
            task = bar.add_task("", total=1.0, job=job_id, state="")

            def update(seen: JobPublic) -> None:
                bar.update(task, completed=seen.progress, description=seen.progress_message or "",
                           state=seen.state.value)

            job = wait_for_job(hm, principal, job_id, timeout=timeout, on_update=update)
    if json_output:
        emit_json(json_of(job))
    elif job.state is JobState.SUCCEEDED:
        stderr.print(f"job {job.id} ({job.kind}) succeeded", markup=False, highlight=False)
    else:
        stderr.print(f"job {job.id} ({job.kind}) failed after {job.attempts} attempt(s): {job.error}",
                     markup=False, highlight=False)
    if job.state is not JobState.SUCCEEDED:
        raise typer.Exit(int(ExitCode.UNDECIDED))


#: ``--no-wait`` of the commands that can run as a background job.
NoWaitOption = typer.Option(
    False,
    "--no-wait",
    help="Queue the work as a background job (a worker, or serve's embedded one, runs it) and print its id "
    "instead of doing it here; follow it with 'harbourmaster job wait ID'.",
)


def print_queued(job: JobPublic, json_output: bool) -> None:
    """Say that ``job`` was queued: its id (and how to follow it), or the job as JSON."""
    if json_output:
        emit_json(json_of(job))
        return
    stdout.print(str(job.id), markup=False, highlight=False)
    stderr.print(f"queued job {job.id} ({job.kind}); follow it with: harbourmaster job wait {job.id}",
                 markup=False, highlight=False)
