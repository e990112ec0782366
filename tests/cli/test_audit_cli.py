"""``audit checkpoint|public-key|verify|export`` on the command line: output and exit codes 0/1/2."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from harbourmaster.domain.audit import entry_hash
from harbourmaster.vault.signing import CheckpointPublicKey


def home() -> Path:
    return Path(os.environ["HARBOURMASTER_HOME"])


@pytest.fixture
def initialised(cli: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setenv("HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG", "")
    assert cli("init").exit_code == 0
    return cli


def test_checkpoint_public_key_and_verify(initialised: Any, tmp_path: Path) -> None:
    cli = initialised
    out = tmp_path / "cp.jsonl"
    made = cli("audit", "checkpoint", "--json", "-o", str(out))
    assert made.exit_code == 0, made.output
    checkpoint = json.loads(made.stdout)
    assert checkpoint["type"] == "audit.checkpoint" and checkpoint["seq"] == 1
    assert json.loads(out.read_text()) == checkpoint
    assert json.loads((home() / "audit-checkpoints.jsonl").read_text()) == checkpoint
    human = cli("audit", "checkpoint")
    assert human.exit_code == 0 and human.stdout.startswith("checkpoint: record 1, head ")
    shown = cli("audit", "public-key")
    assert shown.exit_code == 0
    key = CheckpointPublicKey.from_pem(shown.stdout, source="stdout")
    assert key.key_id == checkpoint["key_id"]
    assert f"key id (SHA-256 of the raw Ed25519 public key): {key.key_id}" in shown.stdout
    as_json = json.loads(cli("audit", "public-key", "--json").stdout)
    assert as_json == {"key_id": key.key_id, "algorithm": "ed25519", "pem": key.pem()}
    pem = tmp_path / "pub.pem"
    assert cli("audit", "public-key", "-o", str(pem)).exit_code == 0 and pem.read_text() == key.pem()
    verified = cli("audit", "verify", "--checkpoint", str(out))
    assert verified.exit_code == 0, verified.output
    assert f"checkpoints: 3 of 3 verified ({out}, {home() / 'audit-checkpoints.jsonl'})" in verified.stdout
    report = json.loads(cli("audit", "verify", "--json").stdout)
    verified_at = report.pop("full_verified_at")  # audit verify reads the whole chain: now
    assert isinstance(verified_at, str) and verified_at.endswith("Z")
    assert report == {
        "ok": True, "count": 1, "first_bad_seq": None, "problem": None, "checkpoints": 2,
        "checkpoints_checked": 2, "checkpoint_problem": None,
        "checkpoint_sources": [str(home() / "audit-checkpoints.jsonl")], "checkpoint_problems": [],
        "verified_after": None,
    }


def test_verify_elsewhere_with_the_public_key_only(initialised: Any, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """An auditor's machine: a copy of the database and the checkpoints, the public key, no master key."""
    cli = initialised
    cli("audit", "public-key", "-o", str(tmp_path / "pub.pem"))
    assert cli("audit", "checkpoint").exit_code == 0
    elsewhere = tmp_path / "auditor"
    elsewhere.mkdir()
    src, dst = sqlite3.connect(home() / "harbourmaster.db"), sqlite3.connect(elsewhere / "harbourmaster.db")
    src.backup(dst)  # a consistent copy (the live file has a write-ahead log beside it)
    src.close()
    dst.close()
    shutil.copy(home() / "audit-checkpoints.jsonl", tmp_path / "shipped.jsonl")
    monkeypatch.setenv("HARBOURMASTER_HOME", str(elsewhere))
    args = ("audit", "verify", "--checkpoint", str(tmp_path / "shipped.jsonl"))
    ok = cli(*args, "--public-key", str(tmp_path / "pub.pem"))
    assert ok.exit_code == 0, ok.output
    assert "checkpoints: 1 of 1 verified" in ok.stdout
    # Without the public key there is nothing to check signatures with here: not verified.
    no_key = cli(*args)
    assert no_key.exit_code == 1
    assert "cannot be checked: the checkpoint signing key in the database is unusable" in no_key.stdout


def test_tampering_found_is_exit_1_and_bad_input_is_exit_2(initialised: Any, tmp_path: Path) -> None:
    cli = initialised
    assert cli("audit", "checkpoint").exit_code == 0
    bad = tmp_path / "bad.jsonl"
    bad.write_text((home() / "audit-checkpoints.jsonl").read_text() + "not json\n")
    wrong = cli("audit", "verify", "--checkpoint", str(bad))
    assert wrong.exit_code == 2
    assert f"{bad} line 2: not JSON" in wrong.stderr and "Traceback" not in wrong.stderr
    missing = tmp_path / "missing.jsonl"
    missing.write_text('{"type": "audit.checkpoint", "seq": 1}\n')
    assert cli("audit", "verify", "--checkpoint", str(missing)).exit_code == 2
    assert cli("audit", "verify", "--checkpoint", str(tmp_path / "absent.jsonl")).exit_code == 2
    garbage = tmp_path / "key.pem"
    garbage.write_text("hello")
    bad_key = cli("audit", "verify", "--public-key", str(garbage))
    assert bad_key.exit_code == 2 and f"--public-key {garbage}: not a PEM public key" in bad_key.stderr
    # Rewritten: record 1 edited and rehashed, head moved along; the checkpoint file tells.
    db = sqlite3.connect(home() / "harbourmaster.db")
    names = ("seq", "time", "actor", "action", "target", "result", "details", "prev_hash")
    row = db.execute(f"SELECT {', '.join(names)} FROM audit_log").fetchone()
    fields = dict(zip(names, row, strict=True))
    fields.update(actor="mallory", details=json.loads(fields["details"]))
    digest = entry_hash(**fields)
    db.execute("UPDATE audit_log SET actor = 'mallory', hash = ? WHERE seq = 1", (digest,))
    head = json.dumps({"seq": 1, "hash": digest})
    db.execute("UPDATE meta SET value = ? WHERE key = 'audit_head'", (head,))
    db.commit()
    db.close()
    tampered = cli("audit", "verify")
    assert tampered.exit_code == 1
    assert "audit log intact: 1 record(s)" in tampered.stdout  # the chain alone shows nothing
    assert "checkpoint FAILED: checkpoint at " in tampered.stdout
    assert "(seq 1): record 1 has hash" in tampered.stdout
    refused = cli("audit", "checkpoint")
    assert refused.exit_code == 1 and "does not extend the last checkpoint" in refused.stderr


def test_export_ends_with_a_checkpoint_line_unless_asked_not_to(initialised: Any) -> None:
    cli = initialised
    *records, last = [json.loads(line) for line in cli("audit", "export").stdout.splitlines()]
    assert [r["action"] for r in records] == ["system.init"]
    assert last["type"] == "audit.checkpoint" and last["seq"] == 1 and last["head"] == records[0]["hash"]
    plain = [json.loads(line) for line in cli("audit", "export", "--no-checkpoint").stdout.splitlines()]
    assert plain == records
