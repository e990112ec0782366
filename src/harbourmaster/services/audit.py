"""The audit log: appended in the same transaction as the change it records.

Records form a hash chain (:mod:`harbourmaster.domain.audit`).  The newest
sequence number and hash are also kept in the ``meta`` table as the chain's
head, so that deleting records from the end is detected too.  Both live in the
same database, so whoever can write it can rewrite both consistently: signed
checkpoints kept outside it (:mod:`harbourmaster.services.audit_checkpoints`)
are what exposes that.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from harbourmaster.domain.audit import AuditEntry, ChainVerdict, chain_next, format_audit_time, verify_chain
from harbourmaster.errors import Error
from harbourmaster.store.models import AuditRow, MetaRow

__all__ = [
    "AuditEvent",
    "AuditLogBroken",
    "append_audit",
    "append_audit_many",
    "iter_audit",
    "stored_head",
    "verify_audit",
]

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


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """One thing to record: who did what to what, with what result."""

    actor: str
    action: str
    target: str
    result: str = "ok"
    details: Mapping[str, object] = field(default_factory=dict)


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

    The head row is locked (``FOR UPDATE`` on PostgreSQL; SQLite write
    transactions are already exclusive) so concurrent writers extend the chain in turn.

    Raises:
        AuditLogBroken: the chain's newest record is missing.
    """
    (entry,) = append_audit_many(session, [AuditEvent(actor, action, target, result, dict(details or {}))])
    return entry


def append_audit_many(session: Session, events: Sequence[AuditEvent]) -> list[AuditEntry]:
    """Append several records in order with one head lock and one bulk insert (e.g. one per image a
    new advisory affects).

    Raises:
        AuditLogBroken: the chain's newest record is missing.
    """
    if not events:
        return []
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
    now = _now()
    entries: list[AuditEntry] = []
    for event in events:
        prev = chain_next(
            prev,
            time=now,
            actor=event.actor,
            action=event.action,
            target=event.target,
            result=event.result,
            details=dict(event.details),
        )
        entries.append(prev)
    session.execute(
        insert(AuditRow),
        [
            {
                "seq": e.seq,
                "time": e.time,
                "actor": e.actor,
                "action": e.action,
                "target": e.target,
                "result": e.result,
                "details": dict(e.details),
                "prev_hash": e.prev_hash,
                "hash": e.hash,
            }
            for e in entries
        ],
    )
    value = {"seq": entries[-1].seq, "hash": entries[-1].hash}
    if head is None:
        session.add(MetaRow(key=_HEAD, value=value))
    else:
        head.value = value
    session.flush()
    return entries


def iter_audit(session: Session, *, batch: int = 1000, after: int = -1) -> Iterator[AuditEntry]:
    """Every record with a sequence number above ``after``, in order, read in batches (bounded memory)."""
    last = after
    while True:
        rows = list(
            session.scalars(select(AuditRow).where(AuditRow.seq > last).order_by(AuditRow.seq).limit(batch))
        )
        if not rows:
            return
        for row in rows:
            yield _row_to_entry(row)
        last = rows[-1].seq


def stored_head(session: Session) -> tuple[int, str] | None:
    """``(seq, hash)`` of the newest record as the database keeps it beside the chain."""
    head = session.get(MetaRow, _HEAD)
    return (int(head.value["seq"]), str(head.value["hash"])) if head is not None else None


def verify_audit(session: Session) -> ChainVerdict:
    """The chain checked against itself and the head stored beside it (both in the database: see
    :mod:`harbourmaster.services.audit_checkpoints` for checking against signed checkpoints)."""
    return verify_chain(iter_audit(session), expected_head=stored_head(session))
