"""Issue 8: the SQLite database and its -wal/-shm/-journal files are private (0600)."""

from __future__ import annotations

import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from harbourmaster.services.core import Harbourmaster
from harbourmaster.settings import DATABASE_FILE
from harbourmaster.store.database import Database

SIBLINGS = ("-wal", "-shm", "-journal")


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _files(db: Path) -> dict[str, int]:
    return {p.name: _mode(p) for p in (db, *(Path(f"{db}{s}") for s in SIBLINGS)) if p.exists()}


@pytest.fixture
def shared_home(tmp_path: Path) -> Iterator[Path]:
    """A home that already exists and is readable by others, under the common 022 umask."""
    home = tmp_path / "home"
    home.mkdir(mode=0o755)
    os.chmod(home, 0o755)
    old = os.umask(0o022)
    try:
        yield home
    finally:
        os.umask(old)


def test_init_in_an_existing_home_creates_a_private_database(shared_home: Path) -> None:
    hm = Harbourmaster.from_environ({"HARBOURMASTER_HOME": str(shared_home)})
    hm.init()
    db = shared_home / DATABASE_FILE
    # The engine is still open, so WAL mode keeps its -wal and -shm files.
    files = _files(db)
    assert {DATABASE_FILE, f"{DATABASE_FILE}-wal", f"{DATABASE_FILE}-shm"} <= files.keys()
    assert files == dict.fromkeys(files, 0o600)
    hm.db.dispose()


def test_any_first_connection_creates_it_private(tmp_path: Path) -> None:
    old = os.umask(0o000)
    try:
        db = Database(f"sqlite:///{tmp_path / 'x.db'}")
        db.upgrade()
        files = _files(tmp_path / "x.db")
        assert files and files == dict.fromkeys(files, 0o600)
        db.dispose()
    finally:
        os.umask(old)


def test_init_tightens_an_existing_database_and_its_companions(shared_home: Path) -> None:
    db = shared_home / DATABASE_FILE
    conn = sqlite3.connect(db)  # as an older version did: the umask's 0644
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    Path(f"{db}-journal").write_bytes(b"")
    for path in (db, Path(f"{db}-wal"), Path(f"{db}-shm"), Path(f"{db}-journal")):
        os.chmod(path, 0o644)
    assert set(_files(db).values()) == {0o644}
    hm = Harbourmaster.from_environ({"HARBOURMASTER_HOME": str(shared_home)})
    hm.init()
    conn.close()
    files = _files(db)
    assert len(files) >= 3 and files == dict.fromkeys(files, 0o600)
    hm.db.dispose()


def test_other_databases_have_no_files_to_restrict() -> None:
    assert Database("sqlite://").restrict_file_modes() == []
    assert Database("sqlite:///:memory:").restrict_file_modes() == []
