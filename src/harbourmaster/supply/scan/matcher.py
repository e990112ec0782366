"""Matching components against advisories, with each ecosystem's own version ordering.

Each component maps to an ecosystem key (:mod:`..advisories.ecosystems`) and
one or two package names: the package itself and, for OS packages, its source
package (Debian, Ubuntu and Alpine advisories name source packages), matched
at the source version when it is known.  The index returns pre-compiled
entries, so a match is a dictionary look-up and a binary search per entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from harbourmaster.domain.findings import Finding, FindingPackage, FixState
from harbourmaster.domain.osv_ranges import CompiledAffected
from harbourmaster.domain.versions import InvalidVersion, SortKey
from harbourmaster.supply.advisories import (
    AdvisoryIndex,
    CompiledAdvisory,
    PackageKey,
    component_ecosystem,
    component_package_name,
)
from harbourmaster.supply.scan.components import Component

__all__ = ["MatchResult", "Matcher", "relevant_fixes"]

_OS_TYPES = frozenset({"deb", "apk", "rpm"})
_UNSET: Any = object()


@dataclass(frozen=True, slots=True, kw_only=True)
class MatchResult:
    """Findings (one per advisory and package), and what could not be checked."""

    findings: tuple[Finding, ...]
    components: int
    unsupported: int
    warnings: tuple[str, ...]


def relevant_fixes(entry: CompiledAdvisory, installed: str) -> tuple[str, ...]:
    """The entry's fixed versions above ``installed`` (all of them when one does not compare).

    Never raises.
    """
    try:
        key = entry.compiled.scheme.sort_key(installed)
    except InvalidVersion:
        return entry.fixes
    return _fixes_above(entry, key)


def _fixes_above(entry: CompiledAdvisory, key: SortKey) -> tuple[str, ...]:
    fixes = entry.fixes
    if not fixes:
        return ()
    above: list[str] = []
    for fix, fix_key in zip(fixes, entry.fix_keys, strict=True):
        if fix_key is None:
            return fixes
        if key < fix_key:
            above.append(fix)
    return tuple(above) or fixes


def _affects(compiled: CompiledAffected, version: str, key: SortKey | None) -> bool:
    """:meth:`CompiledAffected.matches` with the version's sort key already made (None: invalid)."""
    if version in compiled.listed:
        return True
    if key is not None and (compiled.ranges or compiled.listed_keys) and compiled.matches_key(key):
        return True
    if compiled.semver_ranges or key is None:
        return compiled.matches(version)  # raises InvalidVersion for a version no range can read
    return False


@dataclass(frozen=True, slots=True)
class _Lookup:
    component: Component
    ecosystem: str
    key: PackageKey
    version: str
    note: tuple[str, ...] = ()


def _lookups(component: Component) -> list[_Lookup] | None:
    found = component_ecosystem(component.purl_type, namespace=component.namespace, distro=component.distro)
    if found is None:
        return None
    ecosystem, key = found
    name = component_package_name(component.purl_type, namespace=component.namespace, name=component.name)
    out = [_Lookup(component, ecosystem, (key, name), component.version)]
    source = component.source_package
    if component.purl_type in _OS_TYPES and source and source != name:
        version = component.source_version or component.version
        note = (f"matched on source package {source} {version}",)
        out.append(_Lookup(component, ecosystem, (key, source), version, note))
    return out


class Matcher:
    """Matches components against an :class:`AdvisoryIndex` (the core takes the interface)."""

    def __init__(self, index: AdvisoryIndex) -> None:
        self.index = index

    def match(self, components: Iterable[Component]) -> MatchResult:
        """Every advisory that affects a component.

        A version the ecosystem cannot parse is reported in ``warnings``, not raised.
        """
        lookups: list[_Lookup] = []
        unsupported = 0
        count = 0
        for component in components:
            count += 1
            found = _lookups(component)
            if found is None:
                unsupported += 1
            else:
                lookups.extend(found)
        candidates = self.index.candidates({lookup.key for lookup in lookups})
        findings: list[Finding] = []
        seen: set[tuple[str, str]] = set()
        warnings: list[str] = []
        for lookup in lookups:
            entries = candidates.get(lookup.key)
            if not entries:
                continue
            findings.extend(self._match_one(lookup, entries, seen, warnings))
        return MatchResult(
            findings=tuple(findings), components=count, unsupported=unsupported, warnings=tuple(warnings)
        )

    @staticmethod
    def _match_one(
        lookup: _Lookup, entries: Sequence[CompiledAdvisory], seen: set[tuple[str, str]], warnings: list[str]
    ) -> list[Finding]:
        component = lookup.component
        version = lookup.version
        package = FindingPackage(
            name=component.name, version=component.version, purl=component.purl, ecosystem=lookup.ecosystem
        )
        keys: dict[int, SortKey | None] = {}
        out: list[Finding] = []
        for entry in entries:
            mark = (entry.advisory_id, component.purl)
            if mark in seen:
                continue
            scheme = entry.compiled.scheme
            key = keys.get(id(scheme), _UNSET)
            if key is _UNSET:
                try:
                    key = scheme.sort_key(version)
                except InvalidVersion:
                    key = None
                keys[id(scheme)] = key
            try:
                if not _affects(entry.compiled, version, key):
                    continue
            except InvalidVersion as exc:
                warnings.append(f"{component.purl}: {exc.message}; not checked against {entry.advisory_id}")
                continue
            seen.add(mark)
            fixes = _fixes_above(entry, key) if key is not None else entry.fixes
            out.append(
                Finding(
                    id=entry.advisory_id,
                    aliases=entry.aliases,
                    package=package,
                    fixed_versions=fixes,
                    severity=entry.severity,
                    state=FixState.FIXED if fixes else FixState.NOT_FIXED,
                    summary=entry.summary,
                    notes=lookup.note,
                )
            )
        return out
