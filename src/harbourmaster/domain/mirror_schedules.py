"""Scheduled mirrors: an ImageSet mirrored into a registry of the model on a cron schedule.

A :class:`MirrorSchedule` is part of the governance model (the document's ``mirrors`` section).  It
holds the ImageSet as the text that was applied (a ``file:`` reference is read by the CLI at apply
time), so the scheduler and the jobs it queues never read a file of the operator's host.  The cron
expression is checked, and the ImageSet parsed, where the document is read (the services); the model's
own rules here are the ones any change must keep: a valid, unique name and a defined target registry.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final

from harbourmaster.domain.model import Tier

__all__ = [
    "SCHEDULER_ACTOR_PREFIX", "MirrorSchedule", "mirror_problems", "schedule_of_actor", "scheduler_actor"
]  # fmt: skip

_NAME: Final = re.compile(r"^[a-z0-9]([a-z0-9._-]{0,126}[a-z0-9])?$")

#: The actor a scheduled mirror's job is queued as (``scheduler:<schedule name>``): never a user's name
#: (user names have no ``:``).
SCHEDULER_ACTOR_PREFIX: Final = "scheduler:"


@dataclass(frozen=True, slots=True)
class MirrorSchedule:
    """``image_set`` (ImageSet YAML text) mirrored into registry ``to`` at each time the cron
    expression ``schedule`` (five fields, UTC) names, judged by ``tier`` (None: the target's default)."""

    name: str
    image_set: str
    to: str
    schedule: str
    tier: Tier | None = None


def scheduler_actor(name: str) -> str:
    """The actor the scheduled mirror ``name`` queues its jobs as."""
    return f"{SCHEDULER_ACTOR_PREFIX}{name}"


def schedule_of_actor(actor: str) -> str | None:
    """The schedule a :func:`scheduler_actor` names, or None for any other actor."""
    if actor.startswith(SCHEDULER_ACTOR_PREFIX):
        return actor.removeprefix(SCHEDULER_ACTOR_PREFIX) or None
    return None


def mirror_problems(
    mirrors: Iterable[MirrorSchedule],
    *,
    registries: Iterable[str],
    locate: Callable[[object], str],
    undefined_registry: Callable[[str], str | None],
) -> list[tuple[str, str]]:
    """``(path, message)`` for each rule the scheduled mirrors break: a name that is not one, a name
    defined twice, a target registry that is not defined (``undefined_registry(name)`` says why, or
    None when the reference is not to be reported: its entry had problems of its own)."""
    known = set(registries)
    seen: set[str] = set()
    out: list[tuple[str, str]] = []
    for mirror in mirrors:
        where = locate(mirror)
        if not _NAME.match(mirror.name):
            out.append((f"{where}.name", f"{mirror.name!r} is not a valid mirror name "
                        "(lowercase letters, digits, '.', '_', '-'; at most 128)"))  # fmt: skip
        if mirror.name in seen:
            out.append((f"{where}.name", f"mirror {mirror.name} is defined more than once"))
        seen.add(mirror.name)
        if mirror.to not in known:
            message = undefined_registry(mirror.to)
            if message is not None:
                out.append((f"{where}.to", message))
    return out
