"""Emitting checkpoints (file, syslog), reading checkpoint files, the export, and the periodic writer."""

from __future__ import annotations

import json
import logging
import os
import socket
import stat
import tempfile
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from harbourmaster.domain.audit_checkpoint import checkpoint_from_json_line, parse_export_line
from harbourmaster.services.audit_checkpoints import (
    CheckpointFileError,
    CheckpointWriteError,
    CheckpointWriter,
    audit_export_lines,
    emit_checkpoint,
    last_checkpoint,
    read_checkpoints,
    verify_audit_log,
)
from harbourmaster.services.checkpoint_keys import CheckpointRefused, checkpoint_public_key
from harbourmaster.services.core import Harbourmaster


def _record(hm: Harbourmaster, n: int = 1) -> None:
    for i in range(n):
        with hm.store.transaction() as tx:
            tx.audit.append(actor="t", action="test.event", target=f"t{i}")


def _head(hm: Harbourmaster) -> int:
    with hm.store.read() as tx:
        return max(e.seq for e in tx.audit.entries())


def test_each_checkpoint_is_appended_to_a_private_file(
    core: Harbourmaster, caplog: pytest.LogCaptureFixture
) -> None:
    path = core.settings.audit_checkpoint_file
    assert path == core.settings.home / "audit-checkpoints.jsonl" and not path.exists()
    caplog.set_level(logging.DEBUG, logger="harbourmaster.services")
    first = emit_checkpoint(core)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    _record(core, 2)
    second = emit_checkpoint(core)
    lines = path.read_text().splitlines()
    assert [checkpoint_from_json_line(line) for line in lines] == [first, second]
    assert (first.seq, second.seq) == (1, 3) and second.head != first.head
    key = checkpoint_public_key(core)
    assert all(key.verify(c.payload(), c.signature) for c in (first, second))
    assert "not sent to syslog: HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG is empty" in caplog.text


def test_checkpoints_go_to_syslog(monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tempfile.mkdtemp(prefix="hm-log-", dir="/tmp")  # a socket path must be short
    address = os.path.join(directory, "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(address)
        server.settimeout(5)
        monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", address)
        hm = Harbourmaster.from_environ()
        hm.init()
        emitted = emit_checkpoint(hm)
        message = server.recv(4096).decode()
    os.unlink(address)
    os.rmdir(directory)
    prefix = "<38>harbourmaster: audit-checkpoint "  # facility auth, severity info
    assert message.startswith(prefix)
    assert checkpoint_from_json_line(message[len(prefix):]) == emitted


def test_a_missing_syslog_never_fails_and_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", str(tmp_path / "no-such-socket"))
    caplog.set_level(logging.DEBUG, logger="harbourmaster.services")
    hm = Harbourmaster.from_environ()
    hm.init()
    emit_checkpoint(hm)
    assert f"there is no syslog socket at {tmp_path / 'no-such-socket'}" in caplog.text
    # A socket path where nothing listens any more.
    dead = tmp_path / "dead"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as s:
        s.bind(str(dead))
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", str(dead))
    emit_checkpoint(Harbourmaster.from_environ())
    assert f"not sent to syslog at {dead}" in caplog.text


def test_an_unwritable_checkpoint_file_is_an_error_naming_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_FILE", str(tmp_path / "missing-dir" / "cp.jsonl"))
    hm = Harbourmaster.from_environ()
    hm.init()
    with pytest.raises(CheckpointWriteError, match=r"missing-dir/cp\.jsonl cannot be opened for appending"):
        emit_checkpoint(hm)


def test_reading_checkpoint_files(core: Harbourmaster, tmp_path: Path) -> None:
    emit_checkpoint(core)
    good = core.settings.audit_checkpoint_file.read_text()
    export = tmp_path / "export.jsonl"
    export.write_text("".join(audit_export_lines(core)))
    assert len(read_checkpoints(export)) == 1  # an export: its records are skipped
    assert len(read_checkpoints(core.settings.audit_checkpoint_file)) == 2
    cases = {
        "not-json": (good + "{oops\n", "line 2: not JSON"),
        "fields": (good + '{"type": "audit.checkpoint", "seq": 1}\n', "line 2: missing fields"),
        "neither": (good + '{"seq": 1, "head": "x"}\n', "line 2: neither a checkpoint"),
        "binary": (good + "\udcff\n", "line 2: not UTF-8"),
        "empty": ("\n\n", "holds no checkpoint"),
    }
    for name, (content, fragment) in cases.items():
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(content.encode("utf-8", "surrogateescape"))
        with pytest.raises(CheckpointFileError) as caught:
            read_checkpoints(path)
        assert str(path) in caught.value.message and fragment in caught.value.message, name
    with pytest.raises(CheckpointFileError, match="does not exist"):
        read_checkpoints(tmp_path / "nope.jsonl")
    with pytest.raises(CheckpointFileError, match="is a directory"):
        read_checkpoints(tmp_path)


def test_a_damaged_last_line_stops_checkpoints(core: Harbourmaster) -> None:
    emit_checkpoint(core)
    path = core.settings.audit_checkpoint_file
    with path.open("a") as handle:
        handle.write('{"type": "audit.checkpoint", "se')
    assert last_checkpoint(path.with_name("absent.jsonl")) is None
    with pytest.raises(CheckpointFileError, match=r"\(last line\): not JSON"):
        last_checkpoint(path)
    with pytest.raises(CheckpointRefused, match="the last checkpoint cannot be read"):
        emit_checkpoint(core)
    result = verify_audit_log(core)  # the server's own file, damaged: a checkpoint problem
    assert not result.ok and result.chain.ok and "line 2: not JSON" in (result.checkpoints.problem or "")


def test_a_broken_chain_gets_no_checkpoint(core: Harbourmaster) -> None:
    _record(core, 3)
    with core.db.engine.begin() as conn:
        conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 2"))
    with pytest.raises(CheckpointRefused, match="the audit log is broken at record 2"):
        emit_checkpoint(core)
    assert not core.settings.audit_checkpoint_file.exists()


def test_the_export_ends_with_a_checkpoint_of_its_last_record(core: Harbourmaster) -> None:
    _record(core, 4)
    lines = audit_export_lines(core, since=2)
    _record(core)  # written after the checkpoint: the next export's
    items = [parse_export_line(line) for line in lines]
    *records, checkpoint = items
    assert [r.seq for r in records] == [3, 4, 5]  # type: ignore[union-attr]
    assert checkpoint == checkpoint_from_json_line(core.settings.audit_checkpoint_file.read_text())
    assert checkpoint.seq == 5 and checkpoint.head == records[-1].hash  # type: ignore[union-attr]
    plain = [parse_export_line(line) for line in audit_export_lines(core, checkpoint=False)]
    assert [r.seq for r in plain] == list(range(1, 7))  # type: ignore[union-attr]
    assert len(core.settings.audit_checkpoint_file.read_text().splitlines()) == 1


def test_the_writer_checkpoints_only_when_the_head_moved(
    core: Harbourmaster, caplog: pytest.LogCaptureFixture
) -> None:
    writer = CheckpointWriter(core, interval=300)
    first = writer.tick()
    assert first is not None and first.seq == 1
    assert writer.tick() is None  # nothing new
    _record(core, 2)
    second = writer.tick()
    assert second is not None and second.seq == 3
    assert writer.tick() is None
    assert len(core.settings.audit_checkpoint_file.read_text().splitlines()) == 2
    # The chain rewritten under it: the writer refuses, says so, and carries on.
    with core.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
        conn.execute(text("DELETE FROM meta WHERE key = 'audit_head'"))
    _record(core, 4)  # a new log, as long as the old one and more
    with caplog.at_level(logging.ERROR):
        assert writer.tick() is None
    assert "audit checkpoint refused: the audit log does not extend the last checkpoint" in caplog.text
    assert len(core.settings.audit_checkpoint_file.read_text().splitlines()) == 2


def test_the_writer_thread_runs_every_interval_and_stops(core: Harbourmaster) -> None:
    with pytest.raises(Exception, match="must be positive"):
        CheckpointWriter(core, interval=0)
    writer = CheckpointWriter(core, interval=0.05)
    path = core.settings.audit_checkpoint_file
    writer.start()
    try:
        deadline = time.monotonic() + 10
        while not path.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert writer.running and path.exists()
        _record(core)
        while len(path.read_text().splitlines()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [json.loads(x)["seq"] for x in path.read_text().splitlines()] == [1, 2]
    finally:
        writer.stop()
    assert not writer.running
    _record(core)
    time.sleep(0.2)
    assert len(path.read_text().splitlines()) == 2  # stopped: nothing more is written


def test_a_chunked_export_is_the_same_lines_joined_at_line_ends(core: Harbourmaster) -> None:
    from harbourmaster.cli._common import local_principal
    from harbourmaster.services import audit_log

    _record(core, 300)
    me = local_principal(core)
    lines = list(audit_log.export_lines(core, me, checkpoint=False))
    pieces = list(audit_log.export_lines(core, me, checkpoint=False, chunk_bytes=4096))
    assert "".join(pieces) == "".join(lines) and len(lines) >= 300
    assert 1 < len(pieces) < len(lines)
    assert all(piece.endswith("\n") for piece in pieces)  # whole lines only
    assert all(len(piece) < 4096 + max(len(line) for line in lines) for piece in pieces)
