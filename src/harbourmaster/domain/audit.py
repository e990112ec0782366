"""The audit log as a tamper-evident hash chain.

Each :class:`AuditEntry` carries the SHA-256 of its own content and of its
predecessor's hash, so editing, deleting, inserting or reordering records
breaks the chain at the first record touched.  :func:`verify_chain` walks a
chain in one pass with constant memory and names the first bad record.

A chain alone cannot show that records were cut from its end, nor that it was
rewritten wholesale: for that, keep the head (``seq`` and ``hash`` of the
newest record) somewhere else and pass it as ``expected_head``, or check signed
checkpoints kept outside the database (:mod:`harbourmaster.domain.audit_checkpoint`).

The hash is SHA-256 over the canonical JSON of every field except ``hash``:
keys sorted, no whitespace, ``ensure_ascii=False``, UTF-8, no NaN/Infinity;
that is ``json.dumps(obj, sort_keys=True, separators=(",", ":"),
ensure_ascii=False, allow_nan=False)``.  Any system can recompute it from an
exported line (see :func:`to_json_line`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from harbourmaster.errors import BadInput

__all__ = [
    "FIRST_SEQ",
    "GENESIS_HASH",
    "AuditEntry",
    "AuditEventFields",
    "AuditRecordError",
    "ChainVerdict",
    "VerifiedPrefix",
    "chain_all",
    "chain_next",
    "entry_hash",
    "format_audit_time",
    "from_json_line",
    "to_json_line",
    "verify_chain",
]

#: ``prev_hash`` of the first record.
GENESIS_HASH = "0" * 64
#: ``seq`` of the first record.
FIRST_SEQ = 1

_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")
_HASH = re.compile(r"[0-9a-f]{64}")
_FIELDS = ("seq", "time", "actor", "action", "target", "result", "details", "prev_hash", "hash")


class AuditRecordError(BadInput):
    """An audit record (or a line of an export) is malformed."""

    kind = "audit-record"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One record of the audit chain.

    ``time`` is RFC 3339 in UTC with microseconds (``2026-01-02T03:04:05.000006Z``);
    ``details`` is JSON data (for example the image digest and the reasons
    of a decision); ``hash`` covers every other field.
    """

    seq: int
    time: str
    actor: str
    action: str
    target: str
    result: str
    details: Mapping[str, object]
    prev_hash: str
    hash: str

    def __hash__(self) -> int:
        return hash((self.seq, self.hash))


@dataclass(frozen=True, slots=True)
class VerifiedPrefix:
    """How far the chain is known good: records up to ``seq`` (``hash`` there, ``count`` of them), as
    established by a verification from the first record at ``full_at`` and carried forward by checking
    each later stretch after it (:func:`verify_chain` with ``after``)."""

    seq: int
    hash: str
    count: int
    full_at: datetime


@dataclass(frozen=True, slots=True)
class ChainVerdict:
    """The outcome of :func:`verify_chain`.

    ``count`` is how many records were verified before the first bad one
    (all of them when ``ok``).  ``first_bad_seq`` is the sequence number at
    which the chain breaks: the position of the first record that is wrong
    or missing.  ``head`` is ``(seq, hash)`` of the last good record.
    """

    ok: bool
    count: int
    first_bad_seq: int | None = None
    problem: str | None = None
    head: tuple[int, str] | None = None


def format_audit_time(moment: datetime) -> str:
    """``moment`` as RFC 3339 UTC with microseconds, as audit records carry it.

    Raises:
        AuditRecordError: ``moment`` has no time zone.
    """
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise AuditRecordError("audit time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class _NotPlain(Exception):
    """Raised by :func:`_plain_copy` on anything that is not plain JSON data."""


def _plain_copy(value: object) -> object:
    """``value`` as plain JSON data, or :class:`_NotPlain` (the hot path: :func:`_plain` says where)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return value
    if kind is dict or isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():  # type: ignore[attr-defined]
            if type(key) is not str:
                raise _NotPlain
            out[key] = _plain_copy(item)
        return out
    if kind is list or kind is tuple:
        return [_plain_copy(item) for item in value]  # type: ignore[attr-defined]
    if kind is float and math.isfinite(value):  # type: ignore[arg-type]
        return value
    raise _NotPlain


def _plain(value: object, path: str) -> object:
    """``value`` as plain JSON data (dict/list/str/int/float/bool/None), checked."""
    try:
        return _plain_copy(value)
    except (_NotPlain, RecursionError):
        return _plain_checked(value, path)


def _plain_checked(value: object, path: str) -> object:
    """:func:`_plain`, naming the place of what is not JSON data."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AuditRecordError(f"{path}: NaN and infinities are not JSON")
        return value
    if isinstance(value, Mapping):
        out: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise AuditRecordError(f"{path}: keys must be strings, not {type(key).__name__}")
            out[key] = _plain_checked(item, f"{path}.{key}")
        return out
    if isinstance(value, list | tuple):
        return [_plain_checked(item, f"{path}[{i}]") for i, item in enumerate(value)]
    raise AuditRecordError(f"{path}: {type(value).__name__} is not JSON data")


def _canonical(obj: object) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def entry_hash(
    *,
    seq: int,
    time: str,
    actor: str,
    action: str,
    target: str,
    result: str,
    details: Mapping[str, object],
    prev_hash: str,
) -> str:
    """The SHA-256 (lowercase hex) of a record's canonical JSON, ``hash`` excluded.

    Raises:
        AuditRecordError: a field has the wrong type, or ``details`` is not JSON data.
    """
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise AuditRecordError("seq must be an integer")
    for name, text in (("time", time), ("actor", actor), ("action", action), ("target", target),
                       ("result", result), ("prev_hash", prev_hash)):
        if not isinstance(text, str):
            raise AuditRecordError(f"{name} must be a string")
    if not isinstance(details, Mapping):
        raise AuditRecordError("details must be a JSON object")
    return _plain_hash(seq, time, actor, action, target, result, _plain(details, "details"), prev_hash)


def _plain_hash(
    seq: int, time: str, actor: str, action: str, target: str, result: str, details: object, prev_hash: str
) -> str:
    """:func:`entry_hash` of fields already checked, ``details`` already plain JSON data."""
    body = {
        "seq": seq,
        "time": time,
        "actor": actor,
        "action": action,
        "target": target,
        "result": result,
        "details": details,
        "prev_hash": prev_hash,
    }
    return hashlib.sha256(_canonical(body).encode("utf-8", "surrogatepass")).hexdigest()


def _hash_of(entry: AuditEntry) -> str:
    return entry_hash(
        seq=entry.seq,
        time=entry.time,
        actor=entry.actor,
        action=entry.action,
        target=entry.target,
        result=entry.result,
        details=entry.details,
        prev_hash=entry.prev_hash,
    )


def chain_next(
    prev: AuditEntry | None,
    *,
    time: str,
    actor: str,
    action: str,
    target: str,
    result: str,
    details: Mapping[str, object],
) -> AuditEntry:
    """The record that follows ``prev`` (or the first record, when ``prev`` is ``None``).

    ``details`` is copied as plain JSON data, so later changes to the
    caller's mapping do not reach the record.

    Raises:
        AuditRecordError: ``time`` is not RFC 3339 UTC with microseconds,
            ``actor``/``action``/``result`` are empty, or ``details`` is not
            a JSON object.
    """
    _check_time(time)
    return _next(prev, time=time, actor=actor, action=action, target=target, result=result, details=details)


def _check_time(time: object) -> None:
    if not isinstance(time, str) or not _TIME.fullmatch(time):
        raise AuditRecordError(
            "time must be RFC 3339 UTC with microseconds, like 2026-01-02T03:04:05.000006Z"
        )
    try:
        datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ")
    except ValueError:
        raise AuditRecordError("time is not a valid calendar date and time") from None


def _next(
    prev: AuditEntry | None,
    *,
    time: str,
    actor: str,
    action: str,
    target: str,
    result: str,
    details: Mapping[str, object],
) -> AuditEntry:
    """:func:`chain_next` with ``time`` already checked."""
    for name, text in (("actor", actor), ("action", action), ("result", result)):
        if not isinstance(text, str) or not text:
            raise AuditRecordError(f"{name} must be a non-empty string")
    if not isinstance(target, str):
        raise AuditRecordError("target must be a string")
    if not isinstance(details, Mapping):
        raise AuditRecordError("details must be a JSON object")
    plain = _plain(details, "details")
    assert isinstance(plain, dict)
    seq = FIRST_SEQ if prev is None else prev.seq + 1
    prev_hash = GENESIS_HASH if prev is None else prev.hash
    digest = _plain_hash(seq, time, actor, action, target, result, plain, prev_hash)
    return AuditEntry(seq=seq, time=time, actor=actor, action=action, target=target, result=result,
                      details=plain, prev_hash=prev_hash, hash=digest)


class AuditEventFields(Protocol):
    """What :func:`chain_all` needs of an event to record (the store's ``AuditEvent`` has it)."""

    @property
    def actor(self) -> str: ...
    @property
    def action(self) -> str: ...
    @property
    def target(self) -> str: ...
    @property
    def result(self) -> str: ...
    @property
    def details(self) -> Mapping[str, object]: ...


def chain_all(prev: AuditEntry | None, events: Iterable[AuditEventFields], *, time: str) -> list[AuditEntry]:
    """The records that follow ``prev`` for ``events``, in order, all stamped ``time``."""
    _check_time(time)
    entries: list[AuditEntry] = []
    for event in events:
        prev = _next(
            prev,
            time=time,
            actor=event.actor,
            action=event.action,
            target=event.target,
            result=event.result,
            details=dict(event.details),
        )
        entries.append(prev)
    return entries


def verify_chain(
    entries: Iterable[AuditEntry],
    *,
    expected_head: tuple[int, str] | None = None,
    after: tuple[int, str] | None = None,
) -> ChainVerdict:
    """Check a chain in order, in one pass and constant memory.

    ``after`` is ``(seq, hash)`` of the record just before the first one
    given, for checking a later stretch of a chain; by default the chain
    must start at :data:`FIRST_SEQ` with :data:`GENESIS_HASH`.

    ``expected_head`` is ``(seq, hash)`` kept outside the log: the chain must
    reach that ``seq`` and have that hash there (records after it are
    accepted), which exposes a truncated tail or a rewritten chain.

    Stops at the first bad record.  Never raises for bad records: a record
    that cannot be hashed at all is reported as bad.
    """
    expect_seq, expect_prev = (FIRST_SEQ, GENESIS_HASH) if after is None else (after[0] + 1, after[1])
    count = 0
    head: tuple[int, str] | None = after

    def bad(seq: int, problem: str) -> ChainVerdict:
        return ChainVerdict(ok=False, count=count, first_bad_seq=seq, problem=problem, head=head)

    for entry in entries:
        if not isinstance(entry, AuditEntry):
            return bad(expect_seq, f"record {expect_seq}: not an audit entry ({type(entry).__name__})")
        if entry.seq != expect_seq:
            if isinstance(entry.seq, int) and not isinstance(entry.seq, bool) and entry.seq > expect_seq:
                gap = f"{expect_seq}" if entry.seq == expect_seq + 1 else f"{expect_seq}-{entry.seq - 1}"
                what = f"found seq {entry.seq}: record(s) {gap} missing (deleted or reordered)"
            else:
                what = f"found seq {entry.seq!r}: out of order (inserted, repeated or reordered)"
            return bad(expect_seq, f"record {expect_seq}: expected seq {expect_seq}, {what}")
        try:
            actual = _hash_of(entry)
        except AuditRecordError as exc:
            return bad(expect_seq, f"record {expect_seq}: cannot be hashed ({exc.message})")
        if actual != entry.hash:
            return bad(expect_seq, f"record {expect_seq}: content does not match its hash (edited)")
        if entry.prev_hash != expect_prev:
            return bad(
                expect_seq,
                f"record {expect_seq}: prev_hash does not match the hash of record {expect_seq - 1} "
                "(a record before it was removed, replaced or inserted)",
            )
        if expected_head is not None and entry.seq == expected_head[0] and entry.hash != expected_head[1]:
            return bad(
                expect_seq,
                f"record {expect_seq}: hash differs from the stored head (the chain was rewritten)",
            )
        count += 1
        head = (entry.seq, entry.hash)
        expect_seq, expect_prev = entry.seq + 1, entry.hash
    if expected_head is not None and expect_seq <= expected_head[0]:
        return bad(
            expect_seq,
            f"record {expect_seq}: missing; the stored head is record {expected_head[0]} "
            "(the end of the chain was cut off)",
        )
    return ChainVerdict(ok=True, count=count, head=head)


def _reject_constant(name: str) -> object:
    raise AuditRecordError(f"audit line: {name} is not allowed in audit JSON")


def to_json_line(entry: AuditEntry) -> str:
    """One line of JSON with every field of ``entry``, ``hash`` included (for a SIEM).

    The line has no trailing newline and never contains one.

    Raises:
        AuditRecordError: ``details`` is not JSON data.
    """
    obj: dict[str, Any] = {name: getattr(entry, name) for name in _FIELDS}
    obj["details"] = _plain(entry.details, "details")
    return _canonical(obj)


def from_json_line(line: str) -> AuditEntry:
    """Parse a line written by :func:`to_json_line` (the hash is not checked here).

    Raises:
        AuditRecordError: the line is not a JSON object with exactly the
            audit fields, of the right types.
    """
    try:
        obj = json.loads(line, parse_constant=_reject_constant)
    except (json.JSONDecodeError, TypeError) as exc:
        raise AuditRecordError(f"audit line is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise AuditRecordError("audit line is not a JSON object")
    if "type" in obj:
        # Exports end with a checkpoint line; audit_checkpoint.parse_export_line reads both kinds.
        raise AuditRecordError("audit line has a type field: it is not a record (an audit.checkpoint line?)")
    missing = [name for name in _FIELDS if name not in obj]
    extra = sorted(set(obj) - set(_FIELDS))
    if missing or extra:
        raise AuditRecordError(f"audit line: missing fields {missing}, unexpected fields {extra}")
    seq = obj["seq"]
    if not isinstance(seq, int) or isinstance(seq, bool):
        raise AuditRecordError("audit line: seq must be an integer")
    for name in ("time", "actor", "action", "target", "result", "prev_hash", "hash"):
        if not isinstance(obj[name], str):
            raise AuditRecordError(f"audit line: {name} must be a string")
    for name in ("prev_hash", "hash"):
        if not _HASH.fullmatch(obj[name]):
            raise AuditRecordError(f"audit line: {name} must be 64 lowercase hex digits")
    if not isinstance(obj["details"], dict):
        raise AuditRecordError("audit line: details must be a JSON object")
    return AuditEntry(
        seq=seq,
        time=obj["time"],
        actor=obj["actor"],
        action=obj["action"],
        target=obj["target"],
        result=obj["result"],
        details=obj["details"],
        prev_hash=obj["prev_hash"],
        hash=obj["hash"],
    )
