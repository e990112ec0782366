"""The audit log: appended in the same unit of work as the change it records (``tx.audit.append``).

Records form a hash chain (:mod:`harbourmaster.domain.audit`) kept by the
store's :class:`~harbourmaster.store.interface.AuditRepository`, with the
chain's head beside it so that deleting records from the end is detected too.
Both live in the same database, so whoever can write it can rewrite both
consistently: signed checkpoints kept outside it
(:mod:`harbourmaster.services.audit_checkpoints`) are what exposes that.
"""

from __future__ import annotations

from harbourmaster.domain.audit import ChainVerdict, verify_chain
from harbourmaster.store.interface import AuditLogBroken, AuditRepository
from harbourmaster.store.values import AuditEvent

__all__ = ["AuditEvent", "AuditLogBroken", "verify_audit"]


def verify_audit(audit: AuditRepository) -> ChainVerdict:
    """The chain checked against itself and the head stored beside it (both in the database: see
    :mod:`harbourmaster.services.audit_checkpoints` for checking against signed checkpoints)."""
    return verify_chain(audit.entries(), expected_head=audit.head())
