"""The advisory database: OSV records imported from bulk exports, kept in harbourmaster's store.

Import with :func:`import_advisories` (a source from :func:`open_osv`), match
through an :class:`AdvisoryIndex` (:class:`SqlAdvisoryIndex` over the store,
:class:`MemoryAdvisoryIndex` in process).
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
from harbourmaster.supply.advisories.store import (
    ImportReport,
    SqlAdvisoryIndex,
    VulnDbStatus,
    import_advisories,
    vulndb_status,
)

__all__ = [
    "Advisory",
    "AdvisoryError",
    "AdvisoryIndex",
    "AdvisorySource",
    "AffectedPackage",
    "CompiledAdvisory",
    "ImportReport",
    "InvalidAdvisory",
    "MemoryAdvisoryIndex",
    "OsvDirectory",
    "OsvFile",
    "OsvRecords",
    "OsvZip",
    "PackageKey",
    "RawRecord",
    "SqlAdvisoryIndex",
    "VulnDbStatus",
    "component_ecosystem",
    "component_package_name",
    "ecosystem_base",
    "ecosystem_key",
    "import_advisories",
    "is_supported",
    "open_osv",
    "package_name",
    "parse_osv",
    "vulndb_status",
]
