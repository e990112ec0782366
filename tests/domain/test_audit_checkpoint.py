"""Checkpoints in the domain: the signed encoding, the line format, and checking them in one pass."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harbourmaster.domain import audit_checkpoint as module
from harbourmaster.domain.audit import (
    AuditEntry,
    AuditRecordError,
    from_json_line,
    to_json_line,
    verify_chain,
)
from harbourmaster.domain.audit_checkpoint import (
    CHECKPOINT_TYPE,
    SIGNATURE_CONTEXT,
    Checkpoint,
    CheckpointFormatError,
    CheckpointWatch,
    LocatedCheckpoint,
    checkpoint_from_json_line,
    checkpoint_key_id,
    checkpoint_payload,
    checkpoint_to_json_line,
    parse_export_line,
)
from harbourmaster.errors import BadInput
from tests.domain.test_audit import _time, make_chain

TIME = "2026-01-02T03:04:05.000006Z"
HEAD = "ab" * 32
KEY_ID = "cd" * 32


class FakeKey:
    """An in-memory CheckpointKey: a "signature" is the SHA-512 of the payload and a key id."""

    def __init__(self, key_id: str = KEY_ID) -> None:
        self.key_id = key_id

    def sign(self, payload: bytes) -> bytes:
        return hashlib.sha512(self.key_id.encode() + payload).digest()

    def verify(self, payload: bytes, signature: bytes) -> bool:
        return self.sign(payload) == signature


def checkpoint_of(entry: AuditEntry, key: FakeKey | None = None, *, time: str = TIME) -> Checkpoint:
    key = key or FakeKey()
    payload = checkpoint_payload(seq=entry.seq, head=entry.hash, time=time, key_id=key.key_id)
    return Checkpoint(
        seq=entry.seq, head=entry.hash, time=time, key_id=key.key_id, signature=key.sign(payload)
    )


def located(*checkpoints: Checkpoint) -> list[LocatedCheckpoint]:
    return [LocatedCheckpoint(f"cp.jsonl line {i + 1}", c) for i, c in enumerate(checkpoints)]


def test_exported_names_are_pinned() -> None:
    assert set(module.__all__) == {
        "CHECKPOINT_TYPE", "CHECKPOINT_VERSION", "SIGNATURE_CONTEXT", "Checkpoint", "CheckpointFormatError",
        "CheckpointKey", "CheckpointVerdict", "CheckpointWatch", "LocatedCheckpoint",
        "checkpoint_from_json_line", "checkpoint_key_id", "checkpoint_payload", "checkpoint_to_json_line",
        "parse_export_line",
    }
    assert issubclass(CheckpointFormatError, BadInput)


def test_the_signed_payload_is_the_documented_bytes() -> None:
    payload = checkpoint_payload(seq=42, head=HEAD, time=TIME, key_id=KEY_ID)
    assert payload == (
        b"harbourmaster audit checkpoint v1\n"
        b'{"head":"' + HEAD.encode() + b'","key_id":"' + KEY_ID.encode() + b'","seq":42,"time":"'
        + TIME.encode() + b'"}'
    )
    assert payload.startswith(SIGNATURE_CONTEXT)
    # Every field is covered: changing any one changes the payload.
    for change in ({"seq": 43}, {"head": "ac" * 32}, {"time": _time(1)}, {"key_id": "ce" * 32}):
        fields = {"seq": 42, "head": HEAD, "time": TIME, "key_id": KEY_ID, **change}
        assert checkpoint_payload(**fields) != payload  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "fragment"),
    [
        ({"seq": 0}, "seq must be a positive integer"),
        ({"seq": True}, "seq must be a positive integer"),
        ({"head": "AB" * 32}, "head must be 64 lowercase hex"),
        ({"head": "ab"}, "head must be 64 lowercase hex"),
        ({"time": "2026-01-02T03:04:05Z"}, "time must be RFC 3339"),
        ({"key_id": "x" * 64}, "key_id must be 64 lowercase hex"),
    ],
)
def test_malformed_fields_are_refused(fields: dict[str, object], fragment: str) -> None:
    base: dict[str, object] = {"seq": 1, "head": HEAD, "time": TIME, "key_id": KEY_ID}
    with pytest.raises(CheckpointFormatError, match=fragment):
        checkpoint_payload(**{**base, **fields})  # type: ignore[arg-type]
    with pytest.raises(CheckpointFormatError, match=fragment):
        Checkpoint(**{**base, **fields}, signature=b"\0" * 64)  # type: ignore[arg-type]


def test_lines_round_trip_and_tell_themselves_apart_from_records() -> None:
    chain = make_chain(3)
    cp = checkpoint_of(chain[-1])
    line = checkpoint_to_json_line(cp)
    assert "\n" not in line
    obj = json.loads(line)
    assert obj == {"type": CHECKPOINT_TYPE, "version": 1, "seq": 3, "head": chain[-1].hash, "time": TIME,
                   "key_id": KEY_ID, "signature": base64.b64encode(cp.signature).decode()}
    assert checkpoint_from_json_line(line) == cp
    assert parse_export_line(line) == cp
    assert parse_export_line(to_json_line(chain[0])) == chain[0]
    # A consumer that reads records only is told what the line is.
    with pytest.raises(AuditRecordError, match="not a record"):
        from_json_line(line)


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"type": "audit.record"}, "type must be 'audit.checkpoint'"),
        ({"version": 2}, "version 2 is not supported"),
        ({"version": True}, "version True is not supported"),
        ({"signature": "not base64!"}, "signature is not valid base64"),
        ({"signature": base64.b64encode(b"short").decode()}, "signature must decode to 64 bytes"),
        ({"signature": 5}, "signature must be a base64 string"),
        ({"seq": "7"}, "seq must be a positive integer"),
        ({"extra": 1}, "unexpected fields ['extra']"),
    ],
)
def test_bad_lines_are_refused_naming_the_line(change: dict[str, object], fragment: str) -> None:
    obj = json.loads(checkpoint_to_json_line(checkpoint_of(make_chain(1)[0])))
    with pytest.raises(CheckpointFormatError) as caught:
        checkpoint_from_json_line(json.dumps({**obj, **change}), where="f.jsonl line 4")
    assert caught.value.message.startswith("f.jsonl line 4: ")
    assert fragment in caught.value.message


@pytest.mark.parametrize(
    ("line", "fragment"),
    [("", "not JSON"), ("[1]", "not a JSON object"), ('{"type": "audit.checkpoint"}', "missing fields"),
     ('{"type": "audit.checkpoint", "seq": NaN}', "NaN is not allowed")],
)
def test_lines_that_are_not_checkpoints(line: str, fragment: str) -> None:
    with pytest.raises(CheckpointFormatError, match=fragment):
        checkpoint_from_json_line(line)
    with pytest.raises(CheckpointFormatError, match=fragment):
        parse_export_line(line)


def test_a_malformed_record_in_an_export_names_the_line() -> None:
    with pytest.raises(AuditRecordError, match=r"export\.jsonl line 2: audit line: missing fields"):
        parse_export_line('{"seq": 1}', where="export.jsonl line 2")


def test_the_watch_passes_checkpoints_of_the_chain_it_sees() -> None:
    chain = make_chain(10)
    watch = CheckpointWatch(located(*(checkpoint_of(chain[i]) for i in (0, 4, 4, 9))), key=FakeKey())
    assert verify_chain(watch.watch(chain)).ok
    verdict = watch.verdict()
    assert verdict.ok and verdict.checked == verdict.total == 4 and verdict.problem is None


def test_the_watch_names_each_failing_checkpoint_in_the_order_given() -> None:
    chain = make_chain(10)
    rewritten = [*chain[:3], *make_chain(7, start=chain[2])]  # same length, different records 4-10
    assert rewritten[3].hash != chain[3].hash
    key = FakeKey()
    forged = checkpoint_of(chain[1], FakeKey("ef" * 32))
    # Record 2's head put in a checkpoint signed for record 3.
    signature = checkpoint_of(chain[2]).signature
    edited = Checkpoint(seq=3, head=chain[1].hash, time=TIME, key_id=KEY_ID, signature=signature)
    checkpoints = located(checkpoint_of(chain[2]), checkpoint_of(chain[6]), forged, edited,
                          checkpoint_of(make_chain(12)[11]))
    watch = CheckpointWatch(checkpoints, key=key)
    for _ in watch.watch(rewritten):
        pass
    verdict = watch.verdict()
    assert not verdict.ok and verdict.total == 5 and verdict.checked == 1
    assert verdict.problems == (
        f"checkpoint at cp.jsonl line 2 (seq 7): record 7 has hash {rewritten[6].hash}, the checkpoint says "
        f"{chain[6].hash} (the chain was rewritten)",
        f"checkpoint at cp.jsonl line 3 (seq 2): signed by key {'ef' * 32}, not by the checkpoint key "
        f"{KEY_ID} (a forged checkpoint, or the signing key was replaced)",
        "checkpoint at cp.jsonl line 4 (seq 3): the signature does not verify (the checkpoint was forged or "
        "edited)",
        "checkpoint at cp.jsonl line 5 (seq 12): record 12 is not in the chain; the chain ends at record 10 "
        "(records were cut off, or the chain was replaced)",
    )
    assert verdict.problem == verdict.problems[0]


def test_the_watch_reports_deleted_and_empty() -> None:
    chain = make_chain(6)
    watch = CheckpointWatch(located(checkpoint_of(chain[2])), key=FakeKey())
    list(watch.watch([*chain[:2], *chain[3:]]))
    assert watch.verdict().problem == (
        "checkpoint at cp.jsonl line 1 (seq 3): record 3 is not in the chain; it was deleted"
    )
    empty = CheckpointWatch(located(checkpoint_of(chain[2])), key=FakeKey())
    list(empty.watch([]))
    assert "record 3 is not in the chain; the chain is empty" in (empty.verdict().problem or "")


def test_without_a_key_every_checkpoint_fails_with_the_reason() -> None:
    chain = make_chain(3)
    watch = CheckpointWatch(located(checkpoint_of(chain[0]), checkpoint_of(chain[2])), key=None,
                            no_key="the key was deleted")
    list(watch.watch(chain))
    verdict = watch.verdict()
    assert verdict.checked == 0 and len(verdict.problems) == 2
    assert verdict.problems[1] == (
        "checkpoint at cp.jsonl line 2 (seq 3): cannot be checked: the key was deleted"
    )
    nothing = CheckpointWatch([], key=None)
    assert nothing.verdict().ok and nothing.verdict().total == 0


def test_a_repeated_seq_is_judged_on_its_first_record() -> None:
    chain = make_chain(4)
    watch = CheckpointWatch(located(checkpoint_of(chain[1])), key=FakeKey())
    impostor = make_chain(2, start=None)[1]
    impostor = AuditEntry(**{**{f: getattr(impostor, f) for f in impostor.__slots__}, "hash": "ee" * 32})
    list(watch.watch([chain[0], chain[1], impostor, chain[2], chain[3]]))
    assert watch.verdict().ok


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 30), picks=st.lists(st.integers(0, 29), min_size=1, max_size=5),
       cut=st.integers(0, 30))
def test_a_chain_cut_below_a_checkpoint_always_fails_it(n: int, picks: list[int], cut: int) -> None:
    chain = make_chain(n)
    checkpoints = [checkpoint_of(chain[p % n]) for p in picks]
    kept = chain[: min(cut, n)]
    watch = CheckpointWatch(located(*checkpoints), key=FakeKey())
    assert verify_chain(watch.watch(kept)).ok  # a cut chain verifies on its own
    verdict = watch.verdict()
    assert verdict.ok == all(c.seq <= len(kept) for c in checkpoints)
    assert verdict.checked == sum(c.seq <= len(kept) for c in checkpoints)


def test_the_key_id_is_the_sha256_of_the_raw_public_key() -> None:
    raw = bytes(range(32))
    assert checkpoint_key_id(raw) == hashlib.sha256(raw).hexdigest()
    with pytest.raises(CheckpointFormatError, match="32 bytes"):
        checkpoint_key_id(raw[:31])
