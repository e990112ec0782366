"""Scheduled mirrors: queue one ``mirror`` job per schedule each time its cron expression comes due.

``serve`` calls :func:`enqueue_due` every ``HARBOURMASTER_MIRROR_SCHEDULER_SECONDS``.  For each
schedule of the model (the governance document's ``mirrors``) the *slot* is the latest time its cron
expression names at or before now (UTC).  A schedule is due when that slot is later than the slot it
last queued a job for; one job is then queued for it, whatever number of slots passed meanwhile (a
backlog of missed runs is never caught up: the next run is at the next slot).

Each schedule's last slot is recorded with a compare-and-set in the transaction that queues the job
and writes its audit record (``mirror.scheduled``), so several ``serve`` processes on one database
queue each slot exactly once.  A schedule seen for the first time (new, renamed, or with a changed cron
expression) records its current slot and queues nothing: its first run is at its next slot.  A removed
schedule queues nothing more, and a job it queued before runs for nobody
(:func:`~harbourmaster.services.job_kinds.job_principal`).

The jobs are queued as ``scheduler:<name>``, with the schedule's ImageSet text, target and tier.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from harbourmaster.domain.mirror_schedules import MirrorSchedule, scheduler_actor
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.cron import CronInvalid, parse_cron
from harbourmaster.services.mirror_jobs import MIRROR_KIND

__all__ = ["MirrorSlot", "QueuedMirror", "due_schedules", "enqueue_due"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MirrorSlot:
    """A schedule at ``now``: its current ``slot``, and the one it last queued (None: never, under its
    cron expression).  It is due when ``previous`` is set and earlier than ``slot``."""

    schedule: MirrorSchedule
    slot: dt.datetime
    previous: dt.datetime | None

    @property
    def due(self) -> bool:
        return self.previous is not None and self.slot > self.previous


@dataclass(frozen=True, slots=True)
class QueuedMirror:
    """A job queued for a schedule's slot."""

    schedule: str
    slot: dt.datetime
    job_id: int


def _slots(hm: Harbourmaster, now: dt.datetime) -> list[MirrorSlot]:
    mirrors = hm.current()[1].mirrors
    out: list[MirrorSlot] = []
    with hm.store.read() as tx:
        for mirror in mirrors:
            try:
                cron = parse_cron(mirror.schedule, field=f"mirror {mirror.name}: schedule")
            except CronInvalid as exc:  # checked when applied; a stored one is not, say, hand-edited
                log.warning("scheduled mirror skipped: %s", exc.message)
                continue
            previous = tx.governance.mirror_slot(mirror.name, schedule=mirror.schedule)
            out.append(MirrorSlot(mirror, cron.latest(now), previous))
    return out


def due_schedules(hm: Harbourmaster, now: dt.datetime) -> list[MirrorSlot]:
    """The schedules due at ``now``: each with the slot to queue a job for."""
    return [s for s in _slots(hm, now) if s.due]


def _payload(mirror: MirrorSchedule, slot: dt.datetime) -> dict[str, object]:
    payload: dict[str, object] = {
        "image_set": mirror.image_set,
        "source": f"scheduled mirror {mirror.name}",
        "to": mirror.to,
        "schedule": mirror.name,
        "slot": slot.isoformat(),
    }
    if mirror.tier is not None:
        payload["tier"] = mirror.tier.value
    return payload


def enqueue_due(hm: Harbourmaster, *, now: dt.datetime | None = None) -> list[QueuedMirror]:
    """Queue one ``mirror`` job for each schedule due at ``now`` (default: the clock's), and record
    the first slot of schedules seen for the first time; the jobs queued (none for a slot another
    process claimed first).  Each claim, its job and its ``mirror.scheduled`` audit record are one
    transaction."""
    at = now or hm.clock.now()
    queued: list[QueuedMirror] = []
    for item in _slots(hm, at):
        if item.previous is not None and not item.due:
            continue
        mirror = item.schedule
        with hm.store.transaction() as tx:
            claimed = tx.governance.claim_mirror_slot(
                mirror.name, schedule=mirror.schedule, previous=item.previous, slot=item.slot
            )
            if not claimed or item.previous is None:
                continue  # another process queued this slot; or the first slot, only recorded
            actor = scheduler_actor(mirror.name)
            job = tx.jobs.enqueue(kind=MIRROR_KIND, payload=_payload(mirror, item.slot), created_by=actor,
                                  now=at)  # fmt: skip
            tx.audit.append(
                actor=actor,
                action="mirror.scheduled",
                target=mirror.to,
                details={
                    "schedule": mirror.name,
                    "cron": mirror.schedule,
                    "slot": item.slot.isoformat(),
                    "previous": item.previous.isoformat(),
                    "job": job.id,
                    "tier": mirror.tier.value if mirror.tier is not None else None,
                },
            )
        queued.append(QueuedMirror(mirror.name, item.slot, job.id))
    return queued
