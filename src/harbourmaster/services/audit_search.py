"""Listing the audit log, filtered and a page at a time (newest first): what the web UI's audit page
shows.  Verifying and exporting the chain are :mod:`harbourmaster.services.audit_log`'s."""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel

from harbourmaster.domain.audit import AuditEntry
from harbourmaster.domain.authz import Permission, Principal, require
from harbourmaster.services.core import Harbourmaster
from harbourmaster.store.values import AuditFilter

__all__ = ["MAX_PAGE", "AuditPagePublic", "AuditRecordPublic", "search_audit"]

#: The most records one page lists.
MAX_PAGE: Final = 200


class AuditRecordPublic(BaseModel):
    """One audit record as a reader sees it (its hashes are the export's and the verifier's)."""

    seq: int
    time: str
    actor: str
    action: str
    target: str
    result: str
    details: dict[str, Any]

    @classmethod
    def of(cls, entry: AuditEntry) -> AuditRecordPublic:
        return cls(seq=entry.seq, time=entry.time, actor=entry.actor, action=entry.action,
                   target=entry.target, result=entry.result, details=dict(entry.details))


class AuditPagePublic(BaseModel):
    """A page of records, newest first; ``older`` is the ``before`` of the next page (None: no more)."""

    records: list[AuditRecordPublic]
    older: int | None


def search_audit(hm: Harbourmaster, principal: Principal, where: AuditFilter, *,
                 limit: int = 50) -> AuditPagePublic:
    """The newest ``limit`` records (1 to :data:`MAX_PAGE`) that ``where`` selects.  Reads only.

    Raises:
        Forbidden: ``principal`` may not read the audit log.
        AuditRecordError: a time bound has no time zone.
    """
    require(principal, Permission.AUDIT_READ)
    size = max(1, min(limit, MAX_PAGE))
    with hm.store.read() as tx:
        found = tx.audit.search(where, limit=size + 1)
    records = [AuditRecordPublic.of(e) for e in found[:size]]
    return AuditPagePublic(records=records, older=records[-1].seq if len(found) > size else None)
