"""Scheduled mirrors end to end: a ``mirrors`` entry applied with the CLI (its ImageSet read from a
file), the scheduler's pass over a real SQLite home with a fixed clock (two cores, as two ``serve``
processes on one database, queue the slot once), and the queued job run by the job runner against two
real CNCF distribution registries: the images land in the target, signed, and everything is audited."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from harbourmaster.bootstrap import build
from harbourmaster.services import mirror_schedule
from harbourmaster.services.jobs import run_one
from harbourmaster.services.mirror_schedule import enqueue_due
from harbourmaster.settings import Settings
from harbourmaster.store.values import JobState
from tests.fakes.clock import FixedClock
from tests.integration.test_mirror import Lab, _digest, lab  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration

IMAGE_SET = """\
apiVersion: harbourmaster.io/v1
kind: ImageSet
signer: ci-release
images:
  - {source}/lab/app:v1
  - {source}/lab/multi:v1
"""


def test_a_due_schedule_queues_one_job_that_mirrors_the_set(
    lab: Lab, monkeypatch: pytest.MonkeyPatch  # noqa: F811 - the fixture
) -> None:
    set_file = lab.root / "base-images.yaml"
    set_file.write_text(IMAGE_SET.format(source=lab.source.host))
    document = lab.root / "governance.yaml"
    document.write_text(
        document.read_text()
        + "mirrors:\n"
        f"  - {{name: nightly-base, image_set: 'file:{set_file}', to: internal, schedule: '0 2 * * *'}}\n"
    )
    applied = lab.run("apply", "-f", str(document))
    assert applied.exit_code == 0, applied.output
    assert "+ mirror nightly-base" in applied.output
    set_file.unlink()  # the model holds the ImageSet's text: the file is not read again

    clock = FixedClock(dt.datetime(2026, 11, 30, 1, 59, 30, tzinfo=dt.UTC))
    hm = build(Settings.from_environ(), clock=clock)
    other = build(Settings.from_environ(), clock=clock)  # a second serve on the same database
    try:
        assert enqueue_due(hm) == []  # first seen: the current slot is recorded, nothing is queued
        clock.set(dt.datetime(2026, 11, 30, 2, 0, 10, tzinfo=dt.UTC))
        read_by_other = mirror_schedule._slots(other, clock.now())
        [queued] = enqueue_due(hm)
        assert queued.slot == dt.datetime(2026, 11, 30, 2, 0, tzinfo=dt.UTC)
        with monkeypatch.context() as m:
            # The other process found the same slot due: its compare-and-set fails on the database.
            m.setattr(mirror_schedule, "_slots", lambda _hm, _now: read_by_other)
            assert enqueue_due(other) == []
        assert enqueue_due(other) == [] and enqueue_due(hm) == []

        job = run_one(hm, owner="test-worker", kinds=["mirror"])
        assert job is not None and job.id == queued.job_id
        assert job.state is JobState.SUCCEEDED, job.error
        assert run_one(hm, owner="test-worker", kinds=["mirror"]) is None  # one job for the slot
        result = job.result
        assert (result["copied"], result["skipped"], result["refused"]) == (2, 0, 0)
        assert result["image_set"] == "scheduled mirror nightly-base"
        assert all(i["signature"] for i in result["images"])
    finally:
        hm.db.dispose()
        other.db.dispose()

    assert _digest(lab.target, "lab/app:v1") == lab.digests["app"]
    assert _digest(lab.target, "lab/multi:v1") == lab.digests["multi"]

    exported = lab.run("audit", "export")
    assert exported.exit_code == 0
    records = [json.loads(line) for line in exported.stdout.splitlines() if line.strip()]
    [scheduled] = [r for r in records if r.get("action") == "mirror.scheduled"]
    assert scheduled["actor"] == "scheduler:nightly-base" and scheduled["target"] == "internal"
    assert scheduled["details"]["job"] == queued.job_id
    assert scheduled["details"]["slot"] == "2026-11-30T02:00:00+00:00"
    images = [r for r in records if r.get("action") == "mirror.image"]
    [run] = [r for r in records if r.get("action") == "mirror.run"]
    assert len(images) == 2 and {r["actor"] for r in images} == {"scheduler:nightly-base"}
    assert {r["details"]["outcome"] for r in images} == {"copied"}
    assert run["actor"] == "scheduler:nightly-base" and run["details"]["copied"] == 2
