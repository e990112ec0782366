from __future__ import annotations

import dataclasses
import itertools
import json
import subprocess
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from harbourmaster.domain import audit as audit_module
from harbourmaster.domain.audit import (
    FIRST_SEQ,
    GENESIS_HASH,
    AuditEntry,
    AuditRecordError,
    ChainVerdict,
    chain_next,
    entry_hash,
    format_audit_time,
    from_json_line,
    to_json_line,
    verify_chain,
)
from harbourmaster.errors import BadInput
from tests.components import ensure_binary

T0 = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def _time(i: int) -> str:
    return format_audit_time(T0 + timedelta(seconds=i))


def make_chain(n: int, *, start: AuditEntry | None = None) -> list[AuditEntry]:
    chain: list[AuditEntry] = []
    prev = start
    for i in range(n):
        prev = chain_next(
            prev,
            time=_time(i),
            actor=f"user{i % 3}",
            action=["registry.create", "decision", "credential.use"][i % 3],
            target=f"registry:{i}",
            result=["ok", "denied", "error"][i % 3],
            details={"digest": f"sha256:{i:064x}", "reasons": [f"r{i}", "pinned"], "n": i, "x": None},
        )
        chain.append(prev)
    return chain


def test_exported_names_are_pinned() -> None:
    assert set(audit_module.__all__) == {
        "FIRST_SEQ", "GENESIS_HASH", "AuditEntry", "AuditEventFields", "AuditRecordError", "ChainVerdict",
        "VerifiedPrefix",
        "chain_all", "chain_next",
        "entry_hash", "format_audit_time", "from_json_line", "to_json_line", "verify_chain",
    }


def test_chain_all_extends_a_chain_as_chain_next_does() -> None:
    from types import SimpleNamespace

    from harbourmaster.domain.audit import chain_all

    base = make_chain(3)
    events = [
        SimpleNamespace(actor=f"a{i}", action="x", target="t", result="ok", details={"i": i})
        for i in range(4)
    ]
    added = chain_all(base[-1], events, time=base[-1].time)
    assert [e.seq for e in added] == [4, 5, 6, 7] and added[0].prev_hash == base[-1].hash
    assert verify_chain([*base, *added]).ok
    assert chain_all(None, [], time=base[0].time) == []


def test_a_fresh_chain_verifies() -> None:
    chain = make_chain(10)
    assert chain[0].seq == FIRST_SEQ == 1
    assert chain[0].prev_hash == GENESIS_HASH == "0" * 64
    assert all(b.prev_hash == a.hash and b.seq == a.seq + 1 for a, b in itertools.pairwise(chain))
    verdict = verify_chain(chain)
    assert verdict == ChainVerdict(ok=True, count=10, head=(10, chain[-1].hash))
    assert verify_chain(iter(chain), expected_head=(10, chain[-1].hash)).ok
    assert verify_chain([]) == ChainVerdict(ok=True, count=0)


def test_the_hash_format_is_pinned() -> None:
    """A fixed record and its hash; changing the encoding would orphan every stored chain.

    The expected value was computed outside Python, with the 64 zeros written out::

        printf '%s' '{"action":"decision","actor":"ana","details":{"digest":"sha256:ab","reasons":["ü"]},\
        "prev_hash":"000...000","result":"denied","seq":1,"target":"harbor.example/team/app",\
        "time":"2026-01-02T03:04:05.000006Z"}' | sha256sum
    """
    entry = chain_next(
        None,
        time="2026-01-02T03:04:05.000006Z",
        actor="ana",
        action="decision",
        target="harbor.example/team/app",
        result="denied",
        details={"reasons": ["ü"], "digest": "sha256:ab"},
    )
    assert entry.hash == "1247a1b8d6aaac1922c7871c76833fb3e9556564de7cdd44b04b022850c0f9c9"


# --- differential test against jq + sha256sum ---------------------------------

_JSON_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f"), max_size=12
)
_JSON_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | _JSON_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=40, deadline=None)
@given(
    details=st.dictionaries(_JSON_TEXT, _JSON_VALUE, max_size=5),
    actor=_JSON_TEXT.filter(bool),
    target=_JSON_TEXT,
)
def test_hash_agrees_with_jq_and_sha256sum(details: dict[str, object], actor: str, target: str) -> None:
    # jq -cS is an independent canonicaliser (sorted keys, no whitespace, raw UTF-8).
    # It escapes DEL and cannot hold lone surrogates or integers beyond 2**53,
    # so those are left out of the generated data.
    jq = ensure_binary("jq", "jq")
    entry = chain_next(None, time=_time(0), actor=actor, action="decision", target=target, result="ok",
                       details=details)
    body = {k: v for k, v in dataclasses.asdict(entry).items() if k != "hash"}
    canonical = subprocess.run([jq, "-cSj", "."], input=json.dumps(body).encode(), capture_output=True,
                               check=True).stdout
    oracle = subprocess.run(["sha256sum"], input=canonical, capture_output=True, check=True).stdout
    assert entry.hash == oracle.split()[0].decode()


# --- tampering -------------------------------------------------------------------


def _edited(entry: AuditEntry, field: str) -> AuditEntry:
    value = getattr(entry, field)
    if field == "seq":
        new: object = value + 100
    elif field == "details":
        new = {**value, "reasons": ["forged"]}
    elif field in ("hash", "prev_hash"):
        new = ("f" if value[0] != "f" else "e") + value[1:]
    else:
        new = value + "!"
    return dataclasses.replace(entry, **{field: new})


@pytest.mark.parametrize(
    "field", ["seq", "time", "actor", "action", "target", "result", "details", "prev_hash", "hash"]
)
@pytest.mark.parametrize("index", [0, 4, 9])
def test_an_edited_field_is_found_at_its_record(field: str, index: int) -> None:
    chain = make_chain(10)
    chain[index] = _edited(chain[index], field)
    verdict = verify_chain(chain)
    assert not verdict.ok
    assert verdict.first_bad_seq == index + 1
    assert verdict.count == index
    assert verdict.problem is not None and f"record {index + 1}" in verdict.problem
    assert verdict.head == (None if index == 0 else (index, chain[index - 1].hash))


def test_edit_with_rehash_is_found_at_the_next_record() -> None:
    chain = make_chain(10)
    forged = dataclasses.replace(chain[4], result="ok", details={"forged": True})
    chain[4] = dataclasses.replace(forged, hash=_rehash(forged))
    verdict = verify_chain(chain)
    assert verdict.first_bad_seq == 6
    assert verdict.problem is not None and "prev_hash" in verdict.problem


def _rehash(e: AuditEntry) -> str:
    return entry_hash(seq=e.seq, time=e.time, actor=e.actor, action=e.action, target=e.target,
                      result=e.result, details=e.details, prev_hash=e.prev_hash)


@pytest.mark.parametrize("index", [0, 3, 8])
def test_a_deleted_record_is_named(index: int) -> None:
    chain = make_chain(10)
    del chain[index]
    verdict = verify_chain(chain)
    assert (verdict.ok, verdict.first_bad_seq) == (False, index + 1)
    assert verdict.problem is not None and "missing" in verdict.problem


def test_deleting_several_records_names_the_range() -> None:
    chain = make_chain(10)
    del chain[2:5]
    verdict = verify_chain(chain)
    assert verdict.first_bad_seq == 3
    assert verdict.problem is not None and "3-5 missing" in verdict.problem


def test_deletion_with_renumbering_is_caught_by_prev_hash() -> None:
    chain = make_chain(6)
    del chain[2]
    renumbered = []
    for e in chain[2:]:
        moved = dataclasses.replace(e, seq=e.seq - 1)
        renumbered.append(dataclasses.replace(moved, hash=_rehash(moved)))
    verdict = verify_chain(chain[:2] + renumbered)
    assert verdict.first_bad_seq == 3
    assert verdict.problem is not None and "prev_hash" in verdict.problem


def test_reordered_records_are_found() -> None:
    chain = make_chain(10)
    chain[3], chain[4] = chain[4], chain[3]
    verdict = verify_chain(chain)
    assert verdict.first_bad_seq == 4
    assert verdict.count == 3


def test_a_duplicated_record_is_found() -> None:
    chain = make_chain(10)
    chain.insert(5, chain[4])
    verdict = verify_chain(chain)
    assert verdict.first_bad_seq == 6
    assert verdict.problem is not None and "out of order" in verdict.problem


def test_an_inserted_forged_record_is_found() -> None:
    chain = make_chain(10)
    forged = chain_next(chain[3], time=_time(99), actor="mallory", action="decision", target="x",
                        result="ok", details={})
    chain.insert(4, forged)
    verdict = verify_chain(chain)
    # the forgery itself is consistent with its predecessor; its successor is not
    assert verdict.first_bad_seq == 6
    assert verdict.count == 5


def test_tail_truncation_needs_the_stored_head() -> None:
    chain = make_chain(10)
    head = (10, chain[-1].hash)
    assert verify_chain(chain[:7]).ok  # undetectable from the chain alone
    verdict = verify_chain(chain[:7], expected_head=head)
    assert (verdict.ok, verdict.first_bad_seq, verdict.count) == (False, 8, 7)
    assert verdict.problem is not None and "cut off" in verdict.problem
    empty = verify_chain([], expected_head=head)
    assert (empty.ok, empty.first_bad_seq) == (False, 1)


def test_a_wholesale_rewrite_is_caught_by_the_stored_head() -> None:
    chain = make_chain(10)
    head = (10, chain[-1].hash)
    rewritten = make_chain(11)  # consistent, but not the chain whose head was stored
    rewritten = [dataclasses.replace(e, actor="mallory") for e in rewritten]
    prev: AuditEntry | None = None
    fixed = []
    for e in rewritten:
        e = dataclasses.replace(e, prev_hash=prev.hash if prev else GENESIS_HASH)
        prev = dataclasses.replace(e, hash=_rehash(e))
        fixed.append(prev)
    assert verify_chain(fixed).ok
    verdict = verify_chain(fixed, expected_head=head)
    assert (verdict.ok, verdict.first_bad_seq) == (False, 10)
    assert verdict.problem is not None and "rewritten" in verdict.problem


def test_records_after_the_stored_head_are_accepted() -> None:
    chain = make_chain(10)
    assert verify_chain(chain, expected_head=(7, chain[6].hash)).ok


def test_a_later_stretch_verifies_with_after() -> None:
    chain = make_chain(10)
    assert verify_chain(chain[4:], after=(4, chain[3].hash)) == ChainVerdict(
        ok=True, count=6, head=(10, chain[-1].hash)
    )
    assert verify_chain(chain[4:], after=(4, chain[2].hash)).first_bad_seq == 5
    assert verify_chain(chain[4:]).first_bad_seq == 1
    assert verify_chain([], after=(4, chain[3].hash)).head == (4, chain[3].hash)


def test_bad_items_are_reported_not_raised() -> None:
    chain = make_chain(3)
    verdict = verify_chain([chain[0], "not an entry"])  # type: ignore[list-item]
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    odd = dataclasses.replace(chain[1], details={"s": {1, 2}})
    verdict = verify_chain([chain[0], odd, chain[2]])
    assert (verdict.ok, verdict.first_bad_seq) == (False, 2)
    assert verdict.problem is not None and "cannot be hashed" in verdict.problem
    verdict = verify_chain([dataclasses.replace(chain[0], seq="1")])  # type: ignore[arg-type]
    assert verdict.first_bad_seq == 1


def test_verification_streams_in_constant_memory() -> None:
    def generate(n: int) -> Iterator[AuditEntry]:
        prev = None
        for i in range(n):
            prev = chain_next(prev, time=_time(i), actor="a", action="decision", target="t", result="ok",
                              details={"i": i, "pad": "x" * 500})
            yield prev

    tracemalloc.start()
    try:
        verdict = verify_chain(generate(4_000))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert verdict.ok and verdict.count == 4_000
    # 4,000 entries held at once would take several MB
    assert peak < 300_000


_FIELDS = ["seq", "time", "actor", "action", "target", "result", "details", "prev_hash", "hash"]


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 25), data=st.data())
def test_any_single_edit_is_found_at_its_record(n: int, data: st.DataObject) -> None:
    chain = make_chain(n)
    index = data.draw(st.integers(0, n - 1))
    field = data.draw(st.sampled_from(_FIELDS))
    original = chain[index]
    if field == "seq":
        new: object = data.draw(st.integers(-5, 40))
    elif field == "details":
        new = data.draw(st.dictionaries(st.text(max_size=5), _JSON_VALUE, max_size=3))
    elif field in ("hash", "prev_hash"):
        new = data.draw(st.text("0123456789abcdef", min_size=64, max_size=64))
    else:
        new = data.draw(st.text(max_size=20))
    assume(new != getattr(original, field))
    chain[index] = dataclasses.replace(original, **{field: new})
    verdict = verify_chain(chain)
    assert not verdict.ok
    assert verdict.first_bad_seq == index + 1
    assert verdict.count == index


@settings(max_examples=60, deadline=None)
@given(n=st.integers(2, 20), data=st.data())
def test_any_deletion_or_swap_is_found(n: int, data: st.DataObject) -> None:
    chain = make_chain(n)
    i = data.draw(st.integers(0, n - 2))
    if data.draw(st.booleans()):
        del chain[i]
    else:
        chain[i], chain[i + 1] = chain[i + 1], chain[i]
    verdict = verify_chain(chain)
    assert (verdict.ok, verdict.first_bad_seq) == (False, i + 1)


# --- construction and export -------------------------------------------------


@pytest.mark.parametrize(
    "time",
    [
        "2026-01-02T03:04:05Z",
        "2026-01-02T03:04:05.000006+00:00",
        "2026-01-02 03:04:05.000006Z",
        "2026-02-30T03:04:05.000006Z",
        "2026-01-02T25:04:05.000006Z",
        "",
    ],
)
def test_chain_next_refuses_bad_times(time: str) -> None:
    with pytest.raises(AuditRecordError, match="time"):
        chain_next(None, time=time, actor="a", action="b", target="c", result="ok", details={})


@pytest.mark.parametrize(
    ("details", "fragment"),
    [
        ({"x": float("nan")}, "details.x: NaN"),
        ({"x": [1, {2: "a"}]}, "details.x[1]: keys must be strings"),
        ({"x": {1, 2}}, "details.x: set is not JSON data"),
        ({"x": b"bytes"}, "details.x: bytes"),
        (["not", "a", "mapping"], "details must be a JSON object"),
    ],
)
def test_chain_next_refuses_non_json_details(details: object, fragment: str) -> None:
    with pytest.raises(AuditRecordError) as info:
        chain_next(None, time=_time(0), actor="a", action="b", target="c", result="ok",
                   details=details)  # type: ignore[arg-type]
    assert fragment in str(info.value)
    assert isinstance(info.value, BadInput)


@pytest.mark.parametrize("field", ["actor", "action", "result"])
def test_chain_next_refuses_empty_names(field: str) -> None:
    args = {"actor": "a", "action": "b", "result": "ok", field: ""}
    with pytest.raises(AuditRecordError, match=field):
        chain_next(None, time=_time(0), target="", details={}, **args)


def test_chain_next_copies_details() -> None:
    details: dict[str, object] = {"reasons": ["a"], "t": ("x", 1)}
    entry = chain_next(None, time=_time(0), actor="a", action="b", target="c", result="ok", details=details)
    details["reasons"].append("b")  # type: ignore[attr-defined]
    details["new"] = 1
    assert entry.details == {"reasons": ["a"], "t": ["x", 1]}
    assert verify_chain([entry]).ok


def test_format_audit_time() -> None:
    plus_two = timezone(timedelta(hours=2))
    assert format_audit_time(datetime(2026, 1, 2, 5, 4, 5, tzinfo=plus_two)) == "2026-01-02T03:04:05.000000Z"
    with pytest.raises(AuditRecordError, match="timezone"):
        format_audit_time(datetime(2026, 1, 2))


def test_json_lines_round_trip_and_verify() -> None:
    chain = make_chain(5)
    chain.append(chain_next(chain[-1], time=_time(9), actor="ü\n", action="x", target="line\nbreak",
                            result="ok", details={"multi": "a\nb", "ü": "ß"}))
    lines = [to_json_line(e) for e in chain]
    assert all("\n" not in line for line in lines)
    assert json.loads(lines[0])["hash"] == chain[0].hash
    assert set(json.loads(lines[0])) == set(_FIELDS)
    parsed = [from_json_line(line) for line in lines]
    assert parsed == chain
    assert verify_chain(parsed).ok
    assert "ü" in lines[-1]  # UTF-8, not \u escapes


@pytest.mark.parametrize(
    ("line", "fragment"),
    [
        ("", "not JSON"),
        ("[]", "not a JSON object"),
        ('{"seq": 1}', "missing fields"),
        (None, "not JSON"),
    ],
)
def test_from_json_line_refuses_bad_lines(line: str, fragment: str) -> None:
    with pytest.raises(AuditRecordError, match=fragment):
        from_json_line(line)


def test_from_json_line_checks_types() -> None:
    good = json.loads(to_json_line(make_chain(1)[0]))
    for field, value, fragment in [
        ("seq", "1", "seq"),
        ("seq", True, "seq"),
        ("actor", 5, "actor"),
        ("hash", "XYZ", "hash"),
        ("details", [], "details"),
    ]:
        with pytest.raises(AuditRecordError, match=fragment):
            from_json_line(json.dumps({**good, field: value}))
    with pytest.raises(AuditRecordError, match="unexpected fields"):
        from_json_line(json.dumps({**good, "extra": 1}))
    with pytest.raises(AuditRecordError, match="NaN"):
        from_json_line(json.dumps({**good, "details": {"x": float("nan")}}))


def test_entries_are_hashable_and_frozen() -> None:
    entry = make_chain(1)[0]
    assert {entry: 1}[entry] == 1
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.actor = "x"  # type: ignore[misc]
