"""Which versions an OSV ``affected`` entry covers, following the OSV schema's evaluation rules.

A range is a list of events.  Sorted by version (``introduced: "0"`` first,
and at equal versions ``introduced`` before the others), they are replayed
against the version ``v``: ``introduced`` (``v >= x``, or ``"0"``) turns the
range on, ``fixed`` (``v >= x``) and ``last_affected`` (``v > x``) turn it
off.  ``limit`` events bound the whole range: ``v`` must be below at least one
limit (``"*"`` is no limit).  ``GIT`` ranges name commits, not versions, and
never match here.  A version listed in ``versions`` is always affected.

For matching in bulk, :func:`compile_affected` turns an entry into sorted
breakpoints of sort keys once; :meth:`CompiledAffected.matches_key` is then a
binary search and a comparison or two.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from harbourmaster.domain.versions import SEMVER, InvalidVersion, SortKey, VersionScheme
from harbourmaster.errors import BadInput

__all__ = [
    "CompiledAffected",
    "CompiledRange",
    "EventKind",
    "InvalidRange",
    "OsvEvent",
    "OsvRange",
    "RangeType",
    "affected",
    "compile_affected",
    "fixed_versions",
]


class InvalidRange(BadInput):
    """An OSV range or event is malformed."""


class RangeType(StrEnum):
    ECOSYSTEM = "ECOSYSTEM"
    SEMVER = "SEMVER"
    GIT = "GIT"


class EventKind(StrEnum):
    INTRODUCED = "introduced"
    FIXED = "fixed"
    LAST_AFFECTED = "last_affected"
    LIMIT = "limit"


@dataclass(frozen=True, slots=True)
class OsvEvent:
    """One event of a range: ``kind`` at ``version``.

    ``"0"`` is introduced-before-everything; a ``"*"`` limit is no limit.
    """

    kind: EventKind
    version: str

    def __post_init__(self) -> None:
        if not isinstance(self.kind, EventKind):
            raise InvalidRange(f"unknown OSV event kind {self.kind!r}")
        if not isinstance(self.version, str) or not self.version.strip():
            raise InvalidRange(f"OSV {self.kind.value} event has an empty version")


@dataclass(frozen=True, slots=True)
class OsvRange:
    """One entry of an OSV ``affected[].ranges`` list."""

    type: RangeType
    events: tuple[OsvEvent, ...]

    @classmethod
    def from_osv(cls, data: Mapping[str, Any], *, where: str = "range") -> OsvRange:
        """Build a range from its OSV JSON object (``{"type": ..., "events": [{"introduced": "0"}, ...]}``).

        Raises:
            InvalidRange: the type is unknown, or an event is not an object with exactly one known key
                whose value is a non-empty string.  ``where`` (e.g. ``"GHSA-xxx affected[0].ranges[1]"``)
                prefixes the message.
        """
        if not isinstance(data, Mapping):
            raise InvalidRange(f"{where}: a range must be an object")
        raw_type = data.get("type")
        try:
            range_type = RangeType(raw_type if isinstance(raw_type, str) else "")
        except ValueError:
            raise InvalidRange(
                f"{where}: unknown range type {raw_type!r}", details=["expected ECOSYSTEM, SEMVER or GIT"]
            ) from None
        raw_events = data.get("events")
        if not isinstance(raw_events, list):
            raise InvalidRange(f"{where}: 'events' must be a list")
        events: list[OsvEvent] = []
        for index, raw in enumerate(raw_events):
            if not isinstance(raw, Mapping) or len(raw) != 1:
                raise InvalidRange(
                    f"{where}.events[{index}]: an event must be an object with exactly one key"
                )
            ((key, value),) = raw.items()
            try:
                kind = EventKind(key)
            except ValueError:
                raise InvalidRange(f"{where}.events[{index}]: unknown event {key!r}") from None
            if not isinstance(value, str) or not value.strip():
                raise InvalidRange(f"{where}.events[{index}]: {key} must be a non-empty string")
            events.append(OsvEvent(kind, value))
        return cls(range_type, tuple(events))


@dataclass(frozen=True, slots=True)
class CompiledRange:
    """A range as breakpoints: at ``keys[i]`` the range's state is ``at[i]``; just above it, ``above[i]``.

    Below ``keys[0]`` the state is ``initial``.  ``limit`` is the largest limit
    key, or None for no limit.
    """

    keys: tuple[SortKey, ...]
    at: tuple[bool, ...]
    above: tuple[bool, ...]
    initial: bool
    limit: SortKey | None

    def matches_key(self, key: SortKey) -> bool:
        """Whether the version with sort key ``key`` is in the range.  Never raises."""
        if self.limit is not None and not key < self.limit:
            return False
        keys = self.keys
        index = bisect.bisect_left(keys, key)
        if index < len(keys) and not key < keys[index]:
            return self.at[index]
        return self.above[index - 1] if index else self.initial


@dataclass(frozen=True, slots=True)
class CompiledAffected:
    """An ``affected`` entry compiled for one scheme; see :func:`compile_affected`."""

    scheme: VersionScheme
    ranges: tuple[CompiledRange, ...]
    semver_ranges: tuple[CompiledRange, ...]
    listed: frozenset[str]
    listed_keys: tuple[SortKey, ...]

    def matches(self, version: str) -> bool:
        """Whether ``version`` is affected.

        Raises:
            InvalidVersion: ``version`` is not valid in the scheme, and not listed verbatim.
        """
        if version in self.listed:
            return True
        if self.ranges or self.listed_keys:
            key = self.scheme.sort_key(version)
            if self.matches_key(key):
                return True
        if self.semver_ranges:
            semver_key = _semver_scheme(self.scheme).sort_key(version)
            return any(r.matches_key(semver_key) for r in self.semver_ranges)
        return False

    def matches_key(self, key: SortKey) -> bool:
        """Whether the version with this sort key (of :attr:`scheme`) is affected by an
        ``ECOSYSTEM`` range or the ``versions`` list (``SEMVER`` ranges need :meth:`matches`).  Never raises.
        """
        for compiled in self.ranges:
            if compiled.matches_key(key):
                return True
        listed = self.listed_keys
        if listed:
            index = bisect.bisect_left(listed, key)
            return index < len(listed) and not key < listed[index]
        return False


def _semver_scheme(scheme: VersionScheme) -> VersionScheme:
    return scheme if scheme.semver_compatible else SEMVER


def _event_order(event: OsvEvent) -> int:
    return 0 if event.kind is EventKind.INTRODUCED else 1


def _compile_range(osv_range: OsvRange, scheme: VersionScheme) -> CompiledRange:
    initial = False
    limits: list[SortKey] = []
    unlimited = False
    keyed: list[tuple[SortKey, int, OsvEvent]] = []
    for event in osv_range.events:
        if event.kind is EventKind.INTRODUCED and event.version == "0":
            initial = True
        elif event.kind is EventKind.LIMIT and event.version == "*":
            unlimited = True
        elif event.kind is EventKind.LIMIT:
            limits.append(scheme.sort_key(event.version))
        else:
            keyed.append((scheme.sort_key(event.version), _event_order(event), event))
    keyed.sort(key=lambda item: (item[0], item[1]))

    keys: list[SortKey] = []
    at: list[bool] = []
    above: list[bool] = []
    state = initial
    index = 0
    while index < len(keyed):
        key = keyed[index][0]
        group: list[OsvEvent] = []
        while index < len(keyed) and not key < keyed[index][0]:
            group.append(keyed[index][2])
            index += 1
        state_at = state
        for event in group:  # replayed for v == key: only the inclusive events fire
            if event.kind is EventKind.INTRODUCED:
                state_at = True
            elif event.kind is EventKind.FIXED:
                state_at = False
        for event in group:  # replayed for v just above key: every event fires
            state = event.kind is EventKind.INTRODUCED
        keys.append(key)
        at.append(state_at)
        above.append(state)
    limit = None if unlimited or not limits else max(limits)
    return CompiledRange(tuple(keys), tuple(at), tuple(above), initial, limit)


def compile_affected(
    *, ranges: Iterable[OsvRange], versions: Iterable[str] = (), scheme: VersionScheme
) -> CompiledAffected:
    """Pre-parse an OSV ``affected`` entry (its ``ranges`` and ``versions``) for fast matching.

    ``GIT`` ranges are dropped.  ``SEMVER`` ranges use ``scheme`` when it is a
    semver scheme, strict SemVer 2.0 otherwise.  Listed ``versions`` that do
    not parse still match verbatim.

    Raises:
        InvalidVersion: an event's version is not valid in the range's scheme (the message names it).
    """
    compiled: list[CompiledRange] = []
    semver: list[CompiledRange] = []
    for osv_range in ranges:
        if osv_range.type is RangeType.ECOSYSTEM:
            compiled.append(_compile_range(osv_range, scheme))
        elif osv_range.type is RangeType.SEMVER:
            semver_scheme = _semver_scheme(scheme)
            (compiled if semver_scheme is scheme else semver).append(_compile_range(osv_range, semver_scheme))
    listed = frozenset(versions)
    listed_keys: list[SortKey] = []
    for version in listed:
        try:
            listed_keys.append(scheme.sort_key(version))
        except InvalidVersion:
            continue
    listed_keys.sort()
    return CompiledAffected(scheme, tuple(compiled), tuple(semver), listed, tuple(listed_keys))


def affected(
    version: str, *, ranges: Iterable[OsvRange], versions: Iterable[str] = (), scheme: VersionScheme
) -> bool:
    """Whether ``version`` is affected by an OSV ``affected`` entry with these ``ranges`` and ``versions``.

    For repeated use compile once with :func:`compile_affected`.

    Raises:
        InvalidVersion: ``version`` (unless listed verbatim) or an event's version is not valid in the scheme.
    """
    return compile_affected(ranges=ranges, versions=versions, scheme=scheme).matches(version)


def fixed_versions(ranges: Sequence[OsvRange] | Iterable[OsvRange]) -> tuple[str, ...]:
    """The ``fixed`` versions of ``ranges`` (``GIT`` ranges excluded), without repeats, in the records' order.

    An empty result means "no fix".  Never raises.
    """
    seen: dict[str, None] = {}
    for osv_range in ranges:
        if osv_range.type is RangeType.GIT:
            continue
        for event in osv_range.events:
            if event.kind is EventKind.FIXED:
                seen.setdefault(event.version, None)
    return tuple(seen)
