"""Turning stored or parsed affected entries into :class:`CompiledAdvisory` values (shared by backends)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harbourmaster.domain.osv_ranges import OsvRange, compile_affected, fixed_versions
from harbourmaster.domain.severity import Severity
from harbourmaster.domain.versions import InvalidVersion, VersionScheme, scheme_for
from harbourmaster.supply.advisories.interface import Advisory, AffectedPackage, CompiledAdvisory

__all__ = ["compile_entry", "compiled_from_advisory", "ranges_from_json", "ranges_to_json"]


def ranges_to_json(ranges: Iterable[OsvRange]) -> list[dict[str, Any]]:
    """OSV JSON for ranges (``[{"type": ..., "events": [{"introduced": "0"}, ...]}]``)."""
    return [{"type": r.type.value, "events": [{e.kind.value: e.version} for e in r.events]} for r in ranges]


def ranges_from_json(data: Iterable[Mapping[str, Any]]) -> tuple[OsvRange, ...]:
    """Ranges back from :func:`ranges_to_json`.

    Raises:
        InvalidRange: the JSON is not what :func:`ranges_to_json` writes.
    """
    return tuple(OsvRange.from_osv(r) for r in data)


def compile_entry(
    *,
    advisory_id: str,
    aliases: tuple[str, ...],
    summary: str,
    severity: Severity,
    ecosystem: str,
    ranges: tuple[OsvRange, ...],
    versions: Iterable[str],
) -> CompiledAdvisory:
    """Compile one affected entry.

    Raises:
        InvalidVersion: an event's version is not valid in the ecosystem (imports refuse such records).
        UnknownEcosystem: the ecosystem has no version scheme.
    """
    scheme = scheme_for(ecosystem)
    compiled = compile_affected(ranges=ranges, versions=versions, scheme=scheme)
    fixes = fixed_versions(ranges)
    return CompiledAdvisory(
        advisory_id=advisory_id,
        aliases=aliases,
        summary=summary,
        severity=severity,
        ecosystem=ecosystem,
        compiled=compiled,
        fixes=fixes,
        fix_keys=tuple(_key_or_none(scheme, fix) for fix in fixes),
    )


def _key_or_none(scheme: VersionScheme, version: str) -> Any:
    try:
        return scheme.sort_key(version)
    except InvalidVersion:
        return None


def compiled_from_advisory(advisory: Advisory, entry: AffectedPackage) -> CompiledAdvisory:
    """Compile ``entry`` of ``advisory``.

    Raises:
        InvalidVersion: as :func:`compile_entry`.
    """
    return compile_entry(
        advisory_id=advisory.id,
        aliases=advisory.aliases,
        summary=advisory.summary,
        severity=advisory.severity.severity,
        ecosystem=entry.ecosystem,
        ranges=entry.ranges,
        versions=entry.versions,
    )
