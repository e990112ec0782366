"""A job worker process for the integration tests, with test job kinds (never registered in src).

Run as ``python -m tests.integration._job_worker RECORD LEASE_SECONDS`` with ``HARBOURMASTER_HOME``
and ``HARBOURMASTER_DATABASE_URL`` set; it runs :func:`~harbourmaster.services.jobs.run_worker` until
SIGTERM or SIGINT.  Every kind appends a line to the file RECORD (``O_APPEND``: one write per line):

* ``test.record``: ``done <job> <worker>`` (after sleeping ``payload["sleep"]`` seconds);
* ``test.stall``: ``started <job> <attempt> <worker>``; the first attempt then hangs (to be killed),
  a later one records ``done``;
* ``test.poison``: ``tried <job> <attempt>`` and fails.
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

from harbourmaster.bootstrap import build
from harbourmaster.domain.authz import Permission
from harbourmaster.errors import Error
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.job_kinds import JobKind, JobProgress
from harbourmaster.services.jobs import register_job_kind, run_worker
from harbourmaster.settings import Settings
from harbourmaster.store.values import StoredJob

__all__ = ["TEST_KINDS"]


class Poisoned(Error):
    kind = "test-poisoned"


def _recorder(path: Path):  # type: ignore[no-untyped-def]
    def record(line: str) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode())
        finally:
            os.close(fd)

    return record


def test_kinds(path: Path) -> tuple[JobKind, ...]:
    record = _recorder(path)

    def done(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        time.sleep(float(job.payload.get("sleep", 0)))  # type: ignore[arg-type]
        record(f"done {job.id} {job.lease_owner}")
        return {"worker": job.lease_owner}

    def stall(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        record(f"started {job.id} {job.attempts} {job.lease_owner}")
        if job.attempts == 1:
            time.sleep(600)
        record(f"done {job.id} {job.lease_owner}")
        return {"worker": job.lease_owner}

    def poison(hm: Harbourmaster, job: StoredJob, progress: JobProgress) -> object:
        record(f"tried {job.id} {job.attempts}")
        raise Poisoned(f"job {job.id} cannot be digested (attempt {job.attempts})")

    return tuple(JobKind(name=name, handler=handler, permission=Permission.GOVERNANCE_WRITE)
                 for name, handler in (("test.record", done), ("test.stall", stall), ("test.poison", poison)))


TEST_KINDS = ("test.record", "test.stall", "test.poison")


def main(argv: list[str]) -> int:
    record_path, lease = Path(argv[0]), float(argv[1])
    for kind in test_kinds(record_path):
        register_job_kind(kind)
    hm = build(Settings.from_environ(dict(os.environ)))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    owner = f"{socket.gethostname()}:{os.getpid()}"
    _recorder(record_path)(f"ready {owner}")
    run_worker(hm, owner=owner, stop_event=stop, kinds=TEST_KINDS, poll_interval=0.05, lease_seconds=lease)
    _recorder(record_path)(f"stopped {owner}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
