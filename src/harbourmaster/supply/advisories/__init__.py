"""The advisory database: OSV records imported from bulk exports, kept in harbourmaster's store.

Read sources with :func:`open_osv` and parse records with :func:`parse_osv`;
match through an :class:`AdvisoryIndex` (:class:`MemoryAdvisoryIndex` in
process; the index over harbourmaster's store, and importing into it, are
:mod:`harbourmaster.services.advisories`).
"""

from __future__ import annotations

from harbourmaster.supply.advisories.ecosystems import (
    component_ecosystem,
    component_package_name,
    ecosystem_base,
    ecosystem_key,
    is_supported,
    package_name,
)
from harbourmaster.supply.advisories.interface import (
    Advisory,
    AdvisoryError,
    AdvisoryIndex,
    AdvisorySource,
    AffectedPackage,
    CompiledAdvisory,
    InvalidAdvisory,
    PackageKey,
    RawRecord,
)
from harbourmaster.supply.advisories.memory import MemoryAdvisoryIndex
from harbourmaster.supply.advisories.osv import (
    OsvDirectory,
    OsvFile,
    OsvRecords,
    OsvZip,
    open_osv,
    parse_osv,
)

__all__ = [
    "Advisory",
    "AdvisoryError",
    "AdvisoryIndex",
    "AdvisorySource",
    "AffectedPackage",
    "CompiledAdvisory",
    "InvalidAdvisory",
    "MemoryAdvisoryIndex",
    "OsvDirectory",
    "OsvFile",
    "OsvRecords",
    "OsvZip",
    "PackageKey",
    "RawRecord",
    "component_ecosystem",
    "component_package_name",
    "ecosystem_base",
    "ecosystem_key",
    "is_supported",
    "open_osv",
    "package_name",
    "parse_osv",
]
