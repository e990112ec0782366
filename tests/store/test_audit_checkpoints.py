"""Signed checkpoints against whoever can write the database (SQLite and PostgreSQL).

The three rewrites that a hash chain with its head in the same database cannot
show — (a) every record deleted with the head, (b) the tail cut and the head
moved back, (c) a record edited and every later hash recomputed — pass the
chain's own check and fail against a checkpoint kept outside the database.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.domain.audit import entry_hash
from harbourmaster.domain.audit_checkpoint import (
    Checkpoint,
    checkpoint_from_json_line,
    checkpoint_key_id,
    checkpoint_payload,
    checkpoint_to_json_line,
)
from harbourmaster.domain.authz import Principal
from harbourmaster.domain.model import Role
from harbourmaster.services.audit import verify_audit
from harbourmaster.services.audit_checkpoints import emit_checkpoint, verify_audit_log
from harbourmaster.services.checkpoint_keys import (
    CHECKPOINT_KEY_FIELD,
    CHECKPOINT_KEY_RECORD,
    CheckpointRefused,
    checkpoint_public_key,
)
from harbourmaster.services.core import Harbourmaster
from harbourmaster.services.keys import rotate_master_key
from harbourmaster.store.audit import CHECKPOINT_KEY_META
from harbourmaster.vault.envelope import EnvelopeVault
from harbourmaster.vault.interface import VaultError
from harbourmaster.vault.keys import Keyring, MasterKey
from harbourmaster.vault.signing import generate_checkpoint_key
from tests.integration.postgres import core_on

#: Records in the log when the checkpoint is made: system.init, then these appends.
RECORDS = 7


def _append(hm: Harbourmaster, n: int, *, actor: str = "user") -> None:
    for i in range(n):
        with hm.store.transaction() as tx:
            tx.audit.append(actor=f"{actor}-{i}", action="test.event", target=f"t-{i}",
                            details={"n": i, "note": "ünïcode"})


@pytest.fixture
def logged(database_url: str, tmp_path: Path) -> Iterator[Harbourmaster]:
    """A core with RECORDS records and one checkpoint over them in the checkpoint file."""
    env = dict(os.environ, HARBOURMASTER_AUDIT_CHECKPOINT_SYSLOG="")
    hm = core_on(database_url, tmp_path / "home", environ=env)
    _append(hm, RECORDS - 1)
    checkpoint = emit_checkpoint(hm)
    assert checkpoint.seq == RECORDS
    yield hm
    hm.db.dispose()


def _offsite(hm: Harbourmaster, tmp_path: Path) -> Path:
    """Move the checkpoint file where the database's writers cannot reach (as shipping it off would)."""
    target = tmp_path / "offsite" / "checkpoints.jsonl"
    target.parent.mkdir()
    shutil.move(hm.settings.audit_checkpoint_file, target)
    return target


def _rows(conn: Connection) -> list[dict[str, object]]:
    columns = "seq, time, actor, action, target, result, details, prev_hash, hash"
    result = conn.execute(text(f"SELECT {columns} FROM audit_log ORDER BY seq"))
    out = []
    for row in result.mappings():
        item = dict(row)
        if isinstance(item["details"], str):
            item["details"] = json.loads(item["details"])
        out.append(item)
    return out


def _set_head(conn: Connection, seq: int, digest: str) -> None:
    value = json.dumps({"seq": seq, "hash": digest})
    cast = "CAST(:v AS JSON)" if conn.dialect.name == "postgresql" else ":v"
    conn.execute(text(f"UPDATE meta SET value = {cast} WHERE key = 'audit_head'"), {"v": value})


def delete_everything(conn: Connection) -> None:
    """(a) every record and the stored head deleted: an empty log verifies."""
    conn.execute(text("DELETE FROM audit_log"))
    conn.execute(text("DELETE FROM meta WHERE key = 'audit_head'"))


def cut_tail(conn: Connection) -> None:
    """(b) the newest records deleted and the stored head moved back onto the new end."""
    rows = _rows(conn)
    conn.execute(text("DELETE FROM audit_log WHERE seq > 4"))
    _set_head(conn, 4, str(rows[3]["hash"]))


def cut_tail_and_carry_on(conn: Connection) -> None:
    """(b) as above, then new records written over the cut: the chain is as long as before."""
    cut_tail(conn)
    rows = _rows(conn)
    prev = str(rows[-1]["hash"])
    for seq in range(5, RECORDS + 2):
        body = {"seq": seq, "time": str(rows[-1]["time"]), "actor": "mallory", "action": "test.event",
                "target": "forged", "result": "ok", "details": {}, "prev_hash": prev}
        digest = entry_hash(**body)  # type: ignore[arg-type]
        details = "CAST(:details AS JSON)" if conn.dialect.name == "postgresql" else ":details"
        conn.execute(
            text("INSERT INTO audit_log (seq, time, actor, action, target, result, details, prev_hash, hash) "
                 f"VALUES (:seq, :time, :actor, :action, :target, :result, {details}, :prev_hash, :hash)"),
            {**body, "details": "{}", "hash": digest},
        )
        prev = digest
    _set_head(conn, RECORDS + 1, prev)


def rewrite_from_record_3(conn: Connection) -> None:
    """(c) record 3 edited, then its hash and every later prev_hash and hash recomputed, and the head."""
    rows = _rows(conn)
    rows[2]["actor"] = "mallory"
    prev = str(rows[1]["hash"])
    for row in rows[2:]:
        row["prev_hash"] = prev
        body = {k: v for k, v in row.items() if k != "hash"}
        row["hash"] = entry_hash(**body)  # type: ignore[arg-type]
        conn.execute(
            text("UPDATE audit_log SET actor = :actor, prev_hash = :prev, hash = :hash WHERE seq = :seq"),
            {"actor": row["actor"], "prev": row["prev_hash"], "hash": row["hash"], "seq": row["seq"]},
        )
        prev = str(row["hash"])
    _set_head(conn, int(rows[-1]["seq"]), prev)  # type: ignore[call-overload]


REWRITES: list[tuple[Callable[[Connection], None], str]] = [
    (delete_everything, f"record {RECORDS} is not in the chain; the chain is empty"),
    (cut_tail, f"record {RECORDS} is not in the chain; the chain ends at record 4"),
    (cut_tail_and_carry_on, f"record {RECORDS} has hash"),
    (rewrite_from_record_3, f"record {RECORDS} has hash"),
]
IDS = [r[0].__name__ for r in REWRITES]


@pytest.mark.parametrize(("rewrite", "problem"), REWRITES, ids=IDS)
def test_a_rewrite_that_the_chain_accepts_fails_against_the_checkpoint(
    logged: Harbourmaster, tmp_path: Path, rewrite: Callable[[Connection], None], problem: str
) -> None:
    offsite = _offsite(logged, tmp_path)
    with logged.db.engine.begin() as conn:
        rewrite(conn)
    with logged.store.read() as tx:
        assert verify_audit(tx.audit).ok, "the chain alone shows nothing: the limit this fixes"
    assert verify_audit_log(logged).ok  # and no checkpoint at hand: nothing to compare with
    result = verify_audit_log(logged, checkpoint_files=[offsite])
    assert result.chain.ok and not result.ok
    assert result.checkpoints.total == 1 and result.checkpoints.checked == 0
    assert result.checkpoints.problem is not None
    assert result.checkpoints.problem.startswith(f"checkpoint at {offsite} line 1 (seq {RECORDS}): ")
    assert problem in result.checkpoints.problem


@pytest.mark.parametrize(("rewrite", "problem"), REWRITES, ids=IDS)
def test_the_checkpoint_file_in_place_catches_it_and_no_checkpoint_is_signed_over_it(
    logged: Harbourmaster, rewrite: Callable[[Connection], None], problem: str
) -> None:
    lines_before = logged.settings.audit_checkpoint_file.read_text().splitlines()
    with logged.db.engine.begin() as conn:
        rewrite(conn)
    result = verify_audit_log(logged)
    assert not result.ok and problem in (result.checkpoints.problem or "")
    with pytest.raises(CheckpointRefused, match=r"(does not extend|behind) the last checkpoint"):
        emit_checkpoint(logged)
    assert logged.settings.audit_checkpoint_file.read_text().splitlines() == lines_before


@pytest.mark.parametrize(("rewrite", "problem"), REWRITES, ids=IDS)
def test_the_cli_passes_plain_verify_and_fails_verify_with_the_checkpoint(
    logged: Harbourmaster, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    rewrite: Callable[[Connection], None], problem: str,
) -> None:
    monkeypatch.setenv("HARBOURMASTER_HOME", str(logged.settings.home))
    monkeypatch.setenv("HARBOURMASTER_DATABASE_URL", logged.settings.database_url)
    offsite = _offsite(logged, tmp_path)
    with logged.db.engine.begin() as conn:
        rewrite(conn)
    runner = CliRunner()
    plain = runner.invoke(app, ["audit", "verify"])
    assert plain.exit_code == 0, plain.output
    assert "audit log intact" in plain.stdout and "no checkpoints checked" in plain.stdout
    anchored = runner.invoke(app, ["audit", "verify", "--checkpoint", str(offsite)])
    assert anchored.exit_code == 1, anchored.output
    assert f"checkpoint FAILED: checkpoint at {offsite} line 1 (seq {RECORDS})" in anchored.stdout
    assert problem in anchored.stdout
    as_json = json.loads(runner.invoke(app, ["audit", "verify", f"--checkpoint={offsite}", "--json"]).stdout)
    assert as_json["ok"] is False and as_json["problem"] is None
    assert problem in as_json["checkpoint_problem"]


def test_checkpoints_of_a_growing_log_all_verify(logged: Harbourmaster, tmp_path: Path) -> None:
    _append(logged, 3)
    second = emit_checkpoint(logged)
    assert second.seq == RECORDS + 3
    _append(logged, 2)
    result = verify_audit_log(logged)
    assert result.ok and result.checkpoints.checked == result.checkpoints.total == 2
    assert result.chain.count == RECORDS + 5


def _forge(hm: Harbourmaster, tmp_path: Path, **changes: object) -> tuple[Path, Checkpoint]:
    line = hm.settings.audit_checkpoint_file.read_text().splitlines()[-1]
    obj = {**json.loads(line), **changes}
    path = tmp_path / "forged.jsonl"
    path.write_text(line + "\n" + json.dumps(obj) + "\n")
    return path, checkpoint_from_json_line(json.dumps(obj))


def test_an_edited_checkpoint_is_refused(logged: Harbourmaster, tmp_path: Path) -> None:
    with logged.store.read() as tx:
        third = list(tx.audit.entries())[2]
    for changes, fragment in [
        ({"seq": 3}, "the signature does not verify"),
        ({"head": third.hash}, "the signature does not verify"),
        ({"seq": 3, "head": third.hash}, "the signature does not verify"),
        ({"time": "2030-01-01T00:00:00.000000Z"}, "the signature does not verify"),
    ]:
        path, _ = _forge(logged, tmp_path, **changes)
        result = verify_audit_log(logged, checkpoint_files=[path], include_configured=False)
        assert not result.ok and result.checkpoints.checked == 1, changes
        assert result.checkpoints.problem is not None
        assert result.checkpoints.problem.startswith(f"checkpoint at {path} line 2 ("), changes
        assert fragment in result.checkpoints.problem, changes


def test_a_checkpoint_signed_by_another_key_is_refused(logged: Harbourmaster, tmp_path: Path) -> None:
    other = Ed25519PrivateKey.generate()
    other_id = checkpoint_key_id(other.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))
    ours = checkpoint_public_key(logged).key_id
    with logged.store.read() as tx:
        seq, head = tx.audit.head()  # type: ignore[misc]
    time = "2030-01-01T00:00:00.000000Z"
    # Under its own key id, and under ours: neither is the vault's signature.
    for key_id, fragment in [(other_id, f"signed by key {other_id}, not by the checkpoint key {ours}"),
                             (ours, "the signature does not verify")]:
        payload = checkpoint_payload(seq=seq, head=head, time=time, key_id=key_id)
        forged = Checkpoint(seq=seq, head=head, time=time, key_id=key_id, signature=other.sign(payload))
        path = tmp_path / "other-key.jsonl"
        path.write_text(checkpoint_to_json_line(forged) + "\n")
        result = verify_audit_log(logged, checkpoint_files=[path], include_configured=False)
        assert not result.ok and result.checkpoints.checked == 0
        assert fragment in (result.checkpoints.problem or ""), result.checkpoints.problem


@pytest.mark.parametrize("claimed", ["their master key", "our master key"])
def test_a_substituted_signing_key_does_not_open(logged: Harbourmaster, claimed: str) -> None:
    """Someone without the master key seals their own signing key and writes it into the database
    (naming their master key, or ours)."""
    mallory = EnvelopeVault(Keyring(MasterKey.generate()))
    _, sealed = generate_checkpoint_key(mallory, record=CHECKPOINT_KEY_RECORD, field=CHECKPOINT_KEY_FIELD)
    if claimed == "our master key":
        sealed = dataclasses.replace(sealed, key_id=logged.vault.keyring.primary.key_id)
    value = json.dumps({"algorithm": "ed25519", "sealed": base64.b64encode(sealed.to_bytes()).decode()})
    with logged.db.engine.begin() as conn:
        cast = "CAST(:v AS JSON)" if conn.dialect.name == "postgresql" else ":v"
        update = text(f"UPDATE meta SET value = {cast} WHERE key = :k")
        conn.execute(update, {"v": value, "k": CHECKPOINT_KEY_META})
    result = verify_audit_log(logged)
    assert not result.ok and result.checkpoints.checked == 0
    assert "the checkpoint signing key in the database is unusable" in (result.checkpoints.problem or "")
    with pytest.raises(VaultError, match=r"not in the keyring|signing_key of audit-checkpoint does not open"):
        emit_checkpoint(logged)


def test_a_deleted_signing_key_is_not_silently_replaced(logged: Harbourmaster) -> None:
    with logged.db.engine.begin() as conn:
        conn.execute(text("DELETE FROM meta WHERE key = :k"), {"k": CHECKPOINT_KEY_META})
    result = verify_audit_log(logged)
    assert not result.ok
    assert "the database holds no checkpoint signing key" in (result.checkpoints.problem or "")
    with pytest.raises(CheckpointRefused, match=r"no audit checkpoint signing key, but .* holds checkpoints"):
        emit_checkpoint(logged)


def test_the_signing_key_survives_keys_rotate(logged: Harbourmaster) -> None:
    before = checkpoint_public_key(logged)
    old_master = (logged.settings.home / "master.key").read_bytes()
    report = rotate_master_key(logged, Principal("tests", Role.ADMINISTRATOR))
    assert report.rewrapped == 1  # the signing key: there are no registry credentials here
    after = checkpoint_public_key(logged)
    assert after == before
    emit_checkpoint(logged)  # signs with the same key, opened under the new master key
    result = verify_audit_log(logged)
    assert result.ok and result.checkpoints.checked == 2
    # The key was re-wrapped: the old master key alone no longer opens it.
    (logged.settings.home / "master.key").write_bytes(old_master)
    logged.reload_vault()
    stale = verify_audit_log(logged)
    assert not stale.ok and "unusable" in (stale.checkpoints.problem or "")


def test_the_signing_key_is_sealed_never_stored_in_the_clear(logged: Harbourmaster) -> None:
    with logged.db.engine.connect() as conn:
        query = text("SELECT value FROM meta WHERE key = :k")
        value = conn.execute(query, {"k": CHECKPOINT_KEY_META}).scalar()
    stored = json.loads(value) if isinstance(value, str) else value
    assert set(stored) == {"algorithm", "sealed"}
    blob = base64.b64decode(stored["sealed"])
    assert blob.startswith(b"hmv")  # the vault's sealed format
    assert checkpoint_public_key(logged).raw not in blob
