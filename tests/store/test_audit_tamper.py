"""Tampering with the stored audit log through raw SQL is detected at the right record."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from sqlalchemy import Connection, text
from typer.testing import CliRunner

from harbourmaster.cli.main import app
from harbourmaster.domain.audit import entry_hash
from harbourmaster.services.audit import verify_audit
from harbourmaster.services.core import Harbourmaster

#: Records in the log before tampering: system.init, then these appends.
RECORDS = 7

_COLUMNS = ("time", "actor", "action", "target", "result", "details", "prev_hash", "hash")


@pytest.fixture
def logged(hm: Harbourmaster) -> Harbourmaster:
    for i in range(RECORDS - 1):
        with hm.store.transaction() as tx:
            tx.audit.append(
                actor=f"user-{i}",
                action="test.event",
                target=f"target-{i}",
                result="ok" if i % 2 else "denied",
                details={
                    "n": i,
                    "images": [{"image": f"app:{i}", "allowed": bool(i % 2)}],
                    "note": "ünïcode",
                },
            )
    with hm.store.read() as tx:
        verdict = verify_audit(tx.audit)
    assert verdict.ok and verdict.count == RECORDS
    return hm


def _row(conn: Connection, seq: int) -> dict[str, object]:
    row = conn.execute(text(f"SELECT {', '.join(_COLUMNS)} FROM audit_log WHERE seq = :s"), {"s": seq})
    out = dict(row.mappings().one())
    out["details"] = _details(out)
    return out


def _details(row: dict[str, object]) -> dict[str, object]:
    """The details column as data (SQLite hands raw SQL the JSON text, psycopg the parsed value)."""
    value = row["details"]
    parsed = json.loads(value) if isinstance(value, str) else value
    assert isinstance(parsed, dict)
    return parsed


def _write(conn: Connection, seq: int, values: dict[str, object]) -> None:
    params = {k: json.dumps(v) if k == "details" else v for k, v in values.items()}
    sets = ", ".join(
        f"{k} = CAST(:{k} AS JSON)" if k == "details" and conn.dialect.name == "postgresql" else f"{k} = :{k}"
        for k in params
    )
    conn.execute(text(f"UPDATE audit_log SET {sets} WHERE seq = :seq"), {**params, "seq": seq})


def _rehash(conn: Connection, seq: int) -> None:
    row = _row(conn, seq)
    details = _details(row)
    new = entry_hash(
        seq=seq,
        time=str(row["time"]),
        actor=str(row["actor"]),
        action=str(row["action"]),
        target=str(row["target"]),
        result=str(row["result"]),
        details=details,
        prev_hash=str(row["prev_hash"]),
    )
    conn.execute(text("UPDATE audit_log SET hash = :h WHERE seq = :s"), {"h": new, "s": seq})


def edit_actor(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))


def edit_details(conn: Connection) -> None:
    before = _details(_row(conn, 3))
    assert before["images"] == [{"image": "app:1", "allowed": True}]
    _write(conn, 3, {"details": {**before, "images": [{"image": "app:1", "allowed": False}]}})


def edit_result(conn: Connection) -> None:
    conn.execute(text("UPDATE audit_log SET result = 'ok' WHERE seq = 2"))


def delete_middle(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_log WHERE seq = 4"))


def delete_first(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_log WHERE seq = 1"))


def delete_last(conn: Connection) -> None:
    conn.execute(text(f"DELETE FROM audit_log WHERE seq = {RECORDS}"))


def delete_last_two(conn: Connection) -> None:
    conn.execute(text(f"DELETE FROM audit_log WHERE seq >= {RECORDS - 1}"))


def swap_contents(conn: Connection) -> None:
    two, five = _row(conn, 2), _row(conn, 5)
    _write(conn, 2, five)
    _write(conn, 5, two)


def edit_and_rehash(conn: Connection) -> None:
    """A careful forger recomputes the edited record's hash: the next record exposes it."""
    conn.execute(text("UPDATE audit_log SET target = 'elsewhere' WHERE seq = 3"))
    _rehash(conn, 3)


def edit_and_rehash_last(conn: Connection) -> None:
    """On the newest record there is no next record; the stored head exposes it."""
    conn.execute(text(f"UPDATE audit_log SET target = 'elsewhere' WHERE seq = {RECORDS}"))
    _rehash(conn, RECORDS)


def renumber(conn: Connection) -> None:
    conn.execute(text("DELETE FROM audit_log WHERE seq = 3"))
    for seq in range(4, RECORDS + 1):
        conn.execute(text("UPDATE audit_log SET seq = :n WHERE seq = :o"), {"n": seq - 1, "o": seq})


CASES: list[tuple[Callable[[Connection], None], int, str]] = [
    (edit_actor, 3, "does not match its hash"),
    (edit_details, 3, "does not match its hash"),
    (edit_result, 2, "does not match its hash"),
    (delete_middle, 4, "missing"),
    (delete_first, 1, "missing"),
    (delete_last, RECORDS, "cut off"),
    (delete_last_two, RECORDS - 1, "cut off"),
    (swap_contents, 2, ""),
    (edit_and_rehash, 4, "prev_hash does not match"),
    (edit_and_rehash_last, RECORDS, "stored head"),
    (renumber, 3, ""),
]


@pytest.mark.parametrize(("tamper", "first_bad", "problem"), CASES, ids=[c[0].__name__ for c in CASES])
def test_tampering_is_detected_at_the_first_bad_record(
    logged: Harbourmaster, tamper: Callable[[Connection], None], first_bad: int, problem: str
) -> None:
    with logged.db.engine.begin() as conn:
        tamper(conn)
    with logged.store.read() as tx:
        verdict = verify_audit(tx.audit)
    assert not verdict.ok
    assert verdict.first_bad_seq == first_bad, verdict.problem
    assert verdict.count == first_bad - 1
    assert problem in (verdict.problem or "")


def test_the_cli_reports_a_broken_log_and_exits_1(
    logged: Harbourmaster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HARBOURMASTER_HOME", str(logged.settings.home))
    monkeypatch.setenv("HARBOURMASTER_DATABASE_URL", logged.settings.database_url)
    runner = CliRunner()
    ok = runner.invoke(app, ["audit", "verify", "--json"])
    assert ok.exit_code == 0, ok.output
    assert '"ok": true' in ok.stdout and f'"count": {RECORDS}' in ok.stdout
    with logged.db.engine.begin() as conn:
        edit_actor(conn)
    broken = runner.invoke(app, ["audit", "verify"])
    assert broken.exit_code == 1
    assert "BROKEN at record 3" in broken.stdout
