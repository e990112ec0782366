"""The ``mirrors`` section, and the slot each scheduled mirror last queued a job for, in ``meta`` rows.

``mirrors`` holds the schedules as applied (``{"schedules": [...]}``, a handful of entries); it is part
of the governance model and saved with it.  ``mirror_slots`` holds, per schedule, the cron expression
and the time (slot) whose job was last queued: it is the scheduler's state, not the model's, and is
changed only by :func:`claim_mirror_slot`, a compare-and-set serialised across processes.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from harbourmaster.domain.mirror_schedules import MirrorSchedule
from harbourmaster.domain.model import Tier
from harbourmaster.store.meta import get_meta, set_meta
from harbourmaster.store.models import MetaRow

__all__ = ["claim_mirror_slot", "drop_slots_of_removed", "load_mirrors", "mirror_slot", "save_mirrors"]

_MIRRORS_META = "mirrors"
_SLOTS_META = "mirror_slots"
#: The PostgreSQL advisory lock key that serialises the schedulers' claims.
_SLOTS_LOCK_KEY = 0x484D_4D49_5252_4F52  # "HMMIRROR"


def load_mirrors(session: Session) -> tuple[MirrorSchedule, ...]:
    """The stored scheduled mirrors (none when none were applied)."""
    value: dict[str, Any] = get_meta(session, _MIRRORS_META) or {}
    return tuple(
        MirrorSchedule(
            name=str(m["name"]),
            image_set=str(m["image_set"]),
            to=str(m["to"]),
            schedule=str(m["schedule"]),
            tier=Tier(m["tier"]) if m.get("tier") else None,
        )
        for m in value.get("schedules", [])
    )


def save_mirrors(session: Session, mirrors: Collection[MirrorSchedule]) -> None:
    """Keep ``mirrors`` as the model's scheduled mirrors; the slots of schedules gone go with them."""
    set_meta(session, _MIRRORS_META, {"schedules": [
        {"name": m.name, "image_set": m.image_set, "to": m.to, "schedule": m.schedule,
         "tier": m.tier.value if m.tier is not None else None}
        for m in mirrors
    ]})  # fmt: skip
    drop_slots_of_removed(session, {m.name for m in mirrors})


def _slots(session: Session) -> dict[str, object]:
    value: dict[str, Any] = get_meta(session, _SLOTS_META) or {}
    return {str(name): dict(entry) for name, entry in value.items()}


def drop_slots_of_removed(session: Session, names: Collection[str]) -> None:
    """Forget the slots of schedules not in ``names``: one defined again starts afresh."""
    slots = _slots(session)
    kept = {name: slot for name, slot in slots.items() if name in names}
    if kept != slots:
        set_meta(session, _SLOTS_META, kept)


def mirror_slot(session: Session, name: str, *, schedule: str) -> dt.datetime | None:
    """The slot last queued for schedule ``name`` while its cron expression was ``schedule``."""
    entry: Any = _slots(session).get(name)
    if entry is None or entry.get("schedule") != schedule:
        return None
    return dt.datetime.fromisoformat(str(entry["slot"]))


def claim_mirror_slot(
    session: Session, name: str, *, schedule: str, previous: dt.datetime | None, slot: dt.datetime
) -> bool:
    """Record ``slot`` as the last queued for schedule ``name`` if the recorded one is still
    ``previous``; False when another writer changed it first.  Until the caller's transaction ends,
    other claims wait (PostgreSQL: an advisory lock; SQLite write transactions are exclusive)."""
    session.connection()
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SLOTS_LOCK_KEY})
    # Read the committed row again: an earlier read in this session may be stale.
    row = session.get(MetaRow, _SLOTS_META)
    if row is not None:
        session.refresh(row)
    if mirror_slot(session, name, schedule=schedule) != previous:
        return False
    slots = _slots(session)
    slots[name] = {"schedule": schedule, "slot": slot.isoformat()}
    set_meta(session, _SLOTS_META, slots)
    session.flush()
    return True
