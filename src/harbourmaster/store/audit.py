"""The audit repository on SQLAlchemy: the hash chain, its head, and the sealed checkpoint signing key.

Records form a hash chain (:mod:`harbourmaster.domain.audit`).  The newest
sequence number and hash are also kept in the ``meta`` table as the chain's
head, so that deleting records from the end is detected too.  Both live in the
same database, so whoever can write it can rewrite both consistently: signed
checkpoints kept outside it are what exposes that.

The checkpoint signing key is one ``meta`` row holding only what the vault
sealed (base64 of the sealed bytes); its public key is derived from the opened
private key each time, never read from the database, so a row written by
someone without the master key is useless.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterator, Sequence

from sqlalchemy import ColumnElement, insert, or_, select
from sqlalchemy.orm import Session

from harbourmaster.clock import Clock, SystemClock
from harbourmaster.domain.audit import AuditEntry, chain_all, format_audit_time
from harbourmaster.store.interface import AuditLogBroken, AuditRepository, StoreError
from harbourmaster.store.meta import get_meta, set_meta
from harbourmaster.store.models import AuditRow, MetaRow
from harbourmaster.store.values import AuditEvent, AuditFilter

__all__ = ["CHECKPOINT_KEY_META", "SqlAuditRepository"]

_HEAD = "audit_head"
#: The ``meta`` key of the sealed checkpoint signing key.
CHECKPOINT_KEY_META = "audit_checkpoint_key"


def _entry(row: AuditRow) -> AuditEntry:
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


class SqlAuditRepository(AuditRepository):
    def __init__(self, session: Session, *, clock: Clock | None = None) -> None:
        self._session = session
        self._clock = clock or SystemClock()

    def append_many(self, events: Sequence[AuditEvent]) -> list[AuditEntry]:
        # The head row is locked (FOR UPDATE on PostgreSQL; SQLite write transactions are already
        # exclusive), and all the records go in one bulk insert.
        if not events:
            return []
        session = self._session
        head = session.execute(
            select(MetaRow).where(MetaRow.key == _HEAD).with_for_update()
        ).scalar_one_or_none()
        prev: AuditEntry | None = None
        if head is not None:
            last = session.get(AuditRow, int(head.value["seq"]))
            if last is None:
                raise AuditLogBroken.newest_missing(head.value['seq'])
            prev = _entry(last)
        now = format_audit_time(self._clock.now())
        entries = chain_all(prev, events, time=now)
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

    def entries(self, *, after: int = -1, batch: int = 1000) -> Iterator[AuditEntry]:
        last = after
        while True:
            rows = list(
                self._session.scalars(
                    select(AuditRow).where(AuditRow.seq > last).order_by(AuditRow.seq).limit(batch)
                )
            )
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            last = rows[-1].seq

    def search(self, where: AuditFilter, *, limit: int) -> list[AuditEntry]:
        conditions: list[ColumnElement[bool]] = []
        if where.actor is not None:
            conditions.append(AuditRow.actor == where.actor)
        if where.action is not None:
            conditions.append(or_(AuditRow.action == where.action,
                                  AuditRow.action.startswith(where.action + ".", autoescape=True)))
        if where.target is not None:
            conditions.append(AuditRow.target.contains(where.target, autoescape=True))
        if where.result is not None:
            conditions.append(AuditRow.result == where.result)
        # Record times are one fixed-width UTC format, so their text order is their time order.
        if where.since is not None:
            conditions.append(AuditRow.time >= format_audit_time(where.since))
        if where.until is not None:
            conditions.append(AuditRow.time < format_audit_time(where.until))
        if where.before is not None:
            conditions.append(AuditRow.seq < where.before)
        rows = self._session.scalars(
            select(AuditRow).where(*conditions).order_by(AuditRow.seq.desc()).limit(max(0, limit))
        )
        return [_entry(row) for row in rows]

    def entries_at(self, seqs: Sequence[int]) -> list[AuditEntry]:
        wanted = sorted(set(seqs))
        found: list[AuditEntry] = []
        for start in range(0, len(wanted), 500):  # bounded IN lists
            rows = self._session.scalars(
                select(AuditRow).where(AuditRow.seq.in_(wanted[start : start + 500])).order_by(AuditRow.seq)
            )
            found += (_entry(row) for row in rows)
        return found

    def head(self) -> tuple[int, str] | None:
        value = get_meta(self._session, _HEAD)
        return (int(value["seq"]), str(value["hash"])) if value is not None else None  # type: ignore[call-overload]

    def checkpoint_key(self) -> bytes | None:
        row = self._session.get(MetaRow, CHECKPOINT_KEY_META)
        if row is None:
            return None
        value = row.value.get("sealed") if isinstance(row.value, dict) else None
        if not isinstance(value, str):
            raise StoreError(f"meta row {CHECKPOINT_KEY_META}: has no sealed key")
        try:
            return base64.b64decode(value.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise StoreError(f"meta row {CHECKPOINT_KEY_META}: the sealed key is not base64") from None

    def save_checkpoint_key(self, sealed: bytes) -> None:
        encoded = base64.b64encode(sealed).decode("ascii")
        value: dict[str, object] = {"algorithm": "ed25519", "sealed": encoded}
        set_meta(self._session, CHECKPOINT_KEY_META, value)
        self._session.flush()
