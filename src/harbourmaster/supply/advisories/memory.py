"""An :class:`AdvisoryIndex` held in memory, built from parsed advisories (for tests and one-off scans)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping

from harbourmaster.supply.advisories.compile import compiled_from_advisory
from harbourmaster.supply.advisories.ecosystems import ecosystem_base
from harbourmaster.supply.advisories.interface import Advisory, AdvisoryIndex, CompiledAdvisory, PackageKey

__all__ = ["MemoryAdvisoryIndex"]


class MemoryAdvisoryIndex(AdvisoryIndex):
    """Every affected entry of ``advisories`` (the newest ``modified`` per id), compiled up front."""

    def __init__(self, advisories: Iterable[Advisory]) -> None:
        newest: dict[str, Advisory] = {}
        for advisory in advisories:
            old = newest.get(advisory.id)
            if old is None or advisory.modified > old.modified:
                newest[advisory.id] = advisory
        self._entries: dict[PackageKey, list[CompiledAdvisory]] = {}
        for advisory in newest.values():
            if advisory.withdrawn is not None:
                continue
            for entry in advisory.affected:
                self._entries.setdefault((entry.ecosystem_key, entry.name), []).append(
                    compiled_from_advisory(advisory, entry)
                )

    def candidates(self, keys: Collection[PackageKey]) -> Mapping[PackageKey, tuple[CompiledAdvisory, ...]]:
        out: dict[PackageKey, tuple[CompiledAdvisory, ...]] = {}
        for key in keys:
            ecosystem, name = key
            found = [*self._entries.get(key, ())]
            base = ecosystem_base(ecosystem)
            if base != ecosystem:
                found.extend(self._entries.get((base, name), ()))
            if found:
                out[key] = tuple(found)
        return out
