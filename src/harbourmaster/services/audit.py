"""The audit log: appended in the same transaction as the change it records.

Records form a hash chain (:mod:`harbourmaster.domain.audit`).  The newest
sequence number and hash are also kept in the ``meta`` table as the chain's
head, so that deleting records from the end is detected too.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping

from sqlalchemy import select
from sqlalchemy.orm import Session

from harbourmaster.domain.audit import AuditEntry, ChainVerdict, chain_next, format_audit_time, verify_chain
from harbourmaster.errors import Error
from harbourmaster.store.models import AuditRow, MetaRow

__all__ = ["AuditLogBroken", "append_audit", "iter_audit", "verify_audit"]

_HEAD = "audit_head"


def _row_to_entry(row: AuditRow) -> AuditEntry:
    return AuditEntry(
        seq=row.seq,
        time=row.time,
        actor=row.actor,
        action=row.action,
        target=row.target,
        result=row.result,
        details=dict(row.details or {}),
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


class AuditLogBroken(Error):
    kind = "audit-log-broken"
    status = 500


def _now() -> str:
    return format_audit_time(dt.datetime.now(dt.UTC))


def append_audit(
    session: Session,
    *,
    actor: str,
    action: str,
    target: str,
    result: str = "ok",
    details: Mapping[str, object] | None = None,
) -> AuditEntry:
    """Append one record to the chain inside the caller's transaction.

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite transactions
    are already exclusive) so concurrent writers extend the chain in turn.
    """
    head = session.execute(select(MetaRow).where(MetaRow.key == _HEAD).with_for_update()).scalar_one_or_none()
    prev: AuditEntry | None = None
    if head is not None:
        last = session.get(AuditRow, int(head.value["seq"]))
        if last is None:
            # Never restart the chain over a gap: that would hide the deletion.
            raise AuditLogBroken(
                f"the audit log's newest record {head.value['seq']} is missing; run 'harbourmaster audit "
                "verify' and restore the log before making changes"
            )
        prev = _row_to_entry(last)
    entry = chain_next(
        prev,
        time=_now(),
        actor=actor,
        action=action,
        target=target,
        result=result,
        details=dict(details or {}),
    )
    session.add(
        AuditRow(
            seq=entry.seq,
            time=entry.time,
            actor=entry.actor,
            action=entry.action,
            target=entry.target,
            result=entry.result,
            details=dict(entry.details),
            prev_hash=entry.prev_hash,
            hash=entry.hash,
        )
    )
    value = {"seq": entry.seq, "hash": entry.hash}
    if head is None:
        session.add(MetaRow(key=_HEAD, value=value))
    else:
        head.value = value
    session.flush()
    return entry


def iter_audit(session: Session, *, batch: int = 1000) -> Iterator[AuditEntry]:
    """Every record in sequence order, read in batches (bounded memory)."""
    last = -1
    while True:
        rows = list(
            session.scalars(select(AuditRow).where(AuditRow.seq > last).order_by(AuditRow.seq).limit(batch))
        )
        if not rows:
            return
        for row in rows:
            yield _row_to_entry(row)
        last = rows[-1].seq


def verify_audit(session: Session) -> ChainVerdict:
    head = session.get(MetaRow, _HEAD)
    expected = (int(head.value["seq"]), str(head.value["hash"])) if head is not None else None
    return verify_chain(iter_audit(session), expected_head=expected)
