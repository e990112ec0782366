"""The governance document's ``mirrors`` section, read into :class:`MirrorSchedule` values and checked.

Each entry's ImageSet is read (``file:/path`` by the CLI on its own host, through the
:class:`HostFiles` guard; through the API it is given as YAML text) and parsed, and its cron expression
checked, before anything is stored: each problem is reported with its document path
(``mirrors[0].schedule: ...``), with all the others.  The target registry and duplicate names are the
model's own rules (:func:`~harbourmaster.domain.mirror_schedules.mirror_problems`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from harbourmaster.domain.imageset import ImageSetInvalid
from harbourmaster.domain.mirror_schedules import MirrorSchedule
from harbourmaster.domain.state import Violation
from harbourmaster.services.cron import CronInvalid, parse_cron
from harbourmaster.services.document import MirrorSpec
from harbourmaster.services.imagesets import MAX_IMAGE_SET_BYTES, read_image_set
from harbourmaster.vault.interface import UnresolvedSecretError
from harbourmaster.vault.references import HostFiles, read_host_file

__all__ = ["FILE_PREFIX", "mirrors_from_spec"]

FILE_PREFIX = "file:"
_FILES_CLI_ONLY = (
    "give the ImageSet's YAML text itself; files are read only by the harbourmaster CLI on its own host"
)


def _image_set_text(
    value: str, *, path: str, problems: list[Violation], host: HostFiles | None
) -> str | None:
    """``value`` itself when it is the ImageSet's text, else the content of the file it names."""
    if not value.startswith(FILE_PREFIX):
        return value
    if host is None:
        problems.append(Violation(path, _FILES_CLI_ONLY))
        return None
    target = value.removeprefix(FILE_PREFIX)
    try:
        data = read_host_file(target, field=path, guard=host, limit=MAX_IMAGE_SET_BYTES)
        return data.decode("utf-8")
    except UnresolvedSecretError as exc:
        problems.append(Violation(path, exc.message.removeprefix(f"{path}: ")))
    except UnicodeDecodeError:
        problems.append(Violation(path, f"{target} is not UTF-8 text"))
    return None


def _image_set_problems(text: str, *, path: str) -> list[Violation]:
    try:
        read_image_set(text, source=path)
    except ImageSetInvalid as exc:
        if exc.details:
            return [Violation(path, detail) for detail in exc.details]
        return [Violation(path, exc.message.removeprefix(f"{path}: "))]
    return []


def mirrors_from_spec(
    specs: Iterable[tuple[int, MirrorSpec]],
    *,
    problems: list[Violation],
    host: HostFiles | None,
    at: Callable[[Any, str], Any],
) -> list[MirrorSchedule]:
    """The scheduled mirrors ``specs`` (each with its index in the document) describe.  An entry whose
    ImageSet or cron expression has problems is left out, each problem appended with its path;
    ``at(entity, path)`` records where each kept entry was defined."""
    out: list[MirrorSchedule] = []
    for i, spec in specs:
        path = f"mirrors[{i}]"
        found: list[Violation] = []
        try:
            parse_cron(spec.schedule, field=f"{path}.schedule")
        except CronInvalid as exc:
            found.append(Violation(f"{path}.schedule", exc.message.removeprefix(f"{path}.schedule: ")))
        text = _image_set_text(spec.image_set, path=f"{path}.image_set", problems=found, host=host)
        if text is not None:
            found += _image_set_problems(text, path=f"{path}.image_set")
        if found or text is None:
            problems.extend(found)
            continue
        schedule = MirrorSchedule(
            name=spec.name, image_set=text, to=spec.to, schedule=spec.schedule, tier=spec.tier
        )
        out.append(at(schedule, path))
    return out
